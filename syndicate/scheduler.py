"""The clock: polls sources when they are due, fires job slots, and keeps delivering.

APScheduler 3 is only the clock. What makes a slot run once is the database: a fired slot
inserts (job, scheduled_for) under a unique key, so a second process firing the same slot
finds it taken and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from syndicate.channels.base import Channel
from syndicate.config import Config, Job
from syndicate.db.models import utcnow
from syndicate.db.session import Database
from syndicate.delivery import deliver_due
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import JobOutcome, run_job, subscriber_zones
from syndicate.wallclock import WallClockCron

__all__ = ["Clock", "current_slot", "last_fire", "local_edition_date", "next_fire_times"]

log = logging.getLogger(__name__)

POLL_TICK = timedelta(seconds=60)
RETRY_TICK = timedelta(seconds=30)
# A slot fired this late (the process was busy or asleep) still counts as that slot.
MISFIRE_GRACE = timedelta(hours=1)
# How far back a local-time job looks for an hour some zone reached (a day and a bit).
LOCAL_LOOKBACK = timedelta(hours=27)


def next_fire_times(config: Config, now: datetime | None = None) -> dict[str, datetime | None]:
    """Each enabled job's next fire time, in the site's time zone."""
    now = (now or utcnow()).astimezone(config.site.timezone)
    times: dict[str, datetime | None] = {}
    for job in config.jobs.values():
        times[job.name] = (
            job.trigger(config.site.timezone).get_next_fire_time(None, now) if job.enabled else None
        )
    return times


def current_slot(trigger: Any, now: datetime, grace: timedelta = MISFIRE_GRACE) -> datetime:
    """The latest fire time of `trigger` at or before `now` (within `grace`), else `now`."""
    return (last_fire(trigger, now, grace) or now).astimezone(UTC)


def last_fire(trigger: Any, now: datetime, grace: timedelta) -> datetime | None:
    """The latest fire time of `trigger` in (now - grace, now], or None."""
    slot = None
    candidate = trigger.get_next_fire_time(None, now - grace)
    while candidate is not None and candidate <= now:
        slot = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
    return slot


def local_edition_date(job: Job, now: datetime, zones: Iterable[str]) -> date | None:
    """For a local-time job: the newest date whose hour has come in one of `zones`.

    The edition of that date is made when the first zone reaches the hour; every
    subscriber's copy then waits for the hour in their own zone.
    """
    newest: date | None = None
    for name in zones:
        zone = ZoneInfo(name)
        trigger = WallClockCron(job.schedule or "", zone)
        fired = last_fire(trigger, now, LOCAL_LOOKBACK)
        if fired is not None:
            day = fired.astimezone(zone).date()
            newest = day if newest is None else max(newest, day)
    return newest


def local_tick(job: Job) -> Any:
    """Every 15 minutes on the job's minute: when some time zone reaches the job's hour."""
    from apscheduler.triggers.cron import CronTrigger

    assert job.local_hour is not None
    minutes = sorted({(job.local_hour.minute + 15 * step) % 60 for step in range(4)})
    return CronTrigger(minute=",".join(map(str, minutes)), timezone=UTC)


class Clock:
    """`syndicate run`: one process that polls, fires and delivers until it is stopped."""

    def __init__(self, db: Database, config: Config, channels: dict[str, Channel]) -> None:
        self.db, self.config, self.channels = db, config, channels
        self._work = asyncio.Event()
        self._stop = asyncio.Event()
        self._polling = asyncio.Lock()  # the poll tick and a firing job share one poll

    async def run(self, on_start: Callable[[], None] | None = None) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=self.config.site.timezone)
        scheduler.add_job(
            self._poll,
            "interval",
            seconds=POLL_TICK.total_seconds(),
            next_run_time=datetime.now(UTC),
            id="poll",
            max_instances=1,
            coalesce=True,
        )
        for job in self.config.jobs.values():
            if job.enabled and job.local_time:
                scheduler.add_job(
                    self._fire_local,
                    local_tick(job),
                    args=[job],
                    id=f"job:{job.name}",
                    max_instances=1,
                    coalesce=True,
                    next_run_time=datetime.now(UTC),
                )
            elif job.enabled:
                scheduler.add_job(
                    self._fire,
                    job.trigger(self.config.site.timezone),
                    args=[job],
                    id=f"job:{job.name}",
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
                )
        self._install_signal_handlers()
        scheduler.start()
        if on_start is not None:
            on_start()
        try:
            await self._deliver_forever()
        finally:
            scheduler.shutdown(wait=False)

    def stop(self) -> None:
        self._stop.set()
        self._work.set()

    async def _poll(self) -> None:
        async with self._polling:
            reports = await poll_sources(self.db, self.config.sources, only_due=True)
        if any(report.new_posts for report in reports):
            log.info(
                "polled %d sources: %d new posts",
                len(reports),
                sum(report.new_posts for report in reports),
            )

    async def _fire(self, job: Job) -> JobOutcome:
        slot = current_slot(job.trigger(self.config.site.timezone), datetime.now(UTC))
        try:
            # Polling first lets a job scheduled on the hour see the news of the hour.
            async with self._polling:
                await poll_sources(self.db, self.config.sources, only_due=True)
            outcome = await asyncio.to_thread(
                run_job, self.db, self.config, self.channels, job, scheduled_for=slot
            )
        except Exception:
            log.exception("job %s: the run at %s failed", job.name, slot.isoformat())
            return JobOutcome(job.name, note="failed")
        if outcome.queued:
            self._work.set()
        return outcome

    async def _fire_local(self, job: Job) -> JobOutcome | None:
        """A local-time job: make the edition of the newest date some zone has reached."""
        now = datetime.now(UTC)
        channels = [self.channels[name] for name in job.channels]
        with self.db.session() as session:
            zones = subscriber_zones(session, channels, self.config.site.timezone.key)
        day = local_edition_date(job, now, zones)
        if day is None:
            return None
        slot = datetime.combine(day, time(0), tzinfo=UTC)
        try:
            async with self._polling:
                await poll_sources(self.db, self.config.sources, only_due=True)
            outcome = await asyncio.to_thread(
                run_job,
                self.db,
                self.config,
                self.channels,
                job,
                scheduled_for=slot,
                local_date=day,
            )
        except Exception:
            log.exception("job %s: the edition of %s failed", job.name, day.isoformat())
            return None
        if outcome.queued:
            log.info(
                "job %s: edition of %s goes out at %s in each subscriber's zone",
                job.name,
                day.isoformat(),
                job.local_hour,
            )
            self._work.set()
        return outcome

    async def _deliver_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await deliver_due(self.db, self.config, self.channels, stopping=self._stop)
            except Exception:
                log.exception("delivery pass failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), RETRY_TICK.total_seconds())
            self._work.clear()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # Not every platform (or a loop outside the main thread) supports signal handlers.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        log.info(
            "received %s: finishing what is in flight, then stopping", signal.Signals(signum).name
        )
        self.stop()
