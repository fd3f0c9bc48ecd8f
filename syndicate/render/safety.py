"""Sanitization policies: the HTML and URLs each finished message may carry, whatever a feed sent.

Feed HTML is cleaned once at ingest (`syndicate.ingest.clean`), titles and excerpts reach
the renderers as plain text, and the templates escape them. These policies are the last
gate, applied to every rendered message, so a post's hostile title, excerpt, link or image
address — or a site's own template that forgot to escape one — cannot put anything active
into a subscriber's mailbox or a Telegram channel.

Email (`clean_email_html`), the HTML the digest template needs, with nh3:

- body tags: `EMAIL_BODY_TAGS` (tables for layout, headings, paragraphs, lists, links,
  images, simple emphasis); any other tag is dropped and its text kept, except
  `DROPPED_WITH_CONTENT` (script, iframe, object, embed, form and the like), which goes
  with everything inside it. `tbody` is left out on purpose: the parser would add one to
  every table, and a table's rows read the same without it;
- attributes: `EMAIL_ATTRIBUTES` — layout and presentation ones on any tag (`style` is the
  template's own: no post field reaches a style), `href` on links, `src` and `alt` on
  images; no `on*=` handler survives, nor `id` or `name`;
- URLs in href and src: `EMAIL_URL_SCHEMES` (http, https, mailto); a relative URL only
  when it is one of the placeholders `personalize` fills (the unsubscribe and view links);
- images: an image without a source, from a known tracker, or 1×1 (0 or 1 pixel wide or
  high, by attribute or style) is dropped: it can only be a tracking pixel;
- the head keeps only `meta` (no refresh: `http-equiv` only as X-UA-Compatible or
  Content-Type), `title` and `style`.

The email policy runs on the rendered template, before premailer moves the template's CSS
into style attributes; premailer adds nothing but those.

Telegram (`clean_telegram_html`), Telegram's HTML subset (`TELEGRAM_TAGS`): `href` on links
(http, https, tg), `class="language-…"` on code, `expandable` on blockquotes, nothing
else. nh3 parses the message as a browser would and applies that policy; then
`sanitize_telegram_html` enforces what Telegram's own parser demands beyond a tag list
(balanced tags, no nested links, nothing inside code, `<br>` as a newline).

Addresses taken from a post (`safe_url`, `safe_image_url`): http or https on one line,
and for an image, not a tracking pixel's address (`is_tracker_url`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from urllib.parse import urlsplit

import nh3

from syndicate.render.text import TELEGRAM_TAGS, sanitize_telegram_html

__all__ = [
    "DROPPED_WITH_CONTENT",
    "EMAIL_ATTRIBUTES",
    "EMAIL_BODY_TAGS",
    "EMAIL_HEAD_TAGS",
    "EMAIL_URL_SCHEMES",
    "TELEGRAM_ATTRIBUTES",
    "TELEGRAM_URL_SCHEMES",
    "clean_email_html",
    "clean_telegram_html",
    "is_tracker_url",
    "safe_image_url",
    "safe_url",
]

EMAIL_BODY_TAGS = frozenset(
    {
        "table", "tr", "td", "th", "div", "span", "center",
        "p", "br", "hr", "h1", "h2", "h3", "h4", "ul", "ol", "li", "blockquote",
        "a", "img", "b", "strong", "i", "em", "u", "s", "small", "sup", "sub",
    }
)  # fmt: skip
EMAIL_HEAD_TAGS = frozenset({"meta", "title", "style"})
EMAIL_ATTRIBUTES: dict[str, set[str]] = {
    "*": {
        "class", "style", "align", "valign", "width", "height", "bgcolor", "border",
        "cellpadding", "cellspacing", "role", "lang", "dir", "title",
    },
    "a": {"href"},
    "img": {"src", "alt"},
}  # fmt: skip
EMAIL_URL_SCHEMES = frozenset({"http", "https", "mailto"})
TELEGRAM_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href"},
    "code": {"class"},
    "blockquote": {"expandable"},
}
TELEGRAM_URL_SCHEMES = frozenset({"http", "https", "tg"})
# Active or interactive content: dropped with everything inside it, in every output.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "frame", "frameset", "object",
        "embed", "applet", "form", "input", "button", "select", "textarea", "svg", "math",
        "video", "audio", "base", "link",
    }
)  # fmt: skip

# Addresses of tracking pixels and beacons: FeedBurner's, Blogger's, WordPress stats,
# ad and analytics hosts, and paths that say what they are.
_TRACKER_URL = re.compile(
    r"feeds\.feedburner\.com/~(?:r|ff)/|blogger\.googleusercontent\.com/tracker/"
    r"|stats\.wordpress\.com|pixel\.wp\.com|doubleclick\.net|google-analytics\.com"
    r"|/(?:pixel|tracking|track|beacon|open)(?:\.gif|\.png|/|\?)",
    re.IGNORECASE,
)


def is_tracker_url(url: str) -> bool:
    """Tell whether `url` is the address of a known tracking pixel or beacon."""
    return _TRACKER_URL.search(url) is not None


def safe_url(url: str | None) -> str | None:
    """`url` when it is an http(s) address on one line; None for javascript:, data: and the like."""
    if not url:
        return None
    url = url.strip()
    if any(char in url for char in "\r\n\t") or not url.isprintable():
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def safe_image_url(url: str | None) -> str | None:
    """`url` when it may be shown as a picture: a `safe_url` that is not a tracking pixel."""
    checked = safe_url(url)
    return None if checked is None or is_tracker_url(checked) else checked


def clean_email_html(document: str, *, placeholders: Collection[str] = ()) -> str:
    """A rendered email document reduced to the email policy (see the module docstring).

    `placeholders` are the relative "URLs" kept in href, which `personalize` later
    replaces with the subscriber's own links. The doctype and the `<html>` and `<body>`
    tags are the template's; a document without a head and body is cleaned as a body.
    """
    parts = _DOCUMENT.fullmatch(document)
    body_cleaner = _email_body_cleaner(frozenset(placeholders))
    if parts is None:
        return _drop_pixels(body_cleaner.clean(document))
    return "".join(
        (
            _scrub_tag(parts["start"]),
            _EMAIL_HEAD.clean(parts["head"]),
            _scrub_tag(parts["middle"]),
            _drop_pixels(body_cleaner.clean(parts["body"])),
            parts["end"],
        )
    )


_DOCUMENT = re.compile(
    r"(?P<start>.*?<head\b[^>]*>)(?P<head>.*?)(?P<middle></head>\s*<body\b[^>]*>)"
    r"(?P<body>.*)(?P<end></body>.*)",
    re.IGNORECASE | re.DOTALL,
)
# An event handler in the template's own <html> or <body> tag.
_HANDLER = re.compile(r"""\s+on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*)""", re.IGNORECASE)


def _scrub_tag(markup: str) -> str:
    return _HANDLER.sub("", markup)


_EMAIL_HEAD = nh3.Cleaner(
    tags=set(EMAIL_HEAD_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT - EMAIL_HEAD_TAGS),
    attributes={"meta": {"charset", "name", "content"}},
    # A refresh could send the reader anywhere; these two only tell the client how to read.
    tag_attribute_values={"meta": {"http-equiv": {"X-UA-Compatible", "Content-Type"}}},
    link_rel=None,
)


@functools.lru_cache(maxsize=8)
def _email_body_cleaner(placeholders: frozenset[str]) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(EMAIL_BODY_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in EMAIL_ATTRIBUTES.items()},
        attribute_filter=_email_attribute,
        url_schemes=set(EMAIL_URL_SCHEMES),
        url_relative=lambda url: url if url in placeholders else None,
        link_rel=None,  # mail clients open links without an opener
        strip_comments=True,
    )


def _email_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and is_tracker_url(value):
        return None
    return value


# nh3's output quotes every attribute value with " and escapes " inside it.
_IMG = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>', re.IGNORECASE)
_ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')
_PIXEL_SIZE = re.compile(r"(?:^|;)\s*(?:width|height)\s*:\s*[01](?:\.\d*)?(?:px)?\s*(?:;|$)")


def _drop_pixels(html: str) -> str:
    """`html` (nh3's output) without images that can only be tracking pixels."""
    return _IMG.sub(lambda image: "" if _is_pixel(image.group()) else image.group(), html)


def _is_pixel(tag: str) -> bool:
    attributes = {name.lower(): value for name, value in _ATTRIBUTE.findall(tag)}
    if not attributes.get("src"):
        return True  # what is left of a tracker's image, or of a data: one
    sizes = [attributes.get("width", ""), attributes.get("height", "")]
    tiny = any(size.strip().removesuffix("px").strip() in {"0", "1"} for size in sizes)
    return tiny or _PIXEL_SIZE.search(attributes.get("style", "").lower()) is not None


_TELEGRAM = nh3.Cleaner(
    # <br> passes to sanitize_telegram_html, which makes it the newline Telegram wants.
    tags=set(TELEGRAM_TAGS | {"br"}),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in TELEGRAM_ATTRIBUTES.items()},
    url_schemes=set(TELEGRAM_URL_SCHEMES),
    url_relative="deny",
    link_rel=None,
    strip_comments=True,
)


def clean_telegram_html(message: str) -> str:
    """A rendered Telegram message reduced to Telegram's HTML subset, tags balanced."""
    return sanitize_telegram_html(_TELEGRAM.clean(message))
