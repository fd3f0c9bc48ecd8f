"""Sending queued deliveries: claim, send through the channel, record what happened.

A delivery row moves queued → claimed → sending → sent / failed / unknown (see DESIGN.md).
A worker claims a batch of due rows with a lease; a row counts as in flight only from the
moment its own request starts. For a channel that must not post twice (Telegram) that
moment is written to the database before the request leaves, so after a crash only such
rows become `unknown`, at most one per chat; email is sent again after a crash, so its
claimed and in-flight rows alike go back to the queue and no write is spent on them.

Outcomes are written in small groups and kept until the database has them: while it is
away nothing new is sent, and waiting for it never blocks the event loop. A channel that
cannot reach its server is paused as a whole, with its own growing wait; its rows go back
to the queue and no row counts an attempt that the network never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
import time
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from syndicate.bounces.record import HARD, SOFT, Bounce, record_bounce
from syndicate.channels.base import (
    Channel,
    ChannelDown,
    ChannelError,
    ChannelRefused,
    Message,
    PermanentError,
    RecipientRefused,
    TargetGone,
    TransientError,
    UnknownOutcome,
    request_started,
)
from syndicate.config import Config, DeliverySettings, format_duration
from syndicate.db.insert import insert_new
from syndicate.db.models import (
    Attempt,
    Delivery,
    DeliveryState,
    Edition,
    MailingList,
    PausedTarget,
    Rendering,
    Subscriber,
    SubscriberStatus,
    Subscription,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.messages import Letterhead, compose
from syndicate.trickle import quiet_hours_end

__all__ = ["DeliveryPolicy", "deliver_due", "requeue", "resume"]

log = logging.getLogger(__name__)

# A row a worker holds: claimed (not started yet) or sending (its request started).
HELD = (DeliveryState.CLAIMED, DeliveryState.SENDING)


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


# Outcomes of resendable channels are written together: this many rows, or this often.
FLUSH_ROWS = 100
FLUSH_SECONDS = 0.5
# A claimed batch's subscriber statuses are read again when older than this, right
# before a send: who leaves or is forgotten during a long send is not mailed.
STATUS_FRESH_SECONDS = 0.25

_columns = Delivery.__table__.c
_RECORD_OUTCOME = (
    update(Delivery)
    .where(_columns.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        lease_until=None,
        attempts=_columns.attempts + bindparam("b_counted", type_=_columns.attempts.type),
        updated_at=bindparam("b_now", type_=_columns.updated_at.type),
        sent_at=func.coalesce(
            bindparam("b_sent_at", type_=_columns.sent_at.type), _columns.sent_at
        ),
        external_id=func.coalesce(
            bindparam("b_external_id", type_=_columns.external_id.type), _columns.external_id
        ),
        error=bindparam("b_error", type_=_columns.error.type),
        next_attempt_at=func.coalesce(
            bindparam("b_next", type_=_columns.next_attempt_at.type), _columns.next_attempt_at
        ),
    )
)


@dataclass(frozen=True)
class _Claimed:
    id: int
    job: str
    edition_id: int
    channel: str
    target: str
    item: str
    rendering_id: int
    subscriber_id: int | None
    attempts: int  # answers about this message so far
    created_at: datetime
    claimed_by: str


class _ClaimLost(Exception):
    """The row is no longer this worker's: its lease ran out while the database was away."""


@dataclass
class _Outage:
    """A channel that cannot reach its server: when it tries again, and since when."""

    failures: int = 0
    until: float = 0.0  # time.monotonic() of the next try
    since: float | None = None
    reason: str = ""

    def remaining(self) -> float:
        return max(self.until - time.monotonic(), 0.0)


# Kept per channel object, across delivery passes, for as long as the channel lives.
_outages: weakref.WeakKeyDictionary[Channel, _Outage] = weakref.WeakKeyDictionary()


def _outage(channel: Channel) -> _Outage:
    outage = _outages.get(channel)
    if outage is None:
        outage = _outages[channel] = _Outage()
    return outage


Progress = Callable[[str, str], None]  # (channel, outcome)
_Person = tuple[str | None, frozenset[str]]  # name, the lists they are active on


