"""What went wrong on the wire, in an operator's words: `connection refused by 127.0.0.1:8199`.

The transport raises httpx exceptions chained (`raise ... from`) to aiohttp's, which are chained to
the operating system's: `ConnectionRefusedError`, `socket.gaierror`, `ssl.SSLError`, ... Those
causes say exactly what happened, and the request's URL says to whom; aiohttp's own text
(`Cannot connect to host 127.0.0.1:8199 ssl:default [Connect call failed ('127.0.0.1', 8199)]`)
is written for aiohttp's developers. Each phrase here names the host (and port) and the failure,
and lands in the step's `last_error` and the history as it is.
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
import httpx
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, PayloadEncodingError


class InterimAnswer(httpx.RemoteProtocolError):
    """The participant's last word was a 1xx status (a `101 Switching Protocols` nobody asked for)."""

    def __init__(self, status: int, reason: str, *, request: httpx.Request) -> None:
        super().__init__(f"{status} {reason}".strip(), request=request)
        self.status = status


def connect_failure(error: httpx.TransportError, *, duration_ms: int) -> str | None:
    """Why no connection was made (nothing was sent); None when the causes do not say."""
    url = _url(error)
    if url is None:
        return None
    where = _endpoint(url)
    if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
        # aiohttp's connect timeout covers the lookup, TCP and TLS: any of them may be the slow one.
        return f"could not connect to {where} within {duration_ms} ms"
    # The operating system's error is the innermost: aiohttp's wrappers are OSErrors too, with its text.
    cause = _innermost(error)
    if isinstance(cause, socket.gaierror):
        return f"could not resolve host {url.host}" + (f": {cause.strerror}" if cause.strerror else "")
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS handshake with {where} failed: certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake with {where} failed: {_tls_reason(cause)}"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(cause, ConnectionResetError):
        return f"connection reset by {where} before the request was sent"
    if isinstance(cause, OSError) and cause.strerror and not isinstance(cause, aiohttp.ClientError):
        return f"could not connect to {where}: {cause.strerror}"
    return None


def broken_connection(error: httpx.TransportError) -> str | None:
    """How a connection ended after the request may have been sent; None when the causes do not say."""
    url = _url(error)
    if url is None:
        return None
    where = _endpoint(url)
    if isinstance(error, InterimAnswer):
        return f"{where} answered {error}, which is not a final answer (outcome unknown)"
    cause = _innermost(error)
    if isinstance(cause, ConnectionResetError):
        return f"connection reset by {where} after the request was sent (outcome unknown)"
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return f"connection closed by {where} before it answered (outcome unknown)"
    if isinstance(cause, PayloadEncodingError):  # a body cut short (its length not met) or badly framed
        return f"{where} broke off its answer: {_first_line(cause)} (outcome unknown)"
    if isinstance(cause, BadHttpMessage):  # a status line or header llhttp cannot parse
        return f"{where} answered with something that is not HTTP: {_first_line(cause)} (outcome unknown)"
    return None


def _first_line(error: HttpProcessingError) -> str:
    """The parser's message without the byte dump and caret it draws beneath (they span lines)."""
    line = (error.message or type(error).__name__).strip().splitlines()[0]
    return line.rstrip(":").strip()[:200]


def _innermost(error: BaseException) -> BaseException:
    """The first error of the `raise ... from` chain that ends in `error` (a cycle is cut)."""
    seen = {id(error)}
    while error.__cause__ is not None and id(error.__cause__) not in seen:
        error = error.__cause__
        seen.add(id(error))
    return error


def _url(error: httpx.TransportError) -> httpx.URL | None:
    try:
        return error.request.url
    except RuntimeError:  # raised without a request: nothing to name
        return None


def _endpoint(url: httpx.URL) -> str:
    """`host:port`, the port spelled out even when it is the scheme's default; IPv6 in brackets."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{host}:{port}"


def _tls_reason(error: ssl.SSLError) -> str:
    """OpenSSL's reason (`WRONG_VERSION_NUMBER`) as words, else the error's own text."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return str(error) or type(error).__name__
