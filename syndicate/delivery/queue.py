"""The delivery queue in the database: claiming due rows, recording outcomes, recovering
the rows of a stopped worker, and an editor's requeue and resume.

A worker claims at most `batch_size` due rows with a lease (`FOR UPDATE SKIP LOCKED` on
PostgreSQL); a row it holds is `claimed` until its request starts, then `sending`. A row
whose lease ran out belongs to a stopped worker and is recovered by the channel's policy.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from syndicate.bounces.record import Bounce, record_bounce
from syndicate.channels.base import Channel
from syndicate.db.models import (
    Attempt,
    Delivery,
    DeliveryState,
    PausedTarget,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.delivery.outage import outage_of
from syndicate.delivery.policy import DeliveryPolicy

__all__ = [
    "HELD",
    "RECORD_OUTCOME",
    "ClaimedRow",
    "claim",
    "due_now_if_waiting_for_server",
    "next_due_in",
    "record_outcomes",
    "recover",
    "requeue",
    "resume",
]

log = logging.getLogger(__name__)

# A row a worker holds: claimed (not started yet) or sending (its request started).
HELD = (DeliveryState.CLAIMED, DeliveryState.SENDING)


_columns = Delivery.__table__.c


RECORD_OUTCOME = (
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
class ClaimedRow:
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


def record_outcomes(
    session: Session,
    pending: list[dict[str, Any]],
    bounces: list[tuple[Bounce, int | None]],
    policy: DeliveryPolicy,
) -> None:
    """Write outcomes, their attempts and the bounces they caused, in one transaction."""
    connection = session.connection()
    if pending:
        connection.execute(RECORD_OUTCOME, pending)
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


def claim(
    session: Session, channels: list[str], policy: DeliveryPolicy, token: str
) -> list[ClaimedRow]:
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
        return [ClaimedRow(*row) for row in found]
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
    return [ClaimedRow(*row) for row in session.execute(mine.order_by(Delivery.id))]


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


async def next_due_in(
    db: Database, channels: dict[str, Channel], deadline: datetime
) -> float | None:
    """Seconds until a queued row can go (its time came, its channel is up), if before
    `deadline`; None when nothing can go by then."""
    down = {name: outage_of(channel).remaining() for name, channel in channels.items()}
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


async def recover(db: Database, channels: dict[str, Channel]) -> None:
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


def due_now_if_waiting_for_server(session: Session, names: list[str]) -> None:
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
