"""Pure rules: target safety, matching, retry policy, Retry-After and signing."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from slm_notifier.channels.base import AttemptOutcome
from slm_notifier.channels.webhook import parse_retry_after
from slm_notifier.contacts.rules import escalation_seconds, next_level, party_side, recipients_at
from slm_notifier.escalation.links import acknowledge_link, link_is_valid
from slm_notifier.matching import EventFacts, known_types_matching, subscription_matches
from slm_notifier.policy import RetryPolicy, backoff_seconds, next_transition
from slm_notifier.signing import new_secret, secrets_in_use, signature_header
from slm_notifier.targets import TargetRefused, check_addresses, refusal_reason, resolve_target

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_refusal_reason(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


def test_any_private_address_refuses_the_host() -> None:
    with pytest.raises(TargetRefused, match=r"private address 10\.0\.0\.5"):
        check_addresses("mixed.example", ["93.184.216.34", "10.0.0.5"], allow_private=False)
    assert check_addresses("mixed.example", ["93.184.216.34", "10.0.0.5"], allow_private=True) == "93.184.216.34"
    assert check_addresses("public.example", ["93.184.216.34"], allow_private=False) == "93.184.216.34"


async def test_resolving_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(TargetRefused, match="loopback"):
        await resolve_target("127.0.0.1", 80, allow_private=False)
    resolved = await resolve_target("127.0.0.1", 8080, allow_private=True)
    assert (resolved.address, resolved.port) == ("127.0.0.1", 8080)


def test_type_patterns_and_filters() -> None:
    breach = EventFacts("slm.measurement.objective.breached.v1", "payments", "agr-1", "party-1", "critical")
    assert subscription_matches(["slm.measurement.objective.*"], {}, breach)
    assert subscription_matches(["*.breached.v1"], {"service_key": "payments", "min_severity": "warning"}, breach)
    assert not subscription_matches(["slm.agreements.*"], {}, breach)
    assert not subscription_matches(["slm.measurement.*"], {"service_key": "search"}, breach)
    assert not subscription_matches(["slm.measurement.*"], {"consumer_party_id": "party-2"}, breach)
    warning = EventFacts("slm.measurement.objective.at_risk.v1", severity="warning")
    assert not subscription_matches(["*"], {"min_severity": "critical"}, warning)
    assert not subscription_matches(["*"], {"agreement_id": "agr-1"}, warning)  # a missing fact never matches
    assert known_types_matching("slm.measurement.objective.*") == [
        "slm.measurement.objective.at_risk.v1",
        "slm.measurement.objective.breached.v1",
        "slm.measurement.objective.recovered.v1",
        "slm.measurement.objective.burn_alert.v1",
    ]
    assert known_types_matching("slm.nothing.*") == []


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=2, max_seconds=60, max_attempts=8)
    assert [backoff_seconds(policy, n, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff_seconds(policy, 3, rand=lambda: 0.0) == 4
    assert backoff_seconds(policy, 20, rand=lambda: 1.0) == 60


def test_next_transition() -> None:
    policy = RetryPolicy(base_seconds=2, max_seconds=60, max_attempts=3, retry_after_max_seconds=300)
    failure = AttemptOutcome(succeeded=False, status_code=500)
    retry = next_transition(policy, failure, attempts_in_round=1, now=NOW, rand=lambda: 1.0)
    assert (retry.status, retry.next_attempt_at) == ("pending", NOW + timedelta(seconds=2))
    assert next_transition(policy, failure, attempts_in_round=3, now=NOW).status == "dead"
    later = AttemptOutcome(succeeded=False, status_code=429, retry_after_seconds=3600)
    assert next_transition(policy, later, attempts_in_round=1, now=NOW).next_attempt_at == NOW + timedelta(seconds=300)
    gone = AttemptOutcome(succeeded=False, status_code=410, permanent=True)
    assert next_transition(policy, gone, attempts_in_round=1, now=NOW).status == "failed"
    ok = AttemptOutcome(succeeded=True, status_code=200)
    assert next_transition(policy, ok, attempts_in_round=3, now=NOW).status == "succeeded"


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:00 GMT", NOW) == 60
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_signatures_from_current_and_previous_secret() -> None:
    old, new = new_secret(), new_secret()
    assert new.startswith("whsec_") and len(Webhook(new)._whsecret) >= 24
    now = datetime.now(UTC)
    used = secrets_in_use(new, old, now + timedelta(hours=1), now)
    assert used == (new, old)
    assert secrets_in_use(new, old, now - timedelta(seconds=1), now) == (new,)
    header = signature_header(used, msg_id="msg_1", timestamp=now, body='{"a":1}')
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": header}
    assert Webhook(old).verify('{"a":1}', headers) == {"a": 1}
    assert Webhook(new).verify('{"a":1}', headers) == {"a": 1}


CONTACTS = [
    {"name": "Sam", "email": "slm@acme.example", "role": "service_level_manager", "escalation_level": 1},
    {"name": "Tia", "email": "tech@acme.example", "role": "technical_contact", "escalation_level": 1},
    {"name": "Bo", "email": "boss@acme.example", "role": "business_owner", "escalation_level": 3},
]


def test_recipients_by_role_and_level() -> None:
    assert recipients_at(CONTACTS, level=1, roles=["service_level_manager"]) == ["slm@acme.example"]
    assert recipients_at(CONTACTS, level=1, fixed=["ops@x.example"]) == [
        "ops@x.example",
        "slm@acme.example",
        "tech@acme.example",
    ]
    assert recipients_at(CONTACTS, level=3, roles=["service_level_manager"]) == ["boss@acme.example"]
    assert recipients_at(CONTACTS, level=2) == []
    # a role held only above level 1 does not pull that contact into level 1: level 1 hears instead
    assert recipients_at(CONTACTS, level=1, roles=["business_owner"]) == ["slm@acme.example", "tech@acme.example"]
    assert party_side({}, "slm.measurement.objective.burn_alert.v1") == "provider"
    assert party_side({}, "slm.measurement.chain.at_risk.v1") == "provider"
    assert party_side({}, "slm.measurement.objective.breached.v1") == "consumer"
    assert party_side({"party": "consumer"}, "slm.measurement.objective.at_risk.v1") == "consumer"
    assert next_level(CONTACTS, 1) == 3 and next_level(CONTACTS, 3) is None
    assert escalation_seconds(None, 600, 60, default=3600) == 600
    assert escalation_seconds(None, None, default=3600) == 3600


def test_acknowledge_links_are_signed_and_expire() -> None:
    key = b"k" * 32
    url = acknowledge_link("https://slm.example/", key, "n-1", expires=2_000)
    assert url.startswith("https://slm.example/v1/notifications/n-1/acknowledge/signed?expires=2000&signature=")
    signature = url.rsplit("=", 1)[1]
    assert link_is_valid(key, "n-1", expires=2_000, signature=signature, now=1_999)
    assert not link_is_valid(key, "n-1", expires=2_000, signature=signature, now=2_001)
    assert not link_is_valid(key, "n-2", expires=2_000, signature=signature, now=1_000)
    assert not link_is_valid(key, "n-1", expires=3_000, signature=signature, now=1_000)
    assert not link_is_valid(b"other" * 8, "n-1", expires=2_000, signature=signature, now=1_000)
