"""Progress for long commands: a live line on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Counts steps and shows them on standard error, at most a few times a second."""

    def __init__(self, label: str, total: int | None = None, *, stream=None) -> None:
        self.label, self.total, self.count = label, total, 0
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._shown_at = 0.0
        self._started = time.monotonic()

    def step(self, *_: object) -> None:
        self.update(self.count + 1)

    def update(self, count: int) -> None:
        self.count = count
        now = time.monotonic()
        if self.live and now - self._shown_at >= 0.2:
            self._shown_at = now
            self.stream.write(f"\r{self._line()}")
            self.stream.flush()
        elif not self.live and now - self._shown_at >= 10:
            # In a log file, a line every ten seconds says "still working" without noise.
            if now - self._started >= 10:
                self.stream.write(f"{self._line()}\n")
            self._shown_at = now

    def done(self) -> None:
        if self.live and self.count:
            self.stream.write(f"\r{self._line()} done.\n")
            self.stream.flush()

    def _line(self) -> str:
        of = f"/{self.total}" if self.total else ""
        return f"{self.label}: {self.count}{of}"
