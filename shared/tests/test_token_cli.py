"""`slm-token` issues no token the services would refuse: a tenant, subject or party no column keeps is an error
naming the claim (exit status 2), and what it issues verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slm_shared.auth import TokenVerifier
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.web.bounds import ACTOR_MAX_LENGTH, PARTY_ID_MAX_LENGTH

SLM_TOKEN = Path(sys.executable).with_name("slm-token")
ENV = {k: v for k, v in os.environ.items() if k != "SLM_JWT_SECRET"}


def run(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SLM_TOKEN, *args], capture_output=True, timeout=60, env=ENV, check=False)


@pytest.mark.parametrize(
    ("args", "claim"),
    [
        (("--tenant", "t" * 65), "tenant is longer than 64 characters"),
        (("--tenant", ""), "tenant is empty"),
        ((b"--tenant", b"ac\xffme"), "tenant holds a lone surrogate"),  # undecodable bytes: a lone surrogate
        (("--subject", "s" * (ACTOR_MAX_LENGTH + 1)), "subject (sub) is longer than"),
        (("--role", "customer", "--party", "p" * (PARTY_ID_MAX_LENGTH + 1)), "party is longer than"),
    ],
)
def test_a_token_the_services_would_refuse_is_not_issued(args: tuple[str | bytes, ...], claim: str) -> None:
    issued = run(*args)
    assert issued.returncode == 2, issued
    assert issued.stdout == b""
    assert claim in issued.stderr.decode(errors="replace"), issued.stderr


async def test_the_longest_claims_are_issued_and_verify() -> None:
    args = ["--tenant", "t" * 64, "--subject", "s" * ACTOR_MAX_LENGTH, "--role", "customer"]
    issued = run(*args, "--party", "p" * PARTY_ID_MAX_LENGTH)
    assert issued.returncode == 0, issued.stderr
    principal = await TokenVerifier(secret=DEVELOPMENT_JWT_SECRET).verify(issued.stdout.decode().strip())
    assert (principal.tenant, principal.subject, principal.party) == ("t" * 64, "s" * 200, "p" * 36)
