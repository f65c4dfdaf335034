"""What the sync and the async client share: configuration, requests, retries, answers, waits.

The two clients differ only in how they send a request and sleep; everything else is here, so
they cannot drift apart.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from coordinator import __version__
from coordinator.client.errors import (
    SagaCompensated,
    SagaFailed,
    UnexpectedResponse,
    Unreachable,
    WaitTimeout,
    error_from_answer,
)
from coordinator.client.models import Execution, ExecutionStatus

DEFAULT_URL = "http://127.0.0.1:8080"
"""Where `saga serve` listens by default."""

DEFAULT_TIMEOUT_S = 10.0
"""Connect, read and write timeout of one request (a long poll adds its wait to the read timeout)."""

DEFAULT_RETRIES = 2
"""Extra attempts of a call that is safe to repeat, after a transport error or a 502/503/504."""

DEFAULT_LONG_POLL_S = 30.0
"""The longest single `?wait=`: under the server's cap (60 s by default) and typical proxy idle timeouts."""

_BACKOFF_S = 0.25
_MAX_BACKOFF_S = 5.0
_RETRY_STATUSES = frozenset({502, 503, 504})
_EARLY_ANSWER_PAUSE_S = 0.5
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before any byte of the request left: repeating them is always safe."""

_CONTENT_TYPES = {".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml"}


@dataclass(frozen=True, slots=True)
class Config:
    """A client's resolved settings."""

    base_url: str
    token: str | None = field(repr=False)  # never in a log line or a traceback
    timeout_s: float
    retries: int
    long_poll_s: float

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        token: str | None,
        timeout: float,
        retries: int,
        long_poll: float,
        env: Mapping[str, str] | None = None,
    ) -> Config:
        """Arguments first, then `SAGA_URL` / `SAGA_TOKEN`, then the defaults."""
        env = os.environ if env is None else env
        url = base_url or env.get("SAGA_URL") or DEFAULT_URL
        if "://" not in url:
            url = f"http://{url}"
        if timeout <= 0 or long_poll <= 0 or retries < 0:
            raise ValueError("timeout and long_poll must be positive, retries zero or more")
        return cls(
            base_url=url.rstrip("/"),
            token=token or env.get("SAGA_TOKEN") or None,
            timeout_s=timeout,
            retries=retries,
            long_poll_s=long_poll,
        )

    def client_options(self, headers: Mapping[str, str] | None) -> dict[str, Any]:
        """Keyword arguments of `httpx.Client` / `httpx.AsyncClient`."""
        merged = {"user-agent": f"saga-coordinator-client/{__version__}", "accept": "application/json"}
        if self.token:
            merged["authorization"] = f"Bearer {self.token}"
        merged.update(headers or {})
        return {"base_url": self.base_url, "headers": merged, "timeout": self.timeout_s}


@dataclass(frozen=True, slots=True)
class Call:
    """One API request, described before it is sent."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = False
    """Safe to send again when the first answer was lost (GET; a start with an Idempotency-Key; ...)."""
    wait_s: float = 0.0
    """The `?wait=` the server may hold the request for; added to the read timeout."""

    def request_options(self, config: Config) -> dict[str, Any]:
        """Keyword arguments of `client.request(...)`."""
        timeout = httpx.Timeout(config.timeout_s, read=config.timeout_s + self.wait_s)
        return {
            "method": self.method,
            "url": self.path,
            "params": dict(self.params),
            "content": self.body,
            "headers": dict(self.headers),
            "timeout": timeout,
        }


def segment(value: str) -> str:
    """A path segment, percent-encoded (ids and names never reach another route)."""
    return quote(str(value), safe="")


def json_body(value: Any) -> tuple[bytes, dict[str, str]]:
    """A JSON request body and its content type."""
    return json.dumps(value, separators=(",", ":")).encode(), {"content-type": "application/json"}


def definition_body(source: Mapping[str, Any] | str | os.PathLike[str]) -> tuple[bytes, dict[str, str]]:
    """A definition as a request body: a mapping as JSON, a file as its bytes typed by its suffix.

    The file is sent as it is, so the server reports problems against the text the user wrote.
    (`${VAR}` expansion is the CLI's business, not the client's.)
    """
    if isinstance(source, Mapping):
        return json_body(dict(source))
    path = Path(source)
    content_type = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return path.read_bytes(), {"content-type": content_type}


def wait_param(seconds: float) -> str:
    """`?wait=` in whole milliseconds, the server's duration syntax."""
    return f"{max(1, round(seconds * 1000))}ms"


