"""Cron on the wall clock: a daylight-saving change neither skips nor doubles a slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from syndicate.wallclock import WallClockCron

NEW_YORK = ZoneInfo("America/New_York")  # springs forward 2026-03-08, falls back 2026-11-01


def fire_times(expression: str, start: datetime, count: int) -> list[datetime]:
    trigger = WallClockCron(expression, NEW_YORK)
    times, previous, now = [], None, start
    for _ in range(count):
        fired = trigger.get_next_fire_time(previous, now)
        assert fired is not None
        times.append(fired)
        previous, now = fired, fired + timedelta(microseconds=1)
    return times


def wall(times: list[datetime]) -> list[str]:
    return [t.astimezone(NEW_YORK).strftime("%m-%d %H:%M") for t in times]


def test_a_daily_slot_in_the_hour_that_repeats_fires_once() -> None:
    times = fire_times("30 1 * * *", datetime(2026, 10, 31, tzinfo=NEW_YORK), 3)
    assert wall(times) == ["10-31 01:30", "11-01 01:30", "11-02 01:30"]
    assert len({t.astimezone(UTC) for t in times}) == 3


def test_a_daily_slot_in_the_hour_that_is_skipped_fires_just_after_the_jump() -> None:
    times = fire_times("30 2 * * *", datetime(2026, 3, 7, tzinfo=NEW_YORK), 3)
    assert wall(times) == ["03-07 02:30", "03-08 03:30", "03-09 02:30"]


def test_half_hourly_slots_never_go_backwards_or_repeat_across_the_fall_back() -> None:
    times = fire_times("*/30 * * * *", datetime(2026, 11, 1, 0, 50, tzinfo=NEW_YORK), 6)
    assert all(later > earlier for earlier, later in pairwise(times))
    assert wall(times) == [
        "11-01 01:00",
        "11-01 01:30",
        "11-01 02:00",
        "11-01 02:30",
        "11-01 03:00",
        "11-01 03:30",
    ]


def test_every_day_of_a_year_has_exactly_one_morning_slot() -> None:
    times = fire_times("0 7 * * *", datetime(2026, 1, 1, tzinfo=NEW_YORK), 365)
    days = [t.astimezone(NEW_YORK).date() for t in times]
    assert len(set(days)) == 365
    assert {t.astimezone(NEW_YORK).strftime("%H:%M") for t in times} == {"07:00"}
