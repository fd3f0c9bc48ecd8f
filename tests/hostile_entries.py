"""Hostile feeds, generated: every field of an entry poisoned in turn, in RSS, Atom and JSON.

    for feed in hostile_feeds():
        server.add(feed.path, feed.body, feed.content_type)

Each feed carries `GOOD` ordinary entries (titled "good 1" …, linked to /<name>/good/1 …) and
one entry per poison and field: NUL, the other C0 and the C1 controls, terminal escape
sequences and a megabyte of text in every text field (title, summary, content, author,
link, guid, category); huge, negative and malformed numbers in every numeric field
(slash:comments, thr:total; a JSON Feed's id); dates in year 0, 1, 9999 and 99999; and in
JSON, lone surrogates and bytes that are not UTF-8. The XML comes twice: "clean" holds
only what XML allows (lxml reads it), "raw" holds control bytes and broken UTF-8 that
make it ill-formed (feedparser reads it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

__all__ = ["GOOD", "HostileFeed", "hostile_feeds"]

GOOD = 3
MEGABYTE = 1_000_000

# Controls XML 1.0 forbids outright, and those it allows (C1, DEL).
C0 = "".join(chr(code) for code in range(32) if chr(code) not in "\t\n\r")
C1 = "\x7f" + "".join(chr(code) for code in range(0x80, 0xA0))
ESCAPES = "\x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x1b[2J\x9b31m"
TEXT_FIELDS = ("title", "summary", "content", "author", "link", "guid", "category")
NUMBERS = (
    "99999999999999999999",
    "-99999999999999999999",
    "-1",
    "2147483648",
    "9223372036854775808",
    "1e400",
    "9" * 5000,
)
DATES = (
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "99999-01-01T00:00:00Z",
    "Mon, 01 Jan 0000 00:00:00 GMT",
    "Fri, 31 Dec 99999 23:59:59 GMT",
)
RSS_DATES = ("pubDate", "dc:date")
ATOM_DATES = ("published", "updated")


@dataclass(frozen=True)
class HostileFeed:
    name: str  # also the path it is served at: /<name>
    body: bytes
    content_type: str

    @property
    def path(self) -> str:
        return f"/{self.name}"


def hostile_feeds() -> Iterator[HostileFeed]:
    """Every format, each with its good entries and its poisoned ones."""
    for kind in ("rss", "atom"):
        for raw in (False, True):
            name = f"{kind}-{'raw' if raw else 'clean'}"
            body = _xml(kind, list(_poisons(raw, kind)), raw)
            yield _own(HostileFeed(name, body, f"application/{kind}+xml; charset=utf-8"))
    items = list(_json_items())
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": items}
    body = _bare_numbers(json.dumps(document, ensure_ascii=True)).encode()
    yield _own(HostileFeed("json-escaped", body, "application/feed+json"))
    yield _own(HostileFeed("json-bytes", _json_bytes(), "application/feed+json"))


def _own(feed: HostileFeed) -> HostileFeed:
    """Links of the feed's own (https://example.org/<name>/…): a link is a post's identity,
    and each feed's good entries must arrive as its own."""
    body = feed.body.replace(b"https://example.org/", f"https://example.org/{feed.name}/".encode())
    return HostileFeed(feed.name, body, feed.content_type)


# --- poisons -------------------------------------------------------------------------------


def _text_poisons(raw: bool) -> dict[str, str]:
    """The poisons a text field gets; XML that lxml must read holds only legal characters."""
    poisons = {"c1": f"c1 {C1} end", "megabyte": "m" * MEGABYTE}
    if raw:
        poisons |= {"nul": "nul \x00 end", "c0": f"c0 {C0} end", "escapes": ESCAPES}
    return poisons


def _poisons(raw: bool, kind: str) -> Iterator[dict[str, str]]:
    """One entry's fields per poison: {field: value}, the rest filled in ordinarily."""
    for field in TEXT_FIELDS:
        for label, value in _text_poisons(raw).items():
            if field == "link" and label == "megabyte":
                value = "https://example.org/" + value
            yield {field: value, "label": f"{field}-{label}"}
    for number in NUMBERS:
        yield {"comments": number, "label": f"comments-{number[:12]}"}
    for field in RSS_DATES if kind == "rss" else ATOM_DATES:
        for when in DATES:
            yield {field: when, "label": f"{field}-{when[:12]}"}


# --- XML -----------------------------------------------------------------------------------


def _xml(kind: str, poisons: list[dict[str, str]], raw: bool) -> bytes:
    entries = [_good(n) for n in range(1, GOOD + 1)]
    entries += [_ordinary(index, poison) for index, poison in enumerate(poisons)]
    render = _rss_item if kind == "rss" else _atom_entry
    body = "\n".join(render(entry) for entry in entries)
    if kind == "rss":
        document = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<rss version="2.0" xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
            ' xmlns:thr="http://purl.org/syndication/thread/1.0"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
            "<channel><title>Hostile</title><link>https://example.org/</link>\n"
            f"{body}\n</channel></rss>\n"
        )
    else:
        document = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom"'
            ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
            ' xmlns:thr="http://purl.org/syndication/thread/1.0">\n'
            "<title>Hostile</title><id>urn:hostile</id>"
            '<link href="https://example.org/"/><updated>2026-01-01T00:00:00Z</updated>\n'
            f"{body}\n</feed>\n"
        )
    broken = b"broken \xff\xfe\xc3 utf8" if raw else b"whole utf8"
    return document.encode("utf-8").replace(b"BROKEN-UTF8", broken)


