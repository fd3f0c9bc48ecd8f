"""What editors read, in the CLI and on the dashboard: each source's health, and deliveries
by job, channel and state, with their problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from syndicate.config import Config, format_duration
from syndicate.db.models import Delivery, DeliveryState, PausedTarget, Source, utcnow
from syndicate.db.session import Database
from syndicate.redaction import redact, redact_url
from syndicate.types import DELIVERY_STATES

__all__ = [
    "FanOut",
    "SourceHealth",
    "Waiting",
    "delivery_table",
    "finished_fanouts",
    "paused_targets",
    "recent_problems",
    "source_health",
    "waiting_deliveries",
]

_WHY_CHARS = 160  # of a delivery's last error, as the reason it waits
_ORDER: dict[str, int] = {state: index for index, state in enumerate(DELIVERY_STATES)}


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


@dataclass(frozen=True)
class Waiting:
    """Queued deliveries of one job and channel that wait for the same reason."""

    job: str
    channel: str
    count: int
    why: str
    next_try: datetime  # aware, UTC: the earliest of them
    planned: bool = False  # held on purpose (spacing, quiet hours, local time), not a problem


@dataclass(frozen=True)
class FanOut:
    """An edition's deliveries on one channel, all ended: how many in each state."""

    job: str
    edition_id: int
    channel: str
    counts: dict[str, int]


_UNDONE = (DeliveryState.QUEUED, DeliveryState.CLAIMED, DeliveryState.SENDING)


def waiting_deliveries(
    db: Database, config: Config, *, job: str | None = None, channel: str | None = None
) -> list[Waiting]:
    """Why queued deliveries wait (their server, a retry, a pause, quiet hours, spacing) and
    when they will next be tried."""
    query = select(
        Delivery.job,
        Delivery.channel,
        Delivery.target,
        Delivery.error,
        Delivery.next_attempt_at,
        Delivery.updated_at,
    ).where(Delivery.state == DeliveryState.QUEUED)
    if job:
        query = query.where(Delivery.job == job)
    if channel:
        query = query.where(Delivery.channel == channel)
    with db.session() as session:
        rows = list(session.execute(query))
        paused = {
            (row.channel, row.target): row.reason for row in session.scalars(select(PausedTarget))
        }
    now = utcnow()
    groups: dict[tuple[str, str, str, bool], list[datetime]] = {}
    last_seen: dict[tuple[str, str, str, bool], datetime] = {}
    for job_, channel_, target, error, next_at, updated_at in rows:
        next_at = _aware(next_at)
        pause = paused.get((channel_, target))
        why = _why_waiting(config, job_, error, next_at, now, pause)
        planned = pause is None and not error and next_at > now
        key = (job_, channel_, why, planned)
        groups.setdefault(key, []).append(next_at)
        if updated_at is not None:
            last_seen[key] = max(last_seen.get(key, _aware(updated_at)), _aware(updated_at))
    waits = []
    for key, times in sorted(groups.items()):
        job_, channel_, why, planned = key
        why = _seen_at(why, last_seen.get(key), config)
        waits.append(Waiting(job_, channel_, len(times), why, min(times), planned))
    return waits


_UNREACHABLE = "its server cannot be reached"


def _seen_at(why: str, seen: datetime | None, config: Config) -> str:
    """ "its server was last seen unreachable at 14:05": it may be back since then; the
    next delivery pass will find out."""
    if seen is None or not why.startswith(_UNREACHABLE):
        return why
    local = seen.astimezone(config.site.timezone)
    return f"its server was last seen unreachable at {local:%H:%M}" + why[len(_UNREACHABLE) :]


def _why_waiting(
    config: Config,
    job: str,
    error: str | None,
    next_at: datetime,
    now: datetime,
    paused: str | None,
) -> str:
    if paused is not None:
        return f"paused ({redact(paused)}): `syndicate resume` sends again"
    if error:
        text = redact(" ".join(error.split()))[:_WHY_CHARS]
        if text.startswith("waiting:"):
            return f"{_UNREACHABLE}: {text.removeprefix('waiting:').strip()}"
        return f"to be retried after: {text}"
    if next_at <= now:
        return "due: the next delivery pass sends it"
    settings = config.jobs.get(job)
    if settings is not None and settings.quiet_hours is not None:
        start, end = settings.quiet_hours
        local = now.astimezone(config.site.timezone).time()
        inside = start <= local < end if start < end else local >= start or local < end
        if inside:
            return f"quiet hours ({start:%H:%M}-{end:%H:%M})"
    if settings is not None and settings.spacing is not None:
        return f"spacing: one post every {format_duration(settings.spacing)}"
    if settings is not None and settings.local_time:
        return "the subscriber's own local hour"
    return "scheduled for later"


def finished_fanouts(db: Database, since: datetime, told: set[tuple[int, str]]) -> list[FanOut]:
    """Editions with a delivery on a channel touched since `since` whose deliveries there
    have all ended, and are not in `told` ((edition id, channel) pairs, added to)."""
    touched = (
        select(Delivery.edition_id, Delivery.channel)
        .where(Delivery.updated_at >= since)
        .distinct()
        .subquery()
    )
    query = (
        select(Delivery.job, Delivery.edition_id, Delivery.channel, Delivery.state, func.count())
        .join(
            touched,
            (touched.c.edition_id == Delivery.edition_id) & (touched.c.channel == Delivery.channel),
        )
        .group_by(Delivery.job, Delivery.edition_id, Delivery.channel, Delivery.state)
    )
    with db.session() as session:
        rows = list(session.execute(query))
    editions: dict[tuple[str, int, str], dict[str, int]] = {}
    for job, edition_id, channel, state, count in rows:
        editions.setdefault((job, edition_id, channel), {})[state] = count
    finished = []
    for (job, edition_id, channel), counts in sorted(editions.items()):
        if (edition_id, channel) in told or any(state in counts for state in _UNDONE):
            continue
        told.add((edition_id, channel))
        finished.append(FanOut(job, edition_id, channel, counts))
    return finished


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