def retry_delay_after_error(call: Call, error: httpx.TransportError, attempt: int, config: Config) -> float | None:
    """Seconds to wait before sending `call` again after `error`, or None to give up."""
    if attempt > config.retries:
        return None
    if isinstance(error, _NOT_SENT) or call.idempotent:
        return _backoff(attempt)
    return None


def retry_delay_after_answer(call: Call, response: httpx.Response, attempt: int, config: Config) -> float | None:
    """Seconds to wait before sending an idempotent `call` again after a 502/503/504, or None."""
    if not call.idempotent or response.status_code not in _RETRY_STATUSES or attempt > config.retries:
        return None
    after = retry_after(response)
    return min(after, _MAX_BACKOFF_S) if after is not None else _backoff(attempt)


def _backoff(attempt: int) -> float:
    """Full jitter: a random wait up to `0.25 s * 2^(attempt-1)`, capped."""
    return random.uniform(0, min(_MAX_BACKOFF_S, _BACKOFF_S * 2 ** (attempt - 1)))  # noqa: S311 - not crypto


def retry_after(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (delta-seconds or an HTTP date), if present and readable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def unreachable(call: Call, config: Config, error: httpx.TransportError) -> Unreachable:
    """The exception for a request that got no answer."""
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    reason = str(error) or type(error).__name__
    return Unreachable(f"{call.method} {config.base_url}{call.path} {kind}: {reason}")


def decode(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer; raise the matching ApiError for any other answer."""
    if response.status_code >= 400:
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text.strip()
        raise error_from_answer(response.status_code, body, retry_after(response))
    try:
        return response.json()
    except ValueError:
        snippet = response.text.strip()[:200]
        raise UnexpectedResponse(
            f"{response.request.method} {response.request.url} answered {response.status_code} without JSON: "
            f"{snippet!r} (is this the coordinator's URL?)"
        ) from None


class WaitClock:
    """The long polls of one wait: each asks the server to hold the request until terminal.

    A wait is a loop of `GET ?wait=` requests, each up to `long_poll_s`, until the execution is
    terminal or `timeout_s` has passed. The server answers early only when the execution ended, so
    there is no busy polling; if a server answers early anyway (an old one ignoring `?wait=`), the
    loop pauses before asking again.
    """

    def __init__(self, timeout_s: float | None, long_poll_s: float) -> None:
        if timeout_s is not None and timeout_s < 0:
            raise ValueError("timeout must be zero or more")
        self.timeout_s = timeout_s
        self.long_poll_s = long_poll_s
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._asked = 0.0
        self._sent_at = 0.0

    def next_poll(self) -> float:
        """Seconds of `?wait=` for the next request (0: a plain GET, the wait is over)."""
        remaining = self.long_poll_s if self._deadline is None else self._deadline - time.monotonic()
        self._asked = max(0.0, min(remaining, self.long_poll_s))
        self._sent_at = time.monotonic()
        return self._asked

    def finished(self, execution: Execution) -> bool:
        """Whether to stop: the execution is terminal or the time is up."""
        if execution.is_terminal:
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def pause(self) -> float:
        """Seconds to sleep before the next poll: 0 unless the server answered well before the wait ended."""
        held = time.monotonic() - self._sent_at
        if held >= min(self._asked, 1.0) / 5:
            return 0.0  # the server held the request (perhaps capped below what we asked): fine
        pause = min(_EARLY_ANSWER_PAUSE_S, self._asked - held)
        if self._deadline is not None:
            pause = min(pause, max(0.0, self._deadline - time.monotonic()))
        return pause


def outcome(execution: Execution, timeout: float | None) -> Execution:
    """`execution` if it completed; otherwise the exception `result()` raises."""
    if execution.status is ExecutionStatus.COMPLETED:
        return execution
    if execution.status is ExecutionStatus.COMPENSATED:
        raise SagaCompensated(execution)
    if execution.status is ExecutionStatus.FAILED:
        raise SagaFailed(execution)
    raise WaitTimeout(execution, timeout or 0.0)


def choose_page_size(limit: int | None, size: int | None) -> int | None:
    """The page size to ask for: `size`, else no more than `limit` items (at most 500), else the server's."""
    if size is not None:
        return size
    return min(limit, 500) if limit is not None and limit > 0 else None
