"""The sender: sends claimed rows through their channels and records what happened.

A claimed row counts as in flight only from the moment its own request starts. For a
channel that must not post twice (Telegram) that moment is written to the database
before the request leaves; email is sent again after a crash, so no write is spent on it.
Outcomes are written in small groups and kept until the database has them: while it is
away nothing new is sent, and waiting for it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from syndicate.bounces.record import HARD, SOFT, Bounce
from syndicate.channels.base import (
    Channel,
    ChannelDown,
    ChannelError,
    ChannelRefused,
    PermanentError,
    RecipientRefused,
    TargetGone,
    TransientError,
    UnknownOutcome,
    request_started,
)
from syndicate.config import Config, format_duration
from syndicate.db.insert import insert_new
from syndicate.db.models import (
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
from syndicate.delivery.outage import end_outage, outage_of
from syndicate.delivery.policy import DeliveryPolicy
from syndicate.delivery.queue import HELD, ClaimedRow, record_outcomes
from syndicate.messages import Letterhead, compose
from syndicate.ratelimit import Clock
from syndicate.trickle import quiet_hours_end
from syndicate.types import Message

__all__ = ["FLUSH_ROWS", "FLUSH_SECONDS", "STATUS_FRESH_SECONDS", "Progress", "Sender"]

log = logging.getLogger(__name__)

# Outcomes of resendable channels are written together: this many rows, or this often.
FLUSH_ROWS = 100
FLUSH_SECONDS = 0.5
# A claimed batch's subscriber statuses are read again when older than this, right
# before a send: who leaves or is forgotten during a long send is not mailed. Their age
# is measured on the sender's `status_clock` (monotonic seconds), which a test moves.
STATUS_FRESH_SECONDS = 0.25


class _ClaimLost(Exception):
    """The row is no longer this worker's: its lease ran out while the database was away."""


Progress = Callable[[str, str], None]  # (channel, outcome)


_Person = tuple[str | None, frozenset[str]]  # name, the lists they are active on


class Sender:
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
        *,
        status_clock: Clock = time.monotonic,
    ) -> None:
        self.db, self.config, self.channels, self.letterhead = db, config, channels, letterhead
        self.policy, self.outcomes, self.progress = policy, outcomes, progress
        self.worker = uuid.uuid4().hex[:16]  # each claim's token starts with it
        self.stopping = stopping
        self.in_flight: set[int] = set()  # claimed rows not recorded or released yet
        self._batch_subscribers: set[int] = set()
        self._status_clock = status_clock
        self._people_read_at = 0.0  # when the batch's statuses were read, on status_clock
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

    async def send_batch(self, claimed: Sequence[ClaimedRow]) -> None:
        self.in_flight.update(row.id for row in claimed)
        self.lost.difference_update(row.id for row in claimed)  # ours again: claimed anew
        await self._load_bodies({row.rendering_id for row in claimed})
        await self._load_paused()
        ids = {row.subscriber_id for row in claimed if row.subscriber_id is not None}
        people = await self._load_subscribers(set(ids))
        self._batch_subscribers, self._people_read_at = ids, self._status_clock()
        by_channel: dict[str, list[ClaimedRow]] = {}
        for row in claimed:
            by_channel.setdefault(row.channel, []).append(row)
        await asyncio.gather(
            *(self._send_channel(name, rows, people) for name, rows in by_channel.items())
        )
        await self.flush()

    async def _send_channel(
        self, name: str, rows: list[ClaimedRow], people: dict[int, _Person]
    ) -> None:
        """Send one channel's rows, `channel.concurrency` at a time, oldest first."""
        channel = self.channels[name]
        queue = deque(rows)
        outage = outage_of(channel)
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
        self, channel: Channel, queue: deque[ClaimedRow], people: dict[int, _Person]
    ) -> None:
        outage = outage_of(channel)
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
        row: ClaimedRow,
        queue: deque[ClaimedRow],
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
        self, channel: Channel, row: ClaimedRow, people: dict[int, _Person]
    ) -> bool:
        """Whether the subscriber is still on the list at the moment their copy goes.

        A batch is claimed ahead of its sending, which can take minutes at a slow rate:
        someone who unsubscribes, bounces or is forgotten meanwhile must not be mailed, so
        the batch's statuses are read again (one query) when older than
        STATUS_FRESH_SECONDS.
        """
        if self._status_clock() - self._people_read_at > STATUS_FRESH_SECONDS:
            async with self._people_lock:  # one read for all lanes
                if self._status_clock() - self._people_read_at > STATUS_FRESH_SECONDS:
                    ids: set[int | None] = set(self._batch_subscribers)
                    fresh = await self.db.run_patiently(
                        lambda session: _read_people(session, ids),
                        doing="reading subscribers' statuses",
                    )
                    people.clear()  # a forgotten subscriber is gone from the read
                    people.update(fresh)
                    self._people_read_at = self._status_clock()
        subscriber = row.subscriber_id
        return _still_subscribed(channel, None if subscriber is None else people.get(subscriber))

    def _starter(self, channel: Channel, row: ClaimedRow) -> Callable[[], Awaitable[None]]:
        return lambda: self._start(channel, row)

    async def _start(self, channel: Channel, row: ClaimedRow) -> None:
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
        self, channel: Channel, error: ChannelError, row: ClaimedRow, queue: deque[ClaimedRow]
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
        outage = outage_of(channel)
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
        down_for = end_outage(channel)
        if down_for is not None:
            log.info("channel %s is sending again after %.0f s", channel.name, down_for)

    async def _wait_after(
        self, channel: Channel, row: ClaimedRow, queue: deque[ClaimedRow], error: TransientError
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

    async def _held_by_job(self, row: ClaimedRow) -> bool:
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

    def _held_by_pause(self, channel: Channel, row: ClaimedRow) -> bool:
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

    def _compose(self, channel: Channel, row: ClaimedRow, people: dict[int, _Person]) -> Message:
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

    def _record_error(self, channel: Channel, row: ClaimedRow, error: ChannelError) -> None:
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
        row: ClaimedRow,
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
                        record_outcomes, pending=pending, bounces=bounces, policy=self.policy
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
        self, rows: Sequence[ClaimedRow], until: datetime | TransientError, note: str | None = None
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

    def _count_bounce(self, channel: Channel, row: ClaimedRow, kind: str, detail: str) -> None:
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


def _waiting_with(row: ClaimedRow, rest: Sequence[ClaimedRow], scope: str) -> list[ClaimedRow]:
    """The rows that wait along with `row` after a transient error of this scope."""
    if scope == "channel":
        return list(rest)
    if scope == "target":
        return [other for other in rest if other.target == row.target]
    return []
