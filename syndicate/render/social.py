"""Fitting blurbs to a network's budget, the same way for every network.

Telegram, Mastodon, Bluesky, the webhook and the plain-text fallback each give a
template, a `measure` (how the network counts) and a `limit`;
this module keeps the frame — title, credit line, link — whole and shortens only the
excerpt, on a grapheme and word boundary, with an ellipsis. Only when the frame alone is
over the limit is the title shortened, as a last resort, and logged; the credit and the
link are never cut, so a post whose credit and link alone are over the limit raises
`DoesNotFit`: the job leaves it out on that network. Digests are packed the same way:
items whole, split between posts; a digest's header (its subject) is shortened to at
most half a message, so it never leaves an item no room.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jinja2

from syndicate.errors import SyndicateError
from syndicate.render.locale import N_, translator
from syndicate.render.safety import safe_url
from syndicate.render.text import shorten
from syndicate.types import Credit, EditionView, PostView

__all__ = [
    "DIGEST_EXCERPT_LIMIT",
    "ELLIPSIS",
    "POST_EXCERPT_LIMIT",
    "DigestItem",
    "DoesNotFit",
    "Measure",
    "PlainRender",
    "credits",
    "drop_bare_ellipsis",
    "fit_plain",
    "fit_subject",
    "one_line",
    "pack_digest",
    "render_plain_digest",
    "render_plain_post",
    "social_labels",
]

log = logging.getLogger(__name__)

ELLIPSIS = "…"
DIGEST_EXCERPT_LIMIT = 200  # a digest item's excerpt is a teaser, not the article
# A post is a blurb that sends readers to the article, not the article itself: a few
# sentences, well inside every network's budget.
POST_EXCERPT_LIMIT = 500

_LABELS: Mapping[str, str] = {
    "read_more": N_("Read more"),
    "source": N_("Source"),
    "more_at": N_("More at"),
    "also": N_("Also carried by"),
}
Measure = Callable[[str], int]
# render(title, excerpt) -> the finished text
PlainRender = Callable[[str, str], str]


def social_labels(locale: str) -> Mapping[str, str]:
    """The template words in `locale`'s language, from its catalog; else English."""
    translate = translator(locale)
    return {key: translate(text) for key, text in _LABELS.items()}


def one_line(text: str) -> str:
    """`text` with every run of whitespace made one space: a title or name on one line."""
    return " ".join(text.split())


def credits(post: PostView) -> tuple[Credit, ...]:
    """The credits `post.credit_line` names, in its order."""
    if post.origin and post.origin.name.casefold() != post.publisher.name.casefold():
        return (post.origin, post.publisher)
    return (post.publisher,)


class DoesNotFit(SyndicateError):
    """A post no message of a network can carry: its credit and link alone (the title cut
    to nothing) are over the network's limit. `key` is the post's ("p42")."""

    def __init__(self, key: str, limit: int) -> None:
        super().__init__(
            f"{key}: the credit and link alone are over the network's limit of {limit}."
        )
        self.key = key
        self.limit = limit


def fit_plain(
    render: PlainRender, title: str, excerpt: str, limit: int, measure: Measure, key: str
) -> tuple[str, str]:
    """The title and excerpt to render so that `measure(render(...)) <= limit`.

    The excerpt is shortened first; only when the frame alone is over the limit is the
    title shortened, as a last resort, and logged. `key` names the post; `DoesNotFit`
    says that not even the credit and the link fit.
    """

    def size(title: str, excerpt: str) -> int:
        return measure(render(title, excerpt))

    if size(title, excerpt) <= limit:
        return title, excerpt
    if size(title, "") <= limit:
        cut = shorten(excerpt, limit, measure=lambda part: size(title, part), ellipsis=ELLIPSIS)
        return title, drop_bare_ellipsis(cut)
    cut_title = shorten(title, limit, measure=lambda part: size(part, ""), ellipsis=ELLIPSIS)
    if not cut_title:
        raise DoesNotFit(key, limit)  # the credit and link: the title is not to blame
    log.warning("the title of %s is too long for its network; shortening it", key)
    return cut_title, ""


