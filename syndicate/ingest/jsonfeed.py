"""Reading JSON Feed 1.0 and 1.1 documents (https://jsonfeed.org/version/1.1) into plain items."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

__all__ = ["JsonFeed", "JsonFeedItem", "looks_like_json_feed", "read_json_feed"]

logger = logging.getLogger(__name__)

_INTEGER_DIGITS = 100
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class JsonFeedItem:
    """One item of a JSON Feed, with links made absolute and dates made aware."""

    id: str | None
    url: str | None
    external_url: str | None
    title: str | None
    content_html: str | None
    content_text: str | None
    summary: str | None
    image: str | None
    author: str | None
    published_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class JsonFeed:
    """A JSON Feed document."""

    title: str | None
    home_page_url: str | None
    items: tuple[JsonFeedItem, ...]


def looks_like_json_feed(body: bytes, content_type: str | None) -> bool:
    """Tell whether a body should be read as a JSON Feed rather than XML."""
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    # An XML feed never starts with "{", whatever the server calls it, and JSON never with "<".
    if head.startswith((b"{", b"<")):
        return head.startswith(b"{")
    return (content_type or "").split(";")[0].strip().lower().endswith("json")


def read_json_feed(body: bytes, url: str) -> JsonFeed:
    """Read a JSON Feed document; raises ValueError saying what is wrong with it."""
    try:
        # A byte that is not UTF-8 spoils one string, not the feed: it reads as U+FFFD. So
        # does a control character JSON wants escaped (the store removes it).
        text = body.decode("utf-8-sig", errors="replace")
        document = json.loads(text, parse_int=_integer, strict=False)
    except json.JSONDecodeError as error:
        raise ValueError(f"the JSON cannot be read: {error}") from error
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None
    if not isinstance(document, dict):
        raise ValueError("the JSON is not an object")
    version = document.get("version")
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise ValueError("the JSON has no jsonfeed.org version")
    home = _absolute(_string(document.get("home_page_url")), url)
    feed_author = _author(document)
    items = document.get("items")
    if not isinstance(items, list):
        raise ValueError("the JSON Feed has no list of items")
    base = home or url
    read = tuple(_item(item, base, feed_author) for item in items if isinstance(item, dict))
    return JsonFeed(title=_string(document.get("title")), home_page_url=home, items=read)


def _item(item: dict[str, Any], base: str, feed_author: str | None) -> JsonFeedItem:
    return JsonFeedItem(
        id=_id(item.get("id")),
        url=_absolute(_string(item.get("url")), base),
        external_url=_absolute(_string(item.get("external_url")), base),
        title=_string(item.get("title")),
        content_html=_string(item.get("content_html")),
        content_text=_string(item.get("content_text")),
        summary=_string(item.get("summary")),
        image=_absolute(_string(item.get("image")) or _string(item.get("banner_image")), base),
        author=_author(item) or feed_author,
        published_at=_date(item.get("date_published")),
        updated_at=_date(item.get("date_modified")),
    )


def _id(value: object) -> str | None:
    if isinstance(value, str | int) and str(value).strip():
        return _whole(value) if isinstance(value, str) else str(value)
    return None


def _integer(digits: str) -> int | str:
    """A number too long for Python to read as one (4300 digits) is kept as its digits."""
    return int(digits) if len(digits) <= _INTEGER_DIGITS else digits


def _string(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return _whole(value.strip())
    return None


def _whole(text: str) -> str:
    """JSON can escape half a surrogate pair ("\\ud800"), which no encoder takes: U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _absolute(link: str | None, base: str) -> str | None:
    if link is None:
        return None
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def _author(holder: dict[str, Any]) -> str | None:
    """JSON Feed 1.1 has `authors` (a list); 1.0 has `author` (one object)."""
    authors = holder.get("authors")
    candidates = authors if isinstance(authors, list) else [holder.get("author")]
    names = [_string(a.get("name")) for a in candidates if isinstance(a, dict)]
    found = [name for name in names if name]
    return ", ".join(found) if found else None


def _date(value: object) -> datetime | None:
    """RFC 3339 dates, as the spec requires; anything unreadable is no date."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        logger.debug("unreadable JSON Feed date %r", value)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        logger.debug("JSON Feed date beyond the calendar %r", value)
        return None
