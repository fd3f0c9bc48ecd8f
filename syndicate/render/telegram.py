"""Telegram's blurbs: posts and digests fitted into Telegram messages, the frame never cut.

Telegram is fitted like every other network (`syndicate.render.social` does the fitting;
this module gives it Telegram's templates and counts, UTF-16 units of visible text). The
templates (`templates/social/`) decide the look; the code enforces the budget. It
renders a template with the full excerpt and, when Telegram would count too many
characters, keeps the longest excerpt that fits, cut on a grapheme and word boundary with
an ellipsis. The frame — title, credit line, link — is never cut: a post whose frame does
not fit a photo caption (1024) is sent as text (4096) instead; only a title so long that
the frame alone is over 4096 is shortened, as a last resort.

Templates receive `labels` (`syndicate.render.social.social_labels`), a small mapping of
words in the job's language: `read_more` ("Baca selengkapnya"), `source` ("Sumber") and
`more_at` ("Selengkapnya di"). Every rendered message is passed
through the Telegram policy of `syndicate.render.safety`, so neither a post's fields nor a
site's own template can send Telegram a tag or a link it would refuse; a post's picture is
sent only from an http(s) address that is not a tracking pixel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime

from syndicate.render.safety import clean_telegram_html, safe_image_url, safe_url
from syndicate.render.social import (
    DIGEST_EXCERPT_LIMIT,
    POST_EXCERPT_LIMIT,
    credits,
    drop_bare_ellipsis,
    fit_plain,
    fit_subject,
    social_labels,
)
from syndicate.render.text import shorten, telegram_visible_length
from syndicate.types import Credit, EditionView, PostView, SocialPost

__all__ = [
    "DIGEST_EXCERPT_LIMIT",
    "POST_EXCERPT_LIMIT",
    "TELEGRAM_CAPTION_LIMIT",
    "TELEGRAM_TEXT_LIMIT",
    "render_telegram_digest",
    "render_telegram_post",
]

logger = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096  # UTF-16 units of visible text in a message
TELEGRAM_CAPTION_LIMIT = 1024  # ... in a photo's caption
# render(title, excerpt) -> the finished Telegram HTML
_Render = Callable[[str, str], str]


def render_telegram_post(
    post: PostView,
    *,
    target: str,
    env: jinja2.Environment,
    locale: str,
    timezone: str,
    link_preview: bool = True,
    message_thread_id: int | None = None,
    template: str = "social/telegram_post.html",
    excerpt_limit: int = POST_EXCERPT_LIMIT,
) -> SocialPost:
    """One post as one Telegram message: a photo with a caption when it has an image.

    A photo post carries the text version (4096 units) as `fallback_text`, for when
    Telegram refuses the photo; its caption is fitted to 1024. A post whose frame alone
    (title, credit, link) is too long for a caption goes out as text without the photo.
    """
    page = env.get_template(template)
    context = {
        "post": post,
        "credits": credits(post),
        "labels": social_labels(locale),
        "published": _format_datetime(post.published_at, locale, timezone),
    }

    def renderer(photo: bool) -> _Render:
        return lambda title, excerpt: _finish(
            page.render(context, title=title, excerpt=excerpt, photo=photo)
        )

    title = post.title.strip()
    excerpt = drop_bare_ellipsis(shorten(post.excerpt.strip(), excerpt_limit))
    text = _fit(renderer(False), title, excerpt, TELEGRAM_TEXT_LIMIT, post.key)
    as_text = SocialPost(
        target=target,
        text=text,
        parse_mode="HTML",
        link=safe_url(post.url),
        link_preview=link_preview,
        message_thread_id=message_thread_id,
    )
    photo = safe_image_url(post.image_url)
    if photo is None:
        return as_text
    if telegram_visible_length(renderer(True)(title, "")) > TELEGRAM_CAPTION_LIMIT:
        # Cutting the title to fit a caption would break the frame; a text message holds it.
        logger.info("the title of %s is too long for a photo caption; posting text", post.key)
        return as_text
    caption = _fit(renderer(True), title, excerpt, TELEGRAM_CAPTION_LIMIT, post.key)
    return replace(as_text, text=caption, photo=photo, fallback_text=text)


@dataclass(frozen=True)
class _DigestItem:
    """One post as a digest template sees it: its title and excerpt already fitted."""

    post: PostView
    title: str
    excerpt: str
    credits: tuple[Credit, ...]


def render_telegram_digest(
    edition: EditionView,
    *,
    target: str,
    env: jinja2.Environment,
    locale: str,
    timezone: str,
    link_preview: bool = False,
    message_thread_id: int | None = None,
    template: str = "social/telegram_digest.html",
    excerpt_limit: int = DIGEST_EXCERPT_LIMIT,
) -> list[SocialPost]:
    """An edition as Telegram messages listing its posts, split between items when too long.

    The header goes in the first message and the footer in the last; an item is never
    split across messages, and an item too long for a message on its own has its excerpt
    shortened. Each excerpt is first cut to `excerpt_limit`, and a subject that would take
    more than half a message is shortened. An empty edition gives [].
    """
    page = env.get_template(template)
    context: dict[str, object] = {
        "labels": social_labels(locale),
        "edition_date": _format_date(edition.created_at, locale, timezone),
    }

    def header(edition: EditionView) -> str:
        return _finish(page.render(context, edition=edition, items=[], first=True, last=True))

    edition = fit_subject(edition, header, TELEGRAM_TEXT_LIMIT, telegram_visible_length)
    context["edition"] = edition

    def render(items: Sequence[_DigestItem], first: bool, last: bool) -> str:
        return _finish(page.render(context, items=list(items), first=first, last=last))

    def size(items: Sequence[_DigestItem], first: bool, last: bool) -> int:
        # Measured as the message it will be: the footer only in the last one.
        return telegram_visible_length(render(items, first, last))

    pending = [_digest_item(post, excerpt_limit) for post in edition.posts]
    messages: list[list[_DigestItem]] = []
    while pending:
        first = not messages
        item = pending.pop(0)
        message = [_fit_item(item, first, not pending, render)]
        while pending and size([*message, pending[0]], first, len(pending) == 1) <= (
            TELEGRAM_TEXT_LIMIT
        ):
            message.append(pending.pop(0))
        messages.append(message)
    return [
        SocialPost(
            target=target,
            text=render(message, index == 0, index == len(messages) - 1),
            parse_mode="HTML",
            link=safe_url(edition.site_url),
            link_preview=link_preview,
            message_thread_id=message_thread_id,
        )
        for index, message in enumerate(messages)
    ]


def _digest_item(post: PostView, excerpt_limit: int) -> _DigestItem:
    excerpt = drop_bare_ellipsis(shorten(post.excerpt.strip(), excerpt_limit))
    return _DigestItem(post, post.title.strip(), excerpt, credits(post))


def _fit_item(
    item: _DigestItem,
    first: bool,
    last: bool,
    render: Callable[[Sequence[_DigestItem], bool, bool], str],
) -> _DigestItem:
    """`item` with its excerpt (or, at worst, title) cut to fit a message by itself."""

    def alone(title: str, excerpt: str) -> str:
        return render([replace(item, title=title, excerpt=excerpt)], first, last)

    title, excerpt = fit_plain(
        alone, item.title, item.excerpt, TELEGRAM_TEXT_LIMIT, telegram_visible_length, item.post.key
    )
    return replace(item, title=title, excerpt=excerpt)


def _fit(render: _Render, title: str, excerpt: str, limit: int, key: str) -> str:
    """The rendered message with the longest excerpt that fits in `limit`."""
    return render(*fit_plain(render, title, excerpt, limit, telegram_visible_length, key))


def _finish(rendered: str) -> str:
    return clean_telegram_html(rendered).strip()


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as error:
        raise ValueError(f"unknown locale {locale!r} for a Telegram blurb.") from error


def _format_date(moment: datetime, locale: str, timezone: str) -> str:
    return format_date(moment.astimezone(ZoneInfo(timezone)), "long", _babel_locale(locale))


def _format_datetime(moment: datetime | None, locale: str, timezone: str) -> str | None:
    if moment is None:
        return None
    local = moment.astimezone(ZoneInfo(timezone))
    return format_datetime(local, "medium", tzinfo=local.tzinfo, locale=_babel_locale(locale))
