"""Mastodon statuses: posts fitted to an instance's budget, counted the way Mastodon counts.

Mastodon's limit (500 by default; each instance says its own in `/api/v2/instance` as
`configuration.statuses.max_characters`) counts every link as 23 characters, whatever its
length, and the rest of the text character by character. Its server counts grapheme
clusters, its web composer code points; we count code points, which is never fewer, so a
status we fit is accepted by both.

What Mastodon takes for a link is an http(s) address on a host with a public top-level
domain; an address on a host it would not recognise (localhost, an IP address, a
reserved name such as `.example` or `.test`) counts here at its full length, and the
characters Mastodon would leave out of a link at its end (a full stop, a closing
bracket) count on their own.

A fitted status is a `SocialPost` with `parse_mode="plain"`; `photo` is the post's
picture (uploaded with the status) and `fallback_text` carries, as JSON, what the status
needs besides its text: `{"alt": <the picture's description: the post's title>,
"language": <ISO 639-1>}`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import urlsplit

import jinja2
import regex

from syndicate.render.plain import render_text_digest, render_text_post
from syndicate.render.safety import safe_image_url
from syndicate.render.social import (
    POST_EXCERPT_LIMIT,
    one_line,
)
from syndicate.render.text import shorten
from syndicate.types import EditionView, PostView, SocialPost

__all__ = [
    "DEFAULT_MAX_CHARACTERS",
    "URL_WEIGHT",
    "language_code",
    "mastodon_length",
    "render_mastodon_digest",
    "render_mastodon_post",
]

DEFAULT_MAX_CHARACTERS = 500
URL_WEIGHT = 23
ALT_TEXT_LIMIT = 1500  # Mastodon's limit for a media description
# An address as far as it surely reaches: ASCII URL characters Mastodon's link pattern
# accepts; anything it might stop at ends the match here too.
_URL = regex.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%|]+", regex.IGNORECASE)
# Characters a link never ends with, in Mastodon's (twitter-text's) rules.
_LINK_END = regex.compile(r"[A-Za-z0-9/=_#-]")
_PUBLIC_HOST = regex.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}\.?", regex.I)
_RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "internal"})


def _link_length(url: str) -> int:
    """How many characters the address `url` (already trimmed) counts on Mastodon."""
    host = urlsplit(url).hostname or ""
    tld = host.rstrip(".").rsplit(".", 1)[-1].lower()
    if _PUBLIC_HOST.fullmatch(host) and tld not in _RESERVED_TLDS:
        return URL_WEIGHT
    return len(url)


def mastodon_length(text: str) -> int:
    """The length of `text` as Mastodon counts it against the limit (see the docstring)."""
    total = 0
    position = 0
    for match in _URL.finditer(text):
        url = match.group()
        while url and not _LINK_END.fullmatch(url[-1]):
            url = url[:-1]
        total += match.start() - position + _link_length(url)
        position = match.start() + len(url)
    return total + len(text) - position


def language_code(locale: str) -> str:
    """ "id" for "id", "id_ID" or "id-ID": the ISO 639-1 code Mastodon and Bluesky take."""
    return regex.split(r"[-_]", locale, maxsplit=1)[0].lower() or "en"


def render_mastodon_post(
    post: PostView,
    *,
    env: jinja2.Environment,
    locale: str,
    limit: int = DEFAULT_MAX_CHARACTERS,
    template: str = "social/mastodon_post.txt",
    excerpt_limit: int = POST_EXCERPT_LIMIT,
) -> SocialPost:
    """One post as one status of at most `limit` characters, its picture described: the
    plain-text post, counted as Mastodon counts, with its language and picture."""
    status = render_text_post(
        post,
        env=env,
        locale=locale,
        limit=limit,
        measure=mastodon_length,
        template=template,
        excerpt_limit=excerpt_limit,
    )
    photo = safe_image_url(post.image_url)
    extras: dict[str, str] = {"language": language_code(locale)}
    if photo is not None:
        extras["alt"] = shorten(one_line(post.title), ALT_TEXT_LIMIT)
    return replace(status, photo=photo, fallback_text=json.dumps(extras, ensure_ascii=False))


def render_mastodon_digest(
    edition: EditionView,
    *,
    env: jinja2.Environment,
    limit: int = DEFAULT_MAX_CHARACTERS,
    template: str = "social/mastodon_digest.txt",
) -> list[SocialPost]:
    """An edition as statuses listing its posts (title, credit, link), split between items:
    the plain-text digest, counted as Mastodon counts, with its language."""
    extras = json.dumps({"language": language_code(edition.locale)})
    statuses = render_text_digest(
        edition, env=env, limit=limit, measure=mastodon_length, template=template
    )
    return [replace(status, fallback_text=extras) for status in statuses]
