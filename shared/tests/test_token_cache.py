"""Verified tokens are remembered, but never past their expiry, never when they failed, and within a bound."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from slm_shared.auth import TokenVerifier, issue_token
from slm_shared.errors import Unauthorized
from slm_shared.testing.jwks import JwksServer, rsa_key, signed

SECRET = "a-test-secret-of-at-least-32-bytes!!"


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    verifier = TokenVerifier(secret=SECRET)
    # `exp` is whole seconds from a truncated `iat`: 3 s leaves at least 2 s to verify it twice.
    token = issue_token(SECRET, tenant="acme", roles=["admin"], subject="alice", ttl_seconds=3)
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first  # remembered: the same principal, no second decode
    await asyncio.sleep(3.2)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)


async def test_a_token_that_failed_is_not_remembered_and_each_token_keeps_its_own_principal() -> None:
    verifier = TokenVerifier(secret=SECRET)
    forged = jwt.encode(
        {"sub": "mallory", "tenant": "acme", "roles": ["admin"], "exp": 2**40}, "another-secret-32-bytes-long!!!!"
    )
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await verifier.verify(forged)
    acme = issue_token(SECRET, tenant="acme", roles=["admin"], subject="alice")
    globex = issue_token(SECRET, tenant="globex", roles=["customer"], subject="bob", party="p-1")
    assert (await verifier.verify(acme)).tenant == "acme"
    assert (await verifier.verify(globex)).tenant == "globex" and (await verifier.verify(globex)).party == "p-1"
    assert (await verifier.verify(acme)).roles == frozenset({"admin"})


async def test_the_memory_is_bounded() -> None:
    verifier = TokenVerifier(secret=SECRET)
    verifier.cache_size = 3
    tokens = [issue_token(SECRET, tenant="acme", roles=["admin"], subject=f"user-{n}") for n in range(5)]
    principals = [await verifier.verify(token) for token in tokens]
    assert len(verifier._verified) == 3
    assert await verifier.verify(tokens[0]) == principals[0]  # verified again, not from memory
    assert await verifier.verify(tokens[0]) is not principals[0]


async def test_a_key_withdrawn_from_the_jwks_stops_verifying_within_twice_the_bound() -> None:
    class QuickVerifier(TokenVerifier):
        cache_seconds = 0.5

    idp = JwksServer().start()
    old, new = rsa_key(), rsa_key()
    idp.publish("old", old)
    try:
        verifier = QuickVerifier(jwks_url=idp.url)
        remembered = signed(old, "old", sub="alice")
        assert (await verifier.verify(remembered)).subject == "alice"
        idp.withdraw("old")
        idp.publish("new", new)
        await asyncio.sleep(2 * QuickVerifier.cache_seconds + 0.2)
        for token in (remembered, signed(old, "old", sub="bob")):  # remembered or fresh: both refused now
            with pytest.raises(Unauthorized):
                await verifier.verify(token)
        assert (await verifier.verify(signed(new, "new", sub="carol"))).subject == "carol"
    finally:
        idp.stop()
