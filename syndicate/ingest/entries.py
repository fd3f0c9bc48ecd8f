"""What reading a feed gives: its entries, cleaned and identified, or a `FeedError`.

Kept apart from `parse.py` so that what only stores or passes entries along (a poll's main
process, whose feeds are parsed by workers) need not import the parsers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from syndicate.errors import SyndicateError
from syndicate.types import Credit

__all__ = ["FeedEntry", "FeedError", "ParsedFeed", "wants_page"]


@dataclass(frozen=True)
class FeedEntry:
    """One article as a feed carried it, cleaned and identified."""

    key: str  # normalized link, else "guid:"+guid, else "hash:"+content_hash
    guid: str | None
    url: str | None  # the article link as published (absolute)
    title: str  # plain text, never empty
    content_html: str  # sanitized, widgets and credit line removed
    excerpt: str  # plain text of content_html, paragraphs separated by a blank line
    summary_only: bool  # the feed carried only a summary, no full content
    author: str | None
    published_at: datetime | None  # aware, UTC
    updated_at: datetime | None  # aware, UTC
    image_url: str | None
    origin: Credit | None  # the outlet that wrote it, when this is a copy
    comments: int | None  # thr:total / slash:comments
    content_hash: str  # sha256 hex of title and excerpt
    # Made where the feed was read (`shingles.made_from` of what it was made from, then the
    # fingerprint packed); a text changed since (an article page read, furniture taken
    # out) is fingerprinted again where it is stored.
    fingerprint: tuple[int, bytes] | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's own name and home page, its entries in feed order, and those left out."""

    title: str | None
    site_url: str | None
    entries: tuple[FeedEntry, ...]
    # The entries left out because they could not be read, each said with its reason.
    dropped: tuple[str, ...] = ()


class FeedError(SyndicateError):
    """A document is not a readable feed; `str(error)` is one sentence naming the URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: this is not an RSS, Atom or JSON feed ({reason}).")
        self.url = url
        self.reason = reason

    def __reduce__(self) -> tuple[type[FeedError], tuple[str, str]]:
        return FeedError, (self.url, self.reason)  # it crosses from a worker process


def wants_page(entry: FeedEntry, full_text: str) -> bool:
    """Whether a source's `full_text` setting ("auto", "always", "never") asks for this
    entry's article page: "auto" reads the pages of summary-only entries."""
    if full_text == "never" or not entry.url or not entry.url.startswith(("http://", "https://")):
        return False
    return full_text == "always" or entry.summary_only
