"""One typed settings object, read from `SAGA_*` environment variables and CLI flags.

Built once in the composition root (`cli.py`, `api.app.create_app`) and passed down; nothing
reads the environment anywhere else (except `OTEL_*`, which the OpenTelemetry SDK reads itself,
and `SAGA_SECRET_*`, which the secret source reads at call time so secrets are never copied).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coordinator.durations import parse_duration_ms

DEFAULT_DATABASE_URL = "sqlite:///./saga.db"
DEFAULT_ALERT_AFTER_MS = 15 * 60 * 1000
"""`SAGA_ALERT_AFTER` when unset (the same as `core.spec.DEFAULT_ALERT_AFTER_MS`)."""
_DEFAULT_BODY = 1024 * 1024
_DEFAULT_WAIT = 60.0
_DEFAULT_RESPONSE = 256 * 1024
_DEFAULT_CONNECTIONS = 200


SCOPES = ("definitions:write", "executions:start", "executions:read", "admin")
"""API scopes. `admin` (cancel, retry) implies every other one; see docs/security.md."""

# RFC 6750 b64token characters: what a bearer token may hold (no ':' or ',', which split entries).
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_TARGET_NAME = re.compile(r"[a-z0-9_*](?:[a-z0-9_*.-]*[a-z0-9_*])?")
_TARGET_BRACKETED = re.compile(r"\[([0-9a-f:.]+)\](?::([0-9]+|\*))?")
# Resolvers read a host whose last label is a number as an IPv4 address (WHATWG URL rules).
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


class SettingsError(ValueError):
    """A setting has a value the coordinator refuses; the message names it."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """One API token and the scopes it holds."""

    token: str
    scopes: frozenset[str]

    @property
    def name(self) -> str:
        """How the history names this token's actions: a fingerprint, never the token itself.

        `token:` and the first 12 hex digits of the token's SHA-256, so an operator can tell which
        configured token acted (`printf %s TOKEN | sha256sum`) without the history holding a secret.
        """
        return "token:" + hashlib.sha256(self.token.encode()).hexdigest()[:12]

    def allows(self, scope: str) -> bool:
        """Whether this token may act under `scope` (`admin` may do everything)."""
        return "admin" in self.scopes or scope in self.scopes


def parse_token_entry(entry: str, *, source: str = "SAGA_API_TOKENS(_FILE)") -> TokenGrant:
    """`TOKEN` (every scope) or `TOKEN:SCOPE+SCOPE...`, e.g. `k3y:executions:start+executions:read`.

    Raises:
        SettingsError: the token has characters a bearer token cannot have, or a scope is unknown.
    """
    token, sep, scope_text = entry.strip().partition(":")
    if not _TOKEN.fullmatch(token):
        raise SettingsError(
            f"{source}: a token may hold letters, digits and -._~+/ (then '=' padding) only; "
            "write entries as TOKEN or TOKEN:SCOPE+SCOPE"
        )
    if not sep:
        return TokenGrant(token, frozenset(SCOPES))
    scopes = frozenset(part.strip() for part in scope_text.split("+") if part.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        # Never echo the token itself: the message may end up in a log.
        raise SettingsError(f"{source}: unknown or missing scope {unknown or ''} (known: {', '.join(SCOPES)})")
    return TokenGrant(token, scopes)


def _tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    """`SAGA_API_TOKENS` entries, then those of `SAGA_API_TOKENS_FILE` (both may be given)."""
    path = env.get("SAGA_API_TOKENS_FILE", "").strip()
    return _list(env, "SAGA_API_TOKENS") + (_token_file(path) if path else ())


def _token_file(path: str) -> tuple[str, ...]:
    """Entries of a tokens file: one per line, `#` starts a comment, blank lines are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"SAGA_API_TOKENS_FILE {path!r} cannot be read: {error.strerror}") from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


@dataclass(frozen=True, slots=True)
class TargetName:
    """A `SAGA_ALLOWED_TARGETS` entry naming a host (lower-case; `*` wildcards make it a pattern)."""

    host: str
    port: int | None
    """None: any port."""


