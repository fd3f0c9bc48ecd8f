"""Cron schedules on the site's wall clock: daylight saving neither skips nor doubles a slot.

APScheduler 3's CronTrigger fires twice in the hour a clock falls back (01:30 EDT, then
01:30 EST) and can step backwards inside that hour. Here a schedule is worked out on the
wall clock as a calendar shows it (`syndicate.cron`), and each wall-clock slot becomes one
instant: the first instant at which the clock shows that time or a later one. So

- a time that happens twice (the clock falls back) fires once, at its first occurrence;
- a time that does not exist (the clock springs forward) fires at the jump, as cron runs
  such a job: 02:30 fires at 03:00 summer time, and shares that instant with any other
  slot in the gap (and with 03:00 itself), so it runs once;
- a later wall time never gets an earlier instant, so slots keep their order and "the
  slots up to now" are the slots whose wall time the clock has already reached.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from syndicate.cron import CronLine

__all__ = ["WallClockCron", "wall_instant"]

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
        # In UTC: two times of one zone compare (and add) as wall times, so 01:30 EDT
        # would count as later than 01:10 EST, which comes forty minutes after it.
        now = now.astimezone(UTC)
        # A slot at or after `now` names a wall time later than the clock showed just
        # before `now`; after a jump forward that is earlier than the clock shows at `now`.
        floor = self._wall_time(now - _TICK) + _TICK
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
        """The first instant the clock shows `wall` (naive or UTC-tagged) or a later time."""
        return wall_instant(wall, self.timezone)

    def _wall_time(self, moment: datetime) -> datetime:
        return moment.astimezone(self.timezone).replace(tzinfo=None)

    def __str__(self) -> str:
        return f"cron[{self.expression}] on the wall clock of {self.timezone.key}"

    def __repr__(self) -> str:
        return f"<WallClockCron ({self.expression!r}, timezone={self.timezone.key!r})>"

    @property
    def tzinfo(self) -> tzinfo:
        return self.timezone


def wall_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant the clock of `zone` shows `wall` (its tzinfo ignored) or a later
    time, in `zone`: a time in a spring-forward gap is the jump, a repeated time its first
    occurrence. Every wall-clock time syndicate turns into an instant goes through here."""
    naive = wall.replace(tzinfo=None)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first.astimezone(zone)
    # `wall` fell in a gap: fold=0 reads it with the offset before the jump, which
    # lands after the jump, and fold=1 with the offset after it, which lands before.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return _jump(before, first, zone).astimezone(zone)


def _jump(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant in (before, after] at which the offset of `zone` changed."""
    offset = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:  # zone offsets change on a whole second
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
