"""Parsing a fetched feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed) into clean, identified entries.

Each entry comes out sanitized, free of theme widgets, with its credit line lifted into
`origin`, an identity `key` that survives tracking parameters, and aware UTC dates.
"""

from __future__ import annotations

import html
import logging
import re
import time
import xml.sax
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar
from urllib.parse import urlsplit

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.mixin import _FeedParserMixin

from syndicate.ingest.clean import clean_article, html_to_text, usable_image
from syndicate.ingest.dates import clamp, parse_date
from syndicate.ingest.entries import FeedEntry, FeedError, ParsedFeed
from syndicate.ingest.identity import content_hash, entry_key, resolve_url, strip_tracking
from syndicate.ingest.jsonfeed import JsonFeedItem, looks_like_json_feed, read_json_feed
from syndicate.ingest.mojibake import repair_mojibake
from syndicate.ingest.xmlfeed import read_xml_feed
from syndicate.types import Credit

__all__ = ["FeedEntry", "FeedError", "ParsedFeed", "parse_feed"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_UNTITLED = "(untitled)"
_TITLE_WORDS = 12
_MOST_COMMENTS = 10_000_000
_LABEL_CHARS = 100  # of an entry's id, link or title, naming an entry that was left out
_AUTHOR_CHARS = 500  # no name is longer; the first characters of a longer one are kept


def _author_in_reach(sync: Any) -> Any:
    """feedparser looks for an address in an author line with a pattern that backtracks:
    a megabyte of letters in <author> takes it hours. The line is cut before it looks."""

    def _sync_author_detail(self: Any, key: str = "author") -> None:
        context = self._get_context()
        author = context.get(key)
        if isinstance(author, str) and len(author) > _AUTHOR_CHARS:
            context[key] = author[:_AUTHOR_CHARS]
        sync(self, key)

    return _sync_author_detail


_FeedParserMixin._sync_author_detail = _author_in_reach(_FeedParserMixin._sync_author_detail)


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    timezone: tzinfo | None = None,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed document fetched from `url` (relative links are resolved against it).

    `timezone` is the source's zone, for dates it writes without one; dates later than
    `now` (the fetch time) become `now`.
    """
    if not body.strip():
        raise FeedError(url, "the document is empty")
    now = now or datetime.now(UTC)
    if looks_like_json_feed(body, content_type):
        return _parse_json(body, url, now)
    return _parse_xml(body, url, content_type, timezone, now)


def _parse_json(body: bytes, url: str, now: datetime) -> ParsedFeed:
    try:
        feed = read_json_feed(body, url)
    except ValueError as error:
        raise FeedError(url, str(error)) from error
    entries, dropped = _read_entries(
        feed.items, lambda item: _entry_from_json(item, url, now), _json_label
    )
    return ParsedFeed(
        title=_plain(feed.title) or None,
        site_url=feed.home_page_url,
        entries=_unique(entries, url),
        dropped=dropped,
    )


def _entry_from_json(item: JsonFeedItem, feed_url: str, now: datetime) -> FeedEntry:
    if item.content_html:
        body, summary_only = item.content_html, False
    elif item.content_text:
        body, summary_only = _text_as_html(item.content_text), False
    else:
        body, summary_only = _text_as_html(item.summary or ""), True
    url = item.url or item.external_url
    origin = None
    if item.url and item.external_url and _host(item.url) != _host(item.external_url):
        # A link blog's item points at someone else's article.
        origin = Credit(name=_host(item.external_url) or item.external_url, url=item.external_url)
    return _make_entry(
        guid=item.id,
        url=url,
        title=_plain(item.title or ""),
        raw_html=body,
        summary_only=summary_only,
        author=item.author,
        published_at=clamp(item.published_at, now),
        updated_at=clamp(item.updated_at, now),
        image_url=item.image,
        feed_origin=origin,
        comments=None,
        base_url=url or feed_url,
    )


def _parse_xml(
    body: bytes, url: str, content_type: str | None, zone: tzinfo | None, now: datetime
) -> ParsedFeed:
    document = read_xml_feed(body, url, content_type)
    if document is None:  # not plain well-formed RSS or Atom: feedparser reads anything
        feed, items = _feedparser(body, url, content_type)
    else:
        feed, items = document
    site_url = _absolute(feed.get("link"), url)
    entries, dropped = _read_entries(
        items, lambda entry: _entry_from_xml(entry, url, site_url, now, zone), _xml_label
    )
    return ParsedFeed(
        title=_plain(_detail_text(feed, "title")) or None,
        site_url=site_url,
        entries=_unique(entries, url),
        dropped=dropped,
    )


def _read_entries(
    items: Sequence[T], read: Callable[[T], FeedEntry], label: Callable[[T], str | None]
) -> tuple[list[FeedEntry], tuple[str, ...]]:
    """Each item read on its own: one that cannot be read is left out, and said why."""
    entries: list[FeedEntry] = []
    dropped: list[str] = []
    for number, item in enumerate(items, 1):
        try:
            entries.append(read(item))
        except Exception as error:  # a hostile entry costs itself, never its neighbours
            name = label(item)
            shown = f"entry {number}" + (f" ({name[:_LABEL_CHARS]!r})" if name else "")
            dropped.append(f"{shown} could not be read ({type(error).__name__}: {error})")
    return entries, tuple(dropped)


def _xml_label(entry: Any) -> str | None:
    return entry.get("id") or entry.get("link") or entry.get("title")


def _json_label(item: JsonFeedItem) -> str | None:
    return item.id or item.url or item.title


def _feedparser(body: bytes, url: str, content_type: str | None) -> tuple[Any, list[Any]]:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    document = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=True
    )
    if document.get("bozo"):
        logger.debug("%s is not well-formed: %s", url, document.get("bozo_exception"))
    if not document.get("version") and not document.entries:
        raise FeedError(url, _not_a_feed_reason(body, document))
    return document.feed, document.entries


def _not_a_feed_reason(body: bytes, document: Any) -> str:
    head = body[:2048].lower()
    if b"<html" in head or b"<!doctype html" in head:
        return "it is an HTML page"
    problem = document.get("bozo_exception")
    if isinstance(problem, xml.sax.SAXParseException):
        return f"the XML is broken at line {problem.getLineNumber()}: {problem.getMessage()}"
    if problem is not None:
        return f"{str(problem).strip().rstrip('.') or type(problem).__name__}"
    return "no feed elements were found"


def _entry_from_xml(
    entry: Any, feed_url: str, site_url: str | None, now: datetime, zone: tzinfo | None
) -> FeedEntry:
    original_link = _absolute(entry.get("feedburner_origlink"), feed_url)
    url = original_link or _absolute(entry.get("link"), feed_url)
    contents = [c for c in entry.get("content", []) if (c.get("value") or "").strip()]
    if contents:
        chosen = max(contents, key=lambda c: ("html" in (c.get("type") or ""), len(c["value"])))
        body, summary_only = _as_html(chosen.get("value", ""), chosen.get("type")), False
    else:
        detail = entry.get("summary_detail") or {}
        body = _as_html(entry.get("summary") or "", detail.get("type"))
        summary_only = None  # judged by its length: many feeds put the whole article here
    return _make_entry(
        guid=(entry.get("id") or "").strip() or None,
        url=url,
        title=_plain(_detail_text(entry, "title")),
        raw_html=body,
        summary_only=summary_only,
        author=_author(entry),
        published_at=_entry_date(entry, "published", zone, now),
        updated_at=_entry_date(entry, "updated", zone, now),
        image_url=_xml_image(entry, feed_url),
        feed_origin=_xml_origin(entry, original_link, site_url),
        comments=_count(entry.get("thr_total") or entry.get("slash_comments")),
        base_url=entry.get("content_base") or url or feed_url,
    )


def _make_entry(
    *,
    guid: str | None,
    url: str | None,
    title: str,
    raw_html: str,
    summary_only: bool | None,
    author: str | None,
    published_at: datetime | None,
    updated_at: datetime | None,
    image_url: str | None,
    feed_origin: Credit | None,
    comments: int | None,
    base_url: str,
) -> FeedEntry:
    url = strip_tracking(url) if url else url
    article = clean_article(
        raw_html, base_url, measure=summary_only is not True, post_url=url, title=title
    )
    content, excerpt = article.html, article.text
    if not summary_only:
        # Many feeds put the whole article in <description>; some put a teaser in <content>.
        summary_only = article.teaser  # under about 1,000 characters, or ends like one
    if not title:
        words = excerpt.split()
        title = " ".join(words[:_TITLE_WORDS]) + ("…" if len(words) > _TITLE_WORDS else "")
    title = title or _UNTITLED
    digest = content_hash(title, excerpt)
    published_at = published_at or updated_at
    return FeedEntry(
        key=entry_key(url, guid, digest),
        guid=guid,
        url=url,
        title=title,
        content_html=content,
        excerpt=excerpt,
        summary_only=summary_only,
        author=author,
        published_at=published_at,
        updated_at=updated_at,
        image_url=_lead_image(image_url, article.image),
        origin=feed_origin or article.credit,
        comments=comments,
        content_hash=digest,
    )


def _unique(entries: list[FeedEntry], url: str) -> tuple[FeedEntry, ...]:
    """Keep the first of entries that share a key: feeds do repeat items."""
    seen: dict[str, FeedEntry] = {}
    for entry in entries:
        if entry.key in seen:
            logger.debug("%s repeats the entry %s", url, entry.key)
            continue
        seen[entry.key] = entry
    return tuple(seen.values())


def _detail_text(holder: Any, name: str) -> str:
    value = holder.get(name) or ""
    detail = holder.get(f"{name}_detail") or {}
    if "html" in (detail.get("type") or ""):
        return html_to_text(value)
    return value


def _plain(text: str | None) -> str:
    if not text:
        return ""
    text = repair_mojibake(text)
    if "&" in text and re.search(r"&#?\w+;", text):
        text = html.unescape(text)
    return " ".join(text.split())


def _as_html(value: str, kind: str | None) -> str:
    if kind and "html" not in kind and "xml" not in kind:
        return _text_as_html(value)
    return value


def _text_as_html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs if p)


def _absolute(link: str | None, base: str) -> str | None:
    if not link or not link.strip():
        return None
    return resolve_url(base, link.strip())


def _host(link: str | None) -> str | None:
    if not link:
        return None
    try:
        host = urlsplit(link).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def _author(entry: Any) -> str | None:
    detail = entry.get("author_detail") or {}
    name = (detail.get("name") or entry.get("author") or "").strip()
    # Blogger writes "Unknown" / "noreply@blogger.com" for authors without a public profile.
    if not name or name.lower() in {"unknown", "noreply@blogger.com"}:
        return None
    return _plain(name)


def _entry_date(entry: Any, name: str, zone: tzinfo | None, now: datetime) -> datetime | None:
    """Our own reading first (it knows Indonesian and zone-less dates), then feedparser's."""
    raw = entry.get(name)
    when = parse_date(raw, zone)
    if when is None and raw:
        parsed = entry[f"{name}_parsed"] if f"{name}_parsed" in entry else _parse_date(raw)
        when = _date(parsed)
    return clamp(when, now)


def _date(parsed: time.struct_time | None) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _count(value: object) -> int | None:
    try:
        count = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    # Beyond any real discussion, a count is a broken feed: it must not make a story trend.
    return count if 0 <= count <= _MOST_COMMENTS else None


def _xml_image(entry: Any, feed_url: str) -> str | None:
    for thumbnail in entry.get("media_thumbnail") or []:
        if thumbnail.get("url"):
            return _absolute(thumbnail["url"], feed_url)
    for media in entry.get("media_content") or []:
        kind = media.get("type") or ""
        if media.get("url") and (media.get("medium") == "image" or kind.startswith("image/")):
            return _absolute(media["url"], feed_url)
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/"):
            return _absolute(link.get("href"), feed_url)
    return None


_BLOGGER_SIZE = re.compile(
    r"/s\d+(?:-[a-z0-9-]+)?/|=s\d+(?:-[a-z0-9-]+)?$|/w\d+-h\d+(?:-[a-z-]+)?/"
)


def _lead_image(feed_image: str | None, article_image: str | None) -> str | None:
    """The feed's picture, else the article's first, full size and without trackers."""
    for url in (feed_image, article_image):
        if url and usable_image(url):
            return strip_tracking(_larger_image(url) or url)
    return None


def _larger_image(url: str | None) -> str | None:
    """Blogger thumbnails are 72 px squares; the same URL serves the full picture."""
    host = _host(url) or ""
    if url and (host.endswith(".bp.blogspot.com") or host.endswith("googleusercontent.com")):
        return _BLOGGER_SIZE.sub(
            lambda m: "=s1600" if m.group().startswith("=") else "/s1600/", url
        )
    return url


def _xml_origin(entry: Any, original_link: str | None, site_url: str | None) -> Credit | None:
    source = entry.get("source") or {}
    if source.get("title") or source.get("href"):
        link = source.get("link") or _home(source.get("href"))
        return Credit(name=_plain(source.get("title")) or _host(link) or "", url=link)
    dc_source = _plain(entry.get("dc_source"))
    if dc_source:
        if dc_source.startswith(("http://", "https://")):
            return Credit(name=_host(dc_source) or dc_source, url=dc_source)
        return Credit(name=dc_source)
    if original_link and site_url and _host(original_link) != _host(site_url):
        return Credit(name=_host(original_link) or original_link, url=original_link)
    return None


def _home(link: str | None) -> str | None:
    if not link:
        return None
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else link
