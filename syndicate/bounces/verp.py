"""The VERP return address: `bounces+TOKEN@domain`, TOKEN naming one delivery, signed.

Every digest is sent with its own envelope sender, so a bounce comes back to an address
that says which delivery it is about, whatever the bounce's own format. The token is the
delivery id and an HMAC of it with the site's secret, in lower case (some servers
lower-case local parts), so nobody can make a bounce about someone else's delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

__all__ = ["read_verp", "verp_address"]

_SIGNATURE_CHARS = 16
_TOKEN = re.compile(r"\+(\d{1,19})-([0-9a-f]{16})@", re.IGNORECASE)


def verp_address(base: str, delivery_id: int, secret: bytes) -> str:
    """`bounces@example.org` → `bounces+42-<signature>@example.org`."""
    local, _, domain = base.rpartition("@")
    return f"{local}+{delivery_id}-{_sign(secret, delivery_id)}@{domain}"


def read_verp(texts: Iterable[str], base: str, secret: bytes) -> int | None:
    """The delivery id in the first correctly signed VERP address of `base` among `texts`."""
    local, _, domain = base.lower().rpartition("@")
    for text in texts:
        lowered = text.lower()
        for match in _TOKEN.finditer(lowered):
            start, end = match.start(), match.end()
            if not lowered[:start].endswith(local) or not lowered[end:].startswith(domain):
                continue
            delivery_id = int(match.group(1))
            if hmac.compare_digest(match.group(2), _sign(secret, delivery_id)):
                return delivery_id
    return None


def _sign(secret: bytes, delivery_id: int) -> str:
    digest = hmac.new(secret, f"verp:{delivery_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:_SIGNATURE_CHARS]
