"""The retry policy of deliveries: the `[delivery]` settings and the waits they give."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import timedelta

from syndicate.config import DeliverySettings

__all__ = ["DeliveryPolicy"]


@dataclass(frozen=True)
class DeliveryPolicy(DeliverySettings):
    """The `[delivery]` settings, and what the delivery does with them."""

    bounces_to_stop: int = 3  # soft bounces (within 30 days) before an address is bounced

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> DeliveryPolicy:
        return cls(**asdict(settings))

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter: a random wait up to base·2^(n-1), capped."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(attempts - 1, 0)))
        return ceiling * random.random()

    def outage_wait(self, failures: int, *, refused: bool) -> float:
        """Seconds a channel waits after its `failures`-th failed try to reach its server.

        Doubling from the base to the cap, with a little jitter so workers do not probe
        together; a server that refuses the channel itself (login, certificate) waits
        the cap at once: only an editor can fix that.
        """
        base, cap = (
            self.outage_backoff_base.total_seconds(),
            self.outage_backoff_cap.total_seconds(),
        )
        wait = cap if refused else min(cap, base * 2 ** max(failures - 1, 0))
        return max(wait * random.uniform(0.85, 1.0), 0.1)
