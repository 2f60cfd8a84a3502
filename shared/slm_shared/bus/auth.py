"""NATS users and subject permissions: each service, and each external ingest publisher, its own.

Permissions are allow-lists, so a user may publish and subscribe to nothing else:

- a service publishes its own events (`slm.<service>.>`), provisions the platform streams,
  drives the durable consumers named after it on the streams it reads, acknowledges what they
  deliver, and receives replies on its own inbox prefix (`_INBOX.<user>.>`);
- an ingest publisher publishes to its tenant's ingest subjects only (`slm.ingest.<tenant>` and
  `slm.ingest.<tenant>.>`) and receives publish acknowledgements on its own inbox prefix.

Every user has its own inbox prefix because pull consumers deliver messages to the requester's
inbox: a user allowed `_INBOX.>` could read every message fetched by anyone.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from slm_shared.contracts.registry import STREAMS

SERVICES = ("catalog", "agreements", "measurement", "notifier")

# Streams (by producer key) each service's durable consumers read, and the durable names.
CONSUMERS: dict[str, dict[str, tuple[str, ...]]] = {
    "catalog": {},
    "agreements": {"agreements": ("catalog", "measurement", "notifier")},
    "measurement": {"measurement": ("agreements", "catalog", "measurement"), "measurement-ingest": ("ingest",)},
    "notifier": {"notifier": ("agreements", "catalog", "measurement")},
}

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_subject_token(value: str) -> bool:
    """Whether a name can be one token of a subject and of an inbox prefix (no dots, wildcards or spaces)."""
    return bool(_NAME.match(value))


def inbox_prefix(user: str) -> str:
    """The reply-subject prefix a user's connection must use: only it may subscribe there."""
    return f"_INBOX.{user}"


@dataclass(frozen=True)
class NatsUser:
    """A NATS user with the subjects it may publish and subscribe to."""

    user: str
    password: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    tenant: str | None = None

    def __post_init__(self) -> None:
        if not valid_subject_token(self.user):
            raise ValueError(f"a NATS user name is 1-64 letters, digits, '-' or '_', not {self.user!r}")

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.user)

    def connect_options(self) -> dict[str, str]:
        """Keyword arguments for `nats.connect` that log in as this user."""
        return {"user": self.user, "password": self.password, "inbox_prefix": self.inbox_prefix}


def _stream_admin_subjects() -> list[str]:
    # Any service may provision any platform stream (idempotent), so consumers can start before producers.
    return [f"$JS.API.STREAM.{verb}.{spec.name}" for spec in STREAMS.values() for verb in ("INFO", "CREATE", "UPDATE")]


