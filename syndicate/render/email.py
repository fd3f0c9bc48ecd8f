"""The email digest: rendered and CSS-inlined once per edition, then personalized per subscriber.

`render_edition` runs Jinja2 and premailer once and leaves placeholder tokens where each
subscriber's own parts go; `personalize` fills them with plain string replacement and wraps
the result in a complete MIME message, so a list of 100,000 costs one render.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import html
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime as rfc5322_date
from email.utils import formataddr
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2

from syndicate.render.locale import format_date, format_datetime, labels
from syndicate.render.safety import clean_email_html, safe_image_url
from syndicate.types import Credit, EditionView, EmailMessage, PostView

__all__ = [
    "EXCERPT_WORDS",
    "HTML_LIMIT",
    "TEST_SUBJECT_PREFIX",
    "TOKENS",
    "Recipient",
    "RenderedEdition",
    "make_message_id",
    "parse_mailbox",
    "personalize",
    "posts_that_fit",
    "render_edition",
    "shorten_excerpt",
]

logger = logging.getLogger(__name__)

TEST_SUBJECT_PREFIX = "[TEST] "
EXCERPT_WORDS = 60
EXCERPT_CHARS = 420
# Gmail hides everything after the first ~102 KB of a message's HTML, the unsubscribe
# link included; a digest stays under this, with room for each subscriber's links.
HTML_LIMIT = 90_000
_TOKEN_PREFIX = "SYNDICATEx7"
# Letters and underscores only: Jinja, premailer and lxml leave them alone in text and
# attributes alike. The VIEW BEGIN/END pair wraps the view-in-browser link so it can be
# removed when an edition has no web copy.
TOKENS: Mapping[str, str] = MappingProxyType(
    {
        "unsubscribe_url": "SYNDICATEx7UNSUBSCRIBEx7URL",
        "view_url": "SYNDICATEx7VIEWx7URL",
        "view_begin": "SYNDICATEx7VIEWx7BEGIN",
        "view_end": "SYNDICATEx7VIEWx7END",
        "greeting": "SYNDICATEx7GREETING",
        "recipient": "SYNDICATEx7RECIPIENT",
    }
)
_VIEW_BLOCK = re.compile(f"{TOKENS['view_begin']}.*?{TOKENS['view_end']}", re.DOTALL)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without ":" or space
_STANDARD_HEADERS = frozenset(
    name.lower()
    for name in (
        "Message-ID",
        "Date",
        "From",
        "To",
        "Subject",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)

# Headers set raw (List-Unsubscribe) are written as given; the others are folded at 78.
_POLICY = policy.SMTP.clone(refold_source="none")


@dataclass(frozen=True)
class RenderedEdition:
    """An edition's finished subject, HTML and text, with placeholders for each subscriber."""

    subject: str
    html: str
    text: str
    greeting: str = "Hello, {name}!"  # in the edition's language; `{name}` is filled
    greeting_anonymous: str = "Hello!"  # for a subscriber without a name
    timezone: str | None = None  # the site's zone: the Date header is written in it
    posts_shown: int | None = None  # how many of the edition's posts the HTML holds


@dataclass(frozen=True)
class Recipient:
    """One subscriber as the email sees them."""

    email: str
    name: str | None = None


