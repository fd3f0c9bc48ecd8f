"""One delivery pass: claim due rows batch after batch, send them, until none is due."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections import Counter
from datetime import timedelta

from syndicate.channels.base import Channel
from syndicate.config import Config
from syndicate.db.models import utcnow
from syndicate.db.session import Database
from syndicate.delivery.outage import outage_of
from syndicate.delivery.policy import DeliveryPolicy
from syndicate.delivery.queue import claim, due_now_if_waiting_for_server, next_due_in, recover
from syndicate.delivery.sender import Progress, Sender
from syndicate.messages import Letterhead
from syndicate.ratelimit import Clock

__all__ = ["deliver_due"]


async def deliver_due(
    db: Database,
    config: Config,
    channels: dict[str, Channel],
    *,
    policy: DeliveryPolicy | None = None,
    wait_for_retries: timedelta = timedelta(0),
    progress: Progress | None = None,
    stopping: asyncio.Event | None = None,
    status_clock: Clock = time.monotonic,
) -> Counter[str]:
    """Send every delivery that is due now; return how many ended in each state.

    With `wait_for_retries`, retries due within that time are waited for and sent too.
    When `stopping` is set, no new batch is claimed: what is in flight finishes.
    `status_clock` measures how old a batch's subscriber statuses are (a test moves it).
    """
    policy = policy or DeliveryPolicy.from_settings(config.delivery)
    outcomes: Counter[str] = Counter()
    await recover(db, channels)
    # Rows put off while their server was down, by this process or an earlier one: a
    # channel this process has not seen down tries them at once, not when the old
    # back-off ends (a fresh `run --once` with the server back sends without waiting).
    unseen_down = [name for name, channel in channels.items() if not outage_of(channel).failures]
    if unseen_down:
        await db.run_patiently(
            lambda session: due_now_if_waiting_for_server(session, unseen_down),
            doing="looking at deliveries waiting for their server",
        )
    letterhead = await db.call_patiently(
        lambda: Letterhead.for_site(db, config), doing="reading the site's signing secret"
    )
    sender = Sender(
        db,
        config,
        channels,
        letterhead,
        policy,
        outcomes,
        progress,
        stopping,
        status_clock=status_clock,
    )
    worker = sender.worker
    heartbeat = asyncio.create_task(sender.keep_leases())
    deadline = utcnow() + wait_for_retries
    recovered_at = time.monotonic()
    try:
        for batch in itertools.count():
            if stopping is not None and stopping.is_set():
                break
            if time.monotonic() - recovered_at > policy.lease.total_seconds() / 2:
                # Another worker may have died: its rows are ours once their lease ran out.
                await recover(db, channels)
                recovered_at = time.monotonic()
            reachable = [name for name, ch in channels.items() if not outage_of(ch).remaining()]
            claimed = []
            if reachable:
                claimed = await db.run_patiently(
                    functools.partial(
                        claim, channels=reachable, policy=policy, token=f"{worker}-{batch}"
                    ),
                    doing="claiming deliveries",
                )
            if claimed:
                await sender.send_batch(claimed)
                continue
            wait = await next_due_in(db, channels, deadline)
            if wait is None:
                break
            await _sleep_unless(stopping, wait)
    finally:
        heartbeat.cancel()
        await sender.flush()
        await sender.close()
    # Each row counted once, in the state it ended in: a row retried three times is one.
    outcomes.clear()
    outcomes.update(state for row_id, state in sender.ended.items() if row_id not in sender.waiting)
    if sender.waiting:  # still queued: their server was down (the log says which)
        outcomes["waiting for their server"] = len(sender.waiting)
    return outcomes


async def _sleep_unless(stopping: asyncio.Event | None, seconds: float) -> None:
    if stopping is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
