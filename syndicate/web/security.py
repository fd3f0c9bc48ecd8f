"""What keeps the pages safe: headers, CSRF tokens, the editor's session, passwords, rate limits.

- Every answer carries security headers; pages that show an email (which needs its inline
  styles and remote images) get a stricter, sandboxed policy of their own.
- Every form carries a CSRF token: an HMAC of a random value kept in an HttpOnly,
  SameSite=Strict cookie (the "signed double submit" pattern), checked on every POST. The
  one exception is the RFC 8058 one-click unsubscribe, which must work without cookies;
  its unguessable signed token in the URL is what a forger cannot make.
- The editor's session is a signed, expiring cookie bound to the configured password and
  to the editor's session generation in the database: changing the password, or logging
  out, ends every session of that editor. CSRF tokens are bound to the session as well.
- Limits (`syndicate.ratelimit.RateLimiter`) take O(1) time and bounded memory; password
  checks run at most a few at a time (`PasswordGate`), the rest are refused at once.
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
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from syndicate.tokens import TokenError, make_token, read_token

__all__ = [
    "EMAIL_FRAME_POLICY",
    "PAGE_POLICY",
    "DeviceCookies",
    "EditorSession",
    "PasswordGate",
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
DEVICE_LIFETIME = 180 * 24 * 3600

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


def csrf_token(secret: bytes, cookie_value: str, session_id: str = "") -> str:
    """The hidden form field that goes with a visitor's CSRF cookie and editor's session.

    Bound to the session too: a token seen in one session is worthless in the next.
    """
    return make_token(secret, "csrf", f"{cookie_value}:{session_id}")


def csrf_matches(
    secret: bytes, cookie_value: str | None, field: str | None, session_id: str = ""
) -> bool:
    if not cookie_value or not field:
        return False
    try:
        return hmac.compare_digest(
            read_token(secret, "csrf", field), f"{cookie_value}:{session_id}"
        )
    except TokenError:
        return False


@dataclass(frozen=True)
class EditorSession:
    """What a valid session cookie says: who, which generation of their sessions, its id."""

    user: str
    generation: int
    session_id: str


class Sessions:
    """The editor's signed session cookie: who, until when, for which password, which
    generation. Logging out moves the editor's generation on (in the database), which
    ends every session of that editor at once, in every process."""

    def __init__(self, secret: bytes, password_setting: str) -> None:
        self._secret = secret
        fingerprint = hashlib.sha256(password_setting.encode()).hexdigest()[:16]
        self._purpose = f"admin-session:{fingerprint}"

    def make(self, user: str, generation: int, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_LIFETIME)
        payload = json.dumps([user, expires, generation, secrets.token_hex(8)])
        return make_token(self._secret, self._purpose, payload)

    def read(self, cookie: str | None, now: float | None = None) -> EditorSession | None:
        """The session a cookie names, or None when it is forged, stale or absent.

        Whether its generation is still the editor's is for the caller to check.
        """
        if not cookie:
            return None
        try:
            user, expires, generation, session_id = json.loads(
                read_token(self._secret, self._purpose, cookie)
            )
        except (TokenError, ValueError, TypeError):
            return None
        fields_ok = isinstance(user, str) and isinstance(generation, int)
        if not fields_ok or not isinstance(session_id, str) or (now or time.time()) > expires:
            return None
        return EditorSession(user, generation, session_id)


class DeviceCookies:
    """The signed cookie a browser gets when the editor logs in with it ("device cookie",
    as OWASP describes it): who logged in there, and a random id for the browser.

    Wrong passwords are limited per account, from anywhere: so that anyone who knows the
    editor's name cannot lock the editor out, a browser that shows this cookie is limited
    by its own wrong passwords instead of the account's.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def make(self, user: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + DEVICE_LIFETIME)
        payload = json.dumps([user, expires, secrets.token_hex(8)])
        return make_token(self._secret, "admin-device", payload)

    def read(self, cookie: str | None, user: str, now: float | None = None) -> str | None:
        """The browser's id, when `cookie` is genuine, current and for `user`; else None."""
        if not cookie:
            return None
        try:
            owner, expires, device = json.loads(read_token(self._secret, "admin-device", cookie))
        except (TokenError, ValueError, TypeError):
            return None
        current = isinstance(expires, int) and (now or time.time()) <= expires
        return device if owner == user and current and isinstance(device, str) else None


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


class PasswordGate:
    """At most `slots` password checks at once; a login beyond that is refused, not queued.

    An scrypt check takes 32 MB and a good part of a core: queueing 120 of them is how a
    burst of logins took a server from 84 MB to 1.3 GB. Refusing at once keeps both flat.
    """

    def __init__(self, slots: int = 2) -> None:
        self._free = slots
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self._free <= 0:
                return False
            self._free -= 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._free += 1
