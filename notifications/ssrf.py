"""The SSRF guard for webhooks (and email channels' own SMTP servers): resolve the host the way the
OS does, refuse internal addresses.

A host name, an IP literal in any spelling the C library accepts (decimal ``2130706433``, octal
``0177.0.0.1``, hex ``0x7f.1``) or a bracketed IPv6 literal is resolved with ``getaddrinfo``; every
resulting address must be public, or inside ``NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS``. The caller
then connects to the vetted address itself (see `PinnedAdapter` in the webhook kind), so a DNS
answer that changes between the check and the connection cannot redirect the request.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

from django.conf import settings

from core.errors import DomainError, ErrorCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(DomainError):
    """The webhook target is an internal address; retrying cannot help."""

    code = ErrorCode.WEBHOOK_ADDRESS_REFUSED


class ResolutionFailed(DomainError):
    """The host name did not resolve; DNS trouble may pass, so this is retried."""

    code = ErrorCode.WEBHOOK_CONNECT_FAILED


@lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def allowed_networks(setting: str = "NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS") -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, setting)))


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), which is where it really goes."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_reason(address: IPAddress, allowed: tuple[Network, ...] | None = None) -> str | None:
    """Why an address may not be a webhook target, or None when it may."""
    target = _embedded_ipv4(address) or address
    if any(target in network or address in network for network in (allowed_networks() if allowed is None else allowed)):
        return None
    if address in METADATA_ADDRESSES or target in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if target.is_unspecified:
        return "the unspecified address"
    if target.is_loopback:
        return "a loopback address"
    if target.is_link_local:
        return "a link-local address"
    if target.is_multicast:
        return "a multicast address"
    if target.is_private:
        return "a private address"
    if target.is_reserved or not target.is_global:
        return "a reserved address"
    return None


def resolve(host: str, port: int, *, what: str = "webhook host") -> list[IPAddress]:
    """All addresses the OS resolves `host` to, in its order of preference."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolutionFailed(f"The {what} {host!r} could not be resolved: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 scope id ("fe80::1%eth0"); the address itself is what is checked.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def vet_host(host: str, port: int, *, smtp: bool = False) -> str:
    """Resolves and checks `host`; returns the address to connect to or raises AddressRefused.

    Every resolved address must pass: a name that resolves to one public and one internal address
    is refused, since the connection could go to either. With `smtp`, `host` is an email channel's
    own SMTP server, checked against NOTIFICATION_SMTP_ALLOWED_NETWORKS instead.
    """
    setting = "NOTIFICATION_SMTP_ALLOWED_NETWORKS" if smtp else "NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS"
    what = "SMTP server" if smtp else "webhook host"
    addresses = resolve(host, port, what=what)
    if not addresses:
        raise ResolutionFailed(f"The {what} {host!r} has no address.")
    for address in addresses:
        reason = refusal_reason(address, allowed_networks(setting))
        if reason:
            shown = host if host.strip("[]") == str(address) else f"{host} ({address})"
            raise AddressRefused(
                f"The {'SMTP server' if smtp else 'webhook'} address {shown} is {reason}; "
                f"add its network to {setting} to allow it.",
                code=ErrorCode.SMTP_ADDRESS_REFUSED if smtp else ErrorCode.WEBHOOK_ADDRESS_REFUSED,
            )
    return str(addresses[0])
