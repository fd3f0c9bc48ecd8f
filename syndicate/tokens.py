"""Signed tokens for links given to subscribers (unsubscribe, view in browser).

A token names what it is for and whom, and carries an HMAC over both with the site's
secret, so nobody can make one for another subscriber or reuse one for another purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicate.db.insert import insert_new
from syndicate.db.models import SiteSecret
from syndicate.db.session import Database
from syndicate.errors import SyndicateError

__all__ = ["TokenError", "make_token", "read_token", "site_secret"]

_SIGNATURE_BYTES = 16


class TokenError(SyndicateError):
    """The token was not made by this site for this purpose."""


def site_secret(db: Database, configured: str | None) -> bytes:
    """The configured secret, or one generated once and kept in the database."""
    if configured:
        return configured.encode()

    def read_or_make(session: Session) -> str:
        # Two processes starting together on a new database may both make one: the
        # first to commit wins and the other reads the winner's.
        stored = select(SiteSecret.value).where(SiteSecret.name == "signing")
        value = session.scalar(stored)
        if value is None:
            fresh = {"name": "signing", "value": secrets.token_urlsafe(32)}
            insert_new(session, SiteSecret, [fresh], ("name",))
            value = session.scalars(stored).one()
        return value

    return db.run(read_or_make, doing="reading the site's signing secret").encode()


def make_token(secret: bytes, purpose: str, value: str) -> str:
    payload = _b64(value.encode())
    return f"{payload}.{_b64(_sign(secret, purpose, payload))}"


def read_token(secret: bytes, purpose: str, token: str) -> str:
    payload, _, signature = token.partition(".")
    try:
        expected = _b64(_sign(secret, purpose, payload))
        if not hmac.compare_digest(expected, signature):
            raise TokenError("the link is not valid")
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise TokenError("the link is not valid") from None


def _sign(secret: bytes, purpose: str, payload: str) -> bytes:
    message = f"{purpose}:{payload}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
