"""Dates, times and fixed wording in the site's language and time zone, for every renderer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time as babel_format_time

__all__ = [
    "DATE_PATTERN",
    "LABELS",
    "babel_locale",
    "format_date",
    "format_datetime",
    "format_time",
    "labels",
]

logger = logging.getLogger(__name__)

DATE_PATTERN = "EEEE, d MMMM y"  # "Kamis, 9 Maret 2023" / "Thursday, 9 March 2023"
_FALLBACK = "en"

# One table per language. `{name}` and `{site}` are filled by the renderer with
# str.replace, never str.format, so braces in a site or subscriber name are harmless.
LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "en": MappingProxyType(
            {
                "read_more": "Read more",
                "unsubscribe": "Unsubscribe",
                "view_in_browser": "View in browser",
                "source": "Source",
                "published": "Published",
                "greeting": "Hello, {name}!",
                "greeting_anonymous": "Hello!",
                "in_this_edition": "In this edition",
                "why_received": "You are receiving this email because you subscribed to {site}.",
                "sent_to": "This email was sent to",
                "via": "via",
                "also": "Also carried by",
            }
        ),
        "id": MappingProxyType(
            {
                "read_more": "Baca selengkapnya",
                "unsubscribe": "Berhenti berlangganan",
                "view_in_browser": "Lihat di peramban",
                "source": "Sumber",
                "published": "Terbit",
                "greeting": "Halo, {name}!",
                "greeting_anonymous": "Halo!",
                "in_this_edition": "Dalam edisi ini",
                "why_received": "Anda menerima email ini karena berlangganan {site}.",
                "sent_to": "Email ini dikirim ke",
                "via": "via",
                "also": "Juga dimuat",
            }
        ),
    }
)


def babel_locale(locale: str) -> str:
    """ "id-ID" → "id_ID"; a code Babel does not know becomes "en"."""
    code = locale.strip().replace("-", "_") or _FALLBACK
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        logger.debug("unknown locale %r, using %s", locale, _FALLBACK)
        return _FALLBACK
    return code


def labels(locale: str) -> Mapping[str, str]:
    """The fixed wording of emails and posts in `locale`'s language; English when unknown."""
    language = locale.strip().replace("-", "_").split("_", 1)[0].lower()
    return LABELS.get(language, LABELS[_FALLBACK])


def format_date(value: datetime, locale: str, timezone: str, *, pattern: str = DATE_PATTERN) -> str:
    """An aware datetime as a long date in the site's language and time zone.

    `format_date(value, "id", "Asia/Jakarta")` → "Kamis, 9 Maret 2023".
    """
    return babel_format_datetime(
        _aware(value), pattern, tzinfo=ZoneInfo(timezone), locale=babel_locale(locale)
    )


def format_time(value: datetime, locale: str, timezone: str, *, pattern: str = "short") -> str:
    """An aware datetime as a clock time: "08.30" in Indonesian, "8:30 AM" in English."""
    return babel_format_time(
        _aware(value), pattern, tzinfo=ZoneInfo(timezone), locale=babel_locale(locale)
    )


def format_datetime(value: datetime, locale: str, timezone: str) -> str:
    """A post's date and time: "9 Maret 2023 08.30" / "9 March 2023 8:30 AM"."""
    day = format_date(value, locale, timezone, pattern="d MMMM y")
    return f"{day} {format_time(value, locale, timezone)}"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"The datetime {value.isoformat()} has no time zone.")
    return value