async def deliver_due(
    db: Database,
    config: Config,
    channels: dict[str, Channel],
    *,
    policy: DeliveryPolicy | None = None,
    wait_for_retries: timedelta = timedelta(0),
    progress: Progress | None = None,
    stopping: asyncio.Event | None = None,
) -> Counter[str]:
    """Send every delivery that is due now; return how many ended in each state.

    With `wait_for_retries`, retries due within that time are waited for and sent too.
    When `stopping` is set, no new batch is claimed: what is in flight finishes.
    """
    policy = policy or DeliveryPolicy.from_settings(config.delivery)
    outcomes: Counter[str] = Counter()
    await _recover(db, channels)
    # Rows put off while their server was down, by this process or an earlier one: a
    # channel this process has not seen down tries them at once, not when the old
    # back-off ends (a fresh `run --once` with the server back sends without waiting).
    unseen_down = [name for name, channel in channels.items() if not _outage(channel).failures]
    if unseen_down:
        await db.run_patiently(
            lambda session: _due_now_if_waiting_for_server(session, unseen_down),
            doing="looking at deliveries waiting for their server",
        )
    letterhead = await db.call_patiently(
        lambda: Letterhead.for_site(db, config), doing="reading the site's signing secret"
    )
    sender = _Sender(db, config, channels, letterhead, policy, outcomes, progress, stopping)
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
                await _recover(db, channels)
                recovered_at = time.monotonic()
            reachable = [name for name, ch in channels.items() if not _outage(ch).remaining()]
            claimed = []
            if reachable:
                claimed = await db.run_patiently(
                    functools.partial(
                        _claim, channels=reachable, policy=policy, token=f"{worker}-{batch}"
                    ),
                    doing="claiming deliveries",
                )
            if claimed:
                await sender.send_batch(claimed)
                continue
            wait = await _next_due_in(db, channels, deadline)
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


