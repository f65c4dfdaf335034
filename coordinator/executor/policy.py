"""Which participants a saga may call: `SAGA_ALLOWED_TARGETS`.

Entries (comma-separated in the variable, lower-cased):

* `host` or `host:port` — an exact name (`inventory`, `pay.example.com:443`); `*` wildcards
  (`*.svc.example.com`, `*:8443`, `*`) make it a pattern; a port of `*` or none means any port.
* `a.b.c.d`, `a.b.c.d:port`, `[v6]`, `[v6]:port` — one address.
* `10.0.0.0/8`, `fd00::/8` — a network (any port).

Checked twice. At registration (`check(url)`, a 422 naming the URL) on the URL's host as
written. At every connection (`check_address`, from the guarded transport) on each address the
host resolved to, so a name that resolves somewhere unexpected — or is re-pointed after
registration (DNS rebinding) — is refused before a byte is sent.

What passes (see docs/security.md):

* Metadata, link-local, unspecified, multicast and reserved addresses (in any IPv6 wrapping) and
  metadata names: only when an entry is exactly that address or that name. Even with no entries.
* No entries at all: everything else (a laptop default; `saga serve` warns).
* Otherwise the host must match an entry. A public address passes; a private or loopback one only
  when an exact name entry names the host, or an address/network entry covers the address — a
  wildcard never admits the inside of the network.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import urlsplit

from coordinator.executor.addresses import (
    METADATA_NAMES,
    IPAddress,
    Reach,
    describe,
    ip_literal,
    is_ambiguous_ipv4,
    reach,
)
from coordinator.settings import TargetName, TargetNetwork, parse_target_entry

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Match(IntEnum):
    NONE = 0
    WILDCARD = 1
    EXACT = 2


@dataclass(frozen=True, slots=True)
class _NameEntry:
    host: str
    port: int | None
    pattern: re.Pattern[str] | None
    """None for an exact name."""

    def match(self, host: str, port: int) -> _Match:
        if self.port is not None and self.port != port:
            return _Match.NONE
        if self.pattern is None:
            return _Match.EXACT if host == self.host else _Match.NONE
        return _Match.WILDCARD if self.pattern.fullmatch(host) else _Match.NONE


@dataclass(frozen=True, slots=True)
class _AddressEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None

    def covers(self, address: IPAddress, port: int) -> bool:
        return (self.port is None or self.port == port) and address in self.network

    def is_exactly(self, address: IPAddress, port: int) -> bool:
        return self.network.num_addresses == 1 and self.covers(address, port)


def _matcher(entry: TargetName | TargetNetwork) -> _NameEntry | _AddressEntry:
    """The matcher for one parsed entry (`coordinator.settings.parse_target_entry` reads the text)."""
    if isinstance(entry, TargetNetwork):
        return _AddressEntry(entry.network, entry.port)
    if "*" not in entry.host:
        return _NameEntry(entry.host, entry.port, None)
    regex = re.compile(".*".join(re.escape(part) for part in entry.host.split("*")))
    return _NameEntry(entry.host, entry.port, regex)


_VERDICTS_KEPT = 4096
"""(host, port, address) verdicts a policy keeps; past that it starts over."""


class TargetPolicy:
    """The allowlist; empty allows any host except the always-refused ones."""

    def __init__(self, entries: tuple[str, ...] = ()) -> None:
        """Parse `entries`; a malformed one raises `SettingsError` (a ValueError) naming it."""
        parsed = [_matcher(parse_target_entry(e)) for e in entries if e.strip()]
        self._names = tuple(e for e in parsed if isinstance(e, _NameEntry))
        self._addresses = tuple(e for e in parsed if isinstance(e, _AddressEntry))
        # The policy never changes, and a saga calls the same few hosts over and over: each
        # verdict is worked out once (parsing addresses cost ~5 % of the CPU per saga).
        self._verdicts: dict[tuple[str, int, str], str | None] = {}

    @property
    def restricted(self) -> bool:
        """Whether an allowlist is set (else only the always-refused targets are refused)."""
        return bool(self._names or self._addresses)

    def check(self, url: str) -> str | None:
        """None when `url` may be called as written, else why not (no DNS lookup here)."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            return f"only http and https URLs are called, not {parts.scheme or 'a relative URL'!r}"
        if parts.username is not None or parts.password is not None:
            return "credentials in a URL are not allowed"
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return "the URL has no host"
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return "the URL has an invalid port"
        return self._remembered(host, port, "", self._check_host)

    def _check_host(self, host: str, port: int, _: str) -> str | None:
        if is_ambiguous_ipv4(host):
            return f"{host!r} is an ambiguous spelling of an IPv4 address: write it as a.b.c.d"
        literal = ip_literal(host)
        if literal is not None:
            return self.check_address(host, port, literal)
        return self._check_name(host, port)

    def _remembered(
        self, host: str, port: int, address: str, work: Callable[[str, int, str], str | None]
    ) -> str | None:
        key = (host, port, address)
        if key not in self._verdicts:
            if len(self._verdicts) >= _VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[key] = work(host, port, address)
        return self._verdicts[key]

    def check_address(self, host: str, port: int, address: IPAddress) -> str | None:
        """None when connecting to `address` (what `host` resolved to, or `host` itself) is allowed."""
        return self._remembered(host, port, str(address), lambda h, p, _: self._check_address(h, p, address))

    def _check_address(self, host: str, port: int, address: IPAddress) -> str | None:
        host = host.lower().strip("[]").rstrip(".")
        literal = ip_literal(host)
        if literal is None:
            refusal = self._check_name(host, port)
            if refusal is not None:
                return refusal
        named = self._name_match(host, port)
        origin = "" if literal is not None else f" ({host} resolved to it)"
        level = reach(address)
        if level is Reach.REFUSED:
            if any(e.is_exactly(address, port) for e in self._addresses):
                return None
            if host in METADATA_NAMES and named is _Match.EXACT:
                return None
            return f"{describe(address)}{origin}; name it exactly in SAGA_ALLOWED_TARGETS to allow it"
        if not self.restricted:
            return None
        covered = any(e.covers(address, port) for e in self._addresses)
        if covered or named is _Match.EXACT:
            return None
        if named is _Match.WILDCARD:
            if level is Reach.PUBLIC:
                return None
            return (
                f"{describe(address)}{origin}; a wildcard entry only admits public addresses: name the host "
                "exactly, or add the address or its network to SAGA_ALLOWED_TARGETS"
            )
        return f"{_host_port(host, port)} is not in SAGA_ALLOWED_TARGETS"

    def _check_name(self, host: str, port: int) -> str | None:
        named = self._name_match(host, port)
        if host in METADATA_NAMES and named is not _Match.EXACT:
            return f"{host} is a metadata or control-plane name; name it exactly in SAGA_ALLOWED_TARGETS to allow it"
        if not self.restricted or named is not _Match.NONE:
            return None
        return f"{_host_port(host, port)} is not in SAGA_ALLOWED_TARGETS"

    def _name_match(self, host: str, port: int) -> _Match:
        return max((e.match(host, port) for e in self._names), default=_Match.NONE)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
