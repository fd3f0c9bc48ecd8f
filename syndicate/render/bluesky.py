"""Bluesky posts: 300 graphemes, links as facets with UTF-8 byte offsets, a link card.

A Bluesky post's text may hold 300 grapheme clusters and 3000 UTF-8 bytes. Links are not
written out in full: the text shows a short form of the address ("example.org/2026/11/
harga-cabai…", as Bluesky's own app does) and a facet (`app.bsky.richtext.facet#link`)
over exactly those bytes carries the full address, so a long address costs at most
`LINK_TEXT_LIMIT` graphemes. Full http(s) addresses that appear in an excerpt get a facet
of their own. The post's link also becomes an external embed card (title, description,
the post's picture as its thumbnail).

A fitted post is a `SocialPost` with `parse_mode="plain"`; `link` is the card's address,
`photo` the thumbnail's, and `fallback_text` carries, as JSON, what the record needs
besides its text: `{"facets": [...], "card": {"uri", "title", "description"},
"langs": [...]}` — the facets ready for the record, their offsets counted in the
UTF-8 bytes of `text`.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import jinja2
import regex

from syndicate.render.mastodon import language_code
from syndicate.render.safety import safe_image_url, safe_url
from syndicate.render.social import (
    POST_EXCERPT_LIMIT,
    one_line,
    render_plain_digest,
    render_plain_post,
)
from syndicate.render.text import shorten
from syndicate.types import EditionView, PostView, SocialPost

__all__ = [
    "CARD_DESCRIPTION_LIMIT",
    "LINK_FACET",
    "LINK_TEXT_LIMIT",
    "MAX_BYTES",
    "MAX_GRAPHEMES",
    "bluesky_length",
    "graphemes",
    "link_facets",
    "link_text",
    "render_bluesky_digest",
    "render_bluesky_post",
]

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
LINK_TEXT_LIMIT = 32  # graphemes of an address shown in the text
CARD_DESCRIPTION_LIMIT = 300
LINK_FACET = "app.bsky.richtext.facet#link"
_GRAPHEME = regex.compile(r"\X")
# Where a link's shown text starts and ends while the text is rendered: control
# characters no post field keeps (`_plain` removes them), so they cannot be forged.
_OPEN, _CLOSE = "\x02", "\x03"
_MARKED = regex.compile(r"\x02(\d+):(.*?)\x03", regex.DOTALL)
_CONTROL = regex.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_URL = regex.compile(r"https?://[^\s\x02\x03<>\"]+", regex.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\"…"


def graphemes(text: str) -> int:
    """The number of grapheme clusters in `text`, as Bluesky counts its limit."""
    return len(_GRAPHEME.findall(text))


def bluesky_length(text: str) -> int:
    """A length that is at most 300 exactly when the text fits both of Bluesky's limits."""
    unmarked = _MARKED.sub(lambda match: match.group(2), text)
    size = len(unmarked.encode("utf-8"))
    return max(graphemes(unmarked), math.ceil(size * MAX_GRAPHEMES / MAX_BYTES))


def link_text(url: str) -> str:
    """The short form of `url` shown in a post: no scheme or "www.", at most 32 graphemes."""
    shown = regex.sub(r"^https?://(?:www\.)?", "", url, flags=regex.IGNORECASE).rstrip("/")
    return shorten(shown or url, LINK_TEXT_LIMIT)


class _Links:
    """Addresses marked in a template's text, to become facets once it is rendered."""

    def __init__(self) -> None:
        self.uris: list[str] = []

    def mark(self, shown: str, uri: str | None) -> str:
        if not uri:
            return shown
        self.uris.append(uri)
        return f"{_OPEN}{len(self.uris) - 1}:{shown}{_CLOSE}"

    def facets(self, marked: str) -> tuple[str, list[dict[str, Any]]]:
        """The text without marks, and a link facet over each marked span and bare URL."""
        parts: list[str] = []
        spans: list[tuple[int, int, str]] = []
        size = 0
        last = 0
        for match in _MARKED.finditer(marked):
            before, shown = marked[last : match.start()], match.group(2)
            size += len(before.encode())
            uri = self.uris[int(match.group(1))]
            spans.append((size, size + len(shown.encode()), uri))
            size += len(shown.encode())
            parts += [before, shown]
            last = match.end()
        parts.append(marked[last:])
        text = "".join(parts)
        return text, link_facets(text, spans)


