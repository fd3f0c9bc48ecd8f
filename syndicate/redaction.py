"""Secrets out of URLs before they are shown, logged or stored.

A source's address may carry a password (`https://user:pass@host/feed`) or a key in its
query (`?apikey=…`, `&token=…`), and error messages repeat the address they failed on.
`redact_url` hides both parts of one URL (`https://***@host/feed?apikey=***`); `redact`
does it to every URL inside a text. The dashboard shows, the logs say and the database
keeps only what went through them.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["MASK", "redact", "redact_url", "secret_name"]

MASK = "***"
# Query parameter names that hold a secret, and words that make a longer name one.
_SECRET_NAMES = frozenset(
    {"apikey", "accesstoken", "authtoken", "clientsecret", "passwd", "pwd", "privatekey"}
)
_SECRET_WORDS = frozenset(
    {"key", "token", "secret", "password", "passwd", "sig", "signature", "auth", "apikey"}
)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`]+")
_TRAILING = ".,;:!?)]}"  # punctuation after a URL in a sentence, not part of it
_PARAMETER = re.compile(r"([?&#;])([^=&#;]*)=([^&#;]*)")


def secret_name(name: str) -> bool:
    """Whether a query parameter called `name` (apikey, api_key, X-Amz-Signature …) holds
    a secret."""
    name = unquote(name).lower()
    words = re.split(r"[^a-z0-9]+", name)
    return "".join(words) in _SECRET_NAMES or any(word in _SECRET_WORDS for word in words)


def redact_url(url: str) -> str:
    """`url` with its user and password, and the values of secret parameters, as ***."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    end = min((rest.find(c) for c in "/?#" if c in rest), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    tail = _PARAMETER.sub(_masked, tail)
    return f"{scheme}://{authority}{tail}"


def redact(text: str) -> str:
    """`text` with every URL in it redacted (an error message, a log line)."""
    if "://" not in text:
        return text
    return _URL.sub(_redacted_match, text)


def _masked(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    return f"{separator}{name}={MASK if value and secret_name(name) else value}"


def _redacted_match(match: re.Match[str]) -> str:
    found = match.group()
    url = found.rstrip(_TRAILING)
    return redact_url(url) + found[len(url) :]