class _Sender:
    """Sends claimed rows, channel by channel, and records each outcome as it comes."""

    def __init__(
        self,
        db: Database,
        config: Config,
        channels: dict[str, Channel],
        letterhead: Letterhead,
        policy: DeliveryPolicy,
        outcomes: Counter[str],
        progress: Progress | None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.db, self.config, self.channels, self.letterhead = db, config, channels, letterhead
        self.policy, self.outcomes, self.progress = policy, outcomes, progress
        self.worker = uuid.uuid4().hex[:16]  # each claim's token starts with it
        self.stopping = stopping
        self.in_flight: set[int] = set()  # claimed rows not recorded or released yet
        self._batch_subscribers: set[int] = set()
        self._people_read_at = 0.0  # time.monotonic() of the batch's status read
        self._people_lock = asyncio.Lock()
        self.started: set[int] = set()  # rows whose request started (written, where needed)
        self.lost: set[int] = set()  # rows another worker took over after our lease ran out
        self.waiting: set[int] = set()  # rows given back because their server was down
        self.ended: dict[int, str] = {}  # each row's latest recorded state
        self.leases_until = time.monotonic() + policy.lease.total_seconds()
        self._pending: list[dict[str, Any]] = []  # outcomes not written yet
        self._pending_bounces: list[tuple[Bounce, int | None]] = []  # (bounce, soft limit)
        self._pending_pauses: list[tuple[Channel, str, str]] = []  # (channel, target, why)
        self._flushed_at = time.monotonic()
        self._flushing = asyncio.Lock()
        self._recorded = asyncio.Event()  # clear while outcomes wait for the database
        self._recorded.set()
        self.opened: set[str] = set()  # channels opened in this run (a failure is not kept)
        self.bodies: dict[int, dict[str, Any]] = {}
        self.message_keys: dict[int, str | None] = {}  # rendering → its edition's message key
        self.paused: dict[tuple[str, str], str] = {}

    # -- leases ----------------------------------------------------------------------------

    async def keep_leases(self) -> None:
        """While this worker lives, the rows it holds stay its own."""
        every = self.policy.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self.flush()
                await self._renew_leases()
            except Exception:
                log.exception("could not record deliveries or renew their leases; trying again")

    async def _renew_leases(self) -> None:
        held = list(self.in_flight)
        if not held:
            self.leases_until = time.monotonic() + self.policy.lease.total_seconds()
            return
        asked_at = time.monotonic()
        until = utcnow() + self.policy.lease

        def renew(session: Session) -> set[int]:
            mine = session.scalars(
                update(Delivery)
                .where(
                    Delivery.id.in_(held),
                    Delivery.state.in_(HELD),
                    Delivery.claimed_by.startswith(f"{self.worker}-"),
                )
                .values(lease_until=until)
                .returning(Delivery.id)
            )
            return set(mine)

        mine = await self.db.run_patiently(renew, doing="renewing leases")
        # Rows recorded or given back while the renewal ran are not ours to renew any more.
        taken = (set(held) & self.in_flight) - mine - self.started
        if taken:
            log.warning(
                "%d claimed deliveries were taken over by another worker while the database "
                "was away; this worker leaves them alone",
                len(taken),
            )
            self.lost.update(taken)
            self.in_flight.difference_update(taken)
        self.leases_until = asked_at + self.policy.lease.total_seconds()

    async def _ready_to_send(self) -> None:
        """Nothing new goes out while outcomes wait for the database or a lease may be gone."""
        await self._recorded.wait()
        if time.monotonic() > self.leases_until - 1.0:
            await self._renew_leases()

    # -- sending ---------------------------------------------------------------------------

    async def send_batch(self, claimed: Sequence[_Claimed]) -> None:
        self.in_flight.update(row.id for row in claimed)
        self.lost.difference_update(row.id for row in claimed)  # ours again: claimed anew
        await self._load_bodies({row.rendering_id for row in claimed})
        await self._load_paused()
        ids = {row.subscriber_id for row in claimed if row.subscriber_id is not None}
        people = await self._load_subscribers(set(ids))
        self._batch_subscribers, self._people_read_at = ids, time.monotonic()
        by_channel: dict[str, list[_Claimed]] = {}
        for row in claimed:
            by_channel.setdefault(row.channel, []).append(row)
        await asyncio.gather(
            *(self._send_channel(name, rows, people) for name, rows in by_channel.items())
        )
        await self.flush()

    async def _send_channel(
        self, name: str, rows: list[_Claimed], people: dict[int, _Person]
    ) -> None:
        """Send one channel's rows, `channel.concurrency` at a time, oldest first."""
        channel = self.channels[name]
        queue = deque(rows)
        outage = _outage(channel)
        if await self._open(channel):
            lanes = max(1, min(channel.concurrency, len(rows)))
            await asyncio.gather(*(self._lane(channel, queue, people) for _ in range(lanes)))
        if not queue:
            return
        if outage.since is not None:  # the server is down: the rest wait for it, untouched
            until = utcnow() + timedelta(seconds=outage.remaining())
            await self._release(list(queue), until, note=f"waiting: {outage.reason}")
            self.waiting.update(row.id for row in queue)
        else:  # stopping: what was not started goes back to the queue, untouched
            await self._release(list(queue), utcnow())

    async def _lane(
        self, channel: Channel, queue: deque[_Claimed], people: dict[int, _Person]
    ) -> None:
        outage = _outage(channel)
        while queue and not (self.stopping is not None and self.stopping.is_set()):
            if outage.remaining():
                return  # another lane found the server down
            await self._ready_to_send()
            if not queue:
                return
            row = queue.popleft()
            if row.id in self.lost:
                continue
            await self._send_one(channel, row, queue, people)
            await self._flush_when_due(channel)

    async def _send_one(
        self,
        channel: Channel,
        row: _Claimed,
        queue: deque[_Claimed],
        people: dict[int, _Person],
    ) -> None:
        if await self._held_by_job(row) or self._held_by_pause(channel, row):
            return
        if row.subscriber_id is not None and not await self._still_subscribed_now(
            channel, row, people
        ):
            self._finish(row, DeliveryState.SKIPPED, "skipped", "the subscriber left the list")
            return
        try:
            message = self._compose(channel, row, people)
        except Exception as error:  # nothing left: a bad address or rendering
            problem = PermanentError(f"the message could not be built: {error}")
            self._record_error(channel, row, problem)
            return
        hook = request_started.set(self._starter(channel, row))
        try:
            if not channel.announces_requests:
                await self._start(channel, row)
            result = await channel.send(message)
        except _ClaimLost:
            log.info("delivery %d was taken over by another worker; not sent here", row.id)
            self.in_flight.discard(row.id)
        except (ChannelDown, ChannelRefused) as error:
            await self._channel_down(channel, error, row, queue)
        except TransientError as error:
            await self._wait_after(channel, row, queue, error)
        except ChannelError as error:
            self._record_error(channel, row, error)
        except Exception as error:  # an adapter's bug: the message may have left
            log.exception("channel %s: unexpected error", channel.name)
            self._record_error(channel, row, UnknownOutcome(f"unexpected error: {error!r}"))
        else:
            self._back_up(channel)
            detail = result.detail or "sent"
            self._finish(row, DeliveryState.SENT, "sent", detail, result.external_id)
        finally:
            request_started.reset(hook)

    async def _still_subscribed_now(
        self, channel: Channel, row: _Claimed, people: dict[int, _Person]
    ) -> bool:
        """Whether the subscriber is still on the list at the moment their copy goes.

        A batch is claimed ahead of its sending, which can take minutes at a slow rate:
        someone who unsubscribes, bounces or is forgotten meanwhile must not be mailed, so
        the batch's statuses are read again (one query) when older than
        STATUS_FRESH_SECONDS.
        """
        if time.monotonic() - self._people_read_at > STATUS_FRESH_SECONDS:
            async with self._people_lock:  # one read for all lanes
                if time.monotonic() - self._people_read_at > STATUS_FRESH_SECONDS:
                    ids: set[int | None] = set(self._batch_subscribers)
                    fresh = await self.db.run_patiently(
                        lambda session: _read_people(session, ids),
                        doing="reading subscribers' statuses",
                    )
                    people.clear()  # a forgotten subscriber is gone from the read
                    people.update(fresh)
                    self._people_read_at = time.monotonic()
        subscriber = row.subscriber_id
        return _still_subscribed(channel, None if subscriber is None else people.get(subscriber))

    def _starter(self, channel: Channel, row: _Claimed) -> Callable[[], Awaitable[None]]:
        return lambda: self._start(channel, row)

    async def _start(self, channel: Channel, row: _Claimed) -> None:
        """The row's request leaves now: where a crash must not send it twice, say so first."""
        if row.id in self.started:
            return
        if channel.after_crash != "requeue":
            until = utcnow() + self.policy.lease

            def mark(session: Session) -> bool:
                marked = session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == row.id,
                        Delivery.state.in_(HELD),
                        Delivery.claimed_by == row.claimed_by,
                    )
                    .values(state=DeliveryState.SENDING, lease_until=until, updated_at=utcnow())
                )
                # An UPDATE answers with a CursorResult; SQLAlchemy's types say only Result.
                return bool(marked.rowcount)  # type: ignore[attr-defined]

            if not await self.db.run_patiently(mark, doing="marking a delivery as sending"):
                raise _ClaimLost(row.id)
        self.started.add(row.id)

    async def _channel_down(
        self, channel: Channel, error: ChannelError, row: _Claimed, queue: deque[_Claimed]
    ) -> None:
        """The server cannot be reached: the channel waits, its rows keep their place."""
        rows = [row, *queue]
        queue.clear()
        if isinstance(error, ChannelDown) and error.maybe_sent and channel.after_crash != "requeue":
            self._record_error(channel, row, UnknownOutcome(str(error)))
            rows.remove(row)
        until = self._pause_channel(channel, error)
        await self._release(rows, until, note=f"waiting: {error}")
        self.waiting.update(row.id for row in rows)

    def _pause_channel(self, channel: Channel, error: ChannelError) -> datetime:
        outage = _outage(channel)
        outage.failures += 1
        refused = isinstance(error, ChannelRefused)
        wait = self.policy.outage_wait(outage.failures, refused=refused)
        outage.until, outage.reason = time.monotonic() + wait, str(error)
        first = outage.since is None
        if first:
            outage.since = time.monotonic()
        if refused:
            log.error(
                "channel %s cannot send: %s Nothing is lost: its deliveries wait; trying again "
                "in %.0f s.",
                channel.name,
                str(error).rstrip(".") + ".",
                wait,
            )
        elif first or outage.failures % 10 == 0:
            log.warning(
                "channel %s cannot reach its server: %s Nothing is lost: its deliveries wait "
                "and no attempt is counted; trying again in %.0f s.",
                channel.name,
                str(error).rstrip(".") + ".",
                wait,
            )
        return utcnow() + timedelta(seconds=wait)

    def _back_up(self, channel: Channel) -> None:
        outage = _outages.get(channel)
        if outage is None or outage.since is None:
            return
        log.info(
            "channel %s is sending again after %.0f s",
            channel.name,
            time.monotonic() - outage.since,
        )
        _outages.pop(channel, None)

    async def _wait_after(
        self, channel: Channel, row: _Claimed, queue: deque[_Claimed], error: TransientError
    ) -> None:
        """The network (or the channel's own pacing) asks to wait: what it concerns waits.

        A wait the channel decided alone costs no attempt.
        """
        waiting = _waiting_with(row, list(queue), error.scope)
        for other in waiting:
            queue.remove(other)
        if error.attempted:
            self._record_error(channel, row, error)
            await self._release(waiting, error)
        else:
            await self._release([row, *waiting], error, note=str(error))

    async def _open(self, channel: Channel) -> bool:
        """Whether the channel could be opened; one that cannot is paused as a whole.

        Only an open channel is remembered: after a failure the next batch, once the
        channel's wait is over, tries to open it again.
        """
        if channel.name in self.opened:
            return True
        try:
            await channel.open()
        except ChannelError as error:
            if not isinstance(error, ChannelDown | ChannelRefused):
                # An adapter's open() speaks for the whole channel, whatever it raised.
                error = ChannelDown(str(error))
            self._pause_channel(channel, error)
            return False
        self.opened.add(channel.name)
        return True

    async def _held_by_job(self, row: _Claimed) -> bool:
        """The job's trickle rules: stale rows are dropped, quiet hours are waited out."""
        job = self.config.jobs.get(row.job)
        if job is None:
            return False
        now = utcnow()
        if job.max_delay is not None and now - row.created_at > job.max_delay:
            note = f"waited longer than max_delay ({format_duration(job.max_delay)}): stale"
            self._finish(row, DeliveryState.SKIPPED, "skipped", note, counted=False)
            return True
        if job.quiet_hours is not None:
            end = quiet_hours_end(now, job.quiet_hours, self.config.site.timezone)
            if end is not None:
                await self._release([row], end)
                return True
        return False

    def _held_by_pause(self, channel: Channel, row: _Claimed) -> bool:
        reason = self.paused.get((channel.name, row.target))
        if reason is None:
            return False
        note = f"not sent: {channel.name} is paused for {row.target} ({reason})"
        self._finish(row, DeliveryState.FAILED, "failed", note, counted=False)
        return True

    async def _pause_target(self, channel: Channel, target: str, reason: str) -> None:
        rows = [{"channel": channel.name, "target": target, "reason": reason}]
        await self.db.run_patiently(
            lambda session: insert_new(session, PausedTarget, rows, ("channel", "target")),
            doing="pausing a target",
        )
        self.paused[(channel.name, target)] = reason
        log.error(
            "channel %s: stopped sending to %s: %s. Fix it, then run `syndicate resume %s`.",
            channel.name,
            target,
            reason,
            channel.name,
        )

    async def _load_paused(self) -> None:
        rows = await self.db.run_patiently(
            lambda session: session.execute(
                select(PausedTarget.channel, PausedTarget.target, PausedTarget.reason)
            ).all(),
            doing="reading paused targets",
        )
        self.paused = {(channel, target): reason for channel, target, reason in rows}

    def _compose(self, channel: Channel, row: _Claimed, people: dict[int, _Person]) -> Message:
        name = people[row.subscriber_id][0] if row.subscriber_id is not None else None
        return compose(
            channel,
            self.bodies[row.rendering_id],
            target=row.target,
            item=row.item,
            job=row.job,
            edition_id=row.edition_id,
            letterhead=self.letterhead,
            now=utcnow(),
            subscriber_id=row.subscriber_id,
            subscriber_name=name,
            message_key=self.message_keys.get(row.rendering_id),
            delivery_id=row.id,
        )

    # -- outcomes --------------------------------------------------------------------------

    def _record_error(self, channel: Channel, row: _Claimed, error: ChannelError) -> None:
        """An answer about this message: it counts an attempt."""
        message = str(error) or type(error).__name__
        tries = row.attempts + 1
        if isinstance(error, TransientError):
            if tries >= self.policy.max_attempts:
                note = f"gave up after {tries} attempts: {message}"
                self._finish(row, DeliveryState.FAILED, "failed", note)
                if error.scope == "message":  # the recipient's server kept saying "later"
                    self._count_bounce(channel, row, SOFT, note)
                log.warning(
                    "job %s: gave up on delivery %d via %s to %s after %d attempts: %s",
                    row.job,
                    row.id,
                    channel.name,
                    row.target,
                    tries,
                    message,
                )
                return
            wait = (
                timedelta(seconds=error.retry_after)
                if error.retry_after is not None
                else self.policy.backoff(tries)
            )
            self._finish(row, DeliveryState.QUEUED, "retry", message, retry_at=utcnow() + wait)
        elif isinstance(error, PermanentError):
            self._finish(row, DeliveryState.FAILED, "failed", message)
            if isinstance(error, RecipientRefused):  # a full mailbox, a policy block
                self._count_bounce(channel, row, SOFT, message)
            elif isinstance(error, TargetGone):
                if row.subscriber_id is not None:
                    self._count_bounce(channel, row, HARD, message)
                elif channel.medium != "email":
                    # Later rows to the target fail at once; the pause is written with this.
                    self.paused[(channel.name, row.target)] = message
                    self._pending_pauses.append((channel, row.target, message))
        else:
            self._finish(row, DeliveryState.UNKNOWN, "unknown", message)
        log.warning(
            "job %s: delivery %d via %s to %s: %s",
            row.job,
            row.id,
            channel.name,
            row.target,
            message,
        )

    def _finish(
        self,
        row: _Claimed,
        state: str,
        outcome: str,
        detail: str,
        external_id: str | None = None,
        retry_at: datetime | None = None,
        *,
        counted: bool = True,
    ) -> None:
        """Record where a row ended, with its attempt; written in small groups.

        Outcomes of channels that re-send after a crash (email) are written together, up
        to FLUSH_ROWS rows or FLUSH_SECONDS: a crash before the write re-sends at most
        those, like any row in flight. Other channels' outcomes are written at once.
        `counted`: whether the network answered about this message (an attempt).
        """
        now = utcnow()
        sent = state == DeliveryState.SENT
        self.waiting.discard(row.id)
        self._pending.append(
            {
                "b_id": row.id,
                "b_state": state,
                "b_counted": 1 if counted else 0,
                "b_now": now,
                "b_sent_at": now if sent else None,
                "b_external_id": external_id if sent else None,
                "b_error": None if sent else detail,
                "b_next": retry_at,
                "b_outcome": outcome,
                "b_detail": detail,
            }
        )
        previous = self.ended.get(row.id)
        if previous is not None:
            self.outcomes[previous] -= 1
        self.ended[row.id] = state
        self.outcomes[state] += 1
        if self.progress is not None:
            self.progress(row.channel, state)

    async def _flush_when_due(self, channel: Channel) -> None:
        if (
            channel.after_crash != "requeue"
            or len(self._pending) >= FLUSH_ROWS
            or time.monotonic() - self._flushed_at >= FLUSH_SECONDS
            or self._pending_pauses
            or self._pending_bounces
        ):
            await self.flush()

    async def flush(self) -> None:
        """Write the outcomes waiting to be recorded; while the database is away, wait.

        Outcomes stay in memory until written, however long that takes, and no lane
        starts a new send meanwhile.
        """
        async with self._flushing:
            while self._pending or self._pending_bounces or self._pending_pauses:
                pending = list(self._pending)
                bounces = list(self._pending_bounces)
                pauses = list(self._pending_pauses)
                await self.db.run_patiently(
                    functools.partial(
                        _record, pending=pending, bounces=bounces, policy=self.policy
                    ),
                    doing=f"recording {len(pending)} deliveries",
                    on_outage=self._recorded.clear,
                )
                del self._pending[: len(pending)]
                del self._pending_bounces[: len(bounces)]
                del self._pending_pauses[: len(pauses)]
                self.in_flight.difference_update(p["b_id"] for p in pending)
                self.started.difference_update(p["b_id"] for p in pending)
                for channel, target, reason in pauses:
                    await self._pause_target(channel, target, reason)
            self._flushed_at = time.monotonic()
            self._recorded.set()

    async def _release(
        self, rows: Sequence[_Claimed], until: datetime | TransientError, note: str | None = None
    ) -> None:
        """Give held rows back untried, to go at `until` (or after the wait asked for).

        `note` says why they wait (shown with the row); it costs no attempt.
        """
        if not rows:
            return
        if isinstance(until, TransientError):
            wait = until.retry_after or self.policy.backoff_base.total_seconds()
            until = utcnow() + timedelta(seconds=wait)
        ids = [row.id for row in rows]
        await self.db.run_patiently(
            lambda session: session.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.state.in_(HELD),
                    Delivery.claimed_by.startswith(f"{self.worker}-"),
                )
                .values(
                    state=DeliveryState.QUEUED,
                    lease_until=None,
                    next_attempt_at=until,
                    updated_at=utcnow(),
                    **({"error": note} if note else {}),
                )
            ),
            doing="giving deliveries back to the queue",
            on_outage=self._recorded.clear,
        )
        self.in_flight.difference_update(ids)
        self.started.difference_update(ids)
        if not self._pending:
            self._recorded.set()

    def _count_bounce(self, channel: Channel, row: _Claimed, kind: str, detail: str) -> None:
        if row.subscriber_id is None or channel.medium != "email":
            return
        bounce = Bounce(
            kind,
            "smtp",
            row.subscriber_id,
            channel.list_name,
            delivery_id=row.id,
            edition_id=row.edition_id,
            detail=detail,
        )
        self._pending_bounces.append((bounce, channel.bounce_limit or self.policy.bounces_to_stop))

    # -- reads -----------------------------------------------------------------------------

    async def _load_bodies(self, ids: set[int]) -> None:
        missing = ids - self.bodies.keys()
        if not missing:
            return
        rows = await self.db.run_patiently(
            lambda session: session.execute(
                select(Rendering.id, Rendering.body, Edition.message_key)
                .join(Edition, Edition.id == Rendering.edition_id)
                .where(Rendering.id.in_(missing))
            ).all(),
            doing="reading the messages to send",
        )
        for rendering_id, body, message_key in rows:
            self.bodies[rendering_id] = body
            self.message_keys[rendering_id] = message_key

    async def _load_subscribers(self, ids: set[int | None]) -> dict[int, _Person]:
        if not ids:
            return {}
        return await self.db.run_patiently(
            lambda session: _read_people(session, ids), doing="reading subscribers"
        )

    async def close(self) -> None:
        for name in self.opened:
            try:
                await self.channels[name].close()
            except Exception:
                log.exception("channel %s: error while closing", name)


