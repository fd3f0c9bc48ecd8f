"""The plain-text fallback an adapter opts into when its network has no format of its own.

A channel renders its own messages (`Channel.fit_post` / `fit_digest`); syndicate never
renders one network's messages with another network's renderer. An adapter that wants
plain text derives from `PlainTextFallback` instead of `Channel` and sets `text_limit`::

    class MatrixChannel(PlainTextFallback):
        type = "matrix"
        medium = "matrix"
        text_limit = 4000

A `fit_post` or `fit_digest` of its own still wins: the example Mattermost adapter
writes its posts in Markdown and takes its digests from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from syndicate.channels.base import Channel
from syndicate.render.plain import render_text_digest, render_text_post
from syndicate.types import EditionView, PostView, SocialPost

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["PlainTextFallback"]


class PlainTextFallback(Channel):
    """A channel whose posts and digests are neutral plain text of at most `text_limit`
    characters; `send` and `from_config` are still the adapter's own."""

    text_limit: ClassVar[int] = 4000

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost | None:
        return render_text_post(post, env=env, locale=locale, limit=self.text_limit)

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost] | None:
        return render_text_digest(edition, env=env, limit=self.text_limit)
