"""Which participant hosts a saga may call (`SAGA_ALLOWED_TARGETS`).

Checked at registration (a 422 naming the URL) and again before every call. Cloud metadata and
link-local addresses are refused unless a pattern names them exactly, even when the allowlist is
unset, because a coordinator that fetches them for a caller is the classic SSRF.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from urllib.parse import urlsplit

_METADATA_HOSTS = frozenset(
    {"169.254.169.254", "fd00:ec2::254", "100.100.100.200", "metadata.google.internal", "metadata"}
)


def _is_link_local_or_metadata(host: str) -> bool:
    if host in _METADATA_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_link_local or str(address) in _METADATA_HOSTS


class TargetPolicy:
    """An allowlist of `host` or `host:port` patterns (`*` wildcards); empty allows any safe host."""

    def __init__(self, patterns: tuple[str, ...] = ()) -> None:
        self._patterns = tuple(p.lower() for p in patterns)

    def check(self, url: str) -> str | None:
        """None when `url` may be called, else the reason it may not."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            return "the URL has no host"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "the URL has an invalid port"
        host_port = f"{host}:{port}"
        explicit = any(p in (host, host_port) for p in self._patterns)
        if _is_link_local_or_metadata(host) and not explicit:
            return f"{host} is a metadata or link-local address; name it in SAGA_ALLOWED_TARGETS to allow it"
        if not self._patterns or explicit:
            return None
        if any(fnmatch.fnmatchcase(host, p) or fnmatch.fnmatchcase(host_port, p) for p in self._patterns):
            return None
        return f"{host_port} is not in SAGA_ALLOWED_TARGETS"