def _record(
    session: Session,
    pending: list[dict[str, Any]],
    bounces: list[tuple[Bounce, int | None]],
    policy: DeliveryPolicy,
) -> None:
    """Write outcomes, their attempts and the bounces they caused, in one transaction."""
    connection = session.connection()
    if pending:
        connection.execute(_RECORD_OUTCOME, pending)
        attempts = [
            {
                "delivery_id": p["b_id"],
                "at": p["b_now"],
                "outcome": p["b_outcome"],
                "detail": p["b_detail"],
            }
            for p in pending
        ]
        connection.execute(insert(Attempt), attempts)
    for bounce, limit in bounces:
        record_bounce(session, bounce, soft_limit=limit)


def _read_people(session: Session, ids: set[int | None]) -> dict[int, _Person]:
    rows = session.execute(
        select(Subscriber.id, Subscriber.name).where(Subscriber.id.in_(ids))
    ).all()
    lists: dict[int, set[str]] = {}
    for sub_id, list_name in session.execute(
        select(Subscription.subscriber_id, MailingList.name)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id.in_(ids), Subscription.status == SubscriberStatus.ACTIVE)
    ):
        lists.setdefault(sub_id, set()).add(list_name)
    return {sub_id: (name, frozenset(lists.get(sub_id, ()))) for sub_id, name in rows}


