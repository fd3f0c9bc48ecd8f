"""Telegram's pacing: every request waits for a place in sliding windows per bot and per chat.

Telegram limits a bot to about 30 messages a second overall, 20 a minute in one channel
or group, and one a second in one private chat; over that it answers 429. `Pacer` keeps
the Telegram channel under all three (`Pacing`, each configurable) with one
`syndicate.ratelimit.SlidingWindow` per bot and per chat: a place is held from the moment
a request is let go until one window length after its answer came back. A 429 takes no
place and pauses that chat for the time Telegram asks; a wait longer than
`MAX_INLINE_WAIT` raises `NotYet`, which the channel turns into a `TransientError`. See
`syndicate.channels.telegram` for the whole story. Every wait and pause is measured on the
pacer's `clock` (monotonic seconds), so a test moves time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from syndicate.ratelimit import Clock, SlidingWindow

__all__ = ["MAX_INLINE_WAIT", "NotYet", "Pacer", "Pacing", "Turn"]

log = logging.getLogger(__name__)

# Longer waits for a chat are handed back to the delivery layer as a retry_after.
MAX_INLINE_WAIT = 5.0
# Held on top of each window, so a server that stamps a request late still agrees.
_WINDOW_MARGIN = 0.001


def _window(limit: int, period: float, clock: Clock) -> SlidingWindow:
    return SlidingWindow(limit, period, margin=_WINDOW_MARGIN, clock=clock)


@dataclass(frozen=True)
class Pacing:
    """How many messages the bot may send: Telegram's published limits by default.

    0 turns a limit off (e.g. for a local Bot API server that enforces none).
    """

    max_per_second: int = 30  # the whole bot, all chats together
    max_per_minute_per_group: int = 20  # one channel, supergroup or group
    max_per_second_per_private_chat: int = 1  # one person's chat with the bot

    @property
    def concurrency(self) -> int:
        """Sends in flight at once: up to one second's worth, at most 30."""
        return min(self.max_per_second or 30, 30)

    def chat_window(self, chat_id: str) -> tuple[int, float]:
        """(limit, seconds) for one chat: "@name" and negative ids are channels or groups."""
        if chat_id.startswith(("@", "-")):
            return self.max_per_minute_per_group, 60.0
        return self.max_per_second_per_private_chat, 1.0


class NotYet(Exception):
    """A request may not go now: the chat is paused, or its turn is too far away."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


class Turn:
    """One request's places in the windows; `refused()` when Telegram answered 429."""

    counted = True

    def refused(self) -> None:
        self.counted = False


class Pacer:
    """The windows of one bot (overall and per chat) and the chats paused by a 429.

    Shared by every channel of the same bot (same API and token) with the same limits,
    in one process: Telegram counts per bot, whatever our channel tables are called.
    """

    _shared: ClassVar[dict[tuple[str, str, Pacing, Clock], Pacer]] = {}

    def __init__(self, pacing: Pacing, *, clock: Clock = time.monotonic) -> None:
        self.pacing = pacing
        self._clock = clock
        self._bot = _window(pacing.max_per_second, 1.0, clock)
        self._chats: dict[str, SlidingWindow] = {}
        self._paused: dict[str, float] = {}  # target -> when the pause ends (on the clock)
        self._gone: dict[str, tuple[float, str]] = {}  # target -> (when, why) it went away
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._lines: dict[str, asyncio.Lock] = {}  # one line of sends per target

    @classmethod
    def for_bot(
        cls, api_base_url: str, token: str, pacing: Pacing, *, clock: Clock = time.monotonic
    ) -> Pacer:
        key = (api_base_url, token, pacing, clock)
        if key not in cls._shared:
            cls._shared[key] = cls(pacing, clock=clock)
        return cls._shared[key]

    @contextlib.asynccontextmanager
    async def in_order(self, target: str) -> AsyncIterator[str | None]:
        """Wait for the sends to `target` handed over before this one, then send.

        Yields why `target` went away (the bot was removed) while this send waited in
        line, or None: a send that arrives after that is the delivery layer's to stop.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # asyncio locks belong to the loop that uses them
            self._loop, self._changed, self._lines = loop, asyncio.Event(), {}
        line = self._lines.get(target)
        if line is None:
            line = self._lines[target] = asyncio.Lock()  # FIFO: its waiters queue in order
        entered = self._clock()
        async with line:
            went = self._gone.get(target)
            yield went[1] if went is not None and went[0] > entered else None

    def gone(self, target: str, reason: str) -> None:
        self._gone[target] = (self._clock(), reason)

    def pause(self, target: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused[target] = max(until, self._paused.get(target, 0.0))
        log.warning("Telegram asked to wait %g seconds before sending to %s", seconds, target)

    def _check_pause(self, target: str) -> None:
        left = self._paused.get(target, 0.0) - self._clock()
        if left > 0:
            raise NotYet(f"{target} is paused for {left:.1f} more seconds (flood control)", left)
        self._paused.pop(target, None)

    @contextlib.asynccontextmanager
    async def turn(self, target: str, chat_id: str) -> AsyncIterator[Turn]:
        """Wait for a place for one request to `chat_id`, or raise `NotYet`."""
        self._check_pause(target)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _window(*self.pacing.chat_window(chat_id), self._clock)
        await self._take(chat, MAX_INLINE_WAIT, chat_id)
        turn = Turn()
        try:
            await self._take(self._bot, None, chat_id)
        except BaseException:
            chat.finish(self._clock(), counted=False)
            self._wake()
            raise
        try:
            self._check_pause(target)  # a 429 may have come in while this one waited
        except NotYet:
            turn.refused()
            self._finish(turn, chat)
            raise
        try:
            yield turn
        finally:
            self._finish(turn, chat)

    def _finish(self, turn: Turn, chat: SlidingWindow) -> None:
        now = self._clock()
        chat.finish(now, turn.counted)
        self._bot.finish(now, turn.counted)
        self._wake()

    async def _take(self, window: SlidingWindow, longest: float | None, chat_id: str) -> None:
        """Take a place in `window`, in order; raise `NotYet` rather than wait > `longest`."""
        wait = window.wait(self._clock(), ahead=len(window.queue))
        if wait <= 0 and not window.queue:
            window.take()
            return
        if longest is not None and wait > longest:
            raise NotYet(
                f"{chat_id} has had its {window.limit} messages per {window.period:g} s; "
                f"the next place is {wait:.1f} s away",
                wait,
            )
        ticket = object()
        window.queue.append(ticket)
        try:
            while True:
                timeout: float | None = None
                if window.queue[0] is ticket:
                    timeout = window.wait(self._clock())
                    if timeout <= 0:
                        window.take()
                        return
                await self._sleep(timeout)
        finally:
            window.queue.remove(ticket)
            self._wake()  # the next in line looks again

    async def _sleep(self, seconds: float | None) -> None:
        """Sleep `seconds`, or until a place may have freed up (a request finished)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # an Event belongs to the loop that first waits on it
            self._loop, self._changed, self._lines = loop, asyncio.Event(), {}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
