"""Reading JSON Feed 1.0 and 1.1 documents (https://jsonfeed.org/version/1.1) into plain items."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

__all__ = ["JsonFeed", "JsonFeedItem", "looks_like_json_feed", "read_json_feed"]

logger = logging.getLogger(__name__)


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
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"the JSON cannot be read: {error}") from error
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
    item_id = item.get("id")
    return JsonFeedItem(
        id=str(item_id) if isinstance(item_id, str | int) and str(item_id).strip() else None,
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


def _string(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


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
    return when.astimezone(UTC)
