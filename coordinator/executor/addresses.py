"""What an IP address is, for the outbound policy: refused outright, private, or public.

A naive `ipaddress` check is not enough (measured on CPython 3.11): `::ffff:169.254.169.254`
says `is_link_local=False`, and the NAT64 (`64:ff9b::a9fe:a9fe`) and 6to4 (`2002:a9fe:a9fe::1`)
forms of the metadata address say `is_global=True`. So an IPv6 address that carries an IPv4
address is judged by the IPv4 address it carries. And `getaddrinfo` — what HTTP clients call —
resolves `127.1`, `0x7f.1`, `2130706433` and `0177.0.0.1` to 127.0.0.1, while `ipaddress` rejects
them: such spellings are refused rather than guessed at (`is_ambiguous_ipv4`).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from enum import IntEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
"""Cloud metadata and credential endpoints: reading them hands out the machine's credentials."""

METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
)
"""Names of metadata services and of the Kubernetes API: refused unless named exactly."""

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # connecting to 0.x reaches this host on Linux
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class Reach(IntEnum):
    """Where an address leads, from harmless to dangerous (higher is worse)."""

    PUBLIC = 0
    """A globally routable address."""
    PRIVATE = 1
    """Loopback, RFC 1918, CGNAT, unique-local, documentation and other non-global ranges."""
    REFUSED = 2
    """Metadata, link-local, unspecified (0.0.0.0 reaches this host), multicast, broadcast, reserved."""


def is_ambiguous_ipv4(host: str) -> bool:
    """Whether `host` is read as an IPv4 address by resolvers but is not written as a.b.c.d.

    Following the WHATWG URL rules, a host whose last label is a number is an IPv4 address; only
    the canonical dotted quad is accepted (`127.1`, `0x7f.0.0.1`, `2130706433`, `0177.0.0.1` and
    `127.0.0.1.` are not).
    """
    labels = host.split(".")
    last = labels[-1] if labels[-1] or len(labels) == 1 else labels[-2]
    if not _NUMERIC_LABEL.match(last):
        return False
    try:
        return str(ipaddress.IPv4Address(host)) != host
    except ValueError:
        return True


@functools.lru_cache(maxsize=4096)
def ip_literal(host: str) -> IPAddress | None:
    """`host` as an address when it is a canonical IPv4 or any IPv6 literal (without brackets).

    Asked for every call's host; addresses are immutable, so the answers are kept.
    """
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address) and str(address) != host:
        return None  # never guess: is_ambiguous_ipv4 reports these
    return address


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, translated, compatible, NAT64, 6to4, Teredo."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in _NAT64) or address in _IPV4_TRANSLATED:
        return low32
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return low32
    return None


def reach(address: IPAddress) -> Reach:
    """Where `address` leads; an IPv6 address carrying an IPv4 one is judged by both."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return Reach.REFUSED  # zone ids only make sense for link-local addresses
        inner = embedded_ipv4(address)
        own = _reach_v6(address) if inner is None else Reach.PUBLIC
        return max(own, reach(inner)) if inner is not None else own
    return _reach_v4(address)


def _reach_v4(address: ipaddress.IPv4Address) -> Reach:
    if (
        address in METADATA_ADDRESSES
        or address.is_link_local
        or address in _THIS_NETWORK
        or address.is_multicast
        or address.is_reserved
        or address == ipaddress.IPv4Address("255.255.255.255")
    ):
        return Reach.REFUSED
    return Reach.PUBLIC if address.is_global else Reach.PRIVATE


def _reach_v6(address: ipaddress.IPv6Address) -> Reach:
    if address in METADATA_ADDRESSES or address.is_link_local or address.is_unspecified or address.is_multicast:
        return Reach.REFUSED
    if address.is_loopback or address.is_private or address in _SITE_LOCAL or not address.is_global:
        return Reach.PRIVATE
    return Reach.PUBLIC


def describe(address: IPAddress) -> str:
    """What `address` is, in words, for error messages."""
    inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    target: IPAddress = inner or address
    if target in METADATA_ADDRESSES or address in METADATA_ADDRESSES:
        kind = "a cloud metadata address"
    elif target.is_link_local or address.is_link_local:
        kind = "a link-local address"
    elif target.is_unspecified or target in _THIS_NETWORK:
        kind = "an unspecified address (it reaches this host)"
    elif target.is_loopback:
        kind = "a loopback address"
    elif target.is_multicast or target.is_reserved or address.is_multicast:
        kind = "a multicast, broadcast or reserved address"
    else:
        kind = "a public address" if reach(address) is Reach.PUBLIC else "a private address"
    via = f" (it embeds {inner})" if inner is not None else ""
    return f"{address} is {kind}{via}"
