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
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from syndicate.channels.base import Channel
from syndicate.config import Config, Job
from syndicate.db.models import JobRun
from syndicate.db.session import Database, DatabaseError
from syndicate.delivery import deliver_due
from syndicate.errors import SyndicateError
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import JobOutcome, run_job, subscriber_zones
from syndicate.report import finished_fanouts
from syndicate.slots import (
    MISFIRE_GRACE,
    count_fires,
    current_slot,
    latest_fire_since,
    local_edition_date,
    local_tick,
)

__all__ = ["Clock"]

log = logging.getLogger(__name__)

POLL_TICK = timedelta(seconds=60)
RETRY_TICK = timedelta(seconds=30)
# Missed runs are counted up to this many for the log; past it the log says "more than".
MISSED_COUNTED = 10_000
# A worker alone looks for due deliveries this often.
WORKER_TICK = timedelta(seconds=2)
# On SIGTERM, what is in flight gets this long to finish.
SHUTDOWN_GRACE = timedelta(seconds=30)
# A firing job waits this long at most for the poll (its own, or one already running),
# then runs with the posts stored so far; the poll goes on and its posts make the next
# slot. A slow feed or page can hold a poll for its whole deadline ([ingest]).
POLL_WAIT = timedelta(seconds=10)
FIRE_TRIES = 5
# Jobs with review: how often the clock looks for editions to make, and slots that came.
REVIEW_TICK = timedelta(seconds=30)


