"""Callback tokens (SPEC section 7.3): capabilities to report the outcome of one attempt.

A token is `base64url(nonce ‖ mac ‖ target)` where the target names (execution, step, direction,
attempt), the nonce is 128 random bits and the mac is HMAC-SHA256 under the server key over both.
Nothing of it is stored: a callback is verified by recomputing the mac (in constant time) before
the store is touched, so a flood of wrong tokens costs no database work, and every replica that
shares the key (`SAGA_CALLBACK_KEY`, or the one kept in the database) accepts it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from coordinator.core.state import Direction
from coordinator.redaction import CALLBACK_PATH

CALLBACK_URL_HEADER = "X-Saga-Callback-Url"
"""The header that tells an asynchronous participant where to report the outcome."""
CALLBACK_KEY_NAME = "callback"
"""The name of the callback key in the store's shared keys."""
_NONCE = 16
_MAC = 32
_MAX_TOKEN = 512
"""A longer path segment is not a token of ours: refused before decoding it."""
_DOMAIN = b"saga-callback-v1\x00"
_DIRECTIONS = {Direction.ACTION: "a", Direction.COMPENSATION: "c"}
_BY_LETTER = {letter: direction for direction, letter in _DIRECTIONS.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackTarget:
    """The attempt a token was minted for."""

    execution_id: str
    step: int
    direction: Direction
    attempt: int


class CallbackTokens:
    """Mints and verifies callback tokens under one key, and builds their URLs."""

    def __init__(self, key: bytes, public_url: str) -> None:
        self._key = key
        self.public_url = public_url.rstrip("/")
        """The coordinator's address as participants reach it (`SAGA_PUBLIC_URL`)."""

    @classmethod
    def from_secret(cls, secret: str, public_url: str) -> CallbackTokens:
        """Tokens under a key derived from a configured or stored secret text."""
        return cls(hashlib.sha256(_DOMAIN + secret.encode()).digest(), public_url)

    def mint(self, target: CallbackTarget) -> str:
        """A new token for `target` (a fresh nonce each time: every one verifies)."""
        body = f"{target.execution_id}.{target.step}.{_DIRECTIONS[target.direction]}.{target.attempt}".encode()
        nonce = secrets.token_bytes(_NONCE)
        raw = nonce + self._mac(nonce, body) + body
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def url(self, token: str) -> str:
        """The callback URL of `token`."""
        return f"{self.public_url}{CALLBACK_PATH}{token}"

    def verify(self, token: str) -> CallbackTarget | None:
        """The target of a genuine token; None for anything else (never raises)."""
        if not 0 < len(token) <= _MAX_TOKEN:
            return None
        try:
            # Strict: the lenient decoder skips foreign characters, so one token would have many spellings.
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            return None
        nonce, mac, body = raw[:_NONCE], raw[_NONCE : _NONCE + _MAC], raw[_NONCE + _MAC :]
        if len(nonce) != _NONCE or len(mac) != _MAC or not hmac.compare_digest(mac, self._mac(nonce, body)):
            return None
        try:
            execution_id, step, letter, attempt = body.decode("ascii").rsplit(".", 3)
            return CallbackTarget(
                execution_id=execution_id, step=int(step), direction=_BY_LETTER[letter], attempt=int(attempt)
            )
        except (UnicodeDecodeError, ValueError, KeyError):
            return None  # our mac over a body we never wrote: cannot happen without the key

    def _mac(self, nonce: bytes, body: bytes) -> bytes:
        return hmac.new(self._key, _DOMAIN + nonce + body, hashlib.sha256).digest()
