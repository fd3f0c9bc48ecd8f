"""What editors read, in the CLI and on the dashboard: each source's health, and deliveries
by job, channel and state, with their problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from syndicate.config import Config
from syndicate.db.models import Delivery, DeliveryState, PausedTarget, Source
from syndicate.db.session import Database
from syndicate.redaction import redact, redact_url

__all__ = [
    "SourceHealth",
    "delivery_table",
    "paused_targets",
    "recent_problems",
    "source_health",
]

_ORDER = {state: index for index, state in enumerate(DeliveryState.ALL)}


@dataclass(frozen=True)
class SourceHealth:
    """What a source's last polls said; its address and error shown without secrets."""

    name: str
    url: str
    last_fetched_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures_in_a_row: int
    next_poll_at: datetime | None

    @property
    def failing(self) -> bool:
        return self.failures_in_a_row > 0


def source_health(db: Database, config: Config) -> list[SourceHealth]:
    """Every configured source, fetched or not yet, with what its last poll said."""
    with db.sessions() as session:
        stored = {row.name: row for row in session.scalars(select(Source))}
    health = []
    for source in config.sources:
        row = stored.get(source.name)
        error = row.last_error if row else None
        health.append(
            SourceHealth(
                source.name,
                redact_url(source.url),
                row.last_fetched_at if row else None,
                row.last_success_at if row else None,
                redact(error) if error else None,  # older rows may hold one unredacted
                row.consecutive_failures if row else 0,
                row.next_poll_at if row else None,
            )
        )
    return health


def delivery_table(
    db: Database, *, job: str | None = None, channel: str | None = None
) -> list[tuple[str, str, str, int]]:
    """(job, channel, state, count) rows, in the order a delivery moves through states."""
    query = select(Delivery.job, Delivery.channel, Delivery.state, func.count()).group_by(
        Delivery.job, Delivery.channel, Delivery.state
    )
    if job:
        query = query.where(Delivery.job == job)
    if channel:
        query = query.where(Delivery.channel == channel)
    with db.session() as session:
        rows = list(session.execute(query))
    return sorted(rows, key=lambda row: (row[0], row[1], _ORDER.get(row[2], 99)))


def recent_problems(
    db: Database, *, job: str | None = None, channel: str | None = None, limit: int = 10
) -> list[tuple[int, str, str, str, str, str]]:
    """The latest failed or unknown deliveries, with what went wrong."""
    query = (
        select(
            Delivery.id,
            Delivery.job,
            Delivery.channel,
            Delivery.target,
            Delivery.state,
            Delivery.error,
        )
        .where(Delivery.state.in_((DeliveryState.FAILED, DeliveryState.UNKNOWN)))
        .order_by(Delivery.updated_at.desc())
        .limit(limit)
    )
    if job:
        query = query.where(Delivery.job == job)
    if channel:
        query = query.where(Delivery.channel == channel)
    with db.session() as session:
        return [
            (id_, job_, channel_, target, state, (error or "")[:120])
            for id_, job_, channel_, target, state, error in session.execute(query)
        ]


def paused_targets(db: Database, *, channel: str | None = None) -> list[tuple[str, str, str, str]]:
    """(channel, target, since, reason) of every chat a channel stopped sending to."""
    query = select(PausedTarget).order_by(PausedTarget.paused_at)
    if channel:
        query = query.where(PausedTarget.channel == channel)
    with db.session() as session:
        return [
            (row.channel, row.target, row.paused_at.strftime("%Y-%m-%d %H:%M UTC"), row.reason)
            for row in session.scalars(query)
        ]
