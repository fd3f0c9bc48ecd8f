"""How syndicate asks for a feed: the headers of every request, and a local file's stamp.

The ordinary fetch (httpx, `fetch.py`) and the quick look (`recheck.py`) both take them from
here, so a server sees the same request from both and its validators mean the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

__all__ = [
    "ACCEPT",
    "ACCEPT_ENCODING",
    "MAX_CONCURRENT_FETCHES",
    "USER_AGENT",
    "file_stamp",
    "sendable",
]

USER_AGENT = "syndicate/0.1 (+https://github.com/syndicate)"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Named, not left to httpx (which adds br or zstd when their packages happen to be
# installed): some servers give each encoding its own ETag.
ACCEPT_ENCODING = "gzip, deflate"
MAX_CONCURRENT_FETCHES = 16


def file_stamp(modified: float) -> str:
    """A local feed file's Last-Modified, from its modification time (whole seconds)."""
    return format_datetime(datetime.fromtimestamp(int(modified), UTC), usegmt=True)


def sendable(value: str | None) -> str | None:
    """An ETag or Last-Modified as received, if it can be sent back (printable ASCII and
    tabs), else None: stored, one that cannot be sent would fail every later request for
    the feed before it left."""
    if value and all(" " <= c <= "~" or c == "\t" for c in value):
        return value
    return None
