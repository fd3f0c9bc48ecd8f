"""Sending queued deliveries: claim, send through the channel, record what happened.

A delivery row moves queued → sending → sent / failed / unknown (see DESIGN.md). The row
is marked `sending`, with a lease, and committed before the channel is called, and the
outcome is committed right after, one recipient at a time: a crash loses at most what was
in flight, and what a channel confirmed is never sent again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from syndicate.channels.base import (
    Channel,
    ChannelError,
    Message,
    PermanentError,
    TargetGone,
    TransientError,
    UnknownOutcome,
)
from syndicate.config import Config, DeliverySettings, format_duration
from syndicate.db.insert import insert_new
from syndicate.db.models import (
    Attempt,
    Delivery,
    DeliveryState,
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

__all__ = ["DeliveryPolicy", "deliver_due", "recover_expired_leases", "requeue", "resume"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy(DeliverySettings):
    """The `[delivery]` settings, and what the delivery does with them."""

    bounces_to_stop: int = 3  # hard failures before an address is marked bounced

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> DeliveryPolicy:
        return cls(**asdict(settings))

    def backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter: a random wait up to base·2^(n-1), capped."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(attempts - 1, 0)))
        return ceiling * random.random()


# Outcomes of resendable channels are written together: this many rows, or this often.
FLUSH_ROWS = 100
FLUSH_SECONDS = 0.5

_columns = Delivery.__table__.c
_RECORD_OUTCOME = (
    update(Delivery)
    .where(_columns.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        lease_until=None,
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
    attempts: int
    created_at: datetime


Progress = Callable[[str, str], None]  # (channel, outcome)
_Person = tuple[str, str | None, frozenset[str]]  # status, name, the lists they are on


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
    recover_expired_leases(db, channels)
    letterhead = Letterhead.for_site(db, config)
    sender = _Sender(db, config, channels, letterhead, policy, outcomes, progress, stopping)
    heartbeat = asyncio.create_task(sender.keep_leases())
    worker = uuid.uuid4().hex[:16]
    deadline = utcnow() + wait_for_retries
    recovered_at = time.monotonic()
    try:
        for batch in itertools.count():
            if stopping is not None and stopping.is_set():
                break
            if time.monotonic() - recovered_at > policy.lease.total_seconds() / 2:
                # Another worker may have died: its rows are ours once their lease ran out.
                recover_expired_leases(db, channels)
                recovered_at = time.monotonic()
            claimed = _claim(db, list(channels), policy, f"{worker}-{batch}")
            if claimed:
                await sender.send_batch(claimed)
                continue
            wait = _next_due_in(db, list(channels), deadline)
            if wait is None:
                break
            await asyncio.sleep(wait)
    finally:
        heartbeat.cancel()
        sender.flush()
        await sender.close()
    return outcomes


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
        self.stopping = stopping
        self.in_flight: set[int] = set()  # claimed rows not recorded or released yet
        self._pending: list[dict[str, Any]] = []  # outcomes not written yet
        self._flushed_at = time.monotonic()
        self.opened: dict[str, ChannelError | None] = {}
        self.bodies: dict[int, dict[str, Any]] = {}
        self.paused: dict[tuple[str, str], str] = {}

    async def keep_leases(self) -> None:
        """While this worker lives, the rows it holds stay its own."""
        every = self.policy.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                self.flush()
            except Exception:
                log.exception("could not record delivery outcomes; trying again shortly")
            held = list(self.in_flight)
            if not held:
                continue
            until = utcnow() + self.policy.lease
            try:
                self.db.run(
                    lambda session, held=held, until=until: session.execute(
                        update(Delivery)
                        .where(Delivery.id.in_(held), Delivery.state == DeliveryState.SENDING)
                        .values(lease_until=until)
                    ),
                    doing="renewing leases",
                )
            except Exception:
                log.exception("could not renew the leases of %d deliveries", len(held))

    async def send_batch(self, claimed: Sequence[_Claimed]) -> None:
        self.in_flight.update(row.id for row in claimed)
        self._load_bodies({row.rendering_id for row in claimed})
        self._load_paused()
        people = self._load_subscribers({row.subscriber_id for row in claimed} - {None})
        by_channel: dict[str, list[_Claimed]] = {}
        for row in claimed:
            by_channel.setdefault(row.channel, []).append(row)
        await asyncio.gather(
            *(self._send_channel(name, rows, people) for name, rows in by_channel.items())
        )
        self.flush()

    async def _send_channel(
        self, name: str, rows: list[_Claimed], people: dict[int, _Person]
    ) -> None:
        """Send one channel's rows, `channel.concurrency` at a time, oldest first."""
        channel = self.channels[name]
        problem = await self._open(channel)
        queue = deque(rows)
        lanes = max(1, min(channel.concurrency, len(rows)))
        await asyncio.gather(*(self._lane(channel, queue, people, problem) for _ in range(lanes)))
        if queue:  # stopping: what was not started goes back to the queue, untouched
            self._release(list(queue), utcnow())

    async def _lane(
        self,
        channel: Channel,
        queue: deque[_Claimed],
        people: dict[int, _Person],
        problem: ChannelError | None,
    ) -> None:
        while queue and not (self.stopping is not None and self.stopping.is_set()):
            row = queue.popleft()
            if problem is not None:
                self._record_error(channel, row, problem)
                continue
            if self._held_by_job(row) or self._held_by_pause(channel, row):
                continue
            if row.subscriber_id is not None and not _still_subscribed(
                channel, people.get(row.subscriber_id)
            ):
                self._finish(row, DeliveryState.SKIPPED, "skipped", "the subscriber left the list")
                continue
            try:
                message = self._compose(channel, row, people)
            except Exception as error:  # nothing left: a bad address or rendering
                problem_text = f"the message could not be built: {error}"
                self._record_error(channel, row, PermanentError(problem_text))
                continue
            try:
                result = await channel.send(message)
            except TransientError as error:
                # The network (or the channel's own pacing) asks us to wait: what it
                # concerns waits; a wait the channel decided alone costs no attempt.
                waiting = _waiting_with(row, list(queue), error.scope)
                for other in waiting:
                    queue.remove(other)
                if error.attempted:
                    self._record_error(channel, row, error)
                    self._release(waiting, error)
                else:
                    self._release([row, *waiting], error, note=str(error))
            except ChannelError as error:
                self._record_error(channel, row, error)
            except Exception as error:  # an adapter's bug: the message may have left
                log.exception("channel %s: unexpected error", channel.name)
                self._record_error(channel, row, UnknownOutcome(f"unexpected error: {error!r}"))
            else:
                detail = result.detail or "sent"
                self._finish(row, DeliveryState.SENT, "sent", detail, result.external_id)

    async def _open(self, channel: Channel) -> ChannelError | None:
        if channel.name not in self.opened:
            try:
                await channel.open()
                self.opened[channel.name] = None
            except ChannelError as error:
                log.error("channel %s: %s", channel.name, error)
                self.opened[channel.name] = error
        return self.opened[channel.name]

    def _held_by_job(self, row: _Claimed) -> bool:
        """The job's trickle rules: stale rows are dropped, quiet hours are waited out."""
        job = self.config.jobs.get(row.job)
        if job is None:
            return False
        now = utcnow()
        if job.max_delay is not None and now - row.created_at > job.max_delay:
            note = f"waited longer than max_delay ({format_duration(job.max_delay)}): stale"
            self._finish(row, DeliveryState.SKIPPED, "skipped", note)
            return True
        if job.quiet_hours is not None:
            end = quiet_hours_end(now, job.quiet_hours, self.config.site.timezone)
            if end is not None:
                self._release([row], end)
                return True
        return False

    def _held_by_pause(self, channel: Channel, row: _Claimed) -> bool:
        reason = self.paused.get((channel.name, row.target))
        if reason is None:
            return False
        note = f"not sent: {channel.name} is paused for {row.target} ({reason})"
        self._finish(row, DeliveryState.FAILED, "failed", note)
        return True

    def _pause(self, channel: Channel, target: str, reason: str) -> None:
        with self.db.session() as session:
            rows = [{"channel": channel.name, "target": target, "reason": reason}]
            insert_new(session, PausedTarget, rows, ("channel", "target"))
        self.paused[(channel.name, target)] = reason
        log.error(
            "channel %s: stopped sending to %s: %s. Fix it, then run `syndicate resume %s`.",
            channel.name,
            target,
            reason,
            channel.name,
        )

    def _load_paused(self) -> None:
        with self.db.session() as session:
            rows = session.execute(
                select(PausedTarget.channel, PausedTarget.target, PausedTarget.reason)
            )
            self.paused = {(channel, target): reason for channel, target, reason in rows}

    def _compose(self, channel: Channel, row: _Claimed, people: dict[int, _Person]) -> Message:
        name = people[row.subscriber_id][1] if row.subscriber_id is not None else None
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
        )

    def _record_error(self, channel: Channel, row: _Claimed, error: ChannelError) -> None:
        message = str(error) or type(error).__name__
        if isinstance(error, TransientError):
            if row.attempts >= self.policy.max_attempts:
                note = f"gave up after {row.attempts} attempts: {message}"
                self._finish(row, DeliveryState.FAILED, "failed", note)
                return
            wait = (
                timedelta(seconds=error.retry_after)
                if error.retry_after is not None
                else self.policy.backoff(row.attempts)
            )
            self._finish(row, DeliveryState.QUEUED, "retry", message, retry_at=utcnow() + wait)
        elif isinstance(error, PermanentError):
            self._finish(row, DeliveryState.FAILED, "failed", message)
            if isinstance(error, TargetGone):
                if row.subscriber_id is not None:
                    self._count_bounce(row.subscriber_id, channel.bounce_limit)
                elif channel.medium != "email":
                    self._pause(channel, row.target, message)
        else:
            self._finish(row, DeliveryState.UNKNOWN, "unknown", message)
        log.warning("delivery %d via %s to %s: %s", row.id, channel.name, row.target, message)

    def _finish(
        self,
        row: _Claimed,
        state: str,
        outcome: str,
        detail: str,
        external_id: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record where a row ended, with its attempt; written in small groups.

        Outcomes of channels that re-send after a crash (email) are written together, up
        to FLUSH_ROWS rows or FLUSH_SECONDS: a crash before the write re-sends at most
        those, like any row in flight. Other channels' outcomes are written at once.
        """
        now = utcnow()
        sent = state == DeliveryState.SENT
        self._pending.append(
            {
                "b_id": row.id,
                "b_state": state,
                "b_now": now,
                "b_sent_at": now if sent else None,
                "b_external_id": external_id if sent else None,
                "b_error": None if sent else detail,
                "b_next": retry_at,
                "b_outcome": outcome,
                "b_detail": detail,
            }
        )
        self.outcomes[state] += 1
        if self.progress is not None:
            self.progress(row.channel, state)
        channel = self.channels.get(row.channel)
        if (
            channel is None
            or channel.after_crash != "requeue"
            or len(self._pending) >= FLUSH_ROWS
            or time.monotonic() - self._flushed_at >= FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Write the outcomes waiting to be recorded, in one transaction."""
        pending, self._pending = self._pending, []
        self._flushed_at = time.monotonic()
        if not pending:
            return
        attempts = [
            {
                "delivery_id": p["b_id"],
                "at": p["b_now"],
                "outcome": p["b_outcome"],
                "detail": p["b_detail"],
            }
            for p in pending
        ]

        def record(session: Session) -> None:
            connection = session.connection()
            connection.execute(_RECORD_OUTCOME, pending)
            connection.execute(insert(Attempt), attempts)

        self.db.run(record, doing=f"recording {len(pending)} deliveries")
        self.in_flight.difference_update(p["b_id"] for p in pending)

    def _release(
        self, rows: Sequence[_Claimed], until: datetime | TransientError, note: str | None = None
    ) -> None:
        """Give claimed rows back untried, to go at `until` (or after the wait asked for).

        `note` says why they wait (shown with the row); it costs no attempt.
        """
        if not rows:
            return
        if isinstance(until, TransientError):
            wait = until.retry_after or self.policy.backoff_base.total_seconds()
            until = utcnow() + timedelta(seconds=wait)
        ids = [row.id for row in rows]
        self.db.run(
            lambda session: session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.SENDING)
                .values(
                    state=DeliveryState.QUEUED,
                    lease_until=None,
                    attempts=Delivery.attempts - 1,
                    next_attempt_at=until,
                    **({"error": note} if note else {}),
                )
            ),
            doing="giving deliveries back to the queue",
        )
        self.in_flight.difference_update(ids)

    def _count_bounce(self, subscriber_id: int, limit: int | None) -> None:
        with self.db.session() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None:
                return
            subscriber.hard_bounces += 1
            if subscriber.hard_bounces >= (limit or self.policy.bounces_to_stop):
                subscriber.status = SubscriberStatus.BOUNCED
                subscriber.updated_at = utcnow()

    def _load_bodies(self, ids: set[int]) -> None:
        missing = ids - self.bodies.keys()
        if not missing:
            return
        with self.db.session() as session:
            rows = session.execute(
                select(Rendering.id, Rendering.body).where(Rendering.id.in_(missing))
            )
            self.bodies.update(dict(rows.all()))

    def _load_subscribers(self, ids: set[int | None]) -> dict[int, _Person]:
        if not ids:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                select(Subscriber.id, Subscriber.status, Subscriber.name).where(
                    Subscriber.id.in_(ids)
                )
            ).all()
            lists: dict[int, set[str]] = {}
            for sub_id, list_name in session.execute(
                select(Subscription.subscriber_id, MailingList.name)
                .join(MailingList, MailingList.id == Subscription.list_id)
                .where(Subscription.subscriber_id.in_(ids))
            ):
                lists.setdefault(sub_id, set()).add(list_name)
        return {
            sub_id: (status, name, frozenset(lists.get(sub_id, ())))
            for sub_id, status, name in rows
        }

    async def close(self) -> None:
        for name, problem in self.opened.items():
            if problem is None:
                try:
                    await self.channels[name].close()
                except Exception:
                    log.exception("channel %s: error while closing", name)


