"""A channel that cannot reach its server: paused as a whole, with its own growing wait.

Kept per channel object, across delivery passes, for as long as the channel lives; a
paused channel's rows stay queued and cost no attempt.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

from syndicate.channels.base import Channel

__all__ = ["Outage", "end_outage", "outage_of"]


@dataclass
class Outage:
    """A channel that cannot reach its server: when it tries again, and since when."""

    failures: int = 0
    until: float = 0.0  # time.monotonic() of the next try
    since: float | None = None
    reason: str = ""

    def remaining(self) -> float:
        return max(self.until - time.monotonic(), 0.0)


# Kept per channel object, across delivery passes, for as long as the channel lives.
_outages: weakref.WeakKeyDictionary[Channel, Outage] = weakref.WeakKeyDictionary()


def outage_of(channel: Channel) -> Outage:
    outage = _outages.get(channel)
    if outage is None:
        outage = _outages[channel] = Outage()
    return outage


def end_outage(channel: Channel) -> float | None:
    """The channel reached its server again: forget its outage and return how many seconds
    it was down; None when it was not down (nothing is forgotten then)."""
    found = _outages.get(channel)
    if found is None or found.since is None:
        return None
    del _outages[channel]
    return time.monotonic() - found.since
