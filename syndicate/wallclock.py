"""Cron schedules on the site's wall clock: daylight saving neither skips nor doubles a slot.

APScheduler 3's CronTrigger fires twice in the hour a clock falls back (01:30 EDT, then
01:30 EST) and can step backwards inside that hour. Here a schedule is worked out on the
wall clock as a calendar shows it (`syndicate.cron`), and each wall-clock slot becomes one
instant:

- a time that happens twice (the clock falls back) fires once, at its first occurrence;
- a time that does not exist (the clock springs forward) fires when the clock would have
  shown it, i.e. just after the jump (02:30 → 03:30 summer time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from syndicate.cron import CronLine

__all__ = ["WallClockCron"]

_TICK = timedelta(microseconds=1)


class WallClockCron(BaseTrigger):
    """A five-field cron line (cron's meaning), read on the wall clock of `timezone`."""

    def __init__(self, expression: str, timezone: ZoneInfo) -> None:
        self.expression = expression
        self.timezone = timezone
        self.line = CronLine.parse(expression)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        floor = self._wall_time(now)
        if previous_fire_time is not None:
            floor = max(floor, self._wall_time(previous_fire_time) + _TICK)
        while (wall := self.line.next_time(floor)) is not None:
            instant = self.instant(wall)
            if instant >= now:
                return instant
            # In the repeated hour after a fall-back, a wall time can map before `now`.
            floor = wall + _TICK
        return None

    def instant(self, wall: datetime) -> datetime:
        """The one real instant of a wall-clock time (given as naive or UTC-tagged)."""
        local = wall.replace(tzinfo=None).replace(tzinfo=self.timezone, fold=0)
        return local.astimezone(UTC).astimezone(self.timezone)

    def _wall_time(self, moment: datetime) -> datetime:
        return moment.astimezone(self.timezone).replace(tzinfo=None)

    def __str__(self) -> str:
        return f"cron[{self.expression}] on the wall clock of {self.timezone.key}"

    def __repr__(self) -> str:
        return f"<WallClockCron ({self.expression!r}, timezone={self.timezone.key!r})>"

    @property
    def tzinfo(self) -> tzinfo:
        return self.timezone