def _still_subscribed(channel: Channel, person: _Person | None) -> bool:
    """Whether the subscriber is active and still on the list this channel mails."""
    if person is None:
        return False
    status, _name, lists = person
    return status == SubscriberStatus.ACTIVE and (
        channel.list_name is None or channel.list_name in lists
    )


def _waiting_with(row: _Claimed, rest: Sequence[_Claimed], scope: str) -> list[_Claimed]:
    """The rows that wait along with `row` after a transient error of this scope."""
    if scope == "channel":
        return list(rest)
    if scope == "target":
        return [other for other in rest if other.target == row.target]
    return []


def _claim(db: Database, channels: list[str], policy: DeliveryPolicy, token: str) -> list[_Claimed]:
    """Mark a batch of due rows `sending` with a lease, and return them.

    PostgreSQL skips rows another worker has locked; on both databases the UPDATE only
    takes rows still queued, so two claimers never get the same row. The rows are tagged
    with `token` and read back by it, so a claim whose answer was lost with the connection
    is found again when the claim is retried.
    """

    def claim(session: Session) -> list[_Claimed]:
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
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()), Delivery.state == DeliveryState.QUEUED)
            .values(
                state=DeliveryState.SENDING,
                lease_until=now + policy.lease,
                attempts=Delivery.attempts + 1,
                updated_at=now,
                claimed_by=token,
            )
        )
        rows = session.execute(
            select(
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
            )
            .where(Delivery.claimed_by == token, Delivery.state == DeliveryState.SENDING)
            .order_by(Delivery.id)
        )
        return [_Claimed(*row) for row in rows]

    return db.run(claim, doing="claiming deliveries")


