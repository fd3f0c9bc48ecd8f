"""What the dashboard reads: source health, recent editions, delivery counts, problems.

Plain queries over the tables, plus the one write an editor makes from a row: requeueing
a single failed or unknown delivery.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update

from syndicate.db.models import (
    Delivery,
    DeliveryState,
    Edition,
    MailingList,
    Subscriber,
    Subscription,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.report import SourceHealth, source_health

__all__ = [
    "DailyCounts",
    "Problem",
    "SourceHealth",
    "SubscriberRow",
    "daily_counts",
    "delivery_counts",
    "problem_deliveries",
    "recent_editions",
    "requeue_delivery",
    "search_subscribers",
    "source_health",
]


@dataclass(frozen=True)
class Problem:
    id: int
    job: str
    channel: str
    target: str
    state: str
    attempts: int
    error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class SubscriberRow:
    id: int
    email: str
    name: str | None
    status: str
    lists: tuple[str, ...]


DailyCounts = list[tuple[date, Counter[str]]]


def recent_editions(db: Database, jobs: list[str], per_job: int = 5) -> dict[str, list[Edition]]:
    with db.sessions() as session:
        return {
            job: list(
                session.scalars(
                    select(Edition)
                    .where(Edition.job == job)
                    .order_by(Edition.id.desc())
                    .limit(per_job)
                )
            )
            for job in jobs
        }


def delivery_counts(db: Database) -> Counter[str]:
    with db.sessions() as session:
        rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
        return Counter({state: count for state, count in rows})


def daily_counts(db: Database, days: int = 14, now: datetime | None = None) -> DailyCounts:
    """Deliveries by the day (UTC) they last changed, and their state, for `days` days."""
    today = (now or utcnow()).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time()).replace(tzinfo=(now or utcnow()).tzinfo)
    day = func.date(Delivery.updated_at)
    query = (
        select(day, Delivery.state, func.count())
        .where(Delivery.updated_at >= since)
        .group_by(day, Delivery.state)
    )
    by_day: dict[date, Counter[str]] = defaultdict(Counter)
    with db.sessions() as session:
        for when, state, count in session.execute(query):
            when = when if isinstance(when, date) else date.fromisoformat(str(when)[:10])
            by_day[when][state] += count
    return [(first + timedelta(days=n), by_day[first + timedelta(days=n)]) for n in range(days)]


def problem_deliveries(db: Database, limit: int = 50) -> list[Problem]:
    """The latest failed and unknown deliveries, newest first."""
    query = (
        select(Delivery)
        .where(Delivery.state.in_((DeliveryState.FAILED, DeliveryState.UNKNOWN)))
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    with db.sessions() as session:
        return [
            Problem(
                row.id,
                row.job,
                row.channel,
                row.target,
                row.state,
                row.attempts,
                row.error,
                row.updated_at,
            )
            for row in session.scalars(query)
        ]


def requeue_delivery(db: Database, delivery_id: int) -> bool:
    """Queue one failed or unknown delivery again; False when it is in another state."""
    now = utcnow()
    with db.session() as session:
        result = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.state.in_((DeliveryState.FAILED, DeliveryState.UNKNOWN)),
            )
            .values(state=DeliveryState.QUEUED, next_attempt_at=now, attempts=0, updated_at=now)
        )
        # An UPDATE answers with a CursorResult; SQLAlchemy's types say only Result.
        return bool(result.rowcount)  # type: ignore[attr-defined]


def search_subscribers(db: Database, text: str, limit: int = 100) -> list[SubscriberRow]:
    """Subscribers whose address or name contains `text` (all of them, up to `limit`)."""
    query = select(Subscriber).order_by(Subscriber.email_key).limit(limit)
    needle = text.strip().lower()
    if needle:
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Subscriber.email_key).like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
            )
        )
    with db.sessions() as session:
        subscribers = list(session.scalars(query))
        lists: dict[int, list[str]] = defaultdict(list)
        if subscribers:
            rows = session.execute(
                select(Subscription.subscriber_id, MailingList.name, Subscription.status)
                .join(MailingList, MailingList.id == Subscription.list_id)
                .where(Subscription.subscriber_id.in_([s.id for s in subscribers]))
            )
            for subscriber_id, name, status in rows:
                lists[subscriber_id].append(f"{name}: {status}")
        return [
            SubscriberRow(s.id, s.email, s.name, _status(lists[s.id]), tuple(sorted(lists[s.id])))
            for s in subscribers
        ]


def _status(lists: list[str]) -> str:
    """One word when every list agrees, else "mixed"; "-" when on no list."""
    statuses = {entry.rpartition(": ")[2] for entry in lists}
    return statuses.pop() if len(statuses) == 1 else ("mixed" if statuses else "-")