@dataclass(frozen=True, slots=True)
class TargetNetwork:
    """A `SAGA_ALLOWED_TARGETS` entry naming one address or a network."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None
    """None: any port."""


def parse_target_entry(text: str) -> TargetName | TargetNetwork:
    """One `SAGA_ALLOWED_TARGETS` entry; `coordinator.executor.policy` describes the grammar.

    Raises:
        SettingsError: the entry is not a name pattern, an address or a network; the message names it.
    """
    raw = text.strip().lower()
    try:
        if "/" in raw:
            return TargetNetwork(ipaddress.ip_network(raw.replace("[", "").replace("]", ""), strict=True), None)
        bracketed = _TARGET_BRACKETED.fullmatch(raw)
        if bracketed:
            return TargetNetwork(ipaddress.ip_network(bracketed.group(1)), _target_port(bracketed.group(2), text))
        if raw.count(":") >= 2:
            return TargetNetwork(ipaddress.ip_network(raw), None)
    except ValueError as error:
        raise SettingsError(f"SAGA_ALLOWED_TARGETS entry {text!r} is not a valid address or network: {error}") from None
    host, sep, port_text = raw.partition(":")
    port = _target_port(port_text if sep else None, text)
    host = host.rstrip(".")
    try:
        if str(ipaddress.IPv4Address(host)) == host:
            return TargetNetwork(ipaddress.ip_network(host), port)
    except ValueError:
        pass
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        # `127.1`, `0x7f.0.0.1`, `2130706433`: an address, but not spelled as a.b.c.d. Never guess.
        raise SettingsError(f"SAGA_ALLOWED_TARGETS entry {text!r}: write an IPv4 address as a.b.c.d")
    if not _TARGET_NAME.fullmatch(host):
        raise SettingsError(f"SAGA_ALLOWED_TARGETS entry {text!r} is not a host name, address or network")
    return TargetName(host, port)


def _target_port(text: str | None, entry: str) -> int | None:
    if text is None or text == "*":
        return None
    if not text.isdigit() or not 0 < int(text) <= 65535:
        raise SettingsError(f"SAGA_ALLOWED_TARGETS entry {entry!r}: invalid port {text!r}")
    return int(text)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _duration(env: Mapping[str, str], name: str) -> int | None:
    """A duration variable (`15m`, `30d`, or seconds) in milliseconds; None when unset."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = parse_duration_ms(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be longer than zero, got {raw!r}")
    return value


