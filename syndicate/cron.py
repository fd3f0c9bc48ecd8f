"""Cron lines read the way cron reads them: the five fields, names, and which days match.

APScheduler 3 counts weekdays from Monday = 0 and requires day of month AND day of week;
cron counts from Sunday = 0 and, when both day fields are restricted, fires on a day that
matches either. So a schedule is parsed here, once, with Vixie cron's rules:

- fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec) and
  day of week (0-7 or sun-sat; 0 and 7 are both Sunday); names are three letters, any case;
- fields are separated by ASCII spaces and tabs, as crontab reads them; any other
  whitespace or control character (a newline, U+00A0, U+3000) is refused, not read as a
  separator;
- `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly`
  stand for their five-field lines, as in Vixie cron; `@reboot` is refused, since a digest
  has no "when cron starts";
- a field is a comma list of `*`, `N` or `N-M`, each with an optional `/step`
  (`N/step` runs from N to the field's end, as cronie and APScheduler read it); a step is
  1 up to the field's width (60 for minutes), as OpenBSD cron has it;
- a range that runs backwards (`5-1`, `fri-mon`) is refused: cron ranges do not wrap
  (Vixie cron 3 silently matched nothing, ISC cron 4 refuses the line);
- when day of month and day of week are both restricted, a day matching either fires; a
  field that starts with `*` (even `*/2`) counts as unrestricted for this rule, as in
  Vixie cron, so `0 7 */2 * 1` means odd days that are Mondays;
- a line that can never fire (`0 7 30 2 *`) is refused, not left to wait for ever.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from syndicate.errors import SyndicateError
from syndicate.printable import shortened

__all__ = ["WEEKDAY_NAMES", "CronError", "CronLine", "visible"]

# Day of week as cron numbers it: 0 = Sunday.
WEEKDAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONTH_NAMES = tuple(name.lower() for name in calendar.month_abbr[1:])
# A Gregorian calendar repeats every 400 years: a line that fires at all fires within them.
_SEARCH_YEARS = 400
# Vixie cron's nicknames, as the five-field lines they stand for.
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SEPARATORS = " \t"
# More digits than this is more than any field (or step) can hold, whatever the digits.
_MAX_DIGITS = 4


class CronError(SyndicateError, ValueError):
    """A cron line that cron would not run, with the reason as a short phrase."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTH_NAMES),
    _Field("day of week", 0, 7, tuple(name.lower() for name in WEEKDAY_NAMES)),
)