def _still_subscribed(channel: Channel, person: _Person | None) -> bool:
    """Whether the subscriber is active and still on the list this channel mails."""
    if person is None:
        return False
    _name, lists = person
    return channel.list_name is None or channel.list_name in lists


def _waiting_with(row: _Claimed, rest: Sequence[_Claimed], scope: str) -> list[_Claimed]:
    """The rows that wait along with `row` after a transient error of this scope."""
    if scope == "channel":
        return list(rest)
    if scope == "target":
        return [other for other in rest if other.target == row.target]
    return []


def _claim(
    session: Session, channels: list[str], policy: DeliveryPolicy, token: str
) -> list[_Claimed]:
    """Mark at most `batch_size` due rows `claimed` with a lease, and return them.

    On PostgreSQL the ids are chosen in a materialized CTE (`LIMIT … FOR UPDATE SKIP
    LOCKED`), then updated by a join: whatever plan the planner picks, the LIMIT is applied
    once, so one claim can never take the whole queue, and rows another worker has
    locked are skipped. The rows are tagged with `token` and read back by it, so a claim
    whose answer was lost with the connection finds its rows again instead of taking more.
    """
    mine = select(*_CLAIMED_COLUMNS).where(
        Delivery.claimed_by == token, Delivery.state == DeliveryState.CLAIMED
    )
    found = session.execute(mine.order_by(Delivery.id)).all()
    if found:  # this claim was made already; its answer was lost
        return [_Claimed(*row) for row in found]
    now = utcnow()
    due = (
        select(Delivery.id)
        .where(
            Delivery.state == DeliveryState.QUEUED,
            Delivery.next_attempt_at <= now,
            Delivery.channel.in_(channels),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(policy.batch_size)
        .with_for_update(skip_locked=True)
    )
    values = {
        "state": DeliveryState.CLAIMED,
        "lease_until": now + policy.lease,
        "updated_at": now,
        "claimed_by": token,
    }
    if session.get_bind().dialect.name == "postgresql":
        chosen = due.cte("due").prefix_with("MATERIALIZED")
        where = [Delivery.id == chosen.c.id]
    else:  # SQLite runs the IN subquery once; one process sends at a time anyway
        where = [Delivery.id.in_(due.scalar_subquery())]
    session.execute(
        update(Delivery).where(*where, Delivery.state == DeliveryState.QUEUED).values(**values)
    )
    return [_Claimed(*row) for row in session.execute(mine.order_by(Delivery.id))]


_CLAIMED_COLUMNS = (
    Delivery.id,
    Delivery.job,
    Delivery.edition_id,
    Delivery.channel,
    Delivery.target,
    Delivery.item,
    Delivery.rendering_id,
    Delivery.subscriber_id,
    Delivery.attempts,
    Delivery.created_at,
    Delivery.claimed_by,
)


async def _next_due_in(
    db: Database, channels: dict[str, Channel], deadline: datetime
) -> float | None:
    """Seconds until a queued row can go (its time came, its channel is up), if before
    `deadline`; None when nothing can go by then."""
    down = {name: _outage(channel).remaining() for name, channel in channels.items()}
    up = [name for name, left in down.items() if not left]
    down = {name: left for name, left in down.items() if left}

    def soonest(session: Session) -> tuple[datetime | None, bool]:
        queued = select(Delivery.next_attempt_at).where(Delivery.state == DeliveryState.QUEUED)
        first = session.scalar(
            queued.where(Delivery.channel.in_(up)).order_by(Delivery.next_attempt_at).limit(1)
        )
        waiting = session.scalar(queued.where(Delivery.channel.in_(down)).limit(1))
        return first, waiting is not None

    first, waiting = await db.run_patiently(soonest, doing="looking for due deliveries")
    now = utcnow()
    candidates = []
    if first is not None:
        candidates.append((first - now).total_seconds())
    if waiting:
        candidates.append(min(down.values()))
    if not candidates:
        return None
    wait = min(candidates)
    if now + timedelta(seconds=wait) > deadline:
        return None
    return max(wait, 0.05)


async def _recover(db: Database, channels: dict[str, Channel]) -> None:
    """Rows held by a worker whose lease ran out: back to the queue, or `unknown`.

    A row's lease runs out only when no live worker renews it, so these rows belong to
    a worker that crashed or lost its database. A `claimed` row was never started: it
    goes back to the queue. A `sending` row may have reached the service: email goes back
    to the queue (the receiving side drops a copy by its Message-ID); a public post
    becomes `unknown`.
    """
    counts = await db.run_patiently(
        lambda session: _recover_rows(session, channels),
        doing="recovering deliveries of a stopped worker",
    )
    _report_recovery(counts)


def _due_now_if_waiting_for_server(session: Session, names: list[str]) -> None:
    now = utcnow()
    session.execute(
        update(Delivery)
        .where(
            Delivery.state == DeliveryState.QUEUED,
            Delivery.channel.in_(names),
            Delivery.error.like("waiting:%"),
            Delivery.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )


def _recover_rows(session: Session, channels: dict[str, Channel]) -> Counter[str]:
    now = utcnow()
    stale = session.scalars(
        select(Delivery)
        .where(Delivery.state.in_(HELD), Delivery.lease_until < now)
        .with_for_update(skip_locked=True)
    ).all()
    counts: Counter[str] = Counter()
    for row in stale:
        channel = channels.get(row.channel)
        if row.state == DeliveryState.CLAIMED:
            row.state = DeliveryState.QUEUED
            row.next_attempt_at = min(row.next_attempt_at, now)
            counts["unstarted"] += 1
        elif channel is not None and channel.after_crash == "requeue":
            row.state, row.next_attempt_at = DeliveryState.QUEUED, now
            note = "the sender stopped while sending; queued again"
            session.add(Attempt(delivery_id=row.id, at=now, outcome="interrupted", detail=note))
            row.error = note
            counts["requeued"] += 1
        else:
            row.state = DeliveryState.UNKNOWN
            note = "the sender stopped while sending; it may or may not have arrived"
            session.add(Attempt(delivery_id=row.id, at=now, outcome="interrupted", detail=note))
            row.error = note
            counts["unknown"] += 1
        row.lease_until, row.updated_at = None, now
    return counts


def _report_recovery(counts: Counter[str]) -> None:
    if counts["unstarted"]:
        log.warning(
            "%d deliveries held by a stopped worker went back to the queue (none of its "
            "Telegram posts had started; emails sent in its last half second go again, "
            "with the same Message-ID)",
            counts["unstarted"],
        )
    if counts["requeued"] or counts["unknown"]:
        log.warning(
            "a stopped worker was sending %d deliveries: %d queued again (email), %d marked "
            "unknown (they may have arrived; `syndicate retry` sends them again)",
            counts["requeued"] + counts["unknown"],
            counts["requeued"],
            counts["unknown"],
        )


def requeue(db: Database, state: str, *, job: str | None = None, channel: str | None = None) -> int:
    """Put failed or unknown deliveries back in the queue, as an editor asked."""
    query = update(Delivery).where(Delivery.state == state)
    if job:
        query = query.where(Delivery.job == job)
    if channel:
        query = query.where(Delivery.channel == channel)
    with db.session() as session:
        result = session.execute(
            query.values(
                state=DeliveryState.QUEUED,
                next_attempt_at=utcnow(),
                attempts=0,
                updated_at=utcnow(),
            )
        )
        # An UPDATE answers with a CursorResult; SQLAlchemy's types say only Result.
        return result.rowcount or 0  # type: ignore[attr-defined]


def resume(db: Database, channel: str, target: str | None = None) -> list[str]:
    """Send to paused targets again (e.g. after the bot was added back); returns them."""
    with db.session() as session:
        query = select(PausedTarget).where(PausedTarget.channel == channel)
        if target is not None:
            query = query.where(PausedTarget.target == target)
        rows = list(session.scalars(query))
        for row in rows:
            session.delete(row)
        return [row.target for row in rows]
