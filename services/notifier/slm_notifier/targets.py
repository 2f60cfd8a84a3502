"""Target safety: resolve a host once and refuse addresses no outgoing call should reach."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The target may not be called; retrying will not change that."""


@dataclass(frozen=True)
class ResolvedTarget:
    host: str
    address: str
    port: int


def refusal_reason(address: IPAddress) -> str | None:
    """Why an address is not a public one (loopback, private, ...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal_reason(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def check_addresses(host: str, addresses: list[str], *, allow_private: bool) -> str:
    """The address to connect to; raises TargetRefused if any resolved address is not public."""
    if not addresses:
        raise TargetRefused(f"{host} does not resolve to any address")
    if not allow_private:
        for text in addresses:
            reason = refusal_reason(ipaddress.ip_address(text.split("%", 1)[0]))
            if reason:
                raise TargetRefused(f"target host {host} resolves to {reason} address {text}, which is not allowed")
    return addresses[0]


async def resolve_target(host: str, port: int, *, allow_private: bool) -> ResolvedTarget:
    """Resolve `host` once and return the single address the attempt will connect to."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        return ResolvedTarget(
            host=host, address=check_addresses(host, [str(literal)], allow_private=allow_private), port=port
        )
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LookupError(f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return ResolvedTarget(host=host, address=check_addresses(host, addresses, allow_private=allow_private), port=port)
