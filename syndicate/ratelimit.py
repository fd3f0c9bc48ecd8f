"""Rate limits, with one clock: how many events a key, a channel or a bot may have in a window.

Every limiter takes `clock` (monotonic seconds by default), so a test moves time instead
of sleeping. Two shapes of one idea, a sliding window:

- `SlidingWindow` counts requests exactly: at most `limit` in any `period` seconds, each
  counted from the moment its answer came back, and a request still in flight holds its
  place. The email channel keeps one per limit (`max_per_second`, `max_per_hour`);
  Telegram's pacing one per bot and one per chat.
- `RateLimiter` counts events per key, for many keys in bounded memory, approximately
  (the "sliding window counter"): the web pages' limits per client and per account, and
  the server's limit on repeated log lines.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["Clock", "RateLimiter", "SlidingWindow"]

# Monotonic seconds: `time.monotonic`, or a test's own clock.
Clock = Callable[[], float]


class SlidingWindow:
    """At most `limit` requests in any `period` seconds; 0 is no limit.

    A request holds its place from `take` until `period` (plus `margin`) after `finish`,
    or only until `finish` when it did not count (the server refused it with a 429).
    `queue` keeps the requests waiting for a place, in order, for callers that line them
    up. Not thread-safe by itself: a caller shared between threads holds its own lock.
    """

    def __init__(
        self, limit: int, period: float, *, margin: float = 0.0, clock: Clock = time.monotonic
    ) -> None:
        self.limit, self.period, self.margin = limit, period, margin
        self.clock = clock
        self.in_flight = 0
        self.expiries: deque[float] = deque()  # when finished places free up
        self.queue: deque[object] = deque()

    def wait(self, now: float | None = None, ahead: int = 0, *, poll: float | None = None) -> float:
        """Seconds until a place is free for the request after `ahead` queued ones.

        When only requests still in flight hold the places, no answer says yet when one
        frees: `poll` seconds (at most a period) when given, to look again then; else a
        whole period per `limit` of them, the earliest it can be.
        """
        if not self.limit:
            return 0.0
        now = self.clock() if now is None else now
        while self.expiries and self.expiries[0] <= now:
            self.expiries.popleft()
        excess = self.in_flight + len(self.expiries) + ahead - self.limit
        if excess < 0:
            return 0.0
        if excess < len(self.expiries):
            return self.expiries[excess] - now
        if poll is not None:
            return min(self.period, poll)
        return ((excess - len(self.expiries)) // self.limit + 1) * self.period

    def take(self) -> None:
        self.in_flight += 1

    def finish(self, now: float | None = None, counted: bool = True) -> None:
        self.in_flight -= 1
        if counted and self.limit:
            now = self.clock() if now is None else now
            self.expiries.append(now + self.period + self.margin)


class RateLimiter:
    """At most about `limit` events per key within `window` seconds, in bounded memory.

    Each key keeps two counters, this window's and the last one's; the last one counts
    in proportion to how much of it still lies within `window` of now (the "sliding window
    counter"). Every call is O(1), whatever the number of keys; past `max_keys` the key
    seen least recently is forgotten first, so an attacker who cycles keys costs memory
    that stays under a fixed bound and only ever frees room, never a lock-out of his own.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = 50_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._clock = clock
        # key → (start of its current window, count in it, count in the window before)
        self._counts: OrderedDict[str, tuple[float, int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one event for `key`; False (and nothing counted) once it is over the limit."""
        with self._lock:
            start, current, previous = self._current(key, now)
            over = self._estimate(start, current, previous, now) >= self.limit
            # A refused key is stored too: it stays recent, so it is the last forgotten.
            self._store(key, (start, current if over else current + 1, previous))
            return not over

    def blocked(self, key: str, now: float | None = None) -> bool:
        """Is `key` over the limit now? Counts nothing."""
        with self._lock:
            start, current, previous = self._current(key, now)
            return self._estimate(start, current, previous, now) >= self.limit

    def add(self, key: str, now: float | None = None) -> None:
        """Count one event for `key`, over the limit or not (a failed login, say)."""
        with self._lock:
            start, current, previous = self._current(key, now)
            self._store(key, (start, current + 1, previous))

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Whole seconds until `key` is under the limit again (1 at least), for Retry-After."""
        with self._lock:
            now = self._clock() if now is None else now
            start, current, previous = self._current(key, now)
        if current >= self.limit:
            # This window's count alone is too many: it must become the last window's,
            # and enough of that must slide out.
            wait = start + self.window - now + self.window * (1 - self.limit / max(current, 1))
        elif previous:
            wait = start + self.window * (1 - (self.limit - current) / previous) - now
        else:
            wait = 0.0
        return max(1, math.floor(wait) + 1)  # strictly past the moment it reaches the limit

    def __len__(self) -> int:
        return len(self._counts)

    def _current(self, key: str, now: float | None) -> tuple[float, int, int]:
        now = self._clock() if now is None else now
        start, current, previous = self._counts.get(key, (now, 0, 0))
        if now - start >= 2 * self.window:
            return now, 0, 0
        if now - start >= self.window:
            return start + self.window, 0, current
        return start, current, previous

    def _estimate(self, start: float, current: int, previous: int, now: float | None) -> float:
        now = self._clock() if now is None else now
        overlap = max(0.0, 1.0 - (now - start) / self.window)
        return current + previous * overlap

    def _store(self, key: str, value: tuple[float, int, int]) -> None:
        self._counts[key] = value
        self._counts.move_to_end(key)
        if len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)
