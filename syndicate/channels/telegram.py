"""The Telegram channel: posts a `SocialPost` to channels and groups through the Bot API.

How Telegram's answers map onto the channel error tree (see `syndicate.channels.base`)::

    RetryAfter (429, flood control)          TransientError(retry_after=seconds,
                                             scope="target"); that chat is paused
    TimedOut from a connect or pool timeout  ChannelDown      (the request never left)
    NetworkError from httpx.ConnectError     ChannelDown      (the request never left)
    TimedOut / NetworkError otherwise, 5xx   UnknownOutcome   (the message may be posted)
    BadRequest (400)                         PermanentError with Telegram's description
    Forbidden (403)                          TargetGone       (bot removed or blocked)
    InvalidToken (401, 404)                  ChannelRefused
    ChatMigrated                             sent once more to the new chat id

Telegram is at-most-once: a second copy in a public channel is worse than a missing one,
so nothing here retries on its own and every doubt becomes `UnknownOutcome`.

Pacing. Telegram limits a bot to about 30 messages a second overall, 20 a minute in one
channel or group, and one a second in one private chat; over that it answers 429. The
channel keeps under all three (`Pacing`, each configurable) so it never provokes a 429:
every request waits for a place in sliding windows kept per bot and per chat. A place is
held from the moment a request is let go until one window length after its answer came
back — Telegram saw the request somewhere in between, so it can never count more
requests in its window than the channel did. A 429 answer takes no place (Telegram did
not take the message) and pauses that chat for the time Telegram asks: a send to it
before then raises the same `TransientError(scope="target")` without a request. A wait
longer than `MAX_INLINE_WAIT` is not waited out in place: the send raises
`TransientError(scope="target", retry_after=...)`, so the delivery layer holds back only
that chat's messages and keeps the others going (`concurrency` sends at once).

Sends to one chat go one at a time, in the order they were handed over, so posts reach a
channel in order; when the bot turns out to be removed from a chat (403), the sends that
were already waiting for it raise `TargetGone` without a request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import warnings
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from telegram import Bot, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from syndicate.channels.base import (
    Channel,
    ChannelDown,
    ChannelRefused,
    EditionView,
    Message,
    PermanentError,
    PostView,
    SendResult,
    SocialPost,
    TargetGone,
    TransientError,
    UnknownOutcome,
    request_starts,
)
from syndicate.channels.http import never_left
from syndicate.channels.telegram_chats import read_chat_ids
from syndicate.channels.telegram_pacing import NotYet, Pacer, Pacing
from syndicate.config import ConfigTable
from syndicate.ratelimit import Clock
from syndicate.render.telegram import render_telegram_digest, render_telegram_post

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["DEFAULT_API_BASE_URL", "LINK_PREVIEW_SIZES", "Pacing", "TelegramChannel"]

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_TIMEOUT = 10.0
LINK_PREVIEW_SIZES = ("auto", "small", "large")
# Set by each Bot API call in the task that made it, so concurrent sends do not mix.
_last_description: ContextVar[str | None] = ContextVar("telegram_description", default=None)
_LOGGERS_THAT_SHOW_URLS = ("httpx", "telegram.Bot")
# The shape @BotFather's tokens have; lenient on length, so test bots and local Bot API
# servers with short tokens work, strict enough to catch a pasted chat id or a typo.
_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{3,}")
# Telegram's complaints about the photo itself, as opposed to the caption or the chat.
_PHOTO_PROBLEMS = (
    "file identifier",
    "remote file",
    "http url",
    "url content",
    "web page content",
    "url host",
    "image_process_failed",
    "photo_",
    "wrong padding",
    "file must be non-empty",
    "not enough rights to send photos",
)


class TelegramChannel(Channel):
    """Posts to one or more Telegram chats as a bot, in HTML parse mode."""

    type = "telegram"
    medium = "telegram"
    after_crash = "unknown"  # a second copy in a public channel is worse than a gap
    announces_requests = True  # a post waiting for its place in the pacing is not in flight

    def __init__(
        self,
        name: str,
        token: str,
        chat_ids: tuple[str, ...],
        *,
        api_base_url: str = DEFAULT_API_BASE_URL,
        message_thread_id: int | None = None,
        link_preview: bool = True,
        link_preview_size: str = "auto",
        link_preview_above_text: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        pacing: Pacing | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(name)
        if link_preview_size not in LINK_PREVIEW_SIZES:
            raise ValueError(f"link_preview_size must be one of {LINK_PREVIEW_SIZES}")
        self._token = token
        self._chat_ids = chat_ids
        self.api_base_url = api_base_url
        self.message_thread_id = message_thread_id
        self.link_preview = link_preview
        self.link_preview_size = link_preview_size
        self.link_preview_above_text = link_preview_above_text
        self.timeout = timeout
        self.pacing = pacing or Pacing()
        # Enough sends at once that other chats keep going while one waits its turn.
        self.concurrency = self.pacing.concurrency
        # The pacing's windows and pauses run on `clock`: a test moves it instead of sleeping.
        self._pacer = Pacer.for_bot(api_base_url, token, self.pacing, clock=clock)
        self._bot: Bot | None = None
        self._migrated: dict[str, str] = {}
        self._hide_token = _HideToken(token)

    def __repr__(self) -> str:  # never show the token
        return f"TelegramChannel(name={self.name!r}, chat_ids={self._chat_ids!r})"

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> TelegramChannel:
        token = table.text("token")
        if not _TOKEN.fullmatch(token):
            table.fail(
                "token",
                'this is not a bot token of the form "123456:ABC-DEF..." as @BotFather gives it',
            )
        chat_ids = read_chat_ids(table)
        channel = cls(
            name,
            token,
            chat_ids,
            api_base_url=table.url("api_base_url", ("http", "https"), DEFAULT_API_BASE_URL),
            message_thread_id=table.integer("message_thread_id", None, minimum=1),
            link_preview=table.boolean("link_preview", True),
            link_preview_size=table.choice("link_preview_size", LINK_PREVIEW_SIZES, "auto"),
            link_preview_above_text=table.boolean("link_preview_above_text", False),
            timeout=float(table.integer("timeout", int(DEFAULT_TIMEOUT), minimum=1)),
            pacing=Pacing(
                max_per_second=table.integer("max_per_second", 30),
                max_per_minute_per_group=table.integer("max_per_minute_per_group", 20),
                max_per_second_per_private_chat=table.integer("max_per_second_per_private_chat", 1),
            ),
        )
        table.done()
        return channel

    def targets(self) -> tuple[str, ...]:
        return self._chat_ids

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost:
        return render_telegram_post(post, target="", env=env, locale=locale, timezone=timezone)

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost]:
        return render_telegram_digest(edition, target="", env=env, locale=locale, timezone=timezone)

    @property
    def base_file_url(self) -> str:
        """The file download URL next to `api_base_url` (…/bot → …/file/bot)."""
        if self.api_base_url.endswith("bot"):
            return self.api_base_url.removesuffix("bot") + "file/bot"
        return self.api_base_url

    async def open(self) -> None:
        if self._bot is not None:
            return
        for name in _LOGGERS_THAT_SHOW_URLS:
            logging.getLogger(name).addFilter(self._hide_token)
        bot = Bot(
            self._token,
            base_url=self.api_base_url,
            base_file_url=self.base_file_url,
            request=self._request(),
            get_updates_request=self._request(),
        )
        try:
            await bot.initialize()
        except InvalidToken:
            await bot.shutdown()
            # from None: PTB's own message quotes the token.
            raise ChannelRefused(
                f'channel "{self.name}": Telegram refused the bot token (Unauthorized).'
            ) from None
        except TelegramError as error:
            await bot.shutdown()
            raise ChannelDown(
                f'channel "{self.name}": cannot reach the Telegram Bot API ({error}).'
            ) from error
        self._bot = bot
        log.debug("channel %s: logged in as @%s", self.name, bot.username)

    async def close(self) -> None:
        if self._bot is not None:
            bot, self._bot = self._bot, None
            await bot.shutdown()  # not bot.close(): that is the Bot API's "close" method
        for name in _LOGGERS_THAT_SHOW_URLS:
            logging.getLogger(name).removeFilter(self._hide_token)

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, SocialPost):
            raise PermanentError(
                f'channel "{self.name}": a Telegram channel sends social posts, not email.'
            )
        await self.open()
        # One message at a time per chat, in the order they were handed over: posts reach
        # a channel in order, and one refusal is known before the next message leaves.
        async with self._pacer.in_order(message.target) as gone:
            if gone is not None:
                raise TargetGone(
                    f'channel "{self.name}": not sent: {message.target} was paused while '
                    f"this message waited ({gone})"
                )
            try:
                return await self._send_in_turn(message)
            except TargetGone as error:
                self._pacer.gone(message.target, str(error))
                raise

    async def _send_in_turn(self, message: SocialPost) -> SendResult:
        known_id = self._migrated.get(message.target)
        notes: list[str] = []
        if message.photo is None:
            message_id = await self._deliver(message, "text")
        else:
            try:
                message_id = await self._deliver(message, "photo")
            except _PhotoRefused as refusal:
                message_id = await self._deliver(message, "text")
                notes.append(f"sent as text: Telegram refused the photo ({refusal})")
        new_id = self._migrated.get(message.target)
        if new_id != known_id:
            notes.append(f"chat migrated to {new_id}")
        return SendResult(str(message_id), "; ".join(notes))

    # -- one attempt, with the chat migration followed once --------------------------------

    async def _deliver(self, post: SocialPost, form: str) -> int:
        chat_id = self._migrated.get(post.target, post.target)
        try:
            return await self._call(post, form, chat_id)
        except ChatMigrated as migration:
            new_id = str(migration.new_chat_id)
            self._migrated[post.target] = new_id
            log.warning("channel %s: chat %s migrated to %s", self.name, chat_id, new_id)
        try:
            return await self._call(post, form, new_id)
        except ChatMigrated as again:
            raise PermanentError(
                f'channel "{self.name}": chat {chat_id} migrated twice '
                f"(to {new_id}, then to {again.new_chat_id})."
            ) from again

    async def _call(self, post: SocialPost, form: str, chat_id: str) -> int:
        """Send once, in turn, and return Telegram's message_id, or raise a channel error."""
        try:
            async with self._pacer.turn(post.target, chat_id) as turn:
                try:
                    await request_starts()  # its turn came: from now on it is in flight
                except BaseException:
                    turn.refused()
                    raise
                try:
                    return await self._request_once(post, form, chat_id)
                except RetryAfter as error:
                    turn.refused()  # Telegram did not take it: it holds no place
                    self._pacer.pause(post.target, _retry_seconds(error))
                    raise
        except NotYet as later:
            raise TransientError(
                f'channel "{self.name}": {later.reason}; not sent yet.',
                retry_after=later.seconds,
                scope="target",
                attempted=False,
            ) from None
        except ChatMigrated:
            raise
        except TelegramError as error:
            if form == "photo" and isinstance(error, BadRequest) and _is_photo_problem(error):
                raise _PhotoRefused(_describe(error)) from error
            raise self._translate(error, chat_id) from error

    async def _request_once(self, post: SocialPost, form: str, chat_id: str) -> int:
        assert self._bot is not None
        thread = post.message_thread_id or self.message_thread_id
        if form == "photo" and post.photo is not None:  # "photo" is asked only with one
            sent = await self._bot.send_photo(
                chat_id=chat_id,
                photo=post.photo,
                caption=post.text,
                parse_mode=_bot_parse_mode(post),
                message_thread_id=thread,
            )
        else:
            text = (post.fallback_text or post.text) if post.photo else post.text
            sent = await self._bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=_bot_parse_mode(post),
                link_preview_options=self._preview(post),
                message_thread_id=thread,
            )
        return sent.message_id

    def _preview(self, post: SocialPost) -> LinkPreviewOptions:
        if not (self.link_preview and post.link_preview):
            return LinkPreviewOptions(is_disabled=True)
        # None leaves a choice to Telegram, and PTB leaves it out of the request.
        return LinkPreviewOptions(
            url=post.link or None,
            prefer_small_media=True if self.link_preview_size == "small" else None,
            prefer_large_media=True if self.link_preview_size == "large" else None,
            show_above_text=True if self.link_preview_above_text else None,
        )

    def _translate(self, error: TelegramError, chat_id: str) -> Exception:
        where = f'channel "{self.name}"'
        if isinstance(error, RetryAfter):
            seconds = _retry_seconds(error)
            return TransientError(
                f"{where}: Telegram asks to wait {seconds:g} seconds before sending to "
                f"{chat_id} again (flood control).",
                retry_after=seconds,
                scope="target",
            )
        if isinstance(error, BadRequest):  # a NetworkError subclass: test it first
            return PermanentError(
                f"{where}: Telegram refused the message to {chat_id} ({_describe(error)})."
            )
        if isinstance(error, Forbidden):
            return TargetGone(
                f"{where}: the bot was removed from {chat_id} or blocked ({_describe(error)})."
            )
        if isinstance(error, InvalidToken):
            return ChannelRefused(f"{where}: Telegram refused the bot token (Unauthorized).")
        if isinstance(error, NetworkError) and never_left(error):
            return ChannelDown(f"{where}: cannot reach the Telegram Bot API ({error}).")
        if isinstance(error, TimedOut):
            return UnknownOutcome(
                f"{where}: Telegram did not answer in {self.timeout:g} seconds; "
                f"the message to {chat_id} may have been posted."
            )
        return UnknownOutcome(
            f"{where}: the message to {chat_id} may have been posted, but the answer was "
            f"lost ({error})."
        )

    def _request(self) -> HTTPXRequest:
        # Every phase bounded; httpx's transport does not retry (retries=0 by default).
        return _DescribedRequest(
            connection_pool_size=max(8, self.concurrency),
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            write_timeout=self.timeout,
            pool_timeout=self.timeout,
            media_write_timeout=self.timeout,
        )


class _DescribedRequest(HTTPXRequest):
    """Keeps Telegram's error description as written; PTB's exceptions re-capitalize it."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        _last_description.set(None)
        code, payload = await super().do_request(*args, **kwargs)
        if code >= 400:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                _last_description.set(str(json.loads(payload)["description"]))
        return code, payload


class _PhotoRefused(Exception):
    """sendPhoto was refused because of the photo: nothing was posted."""


def _bot_parse_mode(post: SocialPost) -> str | None:
    """The Bot API's parse_mode for `post`: none for plain text, which Telegram shows as
    it is (it knows no mode called "plain")."""
    return None if post.parse_mode == "plain" else post.parse_mode


def _describe(error: TelegramError) -> str:
    """Telegram's description of a refusal, without the "Bad Request: " prefix."""
    description = _last_description.get() or error.message
    return description.removeprefix("Bad Request: ")


def _is_photo_problem(error: BadRequest) -> bool:
    text = error.message.lower()
    return any(problem in text for problem in _PHOTO_PROBLEMS)


def _retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int will become a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


class _HideToken(logging.Filter):
    """Replaces the bot token in log records: httpx logs every request URL at INFO."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, "<token>")
            record.args = None
        return True
