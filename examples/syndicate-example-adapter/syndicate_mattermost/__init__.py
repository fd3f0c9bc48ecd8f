"""A Mattermost channel for syndicate: posts to an incoming webhook as Markdown.

An example of a third-party adapter: one class, registered under the entry-point group
`syndicate.channels` (see pyproject.toml), that reads its settings, fits a post to the
network's limit, and maps the network's answers onto syndicate's error tree. Its posts
are Markdown of its own; its digests are syndicate's neutral plain text
(`PlainTextFallback`).
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from syndicate.channels.base import (
    AfterCrash,
    Message,
    PermanentError,
    PostView,
    SendResult,
    SocialPost,
    TargetGone,
    TransientError,
    UnknownOutcome,
)
from syndicate.channels.http import NEVER_LEFT
from syndicate.channels.plain import PlainTextFallback
from syndicate.config import ConfigTable
from syndicate.render.safety import safe_url
from syndicate.render.text import shorten

__all__ = ["MattermostChannel"]

TEXT_LIMIT = 4000  # Mattermost's default maximum post length, in characters


def _markdown(text: str) -> str:
    """`text` with Mattermost's Markdown characters taken literally."""
    return "".join(f"\\{char}" if char in "\\`*_[]()#>|~" else char for char in text)


class MattermostChannel(PlainTextFallback):
    """Posts each post to one Mattermost incoming webhook."""

    type: ClassVar[str] = "mattermost"
    medium: ClassVar[str] = "mattermost"  # fit_post below makes its messages
    after_crash: ClassVar[AfterCrash] = "unknown"  # a public post: a gap beats a copy
    text_limit: ClassVar[int] = TEXT_LIMIT  # digests: plain text fitted to this

    def __init__(self, name: str, url: str, channel: str | None = None) -> None:
        super().__init__(name)
        self._url = url
        self.channel = channel
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> MattermostChannel:
        channel = cls(name, table.url("url", ("https", "http")), table.text("channel", None))
        table.done()  # any other key is a typo: say so, naming the file and the key
        return channel

    def targets(self) -> tuple[str, ...]:
        return (self.channel or "webhook",)

    def fit_post(self, post: PostView, *, env, locale: str, timezone: str) -> SocialPost:
        link = safe_url(post.url) or ""
        title = _markdown(" ".join(post.title.split()))
        frame_head = f"**[{title}]({link})**\n\n" if link else f"**{title}**\n\n"
        frame_tail = f"\n\n📰 {_markdown(post.credit_line)}"
        room = TEXT_LIMIT - len(frame_head) - len(frame_tail)
        excerpt = shorten(post.excerpt.strip(), max(room, 0), measure=lambda t: len(_markdown(t)))
        text = frame_head + _markdown(excerpt) + frame_tail
        return SocialPost(target="", text=text, parse_mode="markdown", link=link or None)

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, SocialPost):
            raise PermanentError(f'channel "{self.name}": Mattermost takes posts, not email.')
        await self.open()
        assert self._client is not None
        body = {"text": message.text}
        if self.channel:
            body["channel"] = self.channel
        try:
            response = await self._client.post(self._url, json=body)
        except NEVER_LEFT as error:  # nothing left: safe to try again
            raise TransientError(f'channel "{self.name}": cannot connect ({error!r})') from error
        except httpx.HTTPError as error:  # it may have been posted: never guess
            raise UnknownOutcome(f'channel "{self.name}": no answer ({error!r})') from error
        answer = f"{response.status_code}: {response.text[:200]}"
        problem = f'channel "{self.name}": Mattermost answered {answer}'
        if response.status_code == 429:
            wait = response.headers.get("retry-after")
            raise TransientError(problem, retry_after=float(wait) if wait else None)
        if response.status_code in (404, 410):
            raise TargetGone(problem)  # the webhook was deleted: stop posting there
        if response.status_code >= 500:
            raise UnknownOutcome(problem)
        if response.status_code >= 400:
            raise PermanentError(problem)
        return SendResult(external_id=None, detail=response.text[:200] or "ok")
