"""Webhook targets and server-side request forgery: a partner's URL must not reach inside our network.

A target's host is resolved and every address it resolves to must be public: private, loopback,
link-local, site-local, multicast, reserved, unspecified and shared (CGNAT) addresses are refused, unless
``webhook_allow_private_targets`` is set. IPv6 addresses that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64 ``64:ff9b::/96``) are judged by that IPv4 address, and the tunnel prefixes that
route to one (6to4 ``2002::/16``, Teredo ``2001::/32``) are refused outright. The check runs when an endpoint is created and
again at every delivery, and the delivery then connects to the very address that passed the check, so a
DNS answer that changes in between (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    """The URL is not an acceptable webhook target; the message says why, for the user."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _NAT64 or address in _IPV4_COMPATIBLE:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        # 6to4 and Teredo reach an IPv4 host through a relay: whichever it embeds, never a target.
        if address.sixtofour is not None or address.teredo is not None or address.is_site_local:
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int


def parse_target(url: str) -> Target:
    """The URL's parts, or UnsafeTarget when it is no absolute http(s) URL without credentials."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise UnsafeTarget(f"must be an http or https URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("must be an http or https URL")
    if not parts.hostname:
        raise UnsafeTarget("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("must not carry credentials; the signature authenticates deliveries")
    if parts.fragment:
        raise UnsafeTarget("must not have a fragment")
    return Target(
        url=url,
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeTarget("the host name does not resolve") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTarget("the host name does not resolve")
    return addresses


async def checked_address(target: Target, allow_private: bool) -> IPAddress:
    """The address to connect to: the first the host resolves to, once every one of them passed."""
    addresses = await resolve(target.host, target.port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeTarget(
                    "resolves to a private, loopback, link-local or otherwise non-public address"
                )
    return addresses[0]