def fit_subject(
    edition: EditionView, header: Callable[[EditionView], str], limit: int, measure: Measure
) -> EditionView:
    """`edition` with its subject shortened (on one line) so that `header(edition)` — a
    digest message with its header and footer and no item — takes at most half of
    `limit`: a long subject is cut, never the items it heads."""
    budget = limit // 2
    subject = one_line(edition.subject)
    if measure(header(replace(edition, subject=subject))) <= budget:
        return replace(edition, subject=subject)
    log.warning("the subject of %s is too long for its network; shortening it", edition.key)

    def size(part: str) -> int:
        return measure(header(replace(edition, subject=part)))

    return replace(edition, subject=shorten(subject, budget, measure=size, ellipsis=ELLIPSIS))


def drop_bare_ellipsis(excerpt: str) -> str:
    """ "" for an excerpt cut down to nothing but the ellipsis, which says nothing."""
    return "" if not excerpt.removesuffix(ELLIPSIS).strip() else excerpt


def render_plain_post(
    post: PostView,
    *,
    env: jinja2.Environment,
    template: str,
    locale: str,
    limit: int,
    measure: Measure,
    excerpt_limit: int,
    **extra: Any,
) -> str:
    """One post rendered with `template`, fitted to `limit`.

    The template gets `post`, `title` and `excerpt` (fitted, on one line / plain),
    `credit_line`, `labels` and `extra`'s keys.
    """
    page = env.get_template(template)
    context = {"post": post, "credit_line": one_line(post.credit_line), **extra}
    context["labels"] = social_labels(locale)

    def render(title: str, excerpt: str) -> str:
        return page.render(context, title=title, excerpt=excerpt).strip()

    title = one_line(post.title)
    excerpt = drop_bare_ellipsis(shorten(post.excerpt.strip(), excerpt_limit))
    return render(*fit_plain(render, title, excerpt, limit, measure, post.key))


@dataclass(frozen=True)
class DigestItem:
    """One post as a digest template sees it: its title fitted, its credit on one line."""

    post: PostView
    title: str
    credit_line: str
    link_text: str


def pack_digest(
    items: Sequence[DigestItem],
    render: Callable[[Sequence[DigestItem], bool, bool], str],
    limit: int,
    measure: Measure,
) -> list[list[DigestItem]]:
    """Items grouped into posts that each fit `limit`; an item is never split.

    A group is measured as the message it will be: with the header only when it is the
    first, with the footer only when it takes the last item.
    """
    pending = list(items)
    groups: list[list[DigestItem]] = []
    while pending:
        first = not groups
        item = pending.pop(0)
        last = not pending

        def alone(
            title: str,
            _excerpt: str,
            item: DigestItem = item,
            first: bool = first,
            last: bool = last,
        ) -> str:
            return render([replace(item, title=title)], first, last)

        title, _ = fit_plain(alone, item.title, "", limit, measure, item.post.key)
        group = [replace(item, title=title)]
        while pending and measure(render([*group, pending[0]], first, len(pending) == 1)) <= limit:
            group.append(pending.pop(0))
        groups.append(group)
    return groups


def render_plain_digest(
    edition: EditionView,
    *,
    env: jinja2.Environment,
    template: str,
    limit: int,
    measure: Measure,
    link_text: Callable[[str], str] = lambda url: url,
    **extra: Any,
) -> list[tuple[str, list[DigestItem]]]:
    """An edition as posts listing its items: (text, items) each, fitted to `limit`.

    The template gets `edition`, `items`, `first`, `last`, `labels` and `extra`'s keys; each
    item's `link_text` is `link_text(url)` of its post. The header goes in
    the first post and the footer in the last. An empty edition gives [].
    """
    page = env.get_template(template)
    context = {"labels": social_labels(edition.locale), **extra}

    def header(edition: EditionView) -> str:
        return page.render(context, edition=edition, items=[], first=True, last=True).strip()

    edition = fit_subject(edition, header, limit, measure)
    context["edition"] = edition

    def render(items: Sequence[DigestItem], first: bool, last: bool) -> str:
        return page.render(context, items=list(items), first=first, last=last).strip()

    items = [
        DigestItem(
            post,
            one_line(post.title),
            one_line(post.credit_line),
            link_text(safe_url(post.url) or ""),
        )
        for post in edition.posts
    ]
    groups = pack_digest(items, render, limit, measure)
    return [
        (render(group, index == 0, index == len(groups) - 1), group)
        for index, group in enumerate(groups)
    ]
