"""The review clock: makes held editions when their review time comes, releases them at
their slot.

`review_tick` runs on every tick of the scheduler. For each job with `review = true` it
makes the edition of the next slot `review_before` ahead of it (held, nothing queued),
catches up a slot the clock missed, and releases the editions whose slot has come: the
approved ones, and the held ones of a job whose `if_not_approved = "send"` (with
`"hold"`, it notes once on the edition that the slot passed). An editor's acts are in
`syndicate.review`; the clock acts through the same conditional updates, so an editor's
change made meanwhile wins over it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicate.channels.base import Channel
from syndicate.config import Config, Job
from syndicate.db.models import Edition, EditionChange, EditionState, JobRun
from syndicate.db.session import Database
from syndicate.jobs import JobOutcome, run_job
from syndicate.messages import Letterhead
from syndicate.review import CLOCK, ReviewError, record_change, release_edition
from syndicate.slots import MISFIRE_GRACE, last_fire
from syndicate.types import OPEN_EDITION_STATES

__all__ = ["ReviewTick", "review_tick"]

log = logging.getLogger(__name__)


@dataclass
class ReviewTick:
    """What one look of the clock did: editions made and held, editions released."""

    held: list[JobOutcome] = field(default_factory=list)
    released: list[tuple[int, int]] = field(default_factory=list)  # edition id, deliveries


def review_tick(
    db: Database, config: Config, channels: dict[str, Channel], now: datetime | None = None
) -> ReviewTick:
    """Make the editions whose review time has come; release those whose slot has come."""
    now = now or datetime.now(UTC)
    tick = ReviewTick()
    jobs = [job for job in config.jobs.values() if job.enabled and job.review]
    for job in jobs:
        for slot in _slots_to_prepare(db, job, config, now):
            outcome = run_job(db, config, channels, job, scheduled_for=slot)
            if outcome.held:
                tick.held.append(outcome)
    for job in jobs:
        tick.released += _release_due(db, config, channels, job, now)
    return tick


def _slots_to_prepare(db: Database, job: Job, config: Config, now: datetime) -> list[datetime]:
    """The next slot when its review time has come, and the slot just passed (within the
    misfire grace) of a job that ran before it, as the clock catches up a missed slot; a
    slot already made is found taken by `run_job`."""
    trigger = job.trigger(config.site.timezone)
    slots = []
    passed = last_fire(trigger, now, MISFIRE_GRACE)
    if passed is not None and _ran_before(db, job, passed.astimezone(UTC)):
        slots.append(passed.astimezone(UTC))
    upcoming = trigger.get_next_fire_time(None, now)
    if upcoming is not None and upcoming.astimezone(UTC) - job.review_before <= now:
        slots.append(upcoming.astimezone(UTC))
    return [slot for slot in slots if slot - job.review_before <= now]


def _ran_before(db: Database, job: Job, slot: datetime) -> bool:
    """Whether the job has a run before `slot` (a job that never ran missed nothing)."""
    with db.sessions() as session:
        return (
            session.scalar(
                select(JobRun.id)
                .where(JobRun.job == job.name, JobRun.scheduled_for < slot)
                .limit(1)
            )
            is not None
        )


def _release_due(
    db: Database, config: Config, channels: dict[str, Channel], job: Job, now: datetime
) -> list[tuple[int, int]]:
    """Release the job's open editions whose slot has come: the approved ones, and the
    held ones when the job says `if_not_approved = "send"`."""
    with db.sessions() as session:
        due = list(
            session.execute(
                select(Edition.id, Edition.state)
                .join(JobRun, JobRun.id == Edition.job_run_id)
                .where(
                    Edition.job == job.name,
                    Edition.state.in_(OPEN_EDITION_STATES),
                    JobRun.scheduled_for <= now,
                )
                .order_by(Edition.id)
            )
        )
    released = []
    links = Letterhead.for_site(db, config).links if job.track_clicks and due else None
    for edition_id, state in due:
        with db.session() as session:
            if state == EditionState.HELD and job.if_not_approved == "hold":
                _note_missed(session, edition_id)
                continue
            # Only in the state read above: an editor's change meanwhile (an approved
            # edition edited back to held, or discarded) wins over the clock.
            try:
                queued = release_edition(
                    session, config, channels, job, edition_id, None, links, now, (state,)
                )
            except ReviewError as error:
                log.info("edition %d: not sent at its slot: %s", edition_id, error)
                continue
            if queued is None:
                continue
            detail = (
                f"sent at its slot: {queued} deliveries queued"
                if state == EditionState.APPROVED
                else f'nobody approved it by its slot; sent (if_not_approved = "send"): '
                f"{queued} deliveries queued"
            )
            record_change(session, edition_id, CLOCK, "send", detail)
        log.info(
            "job %s: edition %d released at its slot, %d deliveries", job.name, edition_id, queued
        )
        released.append((edition_id, queued))
    return released


def _note_missed(session: Session, edition_id: int) -> None:
    """Say once, on the edition, that its slot passed and it is still held."""
    noted = session.scalar(
        select(EditionChange.id).where(
            EditionChange.edition_id == edition_id, EditionChange.action == "missed"
        )
    )
    if noted is None:
        record_change(
            session,
            edition_id,
            CLOCK,
            "missed",
            'its slot passed without approval; it stays held (if_not_approved = "hold") '
            "until an editor approves or discards it",
        )
        log.warning("edition %d: its slot passed without approval; it stays held", edition_id)