def _consumer_subjects(stream: str, durable: str) -> list[str]:
    api = "$JS.API.CONSUMER"
    return [
        f"{api}.CREATE.{stream}.{durable}",
        f"{api}.CREATE.{stream}.{durable}.>",
        f"{api}.DURABLE.CREATE.{stream}.{durable}",
        f"{api}.INFO.{stream}.{durable}",
        f"{api}.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def service_user(service: str, password: str, *, user: str | None = None) -> NatsUser:
    """The user a service connects as: its events, its consumers, its inbox."""
    if service not in CONSUMERS:
        raise ValueError(f"unknown service {service!r}")
    name = user or service
    publish = [f"slm.{service}.>", *_stream_admin_subjects()]
    for durable, producers in CONSUMERS[service].items():
        for producer in producers:
            publish += _consumer_subjects(STREAMS[producer].name, durable)
    return NatsUser(name, password, tuple(publish), (f"{inbox_prefix(name)}.>",))


def ingest_user(tenant: str, password: str, *, user: str | None = None) -> NatsUser:
    """An external publisher's user: its tenant's ingest subjects and its own inbox, nothing else."""
    if not valid_subject_token(tenant):
        raise ValueError(f"tenant {tenant!r} cannot name a NATS subject (letters, digits, '-' or '_')")
    name = user or f"ingest-{tenant}"
    publish = (f"slm.ingest.{tenant}", f"slm.ingest.{tenant}.>")
    return NatsUser(name, password, publish, (f"{inbox_prefix(name)}.>",), tenant=tenant)


def operator_user(password: str, *, user: str = "slm-operator") -> NatsUser:
    """A user allowed everything: for operators' tools and tests, never given to a service."""
    return NatsUser(user, password, (">",), (">",))


def new_password() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class NatsAuth:
    """The users of one nats-server: the four services plus any ingest publishers and an operator."""

    users: dict[str, NatsUser] = field(default_factory=dict)

    @classmethod
    def generate(cls, *, ingest_tenants: Iterable[str] = (), operator: bool = True) -> NatsAuth:
        """Fresh random passwords for every service (and the given tenants' ingest publishers)."""
        users = [service_user(s, new_password()) for s in SERVICES]
        users += [ingest_user(t, new_password()) for t in ingest_tenants]
        if operator:
            users.append(operator_user(new_password()))
        return cls({u.user: u for u in users})

    def add(self, user: NatsUser) -> NatsUser:
        self.users[user.user] = user
        return user

    def service_env(self, service: str) -> dict[str, str]:
        """The settings a service reads to log in as its user."""
        user = self.users[service]
        prefix = service.upper()
        return {f"{prefix}_NATS_USER": user.user, f"{prefix}_NATS_PASSWORD": user.password}

    def render(self, *, password_env: Mapping[str, str] | None = None) -> str:
        """The `authorization` block of a nats-server configuration.

        `password_env` maps user names to environment variables the server reads the password
        from (nats-server expands an unquoted `$NAME`), so the file itself holds no secret.
        """
        return render_authorization(self.users.values(), password_env=password_env)


def render_user(user: NatsUser, *, password_env: str | None = None) -> str:
    """One entry of the `users` list of a nats-server `authorization` block."""
    password = f"${password_env}" if password_env else json.dumps(user.password)
    lines = [
        "    {",
        f"      user: {json.dumps(user.user)}",
        f"      password: {password}",
        "      permissions: {",
        f"        publish: {{ allow: {json.dumps(list(user.publish))} }}",
        f"        subscribe: {{ allow: {json.dumps(list(user.subscribe))} }}",
        "      }",
        "    }",
    ]
    return "\n".join(lines)


def render_authorization(users: Iterable[NatsUser], *, password_env: Mapping[str, str] | None = None) -> str:
    """An `authorization` block with these users; a connection without credentials is refused."""
    env = password_env or {}
    entries = "\n".join(render_user(u, password_env=env.get(u.user)) for u in users)
    return f"authorization {{\n  users: [\n{entries}\n  ]\n}}\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m slm_shared.bus.auth ingest-user TENANT`: a tenant-limited ingest user for nats.conf."""
    parser = argparse.ArgumentParser(prog="slm-nats-user", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest-user", help="an external publisher limited to one tenant's ingest subjects")
    ingest.add_argument("tenant")
    ingest.add_argument("--user", help="user name (default ingest-TENANT)")
    ingest.add_argument("--password-env", help="reference this environment variable instead of printing a password")
    service = commands.add_parser("service-user", help="a service's user (catalog, agreements, measurement, notifier)")
    service.add_argument("service", choices=SERVICES)
    service.add_argument("--password-env")
    args = parser.parse_args(argv)
    try:
        if args.command == "ingest-user":
            user = ingest_user(args.tenant, new_password(), user=args.user)
        else:
            user = service_user(args.service, new_password())
    except ValueError as exc:
        parser.error(str(exc))
    print("# add to the users list of the authorization block in nats.conf:")
    print(render_user(user, password_env=args.password_env))
    if not args.password_env:
        print(f"# the publisher connects with user={user.user!r} password={user.password!r}", end="")
        print(f" inbox_prefix={user.inbox_prefix!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
