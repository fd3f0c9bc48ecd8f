"""Job slots: the instants a job fires, worked out without touching the database.

A slot is one firing of a job's schedule, named by its instant in UTC. These functions
are all `syndicate check` needs to show the next runs, so they import nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from syndicate.config import Config, Job
from syndicate.wallclock import WallClockCron

__all__ = [
    "MISFIRE_GRACE",
    "count_fires",
    "current_slot",
    "last_fire",
    "latest_fire_since",
    "local_edition_date",
    "local_tick",
    "next_fire_times",
    "upcoming_fires",
]

# A slot fired this late (the process was busy or asleep) still counts as that slot.
MISFIRE_GRACE = timedelta(hours=1)
# How far back a local-time job looks for an hour some zone reached (a day and a bit).
LOCAL_LOOKBACK = timedelta(hours=27)
_TICK = timedelta(microseconds=1)
# Windows a missed slot is looked for in, shortest first: a day, a week, a month, a year,
# and four years and a day (a leap day's schedule). Beyond them, the whole span.
_CATCH_UP_WINDOWS = tuple(timedelta(days=days) for days in (1, 7, 31, 366, 4 * 365 + 2))


def next_fire_times(config: Config, now: datetime | None = None) -> dict[str, datetime | None]:
    """Each enabled job's next fire time, in the site's time zone."""
    now = (now or datetime.now(UTC)).astimezone(config.site.timezone)
    times: dict[str, datetime | None] = {}
    for job in config.jobs.values():
        times[job.name] = (
            job.trigger(config.site.timezone).get_next_fire_time(None, now) if job.enabled else None
        )
    return times


def upcoming_fires(trigger: Any, now: datetime, count: int) -> list[datetime]:
    """The next `count` fire times of `trigger` after `now` (fewer if it stops)."""
    times: list[datetime] = []
    moment = trigger.get_next_fire_time(None, now)
    while moment is not None and len(times) < count:
        times.append(moment)
        moment = trigger.get_next_fire_time(moment, _after(moment))
    return times


def current_slot(trigger: Any, now: datetime, grace: timedelta = MISFIRE_GRACE) -> datetime:
    """The latest fire time of `trigger` at or before `now` (within `grace`), else `now`."""
    return (last_fire(trigger, now, grace) or now).astimezone(UTC)


def last_fire(trigger: Any, now: datetime, grace: timedelta) -> datetime | None:
    """The latest fire time of `trigger` in (now - grace, now], or None."""
    from apscheduler.triggers.interval import IntervalTrigger

    # In UTC: `now - grace` on a local time is wall-clock arithmetic, an hour out across
    # a daylight-saving change (and slots are real intervals from the anchor, as
    # APScheduler counts them).
    now = now.astimezone(UTC)
    if isinstance(trigger, IntervalTrigger):  # arithmetic, not a walk through every slot
        start = trigger.start_date.astimezone(UTC)
        steps = (now - start) // trigger.interval
        slot = start + steps * trigger.interval
        return slot if steps >= 0 and now - slot < grace else None
    slot = None
    candidate = trigger.get_next_fire_time(None, now - grace)
    while candidate is not None and candidate <= now:
        slot = candidate
        candidate = trigger.get_next_fire_time(candidate, _after(candidate))
    return slot


def latest_fire_since(trigger: Any, since: datetime, now: datetime) -> datetime | None:
    """The latest fire time of `trigger` in (since, now], however long ago `since` was.

    The windows back from `now` grow; the first that holds a fire holds the latest, so
    a daily job walks a day of slots, not every slot since `since`.
    """
    span = now.astimezone(UTC) - since.astimezone(UTC)
    for window in (*_CATCH_UP_WINDOWS, span):
        fired = last_fire(trigger, now, min(window, span))
        if fired is not None and fired > since:
            return fired
        if window >= span:
            return None
    return None


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


def count_fires(trigger: Any, after: datetime, until: datetime, cap: int = 10_000) -> int:
    """How many fire times `trigger` has in (after, until]; a cron count stops at `cap`."""
    from apscheduler.triggers.interval import IntervalTrigger

    if isinstance(trigger, IntervalTrigger):
        start = trigger.start_date.astimezone(UTC)
        return max(0, (until.astimezone(UTC) - start) // trigger.interval) - max(
            0, (after.astimezone(UTC) - start) // trigger.interval
        )
    count, moment = 0, trigger.get_next_fire_time(None, _after(after))
    while moment is not None and moment <= until.astimezone(UTC) and count < cap:
        count += 1
        moment = trigger.get_next_fire_time(moment, _after(moment))
    return count


def _after(moment: datetime) -> datetime:
    """The instant just after `moment` (in UTC, where adding is not wall-clock arithmetic)."""
    return moment.astimezone(UTC) + _TICK
