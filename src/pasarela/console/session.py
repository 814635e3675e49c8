"""Console sessions: a signed, expiring cookie naming the principal and the key it logged in with.

The cookie holds no secret: the principal's id, a random nonce (the CSRF token is derived from
it) and a fingerprint of the API key used to log in, signed with itsdangerous. Each request looks
the principal up again, so a principal removed from the configuration, stripped of the admin
role, or whose key was rotated loses its session at once (after a reload).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "pasarela_console"
LOGIN_COOKIE = "pasarela_console_login"  # the nonce the login form's CSRF token is bound to
LOGIN_FORM_TTL = 3600.0


@dataclass(frozen=True, slots=True)
class Session:
    principal: str
    nonce: str
    key_fingerprint: str


class SessionCodec:
    """Signs and reads session cookies; derives CSRF tokens from the same key."""

    def __init__(self, key: bytes, ttl: float) -> None:
        self._key = key
        self.ttl = ttl
        self._sessions = URLSafeTimedSerializer(key, salt="pasarela.console.session")
        self._logins = URLSafeTimedSerializer(key, salt="pasarela.console.login")

    @classmethod
    def random(cls, ttl: float) -> SessionCodec:
        return cls(secrets.token_bytes(32), ttl)

    def fingerprint(self, key_sha256: str) -> str:
        """What the cookie says about the key: an HMAC of its hash, useless to anyone else."""
        return hmac.new(self._key, b"key|" + key_sha256.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, principal: str, key_sha256: str) -> tuple[Session, str]:
        session = Session(principal, secrets.token_urlsafe(16), self.fingerprint(key_sha256))
        value = self._sessions.dumps([session.principal, session.nonce, session.key_fingerprint])
        return session, value

    def read(self, value: str | None) -> Session | None:
        """The session a cookie carries; None if absent, forged, malformed or expired."""
        if not value:
            return None
        try:
            fields = self._sessions.loads(value, max_age=int(self.ttl))
        except BadSignature:  # SignatureExpired is one too
            return None
        if not (isinstance(fields, list) and len(fields) == 3 and all(isinstance(f, str) for f in fields)):
            return None
        return Session(*fields)

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf|" + session.nonce)

    def login_nonce(self) -> tuple[str, str]:
        """(nonce for the login cookie, signed cookie value)."""
        nonce = secrets.token_urlsafe(16)
        return nonce, self._logins.dumps(nonce)

    def login_nonce_of(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            nonce = self._logins.loads(value, max_age=int(LOGIN_FORM_TTL))
        except BadSignature:
            return None
        return nonce if isinstance(nonce, str) else None

    def login_token(self, nonce: str) -> str:
        return self._mac("login|" + nonce)

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()


def same(a: str | None, b: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return a is not None and hmac.compare_digest(a.encode(), b.encode())
