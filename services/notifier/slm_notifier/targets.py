"""Target safety: resolve a host once and refuse addresses no outgoing call should reach."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slm_shared.errors import FieldError, Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The target may not be called; retrying will not change that."""


@dataclass(frozen=True)
class ResolvedTarget:
    host: str
    address: str
    port: int


NAT64 = ipaddress.ip_network("64:ff9b::/96")
URL_FIELDS = ("url", "instance_url", "base_url")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why an address is not a public one (loopback, private, ...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        return refusal_reason(embedded)
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


def _literal(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver accepts (0x7f000001, 2130706433, ...)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def registration_refusal(url: str) -> str | None:
    """Why a target URL names a private or loopback host, or None; names other than localhost resolve at send."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    literal = _literal(host)
    reason = refusal_reason(literal) if literal is not None else None
    return f"{host} is a {reason} address" if reason else None


def check_registration(target: dict[str, Any] | None, *, allow_private: bool) -> None:
    """Refuse, when private targets are not allowed, a target whose URL names a private or loopback host."""
    if target is None or allow_private:
        return
    errors = [
        FieldError(field=f"target.{name}", message=reason, type="private_target")
        for name in URL_FIELDS
        if isinstance(target.get(name), str) and (reason := registration_refusal(target[name]))
    ]
    if errors:
        raise Unprocessable("The target names a private or loopback host, which is not allowed here", errors=errors)


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