def render_edition(
    edition: EditionView,
    *,
    env: jinja2.Environment,
    template: str = "email/digest",
    html_limit: int = HTML_LIMIT,
) -> RenderedEdition:
    """Render `{template}.html` and `{template}.txt` once, and inline the HTML's CSS once.

    When all the posts would make the HTML longer than `html_limit` bytes, only the first
    ones that fit are shown, and the digest ends with "N more in the archive", linked to
    the edition's archive page (which lists them all); with no archive served, "N more in
    the next edition", since `run_job` then keeps those posts for the next edition.
    """
    rendered = _render(edition, env, template, len(edition.posts))
    size = len(rendered.html.encode())
    shown = len(edition.posts)
    while size > html_limit and shown > 0:
        shown = max(0, min(shown - 1, shown * html_limit // size))
        rendered = _render(edition, env, template, shown)
        size = len(rendered.html.encode())
    if shown < len(edition.posts) and edition.archive_url:
        logger.info(
            "edition %s: %d of %d posts fit in %d KB of HTML; the rest are in the archive",
            edition.key,
            shown,
            len(edition.posts),
            html_limit // 1000,
        )
    return replace(rendered, posts_shown=shown)


def posts_that_fit(env: jinja2.Environment, locale: str, html_limit: int = HTML_LIMIT) -> int:
    """How many long posts (full excerpt, picture, long links) a digest shows at most."""
    long_url = "https://www.example-news-site.co.id/" + "read/" * 12 + "a-long-headline-slug"
    post = PostView(
        key="p0",
        title="A headline of a good length for a news story about the day's events " * 2,
        url=long_url,
        excerpt="word " * EXCERPT_WORDS,
        publisher=Credit("An example news site", "https://www.example-news-site.co.id/"),
        origin=Credit("The original outlet", long_url),
        image_url=long_url + ".jpg",
        published_at=datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")),
    )
    edition = EditionView(
        key="e0",
        job="check",
        subject="check",
        site_name="An example news site",
        site_url="https://www.example-news-site.co.id/",
        locale=locale,
        timezone="UTC",
        created_at=datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")),
        posts=(post,) * 200,
    )
    shown = render_edition(edition, env=env, html_limit=html_limit).html.count("<h2")
    return shown


def _render(
    edition: EditionView, env: jinja2.Environment, template: str, shown: int
) -> RenderedEdition:
    context = _context(edition, shown)
    html_source = env.get_template(f"{template}.html").render(context)
    text = env.get_template(f"{template}.txt").render(context)
    words = labels(edition.locale)
    return RenderedEdition(
        subject=context["subject"],
        # The email policy (syndicate.render.safety) decides what the HTML may hold; then
        # premailer only moves the template's own CSS into style attributes.
        html=_inline_css(clean_email_html(html_source, placeholders=TOKENS.values())),
        text=text,
        greeting=words["greeting"],
        greeting_anonymous=words["greeting_anonymous"],
        timezone=edition.timezone,
    )


def personalize(
    rendered: RenderedEdition,
    *,
    recipient: Recipient,
    sender: str,
    list_id: str,
    message_id: str,
    date: datetime,
    unsubscribe_url: str,
    view_url: str | None,
    extra_headers: Mapping[str, str] = MappingProxyType({}),
    unsubscribe_mailto: str | None = None,
    test: bool = False,
) -> EmailMessage:
    """One subscriber's complete message: placeholders filled, MIME built, headers checked.

    No template is rendered here: the cost is a few string replacements and the MIME encoding.

    `unsubscribe_mailto` (an address) adds a ``<mailto:…>`` to List-Unsubscribe whose
    subject is "unsubscribe TOKEN", TOKEN being the last path segment of `unsubscribe_url`
    (the signed token of `Links.unsubscribe`), so a mail to it names the subscriber and
    the list. List-Unsubscribe-Post (one-click) goes only with an https link; with an
    http one the mailto goes alone (the http link only when there is no mailto).
    `test=True` makes a test copy: "[TEST] " before the subject and a Message-ID
    of its own, so the real copy is not taken for a duplicate of it.
    """
    to_address = _recipient_address(recipient.email)
    sender_address = _parse_sender(sender)
    unsubscribe_url = _checked_url(unsubscribe_url, "unsubscribe URL")
    if view_url is not None:
        view_url = _checked_url(view_url, "view-in-browser URL")
    name = _one_line(recipient.name or "")
    greeting = rendered.greeting.replace("{name}", name) if name else rendered.greeting_anonymous
    fills = {
        TOKENS["unsubscribe_url"]: unsubscribe_url,
        TOKENS["view_url"]: view_url or "",
        TOKENS["greeting"]: greeting,
        TOKENS["recipient"]: to_address,
    }
    _checked_message_id(message_id)
    if test:
        message_id = f"test.{secrets.token_hex(6)}.{message_id}"
    # RFC 8058 one-click needs an https link; over plain http the mailto goes alone.
    one_click = unsubscribe_url.startswith("https://")
    unsubscribe = [f"<{unsubscribe_url}>"] if one_click or not unsubscribe_mailto else []
    if unsubscribe_mailto:
        unsubscribe.append(f"<{_mailto(unsubscribe_mailto, unsubscribe_url)}>")
    # "=_" never occurs in quoted-printable text, and a fixed boundary keeps output repeatable.
    boundary = f"=_syndicate_{hashlib.sha256(message_id.encode()).hexdigest()[:24]}"
    # Built by hand rather than with email.message: the shared headers are folded once per
    # edition (cached), and the bodies go through binascii's quoted-printable encoder; the
    # email package would cost ~5 ms a message, more than everything else per recipient.
    head = (
        f"Message-ID: <{message_id}>\r\n"
        f"Date: {rfc5322_date(_site_time(_aware(date), rendered.timezone))}\r\n"
        f"To: {_to_header(to_address, name)}\r\n"
        # One URI a line, never folded: the email package's folder would turn a long URL
        # into encoded words, which no mailbox provider reads as a link.
        f"List-Unsubscribe: {_URI_SEPARATOR.join(unsubscribe)}\r\n"
    ).encode("ascii")
    shared = _shared_headers(
        sender, rendered.subject, list_id, tuple(extra_headers.items()), test, one_click
    )
    text = _qp_filled(rendered.text, fills, view_url is not None, escape=False)
    html_body = _qp_filled(rendered.html, fills, view_url is not None, escape=True)
    data = b"".join(
        (
            head,
            shared,
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode(),
            f"--{boundary}\r\n".encode(),
            _PART_HEAD % b"plain",
            text,
            f"\r\n--{boundary}\r\n".encode(),
            _PART_HEAD % b"html",
            html_body,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return EmailMessage(
        recipient=to_address,
        sender=sender_address.addr_spec,
        message_id=message_id,
        data=data,
    )


_URI_SEPARATOR = ",\r\n "
# The placeholders filled per subscriber (the view block markers are settled per edition).
_FILL_TOKENS = re.compile(
    "("
    + "|".join(
        re.escape(TOKENS[name]) for name in ("unsubscribe_url", "view_url", "greeting", "recipient")
    )
    + ")"
)
_PART_HEAD = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)
# A plain addr-spec as stored after import; anything else goes through the full parser.
_SIMPLE_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
)
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")


def _recipient_address(text: str) -> str:
    text = text.strip()
    if _SIMPLE_ADDRESS.fullmatch(text):
        return text
    return parse_mailbox(text).addr_spec


def _to_header(addr_spec: str, name: str) -> str:
    if not name:
        return addr_spec
    if _ATOM_PHRASE.fullmatch(name):
        return f"{name} <{addr_spec}>"
    # Quotes specials, and writes a non-ASCII name as an RFC 2047 encoded word.
    return formataddr((name, addr_spec), charset="utf-8")


@functools.lru_cache(maxsize=64)
def _parse_sender(sender: str) -> Address:
    return parse_mailbox(sender)


@functools.lru_cache(maxsize=64)
def _shared_headers(
    sender: str,
    subject: str,
    list_id: str,
    extra_headers: tuple[tuple[str, str], ...],
    test: bool,
    one_click: bool = True,
) -> bytes:
    """The headers every copy of an edition shares, checked and folded once."""
    subject = _one_line(subject)
    if test:
        subject = TEST_SUBJECT_PREFIX + subject
    mime = MimeMessage(policy=_POLICY)
    mime["From"] = _parse_sender(sender)
    mime["Subject"] = subject
    mime["List-Id"] = _list_id(list_id)
    if one_click:
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mime["Auto-Submitted"] = "auto-generated"
    mime["MIME-Version"] = "1.0"
    for header, value in extra_headers:
        _add_extra_header(mime, header, value)
    return mime.as_bytes()[: -len(b"\r\n")]  # the headers, without the empty line after


def _qp_filled(body: str, fills: Mapping[str, str], with_view: bool, *, escape: bool) -> bytes:
    """The body filled in for one copy, quoted-printable, CRLF, lines of at most 76.

    Encoding it whole would cost more than everything else a copy needs.

    The edition's body is encoded once (cached) in pieces split at the placeholders; each
    copy joins those pieces with its own encoded values, a soft line break on both sides
    of each value, which any reader of quoted-printable removes.
    """
    pieces, tokens = _encoded_pieces(body, with_view, escape)
    out = [pieces[0]]
    for token, piece in zip(tokens, pieces[1:], strict=True):
        value = html.escape(fills[token]) if escape else fills[token]
        out += (b"=\r\n", _qp_value(value), b"=\r\n", piece)
    return b"".join(out)


@functools.lru_cache(maxsize=16)
def _encoded_pieces(
    body: str, with_view: bool, escape: bool
) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    if with_view:
        body = body.replace(TOKENS["view_begin"], "").replace(TOKENS["view_end"], "")
    else:
        body = _VIEW_BLOCK.sub("", body)
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    parts = _FILL_TOKENS.split(body)
    pieces = tuple(_qp_value(part) for part in parts[0::2])
    return pieces, tuple(parts[1::2])


def _qp_value(text: str) -> bytes:
    """Quoted-printable, CRLF; the last line leaves room for the soft break joined after it.

    binascii fills lines to 76 characters; a piece or value is followed by "=" and a line
    break when a copy is put together, so its last line may hold only 75.
    """
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    head, _, last = encoded.rpartition(b"\r\n")
    if len(last) <= 75:
        return encoded
    cut = 75
    while b"=" in last[cut - 2 : cut]:  # never inside an "=XX" escape
        cut -= 1
    return head + (b"\r\n" if head else b"") + last[:cut] + b"=\r\n" + last[cut:]


def _mailto(address: str, unsubscribe_url: str) -> str:
    addr_spec = parse_mailbox(address).addr_spec
    if not addr_spec.isascii():
        raise ValueError(f'The unsubscribe address "{address}" must be plain ASCII.')
    token = urlsplit(unsubscribe_url).path.rstrip("/").rsplit("/", 1)[-1]
    subject = f"unsubscribe {token}".strip()
    return f"mailto:{quote(addr_spec, safe='@')}?subject={quote(subject, safe='')}"


def _site_time(date: datetime, timezone: str | None) -> datetime:
    if not timezone:
        return date
    try:
        return date.astimezone(ZoneInfo(timezone))
    except (KeyError, ValueError):  # a zone this machine does not know: keep the given one
        return date


def make_message_id(edition_key: str, recipient_key: str, sender: str) -> str:
    """The same edition to the same subscriber always gets the same Message-ID.

    A re-sent copy (at-least-once delivery) therefore looks like the same message to the
    receiving side. The ID is on the sender's domain and has no angle brackets.
    """
    domain = _parse_sender(sender).domain.lower()
    digest = hashlib.sha256(f"{edition_key}\0{recipient_key}\0{domain}".encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_-]", "", edition_key)[:32] or "edition"
    return f"syn.{readable}.{digest[:24]}@{domain}"


def parse_mailbox(text: str) -> Address:
    """ "Kabar Pilihan <kabar@example.org>" or "kabar@example.org" → one checked Address."""
    if "\r" in text or "\n" in text:
        raise ValueError(f'"{text.strip()}" is not an email address: it spans several lines.')
    header = policy.default.header_factory("From", text)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or header.defects:
        raise ValueError(f'"{text}" is not one email address such as "Name <name@example.org>".')
    address = addresses[0]
    if not address.username or "." not in address.domain:
        raise ValueError(f'"{text}" is not an email address such as "Name <name@example.org>".')
    return address


def shorten_excerpt(text: str, words: int = EXCERPT_WORDS, chars: int = EXCERPT_CHARS) -> str:
    """Plain text cut to at most `words` words and `chars` characters at a word boundary, "…"."""
    parts = text.split()
    kept: list[str] = []
    length = 0
    for word in parts[:words]:
        added = len(word) + (1 if kept else 0)
        if length + added > chars:
            break
        kept.append(word)
        length += added
    if len(kept) == len(parts):
        return " ".join(kept)
    return " ".join(kept).rstrip(",;:.-–—(") + "…"


def _context(edition: EditionView, shown: int) -> dict[str, Any]:
    words = labels(edition.locale)
    site_name = _untokened(edition.site_name)
    hidden = len(edition.posts) - shown
    site_url = _http_url(edition.site_url) or ""
    # Without a served archive the posts that did not fit wait for the next edition
    # (see jobs.run_job); a link to the site's front page would lead nowhere.
    archive_url = _http_url(edition.archive_url)
    more = "more_in_archive" if archive_url else "more_next_edition"
    return {
        "subject": _one_line(_untokened(edition.subject)),
        "site_name": site_name,
        "site_url": site_url,
        "lang": edition.locale.replace("_", "-"),
        "edition_date": format_date(edition.created_at, edition.locale, edition.timezone),
        "labels": words,
        "why_received": words["why_received"].replace("{site}", site_name),
        "posts": [_post_context(post, edition) for post in edition.posts[:shown]],
        "more": words[more].replace("{count}", str(hidden)) if hidden else "",
        "more_url": archive_url or "",
        **TOKENS,
    }


def _post_context(post: PostView, edition: EditionView) -> dict[str, Any]:
    credits = [{"name": _untokened(post.publisher.name), "url": _http_url(post.publisher.url)}]
    if post.credit_line != post.publisher.name and post.origin is not None:
        credits.insert(0, {"name": _untokened(post.origin.name), "url": _http_url(post.origin.url)})
    published = None
    if post.published_at is not None:
        published = format_datetime(post.published_at, edition.locale, edition.timezone)
    return {
        "key": post.key,
        "title": _one_line(_untokened(post.title)),
        "url": _http_url(post.url) or _http_url(edition.site_url) or "",
        "credits": credits,
        "also": [{"name": _untokened(c.name), "url": _http_url(c.url)} for c in post.also],
        "credit_line": _untokened(post.credit_line),
        "publisher_url": _http_url(post.publisher.url),
        "excerpt": shorten_excerpt(_untokened(post.excerpt)),
        "image_url": safe_image_url(post.image_url),
        "published": published,
    }


def _inline_css(source: str) -> str:
    # Imported here: premailer and cssutils are heavy, and only a render needs them.
    import cssutils
    from premailer import Premailer

    # cssutils reports every property it does not know (mso-*, -webkit-*) at WARNING level.
    cssutils.log.setLevel(logging.CRITICAL)
    premailer = Premailer(
        source,
        base_url=None,
        allow_network=False,
        allow_loading_external_files=False,
        external_styles=None,
        disable_validation=True,
        disable_basic_attributes=["width", "height"],  # keep width="552": Outlook needs pixels
        strip_important=False,  # the @media rules left in <style> need their !important
        cssutils_logging_level=logging.CRITICAL,
    )
    return premailer.transform()


def _fill(body: str, fills: Mapping[str, str], view_url: str | None, *, escape: bool) -> str:
    if view_url is None:
        body = _VIEW_BLOCK.sub("", body)
    else:
        body = body.replace(TOKENS["view_begin"], "").replace(TOKENS["view_end"], "")
    for token, value in fills.items():
        body = body.replace(token, html.escape(value) if escape else value)
    return body


def _mailbox(addr_spec: str, name: str | None) -> Address:
    address = parse_mailbox(addr_spec.strip())
    return Address(display_name=_one_line(name or ""), addr_spec=address.addr_spec)


def _list_id(list_id: str) -> str:
    value = _one_line(list_id)
    if "<" not in value:
        value = f"<{value}>"
    if not re.search(r"<[A-Za-z0-9._-]+\.[A-Za-z0-9._-]+>$", value):
        raise ValueError(f'"{list_id}" is not a List-Id such as "news.example.org".')
    return value


def _add_extra_header(mime: MimeMessage, header: str, value: str) -> None:
    if not _HEADER_NAME.fullmatch(header):
        raise ValueError(f'"{header}" is not a valid email header name.')
    if header.lower() in _STANDARD_HEADERS:
        raise ValueError(f'The header "{header}" is set by syndicate and cannot be overridden.')
    del mime[header]
    value = _one_line(value)
    if value.isascii():
        mime.set_raw(header, value)  # e.g. List-Archive: a long URL stays a URL
    else:
        mime[header] = value


def _checked_url(url: str, what: str) -> str:
    checked = _http_url(url)
    if checked is None or not url.isascii() or any(char in url for char in ' <>"'):
        raise ValueError(f'The {what} "{url}" is not an http:// or https:// address.')
    return checked


def _checked_message_id(message_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+", message_id):
        raise ValueError(f'"{message_id}" is not a Message-ID such as "abc@example.org".')
    return message_id


def _http_url(url: str | None) -> str | None:
    """The URL when it is http(s) and on one line; None for javascript:, data: and the like."""
    if not url:
        return None
    url = url.strip()
    if "\r" in url or "\n" in url or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return url


def _one_line(text: str) -> str:
    """Any run of whitespace, CR and LF included, becomes one space: no header injection."""
    return " ".join(text.split())


def _untokened(text: str) -> str:
    """Feed text cannot smuggle in a placeholder that personalize would fill."""
    return text.replace(_TOKEN_PREFIX, "SYNDICATE x7")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"The date {value.isoformat()} has no time zone.")
    return value