def _next_due_in(db: Database, channels: list[str], deadline: datetime) -> float | None:
    """Seconds until the next queued row is due, if that is before `deadline`."""
    soonest = db.run(
        lambda session: session.scalar(
            select(Delivery.next_attempt_at)
            .where(Delivery.state == DeliveryState.QUEUED, Delivery.channel.in_(channels))
            .order_by(Delivery.next_attempt_at)
            .limit(1)
        ),
        doing="looking for due deliveries",
    )
    if soonest is None or soonest > deadline:
        return None
    return max((soonest - utcnow()).total_seconds(), 0.05)


def recover_expired_leases(db: Database, channels: dict[str, Channel]) -> int:
    """Rows left `sending` by a stopped worker: re-queue or mark unknown, by channel.

    A row's lease runs out only when no live worker renews it, so these rows belong to
    a worker that crashed or lost its database. Email goes back to the queue (the
    receiving side drops a copy by its Message-ID); a public post becomes `unknown`.
    """

    def recover(session: Session) -> int:
        now = utcnow()
        stale = session.scalars(
            select(Delivery)
            .where(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now)
            .with_for_update(skip_locked=True)
        ).all()
        for row in stale:
            channel = channels.get(row.channel)
            if channel is not None and channel.after_crash == "requeue":
                row.state, row.next_attempt_at = DeliveryState.QUEUED, now
                note = "the sender stopped while sending; queued again"
            else:
                row.state = DeliveryState.UNKNOWN
                note = "the sender stopped while sending; it may or may not have arrived"
            row.error, row.lease_until, row.updated_at = note, None, now
            session.add(Attempt(delivery_id=row.id, at=now, outcome="interrupted", detail=note))
        return len(stale)

    count = db.run(recover, doing="recovering deliveries of a stopped worker")
    if count:
        log.warning("recovered %d deliveries left in flight by a stopped sender", count)
    return count


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