@dataclass(frozen=True)
class CronLine:
    """A parsed five-field cron line; times are naive wall-clock times."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday (a 7 is stored as 0)
    any_day: bool  # the day-of-month field starts with "*"
    any_weekday: bool  # the day-of-week field starts with "*"

    @classmethod
    def parse(cls, expression: str) -> CronLine:
        texts = _fields(expression)
        if len(texts) != 5:
            raise CronError(
                "cron needs 5 fields: minute, hour, day of month, month and day of week; "
                f"this has {len(texts)}"
            )
        minutes, hours, days, months, weekdays = (
            _parse_field(text, field) for text, field in zip(texts, _FIELDS, strict=True)
        )
        line = cls(
            expression,
            minutes,
            hours,
            days,
            months,
            frozenset(day % 7 for day in weekdays),
            any_day=texts[2].startswith("*"),
            any_weekday=texts[4].startswith("*"),
        )
        line._check_fires()
        return line

    def fires_on(self, day: date) -> bool:
        """Whether the line names `day` (its month, and its day of month or of week)."""
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def next_time(self, start: datetime) -> datetime | None:
        """The first wall time at or after `start` (naive) that the line names."""
        if start.second or start.microsecond:
            start = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day, earliest = start.date(), start.hour * 60 + start.minute
        last = date(min(day.year + _SEARCH_YEARS, date.max.year - 1), 12, 31)
        while day <= last:
            if day.month not in self.months:
                day = _first_of_next_month(day)
                earliest = 0
                continue
            if self.fires_on(day):
                index = bisect_left(self._times_of_day, earliest)
                if index < len(self._times_of_day):
                    hour, minute = divmod(self._times_of_day[index], 60)
                    return datetime.combine(day, time(hour, minute))
            day, earliest = day + timedelta(days=1), 0
        return None

    @cached_property
    def _times_of_day(self) -> list[int]:
        """Every minute of the day the line names, as minutes since midnight, ascending."""
        return sorted(hour * 60 + minute for hour in self.hours for minute in self.minutes)

    def _check_fires(self) -> None:
        if not (self.any_day or self.any_weekday):
            return  # either day field may match: every week has a day that does
        longest = {month: calendar.monthrange(2000, month)[1] for month in self.months}
        if not any(day <= longest[month] for month in self.months for day in self.days):
            raise CronError(
                "it never fires: no month it names has day "
                + ", ".join(str(day) for day in sorted(self.days))
            )


def visible(text: str) -> str:
    """`text` for an error message: whitespace and control characters other than a space
    escaped ("\\x1c"), and cut short when it is long."""
    return shortened(
        "".join(
            char if char == " " or (char.isprintable() and not char.isspace()) else _escaped(char)
            for char in text
        ),
        most=60,
    )


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def _fields(expression: str) -> list[str]:
    """The fields of a cron line (a nickname read as its five fields), split as crontab does."""
    text = expression.strip(_SEPARATORS)
    for char in text:
        if char not in _SEPARATORS and (char.isspace() or not char.isprintable()):
            raise CronError(
                f'"{_escaped(char)}" is not a space or a tab, and cron separates fields '
                "with spaces and tabs only"
            )
    if text.startswith("@"):
        return _nickname(text).split()
    return text.split()  # only spaces and tabs are left to split on


def _nickname(text: str) -> str:
    if text == "@reboot":
        raise CronError(
            '"@reboot" means when cron starts, which has no meaning for a digest schedule'
        )
    if text not in _NICKNAMES:
        raise CronError(f'"{text}" is not one of cron\'s names: ' + ", ".join(_NICKNAMES))
    return _NICKNAMES[text]


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f'{field.name}: "{text}" has an empty item between commas')
        values.update(_parse_part(part, field))
    return frozenset(values)


def _parse_part(part: str, field: _Field) -> range:
    span, slash, step_text = part.partition("/")
    step = _step(step_text, part, field) if slash else 1
    if span == "*":
        return range(field.low, field.high + 1, step)
    first_text, dash, last_text = span.partition("-")
    first = _value(first_text, part, field)
    if not dash:
        # "N/step" runs to the field's end; a plain "N" is that one value.
        return range(first, field.high + 1 if slash else first + 1, step)
    last = _value(last_text, part, field)
    if last < first:
        raise CronError(_backwards(part, first_text, first, last_text, field, stepped=bool(slash)))
    return range(first, last + 1, step)


def _step(text: str, part: str, field: _Field) -> int:
    if not _is_number(text):
        raise CronError(
            f'{field.name}: "{_shortened(part)}" has a malformed step: after "/" cron '
            f'needs a whole number, not "{_shortened(text)}"'
        )
    width = field.high - field.low + 1
    step = _number(text)
    if step is None or not 1 <= step <= width:
        raise CronError(
            f'{field.name}: "{_shortened(part)}" needs a step of 1 to {width} after "/"'
        )
    return step


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _number(digits: str) -> int | None:
    """The value of a string of ASCII digits, or None when it is too long for any field.

    Python refuses to read more than 4300 digits; no field needs more than two.
    """
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else None


def _value(text: str, part: str, field: _Field) -> int:
    where = f' (in "{_shortened(part)}")' if part != text else ""
    if _is_number(text):
        number = _number(text)
        if number is None or not field.low <= number <= field.high:
            raise CronError(
                f"{field.name}: {_shortened(text)} is outside {field.low}-{field.high}{where}"
            )
        return number
    if text.lower() in field.names:
        return field.low + field.names.index(text.lower())
    known = f" or a name {field.names[0]}-{field.names[-1]}" if field.names else ""
    raise CronError(
        f'{field.name}: "{_shortened(text)}" is not a number {field.low}-{field.high}{known}'
        + where
    )


def _shortened(text: str) -> str:
    return shortened(text, 20)


def _backwards(
    part: str, first_text: str, first: int, last_text: str, field: _Field, *, stepped: bool
) -> str:
    problem = f'{field.name}: "{part}" runs backwards and cron ranges do not wrap; '
    if stepped:
        # No rewrite is offered: each piece counts its step from its own start, so
        # "22-2/3" split as "22-23/3,0-2/3" is 22 and 0, not the 22 and 1 of a wrap.
        return problem + (
            "split it into two ranges that do not wrap, each with its own step (a step "
            "counts from the start of its own range)"
        )
    return problem + f'write "{_split_backwards(first_text, first, last_text, field)}"'


def _split_backwards(first_text: str, first: int, last_text: str, field: _Field) -> str:
    """ "fri-mon" → "fri-sat,sun-mon": the range in two pieces that do not wrap."""
    named = not _is_number(first_text)
    # Day of week ends at 6 (Saturday): its 7 is Sunday again, which the second piece has.
    high = field.high - 1 if field.name == "day of week" else field.high
    top = field.names[high - field.low] if named else str(high)
    bottom = field.names[0] if named else str(field.low)
    upper = first_text if first >= high else f"{first_text}-{top}"
    lower = last_text if last_text.lower() == bottom else f"{bottom}-{last_text}"
    return f"{upper},{lower}"


def _first_of_next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
