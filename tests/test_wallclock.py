"""Cron on the wall clock: a daylight-saving change neither skips nor doubles a slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from syndicate.slots import current_slot
from syndicate.wallclock import WallClockCron

# Springs forward 2026-03-08 and 2027-03-14, falls back 2026-11-01 and 2027-11-07.
NEW_YORK = ZoneInfo("America/New_York")


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


def test_a_daily_slot_in_the_hour_that_is_skipped_fires_at_the_jump() -> None:
    times = fire_times("30 2 * * *", datetime(2026, 3, 7, tzinfo=NEW_YORK), 3)
    assert wall(times) == ["03-07 02:30", "03-08 03:00", "03-09 02:30"]


def test_slots_in_the_skipped_hour_run_once_at_the_jump_and_keep_their_order() -> None:
    times = fire_times("*/30 * * * *", datetime(2026, 3, 8, 1, 0, tzinfo=NEW_YORK), 5)
    # 02:00 and 02:30 never show on the clock: they run at 03:00, with the 03:00 slot.
    assert wall(times) == [
        "03-08 01:00",
        "03-08 01:30",
        "03-08 03:00",
        "03-08 03:30",
        "03-08 04:00",
    ]
    assert all(later > earlier for earlier, later in pairwise(times))


@pytest.mark.parametrize("minutes_late", [0, 1, 15, 29, 30, 31, 45, 59])
def test_a_late_fire_finds_its_slot_the_night_the_clock_springs_forward(
    minutes_late: int,
) -> None:
    trigger = WallClockCron("30 2 * * *", NEW_YORK)
    slot = trigger.get_next_fire_time(None, datetime(2027, 3, 14, tzinfo=NEW_YORK))
    assert slot is not None
    fired = slot.astimezone(UTC) + timedelta(minutes=minutes_late)
    for now in (fired, fired.astimezone(NEW_YORK)):  # the clock's UTC, a test's local time
        assert current_slot(trigger, now) == slot.astimezone(UTC)


@pytest.mark.parametrize("minutes_late", [0, 1, 29, 30, 31, 59])
def test_a_late_fire_finds_its_slot_the_night_the_clock_falls_back(minutes_late: int) -> None:
    trigger = WallClockCron("30 1 * * *", NEW_YORK)
    slot = trigger.get_next_fire_time(None, datetime(2027, 11, 7, tzinfo=NEW_YORK))
    assert slot is not None
    assert slot.astimezone(UTC) == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT
    # 30 minutes late is 01:00 EST, inside the hour that repeats.
    fired = slot.astimezone(UTC) + timedelta(minutes=minutes_late)
    for now in (fired, fired.astimezone(NEW_YORK)):
        assert current_slot(trigger, now) == slot.astimezone(UTC)


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


def test_a_repeating_schedule_pauses_for_the_repeated_hour_as_the_readme_says() -> None:
    # By design, unlike Vixie cron: each wall-clock time runs once, so the hour the clock
    # shows again (01:00-01:59 EST) runs nothing; the README says so.
    times = fire_times("*/15 * * * *", datetime(2027, 11, 7, 0, 50, tzinfo=NEW_YORK), 6)
    shown = [t.astimezone(NEW_YORK).strftime("%H:%M %Z") for t in times]
    assert shown == ["01:00 EDT", "01:15 EDT", "01:30 EDT", "01:45 EDT", "02:00 EST", "02:15 EST"]
    assert times[4].astimezone(UTC) - times[3].astimezone(UTC) == timedelta(hours=1, minutes=15)


def test_every_day_of_a_year_has_exactly_one_morning_slot() -> None:
    times = fire_times("0 7 * * *", datetime(2026, 1, 1, tzinfo=NEW_YORK), 365)
    days = [t.astimezone(NEW_YORK).date() for t in times]
    assert len(set(days)) == 365
    assert {t.astimezone(NEW_YORK).strftime("%H:%M") for t in times} == {"07:00"}