class Clock:
    """The long-running process: fires jobs and polls (`fire`), delivers (`deliver`).

    `syndicate run` does both; `syndicate scheduler` only fires and polls, and any number
    of `syndicate worker` processes only deliver.
    """

    def __init__(
        self,
        db: Database,
        config: Config,
        channels: dict[str, Channel],
        *,
        fire: bool = True,
        deliver: bool = True,
    ) -> None:
        self.db, self.config, self.channels = db, config, channels
        self.fire, self.deliver = fire, deliver
        self._work = asyncio.Event()
        self._stop = asyncio.Event()
        self._polling: asyncio.Task[list[Any]] | None = None  # the poll under way, if any

    async def run(self, on_start: Callable[[], None] | None = None) -> None:
        self._install_signal_handlers()
        scheduler = self._start_scheduler() if self.fire else None
        if on_start is not None:
            on_start()
        try:
            if self.fire:
                await self._catch_up()
            work = asyncio.create_task(
                self._deliver_forever() if self.deliver else self._stop.wait()
            )
            await asyncio.wait(
                {work, asyncio.create_task(self._stop.wait())}, return_when=asyncio.FIRST_COMPLETED
            )
            try:
                await asyncio.wait_for(work, SHUTDOWN_GRACE.total_seconds())
            except TimeoutError:
                log.warning(
                    "stopped after %d s with sends still in flight; their leases run out "
                    "and they are recovered at the next start",
                    SHUTDOWN_GRACE.total_seconds(),
                )
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)

    async def _read_bounces(self) -> None:
        """Read the bounce mailbox once; a failure is logged and tried at the next tick."""
        from syndicate.bounces.intake import Intake
        from syndicate.bounces.mailbox import MailboxError, check_mailbox

        def look() -> Any:
            intake = Intake.for_site(self.db, self.config, self.channels)
            return check_mailbox(self.config.bounces, intake)

        try:
            seen = await asyncio.to_thread(look)
        except (MailboxError, DatabaseError) as error:
            log.warning("bounces: %s", error)
            return
        except asyncio.CancelledError:  # stopping (Ctrl+C): the read ends with the process
            log.info("bounces: reading the bounce mailbox was stopped")
            return
        except Exception:  # a bug must not stop the clock; the next tick tries again
            log.exception("bounces: reading the bounce mailbox failed")
            return
        if seen.read:
            log.info(
                "bounces: %d mails read, %d handled (%d subscriptions ended), %d left unmatched",
                seen.read,
                seen.handled,
                seen.changed,
                seen.unmatched,
            )

    def stop(self) -> None:
        self._stop.set()
        self._work.set()

    def _start_scheduler(self) -> Any:
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
        if self.config.bounces.mailbox_url:
            scheduler.add_job(
                self._read_bounces,
                "interval",
                seconds=self.config.bounces.interval.total_seconds(),
                next_run_time=datetime.now(UTC),
                id="bounces",
                max_instances=1,
                coalesce=True,
            )
        if any(job.enabled and job.review for job in self.config.jobs.values()):
            # A job with review is fired by this tick, not at its slot: its edition is made
            # `review_before` ahead, and goes out at the slot once approved.
            scheduler.add_job(
                self._review,
                "interval",
                seconds=REVIEW_TICK.total_seconds(),
                next_run_time=datetime.now(UTC),
                id="review",
                max_instances=1,
                coalesce=True,
            )
        for job in self.config.jobs.values():
            if not job.enabled or job.review:
                continue
            if job.local_time:
                trigger, run = local_tick(job), self._fire_local
                first: dict[str, Any] = {"next_run_time": datetime.now(UTC)}
            else:
                trigger, run = job.trigger(self.config.site.timezone), self._fire
                first = {"misfire_grace_time": int(MISFIRE_GRACE.total_seconds())}
            scheduler.add_job(
                run,
                trigger,
                args=[job],
                id=f"job:{job.name}",
                max_instances=1,
                coalesce=True,
                **first,
            )
        scheduler.start()
        return scheduler

    async def _review(self) -> None:
        """Make the editions whose review time came, tell the editors, release approved
        editions whose slot came (`syndicate.review`)."""
        from syndicate.review_clock import review_tick
        from syndicate.review_notice import retry_notices

        try:
            tick = await asyncio.to_thread(review_tick, self.db, self.config, self.channels)
        except Exception:  # the next tick tries again
            log.exception("review: looking for editions to make or send failed")
            return
        for outcome in tick.held:
            await self._tell_editors(outcome)
        try:
            await retry_notices(self.db, self.config, self.channels)
        except Exception:  # the next tick tries again
            log.exception("review: telling the editors again failed")
        if tick.released:
            self._work.set()

    async def _tell_editors(self, outcome: JobOutcome) -> None:
        from syndicate.review_notice import notify_editors

        if outcome.edition_id is None:
            return
        try:
            await notify_editors(self.db, self.config, self.channels, outcome.edition_id)
        except Exception:  # logged; the clock goes on
            log.exception("review: telling the editors of edition %d failed", outcome.edition_id)

    async def _catch_up(self, now: datetime | None = None) -> None:
        """Slots missed while no scheduler ran are run once now (the latest), and said so."""
        now = now or datetime.now(UTC)
        for job in self.config.jobs.values():
            if not job.enabled or job.local_time:
                continue
            last_run = await self._last_run(job)
            # A job that never ran missed nothing: it starts at its next slot.
            if last_run is None:
                continue
            trigger = job.trigger(self.config.site.timezone)
            # However long ago: a monthly job stopped for five weeks still runs its slot.
            latest = latest_fire_since(trigger, last_run, now)
            if latest is None:
                continue
            missed = count_fires(trigger, last_run, latest, cap=MISSED_COUNTED + 1)
            # After a `run --once` or `send` (a run off the schedule), one slot passing
            # before `run` starts is the ordinary way to begin, not something to warn of.
            manual = latest_fire_since(trigger, last_run - timedelta(seconds=1), last_run) is None
            log.log(
                logging.INFO if manual and missed == 1 else logging.WARNING,
                "job %s: %s while syndicate was stopped (the last at %s); running it once now",
                job.name,
                _runs_missed(missed),
                latest.astimezone(self.config.site.timezone).strftime("%Y-%m-%d %H:%M %Z"),
            )
            await self._fire(job, slot=latest.astimezone(UTC))

    async def _last_run(self, job: Job) -> datetime | None:
        """The slot of the job's latest recorded run, if it ever ran."""
        return await self.db.run_patiently(
            lambda session: session.scalar(
                select(func.max(JobRun.scheduled_for)).where(JobRun.job == job.name)
            ),
            doing="reading the last runs",
        )

    def _start_poll(self) -> asyncio.Task[list[Any]]:
        """The poll under way, or a new one: the poll tick and firing jobs share one."""
        if self._polling is None or self._polling.done():
            poll = poll_sources(
                self.db, self.config.sources, only_due=True, settings=self.config.ingest
            )
            self._polling = asyncio.create_task(poll, name="poll")
            self._polling.add_done_callback(_report_poll_failure)
        return self._polling

    async def _poll(self) -> None:
        poll = self._start_poll()
        await asyncio.wait({poll})
        if poll.cancelled() or poll.exception() is not None:
            return  # said where it ended (_report_poll_failure)
        reports = poll.result()
        if any(report.new_posts for report in reports):
            log.info(
                "polled %d sources: %d new posts",
                len(reports),
                sum(report.new_posts for report in reports),
            )

    async def _fire(self, job: Job, slot: datetime | None = None) -> JobOutcome:
        slot = slot or current_slot(job.trigger(self.config.site.timezone), datetime.now(UTC))
        return await self._run_slot(job, slot, None)

    async def _fire_local(self, job: Job) -> JobOutcome | None:
        """A local-time job: make the edition of the newest date some zone has reached."""
        now = datetime.now(UTC)
        channels = [self.channels[name] for name in job.channels]
        zones = await self.db.run_patiently(
            lambda session: subscriber_zones(session, channels, self.config.site.timezone.key),
            doing="reading subscribers' time zones",
        )
        day = local_edition_date(job, now, zones)
        if day is None:
            return None
        outcome = await self._run_slot(job, datetime.combine(day, time(0), tzinfo=UTC), day)
        if outcome.queued:
            log.info(
                "job %s: the edition of %s goes out at %s in each subscriber's zone",
                job.name,
                day.isoformat(),
                job.local_hour,
            )
        return outcome

    async def _run_slot(self, job: Job, slot: datetime, day: date | None) -> JobOutcome:
        """Poll (for `POLL_WAIT` at most), then run the job for `slot`; a lost database
        connection is waited out."""
        # Polling first lets a job scheduled on the hour see the news of the hour.
        await self._wait_for_poll(job)
        for attempt in range(FIRE_TRIES):
            try:
                outcome = await asyncio.to_thread(
                    run_job,
                    self.db,
                    self.config,
                    self.channels,
                    job,
                    scheduled_for=slot,
                    local_date=day,
                )
            except DBAPIError as error:
                log.warning("job %s: database problem, trying again (%s)", job.name, error.orig)
                await asyncio.sleep(min(2**attempt, 10))
                continue
            except SyndicateError as error:  # its own sentence says what to fix
                log.error("job %s: the run at %s failed: %s", job.name, slot.isoformat(), error)
                return JobOutcome(job.name, note="failed")
            except Exception:
                log.exception("job %s: the run at %s failed", job.name, slot.isoformat())
                return JobOutcome(job.name, note="failed")
            if outcome.queued:
                self._work.set()
            if outcome.held:
                await self._tell_editors(outcome)
            return outcome
        log.error("job %s: the run at %s failed: the database stayed away", job.name, slot)
        return JobOutcome(job.name, note="failed")

    async def _wait_for_poll(self, job: Job) -> None:
        """Wait for the poll, never longer than POLL_WAIT; the poll's own failures are
        logged where it ends (`_report_poll_failure`) and do not stop the job."""
        poll = self._start_poll()
        done, _ = await asyncio.wait({poll}, timeout=POLL_WAIT.total_seconds())
        if not done:
            log.warning(
                "job %s: the poll is still running after %d s; the job runs with the posts "
                "stored so far",
                job.name,
                POLL_WAIT.total_seconds(),
            )

    async def _deliver_forever(self) -> None:
        # Alone, a worker looks for work often; beside the clock it is woken when a job runs.
        tick = RETRY_TICK if self.fire else WORKER_TICK
        started, told = datetime.now(UTC), set[tuple[int, str]]()
        while not self._stop.is_set():
            try:
                if await deliver_due(self.db, self.config, self.channels, stopping=self._stop):
                    await self._tell_finished(started, told)
            except Exception:
                log.exception("delivery pass failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), tick.total_seconds())
            self._work.clear()

    async def _tell_finished(self, since: datetime, told: set[tuple[int, str]]) -> None:
        """One log line for each edition whose deliveries on a channel have all ended."""
        finished = await self.db.call_patiently(
            lambda: finished_fanouts(self.db, since, told), doing="counting deliveries"
        )
        for fanout in finished:
            counts = ", ".join(f"{n} {state}" for state, n in sorted(fanout.counts.items()))
            log.info(
                "job %s: edition %d on %s done: %s",
                fanout.job,
                fanout.edition_id,
                fanout.channel,
                counts,
            )

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


def _report_poll_failure(poll: asyncio.Task[list[Any]]) -> None:
    if not poll.cancelled() and (error := poll.exception()) is not None:
        # One of ours (the database stopped the poll) is its sentence; anything else a bug.
        trace = None if isinstance(error, SyndicateError) else error
        log.error("the poll failed: %s", error, exc_info=trace)


def _runs_missed(missed: int) -> str:
    """ "3 runs missed", or "more than 10,000 runs missed" when the count stopped short."""
    if missed > MISSED_COUNTED:
        return f"more than {MISSED_COUNTED:,} runs missed"
    return f"{missed} run{'' if missed == 1 else 's'} missed"