_ON = frozenset({"on", "true", "1", "yes"})
_OFF = frozenset({"off", "false", "0", "no"})


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in _ON | _OFF:
        raise SettingsError(f"{name} must be on or off, got {raw!r}")
    return raw in _ON


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every knob of the coordinator. See the README's configuration table."""

    host: str = "127.0.0.1"
    """Interface `saga serve` binds (`--host`)."""
    port: int = 8080
    """Port `saga serve` binds (`--port`)."""
    database_url: str = DEFAULT_DATABASE_URL
    """`SAGA_DATABASE_URL` / `--database-url`: `sqlite:///path`, `postgresql://...` or `memory://`."""
    sagas_dir: Path | None = None
    """`SAGA_SAGAS_DIR` / `--sagas-dir`: definitions registered at start (unchanged ones are no-ops)."""
    insecure: bool = False
    """`--insecure`: allow a non-loopback `--host` without API tokens."""
    workers: int = 1
    """`SAGA_WORKERS` / `--workers`: coordinator processes `saga serve` runs on one port, each a
    replica (PostgreSQL only: a SQLite file has one writer process)."""
    api_tokens: tuple[str, ...] = ()
    """`SAGA_API_TOKENS` (comma-separated) and the lines of `SAGA_API_TOKENS_FILE`: entries
    `TOKEN` or `TOKEN:SCOPE+SCOPE`; empty means the API is open."""
    allowed_targets: tuple[str, ...] = ()
    """`SAGA_ALLOWED_TARGETS`: names (`*` wildcards), addresses and networks participants may be
    called on, each with an optional port; see `coordinator.executor.policy`."""
    max_body_bytes: int = _DEFAULT_BODY
    """`SAGA_MAX_BODY_BYTES`: largest accepted request body (413 beyond)."""
    max_wait_seconds: float = _DEFAULT_WAIT
    """`SAGA_MAX_WAIT_SECONDS`: the longest `?wait=` a request may hold."""
    max_response_bytes: int = _DEFAULT_RESPONSE
    """`SAGA_MAX_RESPONSE_BYTES`: the part of a participant's response body that is read and kept."""
    outbound_connections: int = _DEFAULT_CONNECTIONS
    """`SAGA_OUTBOUND_CONNECTIONS`: the pool size for participant calls."""
    lease_seconds: float = 15.0
    """`SAGA_LEASE_SECONDS`: how long an execution stays with a replica that stopped renewing."""
    sweep_seconds: float = 2.0
    """`SAGA_SWEEP_SECONDS`: how often leases are renewed and expired ones taken over."""
    db_timeout_seconds: float = 10.0
    """`SAGA_DB_TIMEOUT_SECONDS`: the deadline of one PostgreSQL call (a transaction); past it the
    call fails as unavailable and its connection is cut, so a partition never hangs a caller."""
    shutdown_grace_seconds: float = 20.0
    """`SAGA_SHUTDOWN_GRACE_SECONDS`: on SIGTERM, how long calls in flight may take to finish."""
    max_recovery_attempts: int = 5
    """`SAGA_MAX_RECOVERY_ATTEMPTS`: takeovers without progress before an execution is quarantined."""
    fault_points: tuple[str, ...] = ()
    """`SAGA_FAULT_POINT` (tests only): crash points to arm, see `engine/faults.py`."""
    fault_nth: int = 1
    """`SAGA_FAULT_NTH` (tests only): crash at the n-th hit of an armed point."""
    fault_target: str | None = None
    """`SAGA_FAULT_TARGET` (tests only): arm the points for this execution id or saga name only."""
    log_level: str = "INFO"
    """`SAGA_LOG_LEVEL`."""
    log_format: str = "json"
    """`SAGA_LOG_FORMAT`: `json` (one object per line, with trace and execution ids) or `text`."""
    alert_after_ms: int = DEFAULT_ALERT_AFTER_MS
    """`SAGA_ALERT_AFTER` (e.g. `15m`): an unfinished execution with no new history for this long needs
    attention, unless its saga declares its own `alert_after`."""
    retention_ms: int | None = None
    """`SAGA_RETENTION` (e.g. `30d`): delete `completed` and `compensated` executions that finished
    longer ago than this; None (unset) keeps everything."""
    archive_dir: Path | None = None
    """`SAGA_ARCHIVE_DIR`: retention writes each execution it deletes here first (a JSON line in a
    daily file, fsynced before the delete commits)."""
    ui: bool = True
    """`SAGA_UI`: serve the web console at `/ui` (`off` turns it off)."""
    trace_url: str | None = None
    """`SAGA_TRACE_URL`: a link to a trace viewer with `{trace_id}` in it, e.g.
    `http://jaeger:16686/trace/{trace_id}`; the console links each execution's trace there."""
    public_url: str | None = None
    """`SAGA_PUBLIC_URL`: the coordinator's address as participants reach it, the start of every
    `X-Saga-Callback-Url`; unset: the address `saga serve` listens on."""
    callback_key: str | None = field(default=None, repr=False)
    """`SAGA_CALLBACK_KEY`: the secret that signs callback tokens; unset: one generated at first
    start and kept in the database, so every replica agrees."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Build from `SAGA_*` variables; `overrides` (CLI flags that were given) win."""
        sagas_dir = env.get("SAGA_SAGAS_DIR")
        settings = cls(
            database_url=env.get("SAGA_DATABASE_URL") or DEFAULT_DATABASE_URL,
            sagas_dir=Path(sagas_dir) if sagas_dir else None,
            api_tokens=_tokens(env),
            workers=_int(env, "SAGA_WORKERS", 1, minimum=1),
            allowed_targets=_list(env, "SAGA_ALLOWED_TARGETS"),
            max_body_bytes=_int(env, "SAGA_MAX_BODY_BYTES", _DEFAULT_BODY, minimum=1024),
            max_wait_seconds=_float(env, "SAGA_MAX_WAIT_SECONDS", _DEFAULT_WAIT),
            max_response_bytes=_int(env, "SAGA_MAX_RESPONSE_BYTES", _DEFAULT_RESPONSE, minimum=1024),
            outbound_connections=_int(env, "SAGA_OUTBOUND_CONNECTIONS", _DEFAULT_CONNECTIONS, minimum=1),
            lease_seconds=_float(env, "SAGA_LEASE_SECONDS", 15.0),
            sweep_seconds=_float(env, "SAGA_SWEEP_SECONDS", 2.0),
            max_recovery_attempts=_int(env, "SAGA_MAX_RECOVERY_ATTEMPTS", 5, minimum=1),
            shutdown_grace_seconds=_float(env, "SAGA_SHUTDOWN_GRACE_SECONDS", 20.0),
            db_timeout_seconds=_float(env, "SAGA_DB_TIMEOUT_SECONDS", 10.0),
            fault_points=_list(env, "SAGA_FAULT_POINT"),
            fault_nth=_int(env, "SAGA_FAULT_NTH", 1, minimum=1),
            fault_target=env.get("SAGA_FAULT_TARGET") or None,
            log_level=(env.get("SAGA_LOG_LEVEL") or "INFO").upper(),
            log_format=(env.get("SAGA_LOG_FORMAT") or "json").lower(),
            alert_after_ms=_duration(env, "SAGA_ALERT_AFTER") or DEFAULT_ALERT_AFTER_MS,
            retention_ms=_duration(env, "SAGA_RETENTION"),
            archive_dir=Path(archive) if (archive := env.get("SAGA_ARCHIVE_DIR")) else None,
            ui=_switch(env, "SAGA_UI", default=True),
            trace_url=env.get("SAGA_TRACE_URL") or None,
            public_url=env.get("SAGA_PUBLIC_URL") or None,
            callback_key=env.get("SAGA_CALLBACK_KEY") or None,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given).validated()

    def validated(self) -> Settings:
        """Refuse values that cannot work, and unsafe combinations."""
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port must be between 0 and 65535, got {self.port}")
        if self.public_url is not None and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self.public_url):
            raise SettingsError(f"SAGA_PUBLIC_URL must be an http(s) URL without query, got {self.public_url!r}")
        if self.callback_key is not None and len(self.callback_key) < 16:
            raise SettingsError("SAGA_CALLBACK_KEY must be at least 16 characters (32 random ones are best)")
        if not self.database_url.startswith(("sqlite:", "postgresql:", "postgres:", "postgresql+", "memory:")):
            raise SettingsError(
                f"--database-url must start with sqlite:, postgresql: or memory:, got {self.database_url!r}"
            )
        if self.workers < 1:
            raise SettingsError(f"--workers must be at least 1, got {self.workers}")
        if self.workers > 1 and not self.database_url.startswith(("postgresql:", "postgres:", "postgresql+")):
            raise SettingsError(
                f"--workers {self.workers} needs PostgreSQL: each worker is a replica, and a SQLite file "
                "(or memory://) has one writer process; use --workers 1 or a postgresql:// database URL"
            )
        if self.sweep_seconds * 2 > self.lease_seconds:
            raise SettingsError(
                f"SAGA_SWEEP_SECONDS ({self.sweep_seconds}) must be at most half of SAGA_LEASE_SECONDS "
                f"({self.lease_seconds}), so a live replica renews its leases before they expire"
            )
        if self.db_timeout_seconds <= 0:
            raise SettingsError(f"SAGA_DB_TIMEOUT_SECONDS must be positive, got {self.db_timeout_seconds}")
        if self.log_format not in ("json", "text"):
            raise SettingsError(f"SAGA_LOG_FORMAT must be json or text, got {self.log_format!r}")
        if self.trace_url is not None and (
            "{trace_id}" not in self.trace_url or not self.trace_url.startswith(("http://", "https://"))
        ):
            raise SettingsError(
                "SAGA_TRACE_URL must be an http(s) URL with {trace_id} in it, "
                f"e.g. http://jaeger:16686/trace/{{trace_id}}, got {self.trace_url!r}"
            )
        self.token_grants()
        self.target_entries()
        if not self.api_tokens and not self.insecure and not is_loopback(self.host):
            raise SettingsError(
                f"refusing to bind {self.host!r} with an open API: set SAGA_API_TOKENS, "
                "or pass --insecure if this network is trusted"
            )
        return self

    def token_grants(self) -> tuple[TokenGrant, ...]:
        """The parsed `api_tokens`.

        Raises:
            SettingsError: an entry is malformed.
        """
        return tuple(parse_token_entry(entry) for entry in self.api_tokens)

    def target_entries(self) -> tuple[TargetName | TargetNetwork, ...]:
        """The parsed `allowed_targets` (blank entries skipped).

        Raises:
            SettingsError: an entry is malformed.
        """
        return tuple(parse_target_entry(entry) for entry in self.allowed_targets if entry.strip())


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
