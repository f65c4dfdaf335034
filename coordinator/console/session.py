"""Console sessions and CSRF tokens: signed values, no token ever in a cookie.

The session cookie is `<subject>.<expires>.<nonce>.<mac>`: the subject is the token's fingerprint
(`TokenGrant.name`, never the token), the MAC an HMAC-SHA256 keyed by a secret derived from that
token. So a session is checked without server state (any replica, any restart, same answer), it
dies when its token is removed from `SAGA_API_TOKENS`, and nobody can mint one without the token.
Logging out forgets the cookie and revokes its nonce in this process until it would have expired.

CSRF is the signed double-submit pattern: a random `saga_csrf` cookie (HttpOnly, SameSite=Strict)
and, in every form, an HMAC of it under the console's secret. A forged POST has neither the cookie
(SameSite) nor, without reading our page, the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from coordinator.settings import TokenGrant

SESSION_COOKIE = "saga_session"
CSRF_COOKIE = "saga_csrf"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 8 * 3600
"""How long a login lasts: a working shift."""
_MAX_REVOKED = 100_000


@dataclass(frozen=True, slots=True)
class Session:
    """A valid session: whose token it stands for, and its nonce (what logout revokes)."""

    grant: TokenGrant
    nonce: str
    expires_at: int


class SessionSigner:
    """Issues and checks session cookies and CSRF tokens for one set of grants."""

    def __init__(self, grants: tuple[TokenGrant, ...]) -> None:
        self._grants = {grant.name: grant for grant in grants}
        # With tokens, a secret every replica with the same configuration derives alike; without
        # (an open console, loopback only), one of this process's own.
        seed = "\n".join(sorted(g.token for g in grants)) if grants else secrets.token_hex(32)
        self._csrf_key = hashlib.sha256(b"saga-console-csrf\n" + seed.encode()).digest()
        self._revoked: dict[str, int] = {}

    # -- sessions --------------------------------------------------------------------------------

    def issue(self, grant: TokenGrant, *, now: float | None = None) -> str:
        """A cookie value for a session of `grant`, valid for SESSION_SECONDS."""
        expires = int(now if now is not None else time.time()) + SESSION_SECONDS
        body = f"{grant.name}.{expires}.{secrets.token_urlsafe(18)}"
        return f"{body}.{self._mac(grant, body)}"

    def check(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session `value` stands for; None when it is missing, forged, expired, revoked or its token gone."""
        if not value or value.count(".") != 3:
            return None
        subject, expires_text, nonce, mac = value.split(".")
        grant = self._grants.get(subject)
        if grant is None or not expires_text.isdigit():
            return None
        if not hmac.compare_digest(mac, self._mac(grant, f"{subject}.{expires_text}.{nonce}")):
            return None
        expires = int(expires_text)
        if expires <= (now if now is not None else time.time()) or nonce in self._revoked:
            return None
        return Session(grant, nonce, expires)

    def revoke(self, session: Session) -> None:
        """Refuse this session's cookie from now on, in this process (logout)."""
        now = int(time.time())
        if len(self._revoked) >= _MAX_REVOKED:
            self._revoked = {n: at for n, at in self._revoked.items() if at > now}
        self._revoked[session.nonce] = session.expires_at

    @staticmethod
    def _mac(grant: TokenGrant, body: str) -> str:
        key = hashlib.sha256(b"saga-console-session\n" + grant.token.encode()).digest()
        return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()

    # -- CSRF ------------------------------------------------------------------------------------

    @staticmethod
    def new_csrf_cookie() -> str:
        """A fresh random value for the CSRF cookie."""
        return secrets.token_urlsafe(24)

    def csrf_token(self, cookie: str) -> str:
        """The form field that goes with the CSRF cookie `cookie`."""
        return hmac.new(self._csrf_key, cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str | None, field: str | None) -> bool:
        """Whether a POST's form field matches its CSRF cookie."""
        if not cookie or not field:
            return False
        return hmac.compare_digest(self.csrf_token(cookie), field)