def link_facets(
    text: str, marked: list[tuple[int, int, str]] | None = None
) -> list[dict[str, Any]]:
    """Facets for `marked` spans (byte start, byte end, uri) and for bare URLs in `text`."""
    spans = list(marked or ())
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        start = len(text[: match.start()].encode())
        end = start + len(url.encode())
        if safe_url(url) and not any(s < end and start < e for s, e, _ in spans):
            spans.append((start, end, url))
    return [
        {
            "$type": "app.bsky.richtext.facet",
            "index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": LINK_FACET, "uri": uri}],
        }
        for start, end, uri in sorted(spans)
    ]


def _plain(text: str) -> str:
    return _CONTROL.sub("", text)


def render_bluesky_post(
    post: PostView,
    *,
    env: jinja2.Environment,
    locale: str,
    template: str = "social/bluesky_post.txt",
    excerpt_limit: int = POST_EXCERPT_LIMIT,
) -> SocialPost:
    """One post as one Bluesky post: text with link facets, and a card for the post's link."""
    link = safe_url(post.url)
    links = _Links()
    clean = _clean_post(post)
    marked = render_plain_post(
        clean,
        env=env,
        template=template,
        locale=locale,
        limit=MAX_GRAPHEMES,
        measure=bluesky_length,
        excerpt_limit=excerpt_limit,
        link=links.mark(link_text(link), link) if link else "",
    )
    text, facets = links.facets(marked)
    extras: dict[str, Any] = {"facets": facets, "langs": [language_code(locale)]}
    if link:
        description = shorten(" ".join(clean.excerpt.split()), CARD_DESCRIPTION_LIMIT)
        extras["card"] = {"uri": link, "title": one_line(clean.title), "description": description}
    return SocialPost(
        target="",
        text=text,
        parse_mode="plain",
        photo=safe_image_url(post.image_url) if link else None,
        link=link,
        fallback_text=json.dumps(extras, ensure_ascii=False),
    )


def _clean_post(post: PostView) -> PostView:
    def credit(value: Any) -> Any:
        return None if value is None else replace(value, name=_plain(value.name))

    return replace(
        post,
        title=_plain(post.title),
        excerpt=_plain(post.excerpt),
        publisher=credit(post.publisher),
        origin=credit(post.origin),
    )


def render_bluesky_digest(
    edition: EditionView,
    *,
    env: jinja2.Environment,
    template: str = "social/bluesky_digest.txt",
) -> list[SocialPost]:
    """An edition as Bluesky posts listing its posts, each link a facet; split between items."""
    clean = replace(
        edition,
        subject=_plain(edition.subject),
        site_name=_plain(edition.site_name),
        posts=tuple(_clean_post(post) for post in edition.posts),
    )
    links = _Links()
    site = safe_url(edition.site_url)
    rendered = render_plain_digest(
        clean,
        env=env,
        template=template,
        limit=MAX_GRAPHEMES,
        measure=bluesky_length,
        link_text=lambda url: links.mark(link_text(url), url) if url else "",
        site_link=links.mark(one_line(clean.site_name), site),
    )
    langs = [language_code(edition.locale)]
    messages = []
    for marked, _ in rendered:
        text, facets = links.facets(marked)
        extras = {"facets": facets, "langs": langs}
        if site:
            extras["card"] = {
                "uri": site,
                "title": one_line(clean.subject),
                "description": one_line(clean.site_name),
            }
        messages.append(
            SocialPost(
                target="",
                text=text,
                parse_mode="plain",
                link=site,
                fallback_text=json.dumps(extras, ensure_ascii=False),
            )
        )
    return messages
