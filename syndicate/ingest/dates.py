"""Reading the dates news sites write, in Indonesian or English, into aware UTC datetimes.

Feeds and pages write dates many ways: RFC 822 with Indonesian names ("Sen, 14 Agu 2023
07:30:00 +0700"), long Indonesian forms ("Senin, 23 November 2026 10:15 WIB"), English
prose ("August 14, 2023 7:30 PM") and ISO 8601. A date written without a zone is read in
the source's zone; when the source names none, an Indonesian date is Jakarta time and any
other is UTC. A date in the future is a wrong clock or a wrong zone: `clamp` makes it now.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["FUTURE_TOLERANCE", "clamp", "parse_date"]

FUTURE_TOLERANCE = timedelta(minutes=5)
_JAKARTA = ZoneInfo("Asia/Jakarta")

_MONTHS = {
    # Indonesian
    "januari": 1, "februari": 2, "pebruari": 2, "maret": 3, "mei": 5, "juni": 6, "juli": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agus": 8, "oktober": 10, "okt": 10,
    "nopember": 11, "nop": 11, "desember": 12, "des": 12, "peb": 2,
    # English, and the abbreviations both languages share
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_INDONESIAN_MONTHS = frozenset(
    {"januari", "februari", "pebruari", "peb", "maret", "mei", "juni", "juli", "agustus",
     "agu", "agt", "ags", "agus", "oktober", "okt", "nopember", "nop", "desember", "des"}
)  # fmt: skip
_DAYS = frozenset(
    {"senin", "sen", "selasa", "sel", "rabu", "rab", "kamis", "kam", "jumat", "jum'at", "jum",
     "sabtu", "sab", "minggu", "min", "ahad",
     "monday", "mon", "tuesday", "tue", "tues", "wednesday", "wed", "thursday", "thu",
     "thur", "thurs", "friday", "fri", "saturday", "sat", "sunday", "sun"}
)  # fmt: skip
_ZONES = {
    "wib": 7, "wita": 8, "wit": 9, "gmt": 0, "utc": 0, "ut": 0, "z": 0,
    "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
}  # fmt: skip

_DAY = r"(?:(?P<dayname>[a-z']+)\.?,?\s+)?"
_TIME = (
    r"(?:(?:,\s*|\s+)(?:pukul\s+|jam\s+|at\s+|-\s+)?"
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?"
    r"(?:\s*(?P<ampm>am|pm))?)?"
)
_ZONE = r"(?:\s*\(?(?P<zone>wib|wita|wit|gmt|utc|ut|z|[ecmp][sd]t|[+-]\d{2}:?\d{2})\)?)?"
_DAY_MONTH_YEAR = re.compile(
    rf"^{_DAY}(?P<day>\d{{1,2}})[\s-]+(?P<month>[a-z]+)\.?[\s-]+(?P<year>\d{{4}}){_TIME}{_ZONE}$"
)
_MONTH_DAY_YEAR = re.compile(
    rf"^{_DAY}(?P<month>[a-z]+)\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})"
    rf"{_TIME}{_ZONE}$"
)
_ISO = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[t ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?)?"
    r"\s*(?P<zone>z|[+-]\d{2}:?\d{2})?$"
)


def parse_date(value: str | None, zone: tzinfo | None = None) -> datetime | None:
    """Read `value` into an aware UTC datetime, or None when it is not a date we know.

    `zone` is the source's zone, used when the text names none.
    """
    if not value:
        return None
    if not isinstance(value, str):  # not a text: fails as reading it fails
        return _read_date.__wrapped__(value, zone)
    when = _read_date(value, zone)
    # A new object for each call, as when every call read the text: an entry's published
    # and updated dates are pickled as two, not as one written once.
    return when.replace() if when is not None else None


# An entry's updated date is most often its published date's very text, read again.
@functools.lru_cache(maxsize=1024)
def _read_date(value: str, zone: tzinfo | None) -> datetime | None:
    text = " ".join(value.strip().lower().split())
    for pattern in (_ISO, _DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        match = pattern.match(text)
        if match is not None:
            return _build(match, zone)
    return None


def clamp(when: datetime | None, now: datetime) -> datetime | None:
    """A date in the future is a wrong clock or a wrong zone: treat it as the fetch time."""
    if when is not None and when > now + FUTURE_TOLERANCE:
        return now
    return when


def _build(match: re.Match[str], zone: tzinfo | None) -> datetime | None:
    parts = match.groupdict()
    dayname = parts.get("dayname")
    if dayname and dayname not in _DAYS:
        return None
    month_text = parts["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text)
    if month is None:
        return None
    hour = int(parts["hour"] or 0)
    ampm = parts.get("ampm")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    try:
        local = datetime(
            int(parts["year"]),
            month,
            int(parts["day"]),
            hour,
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
        )
    except ValueError:
        return None
    indonesian = month_text in _INDONESIAN_MONTHS or (dayname or "") in _INDONESIAN_DAYS
    try:
        chosen = _zone(parts.get("zone")) or zone or (_JAKARTA if indonesian else UTC)
        return local.replace(tzinfo=chosen).astimezone(UTC)
    except ValueError:  # a zone a day or more away from UTC: "+9999"
        return None
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        return None


_INDONESIAN_DAYS = frozenset(
    {"senin", "sen", "selasa", "sel", "rabu", "rab", "kamis", "kam", "jumat", "jum'at", "jum",
     "sabtu", "sab", "minggu", "min", "ahad"}
)  # fmt: skip


def _zone(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text in _ZONES:
        return timezone(timedelta(hours=_ZONES[text]))
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text[0] == "-" else offset)
