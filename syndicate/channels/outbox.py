"""The outbox: a channel that writes each delivery to a file instead of sending it.

An email becomes a complete RFC 5322 `.eml` file any mail program opens; a social post
becomes a `.json` file with the exact text, parse mode, photo and target.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from syndicate.channels.base import (
    AfterCrash,
    Channel,
    EmailMessage,
    Message,
    PermanentError,
    SendResult,
    SocialPost,
)
from syndicate.channels.telegram_chats import read_chat_ids
from syndicate.config import ConfigTable
from syndicate.render.telegram import render_telegram_digest, render_telegram_post

if TYPE_CHECKING:
    from jinja2 import Environment

    from syndicate.types import EditionView, JobFormat, PostView

__all__ = ["OutboxChannel"]

MEDIA = ("email", "telegram")
# .invalid is reserved: an address that can never reach anyone by mistake.
DEFAULT_SENDER = "syndicate <outbox@syndicate.invalid>"


class OutboxChannel(Channel):
    type: ClassVar[str] = "outbox"
    medium: ClassVar[str] = "email"
    after_crash: ClassVar[AfterCrash] = "requeue"  # writing a file twice harms nobody

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        medium: str = "email",
        list_name: str | None = None,
        sender: str = DEFAULT_SENDER,
        targets: tuple[str, ...] = ("outbox",),
    ) -> None:
        super().__init__(name)
        self.path = path
        self.medium = medium  # type: ignore[misc]  # an outbox stands in for any medium
        self._list_name = list_name
        self._sender = sender
        self._targets = targets
        self._stands_in_for: Channel | None = None

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> OutboxChannel:
        medium = table.choice("medium", MEDIA, "email")
        if medium == "telegram" and "chat_id" in table:  # read as a Telegram channel reads it
            targets = read_chat_ids(table)
        else:
            targets = tuple(table.str_list("chat_id", ["outbox"]))
        channel = cls(
            name,
            table.path("path"),
            medium=medium,
            list_name=table.text("list", None),
            sender=table.text("from", DEFAULT_SENDER),
            targets=targets,
        )
        table.done()
        return channel

    @classmethod
    def standing_in_for(cls, channel: Channel, folder: Path) -> OutboxChannel:
        """An outbox that receives what `channel` would have sent, into `folder`.

        It fits posts the way `channel` does (Mastodon's, Bluesky's budget...), so a
        preview shows what that network would get, and answers to `channel`'s type.
        """
        outbox = cls(
            channel.name,
            folder,
            medium=channel.medium,
            list_name=channel.list_name,
            sender=channel.sender or DEFAULT_SENDER,
            targets=channel.targets() or ("outbox",),
        )
        outbox._stands_in_for = channel
        # Its messages are the adapter's own: what fails rendering them names that adapter.
        outbox.type = channel.type  # type: ignore[misc]
        return outbox

    def renders(self, format: JobFormat) -> bool:
        if self._stands_in_for is not None:
            return self._stands_in_for.renders(format)
        return True  # an outbox of its own writes email or Telegram's messages

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost | None:
        original = self._stands_in_for
        if original is not None:
            return original.fit_post(post, env=env, locale=locale, timezone=timezone)
        if self.medium == "telegram":  # an outbox set up with medium = "telegram"
            return render_telegram_post(post, target="", env=env, locale=locale, timezone=timezone)
        return None

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost] | None:
        original = self._stands_in_for
        if original is not None:
            return original.fit_digest(edition, env=env, locale=locale, timezone=timezone)
        if self.medium == "telegram":
            return render_telegram_digest(
                edition, target="", env=env, locale=locale, timezone=timezone
            )
        return None

    def targets(self) -> tuple[str, ...]:
        return self._targets

    @property
    def list_name(self) -> str | None:
        return self._list_name

    @property
    def sender(self) -> str:
        return self._sender

    async def send(self, message: Message) -> SendResult:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if isinstance(message, EmailMessage):
                file = self.path / f"{_slug(message.message_id.split('@')[0])}.eml"
                file.write_bytes(message.data)
            else:
                file = self.path / f"{_social_name(message)}.json"
                file.write_text(
                    json.dumps(asdict(message), ensure_ascii=False, indent=2) + "\n",
                    encoding="utf-8",
                )
        except OSError as error:
            raise PermanentError(
                f'outbox "{self.name}": cannot write to {self.path} ({error.strerror}).'
            ) from error
        return SendResult(external_id=str(file), detail=f"written to {file}")


def _social_name(post: SocialPost) -> str:
    digest = hashlib.sha256(f"{post.target}\n{post.text}".encode()).hexdigest()[:12]
    return f"{_slug(post.target)}-{digest}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "message"
