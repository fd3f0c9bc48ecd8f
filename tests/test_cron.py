"""Schedules mean what cron means: Sunday is 0 and 7, names, lists, ranges, steps, and
the day-of-month OR day-of-week rule, read through the trigger the scheduler fires."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from syndicate.cron import CronError, CronLine
from syndicate.slots import upcoming_fires
from syndicate.wallclock import WallClockCron

JAKARTA = ZoneInfo("Asia/Jakarta")
MONDAY = datetime(2027, 1, 4, tzinfo=JAKARTA)  # a Monday, 00:00
WEEK = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def fires(expression: str, count: int, start: datetime = MONDAY) -> list[datetime]:
    return upcoming_fires(WallClockCron(expression, JAKARTA), start, count)


def weekdays(expression: str, weeks: int = 2) -> list[str]:
    """The weekday of every 07:00 run in the first `weeks` weeks from a Monday."""
    times = fires(f"0 7 * * {expression}", 7 * weeks)
    within = [t for t in times if (t - MONDAY).days < 7 * weeks]
    assert {t.strftime("%H:%M") for t in within} == {"07:00"}
    return [WEEK[t.weekday()] for t in within]


def days(expression: str, count: int, start: datetime) -> list[str]:
    return [t.strftime("%a %m-%d") for t in fires(expression, count, start)]


@pytest.mark.parametrize(
    ("number", "day"),
    [
        (0, "Sun"),
        (1, "Mon"),
        (2, "Tue"),
        (3, "Wed"),
        (4, "Thu"),
        (5, "Fri"),
        (6, "Sat"),
        (7, "Sun"),
    ],
)
def test_each_weekday_number_is_the_day_cron_means(number: int, day: str) -> None:
    assert weekdays(str(number), weeks=3) == [day] * 3


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("sun", "Sun"),
        ("MON", "Mon"),
        ("Tue", "Tue"),
        ("wed", "Wed"),
        ("thu", "Thu"),
        ("fri", "Fri"),
        ("sat", "Sat"),
    ],
)
def test_weekday_names_in_any_case(name: str, day: str) -> None:
    assert weekdays(name) == [day] * 2


def test_one_to_five_is_monday_to_friday_and_so_is_mon_fri() -> None:
    assert weekdays("1-5") == WEEK[:5] * 2
    assert weekdays("mon-fri") == WEEK[:5] * 2
    assert weekdays("MON-Fri") == WEEK[:5] * 2


def test_ranges_reaching_seven_end_on_sunday() -> None:
    assert weekdays("5-7") == ["Fri", "Sat", "Sun"] * 2
    assert weekdays("0-6") == weekdays("0-7") == weekdays("*") == WEEK * 2
    assert weekdays("sat-7") == ["Sat", "Sun"] * 2


def test_lists_of_numbers_names_and_ranges() -> None:
    assert weekdays("1,3,5") == ["Mon", "Wed", "Fri"] * 2
    assert weekdays("sun,sat") == ["Sat", "Sun"] * 2
    assert weekdays("mon,wed-fri") == ["Mon", "Wed", "Thu", "Fri"] * 2
    assert weekdays("0,7") == ["Sun"] * 2  # both Sunday, one run


def test_steps_count_from_sunday() -> None:
    assert weekdays("*/2") == ["Tue", "Thu", "Sat", "Sun"] * 2  # 0,2,4,6
    assert weekdays("*/3") == ["Wed", "Sat", "Sun"] * 2  # 0,3,6
    assert weekdays("1-5/2") == ["Mon", "Wed", "Fri"] * 2
    assert weekdays("mon-fri/2") == ["Mon", "Wed", "Fri"] * 2
    assert weekdays("1-7/3") == ["Mon", "Thu", "Sun"] * 2  # 1,4,7


def test_day_of_month_and_day_of_week_both_restricted_fire_on_either() -> None:
    # August 2027: the 13th is a Friday; it runs once, not twice.
    august = datetime(2027, 8, 1, tzinfo=JAKARTA)
    assert days("0 7 13 * 5", 8, august) == [
        "Fri 08-06",
        "Fri 08-13",
        "Fri 08-20",
        "Fri 08-27",
        "Fri 09-03",
        "Fri 09-10",
        "Mon 09-13",
        "Fri 09-17",
    ]
    # The first seven days of the month, and every Monday.
    assert days("0 7 1-7 * mon", 12, august) == [
        "Sun 08-01",
        "Mon 08-02",
        "Tue 08-03",
        "Wed 08-04",
        "Thu 08-05",
        "Fri 08-06",
        "Sat 08-07",
        "Mon 08-09",
        "Mon 08-16",
        "Mon 08-23",
        "Mon 08-30",
        "Wed 09-01",
    ]


def test_a_day_field_starting_with_a_star_makes_both_required() -> None:
    august = datetime(2027, 8, 1, tzinfo=JAKARTA)
    # Vixie cron: "*/2" counts as unrestricted, so this is odd days that are Mondays.
    assert days("0 7 */2 * 1", 4, august) == ["Mon 08-09", "Mon 08-23", "Mon 09-13", "Mon 09-27"]
    assert days("0 7 13 * *", 2, august) == ["Fri 08-13", "Mon 09-13"]
    assert days("0 7 * * 1", 2, august) == ["Mon 08-02", "Mon 08-09"]


def test_months_by_number_name_range_and_list() -> None:
    start = datetime(2027, 1, 1, tzinfo=JAKARTA)
    assert days("0 7 1 jun-aug *", 4, start) == ["Tue 06-01", "Thu 07-01", "Sun 08-01", "Thu 06-01"]
    assert days("0 7 1 JAN,7 *", 3, start) == ["Fri 01-01", "Thu 07-01", "Sat 01-01"]
    assert days("0 7 1 */6 *", 2, start) == ["Fri 01-01", "Thu 07-01"]  # 1,7


def test_minutes_and_hours_take_every_form_too() -> None:
    times = fires("*/20 9-10,17 * * mon-fri", 7)
    assert [t.strftime("%a %H:%M") for t in times] == [
        "Mon 09:00",
        "Mon 09:20",
        "Mon 09:40",
        "Mon 10:00",
        "Mon 10:20",
        "Mon 10:40",
        "Mon 17:00",
    ]
    assert [t.strftime("%H:%M") for t in fires("5/20 8 * * *", 3)] == ["08:05", "08:25", "08:45"]


def test_the_last_day_of_february_in_a_leap_year_only() -> None:
    times = fires("0 7 29 2 *", 2, datetime(2027, 1, 1, tzinfo=JAKARTA))
    assert [t.date().isoformat() for t in times] == ["2028-02-29", "2032-02-29"]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 7 * *", "cron needs 5 fields"),
        ("0 7 * * * *", "cron needs 5 fields"),
        ("0 7 * * 8", "day of week: 8 is outside 0-7"),
        ("0 7 * * monday", '"monday" is not a number 0-7 or a name sun-sat'),
        ("0 7 * * 5-1", 'day of week: "5-1" runs backwards and cron ranges do not wrap; '),
        ("0 7 * * fri-mon", 'write "fri-sat,sun-mon"'),
        ("0 7 * * sat-sun", 'write "sat,sun"'),
        ("0 22-2 * * *", 'hour: "22-2" runs backwards'),
        ("0 7 * nov-feb *", 'write "nov-dec,jan-feb"'),
        ("0 7 0 * *", "day of month: 0 is outside 1-31"),
        ("0 7 * 13 *", "month: 13 is outside 1-12"),
        ("60 7 * * *", "minute: 60 is outside 0-59"),
        ("0 7 * * */0", 'day of week: "*/0" needs a step of 1 to 8 after "/"'),
        ("*/61 * * * *", 'minute: "*/61" needs a step of 1 to 60 after "/"'),
        ("0 7 * * 1,,2", "has an empty item between commas"),
        ("0 7 L * *", '"L" is not a number 1-31'),
        ("0 7 * * 1#2", '"1#2" is not a number 0-7'),
        ("0 7 30 2 *", "it never fires: no month it names has day 30"),
        ("0 7 31 4,6 *", "it never fires"),
    ],
)
def test_lines_cron_would_not_run_are_refused_with_the_reason(expression: str, reason: str) -> None:
    with pytest.raises(CronError) as refused:
        CronLine.parse(expression)
    assert reason in str(refused.value)


def test_day_thirty_of_february_fires_on_the_weekday_when_both_are_given() -> None:
    # Both restricted: either matches, so a Monday in February is enough.
    times = fires("0 7 30 2 mon", 2, datetime(2027, 1, 1, tzinfo=JAKARTA))
    assert [t.strftime("%a %m-%d") for t in times] == ["Mon 02-01", "Mon 02-08"]


@pytest.mark.parametrize(
    "expression", ["50-10/5 * * * *", "0 22-2/2 * * *", "0 7 * * fri-mon/2", "0 7 * nov-feb/3 *"]
)
def test_a_backwards_range_with_a_step_gets_no_rewrite_that_drops_the_step(
    expression: str,
) -> None:
    with pytest.raises(CronError) as refused:
        CronLine.parse(expression)
    message = str(refused.value)
    assert "runs backwards and cron ranges do not wrap" in message
    assert "write" not in message, "a rewrite without the step would run at other times"
    assert "two ranges that do not wrap, each with its own step" in message


def test_a_backwards_range_without_a_step_still_gets_its_rewrite() -> None:
    with pytest.raises(CronError, match='write "50-59,0-10"'):
        CronLine.parse("50-10 * * * *")


HUGE = "1" * 5000  # Python refuses to read more than 4300 digits as an int


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        (f"{HUGE} 7 * * *", "minute: 11111111111111111111… (5000 characters) is outside 0-59"),
        (f"0 0-{HUGE} * * *", "hour: 11111111111111111111… (5000 characters) is outside 0-23"),
        (f"0 7 {HUGE}-3 * *", "day of month: 11111111111111111111… (5000 characters) is outside"),
        (f"*/{HUGE} 7 * * *", 'needs a step of 1 to 60 after "/"'),
        (f"0 7 * * 1-5/{HUGE}", 'needs a step of 1 to 8 after "/"'),
        ("0" * 5000 + "7 7 * * *", None),  # leading zeros are read as cron reads them: 7
    ],
)
def test_a_number_of_thousands_of_digits_is_refused_as_out_of_range(
    expression: str, reason: str | None
) -> None:
    if reason is None:
        assert CronLine.parse(expression).minutes == {7}
        return
    with pytest.raises(CronError) as refused:
        CronLine.parse(expression)
    assert reason in str(refused.value)
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("0 7\n* * *", "\\n"),
        ("0 7 * * *\n", "\\n"),
        ("0 7 * *\r\n*", "\\r"),
        ("0 7\u3000* * *", "\\u3000"),
        ("0 7\xa0* * *", "\\xa0"),
        ("0 7\x1c* * *", "\\x1c"),
        ("0 7\v* * *", "\\x0b"),
        ("0 7\f* * *", "\\x0c"),
    ],
)
def test_only_spaces_and_tabs_separate_fields_and_the_odd_character_is_shown(
    expression: str, shown: str
) -> None:
    with pytest.raises(CronError) as refused:
        CronLine.parse(expression)
    message = str(refused.value)
    assert f'"{shown}" is not a space or a tab' in message
    assert message.isprintable(), "the odd character is shown escaped, not printed"


def test_spaces_and_tabs_around_and_between_fields_are_read_as_cron_reads_them() -> None:
    line = CronLine.parse("  0\t7 \t * *\t1 ")
    assert (line.minutes, line.hours, line.weekdays) == ({0}, {7}, {1})


@pytest.mark.parametrize(
    ("nickname", "fields"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_vixie_nicknames_fire_as_their_five_fields(nickname: str, fields: str) -> None:
    start = datetime(2027, 2, 3, 5, 17, tzinfo=JAKARTA)
    assert fires(nickname, 4, start) == fires(fields, 4, start)
    assert CronLine.parse(nickname).expression == nickname


def test_reboot_is_refused_as_meaningless_for_a_digest() -> None:
    with pytest.raises(CronError, match="no meaning for a digest schedule"):
        CronLine.parse("@reboot")
    with pytest.raises(CronError, match="is not one of cron's names"):
        CronLine.parse("@fortnightly")


def test_a_second_slash_is_a_malformed_step_not_a_step_of_zero() -> None:
    with pytest.raises(CronError) as refused:
        CronLine.parse("*/2/3 * * * *")
    assert 'minute: "*/2/3" has a malformed step' in str(refused.value)
    assert "1 or more" not in str(refused.value)
