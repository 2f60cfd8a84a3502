"""`slm-token`: issue a development token signed with the shared secret."""

from __future__ import annotations

import argparse
import os
import sys

from slm_shared.auth.principal import ROLES, claims_refusal, issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slm-token", description=__doc__)
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--role", action="append", choices=sorted(ROLES), dest="roles")
    parser.add_argument("--party", help="party id (required for customer tokens)")
    parser.add_argument("--subject", default=None)
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    roles = args.roles or ["admin"]
    if "customer" in roles and not args.party:
        parser.error("a customer token needs --party")
    # a token the services would refuse (a 401 on every request) is not issued
    if why := claims_refusal(tenant=args.tenant, subject=args.subject or "dev", party=args.party or None):
        parser.error(why)
    secret = os.environ.get("SLM_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
    token = issue_token(
        secret,
        tenant=args.tenant,
        roles=roles,
        subject=args.subject,
        party=args.party,
        ttl_seconds=args.ttl,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
