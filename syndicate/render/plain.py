"""The neutral plain-text blurb: for a network that has no format of its own.

Telegram, Mastodon, Bluesky and the webhook each render their own messages; an adapter
for another network either does the same (its `fit_post` / `fit_digest`) or opts into
this one (`syndicate.channels.plain.PlainTextFallback`): the title, the excerpt, the
credit line and the link as plain text, fitted by `syndicate.render.social` to the
channel's limit, counted in characters unless the channel counts its own way.
"""

from __future__ import annotations

import jinja2

from syndicate.render.safety import safe_url
from syndicate.render.social import (
    POST_EXCERPT_LIMIT,
    Measure,
    render_plain_digest,
    render_plain_post,
)
from syndicate.types import EditionView, PostView, SocialPost

__all__ = ["render_text_digest", "render_text_post"]


def render_text_post(
    post: PostView,
    *,
    env: jinja2.Environment,
    locale: str,
    limit: int,
    measure: Measure = len,
    template: str = "social/plain_post.txt",
    excerpt_limit: int = POST_EXCERPT_LIMIT,
) -> SocialPost:
    """One post as one plain-text message of at most `limit` (as `measure` counts)."""
    link = safe_url(post.url)
    text = render_plain_post(
        post,
        env=env,
        template=template,
        locale=locale,
        limit=limit,
        measure=measure,
        excerpt_limit=excerpt_limit,
        link=link or "",
    )
    return SocialPost(target="", text=text, parse_mode="plain", link=link)


def render_text_digest(
    edition: EditionView,
    *,
    env: jinja2.Environment,
    limit: int,
    measure: Measure = len,
    template: str = "social/plain_digest.txt",
) -> list[SocialPost]:
    """An edition as plain-text messages listing its posts, split between items."""
    return [
        SocialPost(target="", text=text, parse_mode="plain", link=safe_url(edition.site_url))
        for text, _ in render_plain_digest(
            edition, env=env, template=template, limit=limit, measure=measure
        )
    ]
