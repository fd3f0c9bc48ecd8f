"""What editors read about deliveries: counts by job, channel and state, and problems."""

from __future__ import annotations

from sqlalchemy import func, select

from syndicate.db.models import Delivery, DeliveryState, PausedTarget
from syndicate.db.session import Database

__all__ = ["delivery_table", "paused_targets", "recent_problems"]

_ORDER = {state: index for index, state in enumerate(DeliveryState.ALL)}


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
