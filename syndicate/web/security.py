"""What keeps the pages safe: headers, CSRF tokens, the editor's session, passwords, rate limits.

- Every answer carries security headers; pages that show an email (which needs its inline
  styles and remote images) get a stricter, sandboxed policy of their own.
- Every form carries a CSRF token: an HMAC of a random value kept in an HttpOnly,
  SameSite=Strict cookie (the "signed double submit" pattern), checked on every POST. The
  one exception is the RFC 8058 one-click unsubscribe, which must work without cookies;
  its unguessable signed token in the URL is what a forger cannot make.
- The editor's session is a signed, expiring cookie bound to the configured password, so
  changing the password ends every session.
- `admin_password` may be a hash, made with `syndicate serve --hash-password`
  (``scrypt:32768:8:1$salt$hex`` or ``pbkdf2:sha256:600000$salt$hex``, the format
  Werkzeug uses), or the password itself (best taken from the environment: "${VAR}").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from syndicate.tokens import TokenError, make_token, read_token

__all__ = [
    "EMAIL_FRAME_POLICY",
    "PAGE_POLICY",
    "RateLimiter",
    "SecurityHeaders",
    "Sessions",
    "check_password",
    "csrf_matches",
    "hash_password",
]

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# An email shown in a page: its own inline styles and remote images, nothing that runs.
EMAIL_FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    # Links carry tokens: never hand them to another site in a Referer.
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
SESSION_LIFETIME = 12 * 3600

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: adds the headers above unless the answer set its own."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in headers}
                for name, value in _HEADERS.items():
                    if name not in present:
                        headers.append((name.encode("latin-1"), value.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(secret: bytes, cookie_value: str) -> str:
    """The hidden form field that goes with a visitor's CSRF cookie."""
    return make_token(secret, "csrf", cookie_value)


def csrf_matches(secret: bytes, cookie_value: str | None, field: str | None) -> bool:
    if not cookie_value or not field:
        return False
    try:
        return hmac.compare_digest(read_token(secret, "csrf", field), cookie_value)
    except TokenError:
        return False


class Sessions:
    """The editor's signed session cookie: who, until when, for which password."""

    def __init__(self, secret: bytes, password_setting: str) -> None:
        self._secret = secret
        fingerprint = hashlib.sha256(password_setting.encode()).hexdigest()[:16]
        self._purpose = f"admin-session:{fingerprint}"

    def make(self, user: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_LIFETIME)
        return make_token(self._secret, self._purpose, json.dumps([user, expires]))

    def read(self, cookie: str | None, now: float | None = None) -> str | None:
        """The user a session cookie names, or None when it is forged, stale or absent."""
        if not cookie:
            return None
        try:
            user, expires = json.loads(read_token(self._secret, self._purpose, cookie))
        except (TokenError, ValueError, TypeError):
            return None
        if not isinstance(user, str) or (now or time.time()) > expires:
            return None
        return user


def hash_password(password: str) -> str:
    """An scrypt hash for `admin_password`, in Werkzeug's format."""
    salt = secrets.token_urlsafe(12)
    n, r, p = 32768, 8, 1
    digest = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64
    )
    return f"scrypt:{n}:{r}:{p}${salt}${digest.hex()}"


def check_password(setting: str, given: str) -> bool:
    """Does `given` match `admin_password` (a hash, or the password itself)?"""
    method, _, rest = setting.partition("$")
    salt, _, expected = rest.partition("$")
    kind, *params = method.split(":")
    try:
        if kind == "scrypt" and expected:
            n, r, p = (int(value) for value in params) if params else (32768, 8, 1)
            digest = hashlib.scrypt(
                given.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64
            ).hex()
            return hmac.compare_digest(digest, expected)
        if kind == "pbkdf2" and expected:
            name = params[0] if params else "sha256"
            rounds = int(params[1]) if len(params) > 1 else 600000
            digest = hashlib.pbkdf2_hmac(name, given.encode(), salt.encode(), rounds).hex()
            return hmac.compare_digest(digest, expected)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(setting.encode(), given.encode())


class RateLimiter:
    """At most `limit` events per key within `window` seconds (in this process)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._events) > 10000:  # forget idle keys, so memory stays bounded
                self._events = {k: v for k, v in self._events.items() if v[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True