def _good(n: int) -> dict[str, str]:
    return {
        "title": f"good {n}",
        "link": f"https://example.org/good/{n}",
        "guid": f"good-{n}",
        "summary": f"The good entry number {n}, which arrives whatever its neighbours hold.",
        "content": f"<p>The good entry number {n}, in full.</p>",
        "author": "Sari",
        "category": "berita",
        "comments": str(n),
    }


def _ordinary(index: int, poison: dict[str, str]) -> dict[str, str]:
    label = poison["label"]
    entry = {
        "title": f"hostile {label}",
        "link": f"https://example.org/hostile/{index}",
        "guid": f"hostile-{index}",
        "summary": f"Poisoned {label}. BROKEN-UTF8",
        "content": f"<p>Poisoned {label}.</p>",
        "author": "Mallory",
        "category": "racun",
    }
    entry |= {key: value for key, value in poison.items() if key != "label"}
    if "link" in poison:
        entry["link"] += f"/{index}"  # each entry keeps its own identity
    return entry


def _rss_item(entry: dict[str, str]) -> str:
    parts = [
        f"<title>{escape(entry['title'])}</title>",
        f"<link>{escape(entry['link'])}</link>",
        f'<guid isPermaLink="false">{escape(entry["guid"])}</guid>',
        f"<description>{escape(entry['summary'])}</description>",
        f"<content:encoded>{escape(entry['content'])}</content:encoded>",
        f"<dc:creator>{escape(entry['author'])}</dc:creator>",
        f"<category>{escape(entry['category'])}</category>",
    ]
    if "comments" in entry:
        parts.append(f"<slash:comments>{escape(entry['comments'])}</slash:comments>")
        parts.append(f"<thr:total>{escape(entry['comments'])}</thr:total>")
    for field in RSS_DATES:
        if field in entry:
            parts.append(f"<{field}>{escape(entry[field])}</{field}>")
    return f"<item>{''.join(parts)}</item>"


def _atom_entry(entry: dict[str, str]) -> str:
    parts = [
        f"<title>{escape(entry['title'])}</title>",
        f'<link rel="alternate" href="{escape(entry["link"])}"/>',
        f"<id>{escape(entry['guid'])}</id>",
        f"<summary>{escape(entry['summary'])}</summary>",
        f'<content type="html">{escape(entry["content"])}</content>',
        f"<author><name>{escape(entry['author'])}</name></author>",
        f'<category term="{escape(entry["category"])}"/>',
    ]
    if "comments" in entry:
        parts.append(f"<slash:comments>{escape(entry['comments'])}</slash:comments>")
        parts.append(f"<thr:total>{escape(entry['comments'])}</thr:total>")
    for field in ATOM_DATES:
        if field in entry:
            parts.append(f"<{field}>{escape(entry[field])}</{field}>")
    return f"<entry>{''.join(parts)}</entry>"


# --- JSON Feed -----------------------------------------------------------------------------


_JSON_FIELDS = {
    "title": "title",
    "summary": "summary",
    "content": "content_html",
    "author": "authors",
    "link": "url",
    "guid": "id",
    "category": "tags",
}


def _json_items() -> Iterator[dict[str, object]]:
    """Good items, then every poison (lone surrogates too) in every field, as \\u escapes."""
    poisons = _text_poisons(raw=True) | {"surrogate": "lone \ud800 and \udfff end"}
    for n in range(1, GOOD + 1):
        yield _json_item(_good(n))
    index = 0
    for field in TEXT_FIELDS:
        for label, value in poisons.items():
            entry = _ordinary(index, {field: value, "label": f"{field}-{label}"})
            entry["summary"] = entry["summary"].replace(" BROKEN-UTF8", "")
            yield _json_item(entry)
            index += 1
    for number in NUMBERS:  # a JSON Feed's only number is an id given as one
        item = _json_item(_ordinary(index, {"label": f"id-{number[:12]}"}))
        item["id"] = f"{_NUMBER}{number}{_NUMBER}"  # written bare by `_bare_numbers`
        yield item
        index += 1
    for when in DATES:
        item = _json_item(_ordinary(index, {"label": f"date-{when[:12]}"}))
        item["date_published"] = item["date_modified"] = when
        yield item
        index += 1


_NUMBER = "@number@"


def _bare_numbers(text: str) -> str:
    """Numbers json.dumps cannot write (1e400, 5000 digits), unquoted as a feed may have them."""
    return re.sub(f'"{_NUMBER}(.*?){_NUMBER}"', r"\1", text)


def _json_item(entry: dict[str, str]) -> dict[str, object]:
    item: dict[str, object] = {}
    for field, key in _JSON_FIELDS.items():
        value = entry[field]
        if key == "authors":
            item[key] = [{"name": value}]
        elif key == "tags":
            item[key] = [value]
        else:
            item[key] = value
    return item


def _json_bytes() -> bytes:
    """A JSON Feed whose strings hold bytes that are not UTF-8, and raw control characters
    (which JSON allows only escaped), each in every text field in turn."""
    items = [_json_item(_good(n)) for n in range(1, GOOD + 1)]
    index = 0
    for field in TEXT_FIELDS:
        for marker in (_NOT_UTF8, _RAW_CONTROLS):
            value = f"https://example.org/{marker}" if field == "link" else marker
            entry = _ordinary(index, {field: value, "label": f"{field}-{marker}"})
            entry["summary"] = entry["summary"].replace(" BROKEN-UTF8", "")
            items.append(_json_item(entry))
            index += 1
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "B", "items": items}
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    body = body.replace(_NOT_UTF8.encode(), b"broken \xff\xfe\xc3 utf8")
    return body.replace(_RAW_CONTROLS.encode(), b"raw \x00\x01\x1b[31m\x7f end")


_NOT_UTF8 = "not-utf8"
_RAW_CONTROLS = "raw-controls"
