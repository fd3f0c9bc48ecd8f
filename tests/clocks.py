"""A monotonic clock a test moves forward instead of sleeping.

`SkippingClock` runs with real time (a wait on it still ends) and jumps ahead when told,
so a pause, a window or a freshness limit passes at once. Pass it wherever the code takes
a `clock` (`syndicate.ratelimit.Clock`).
"""

from __future__ import annotations

import time


class SkippingClock:
    """`time.monotonic()` plus every `skip` so far."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def skip(self, seconds: float) -> None:
        self.skipped += seconds
