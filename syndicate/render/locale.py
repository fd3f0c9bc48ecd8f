"""Dates, times and fixed wording in the site's language and time zone, for every renderer.

Every word a reader sees (the digest's labels, the web pages, the confirmation mail, error
pages) is English in the code and templates, marked `_("…")` (or `N_("…")` where it is
translated later), and translated through the Babel catalog of the site's language:
``syndicate/locales/<language>/LC_MESSAGES/messages.po``. A new language is one new
catalog; `pybabel extract -F babel.cfg -o messages.pot .` lists what it must translate.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_time as babel_format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from syndicate.languages import CATALOGS, FALLBACK_LANGUAGE, available_languages, language_of

__all__ = [
    "CATALOGS",
    "DATE_PATTERN",
    "LABELS",
    "N_",
    "Translate",
    "available_languages",
    "babel_locale",
    "format_date",
    "format_datetime",
    "format_time",
    "labels",
    "language_of",
    "translator",
]

# _("Hello, %(name)s", name=...) → the text in the site's language, values filled in.
Translate = Callable[..., str]


def N_(message: str) -> str:
    """Marks `message` for the catalogs; it is translated where it is shown."""
    return message


logger = logging.getLogger(__name__)

DATE_PATTERN = "EEEE, d MMMM y"  # "Kamis, 9 Maret 2023" / "Thursday, 9 March 2023"
_FALLBACK = FALLBACK_LANGUAGE

# The digest's fixed words, in English; `labels` translates them. `{name}` and `{site}`
# are filled by the renderer with str.replace, never str.format, so braces in a site or
# subscriber name are harmless.
LABELS: Mapping[str, str] = MappingProxyType(
    {
        "read_more": N_("Read more"),
        "unsubscribe": N_("Unsubscribe"),
        "view_in_browser": N_("View in browser"),
        "source": N_("Source"),
        "published": N_("Published"),
        "greeting": N_("Hello, {name}!"),
        "greeting_anonymous": N_("Hello!"),
        "in_this_edition": N_("In this edition"),
        "why_received": N_("You are receiving this email because you subscribed to {site}."),
        "sent_to": N_("This email was sent to"),
        "via": N_("via"),
        "more_in_archive": N_("{count} more in the archive"),
        "also": N_("Also carried by"),
        "more_next_edition": N_("{count} more in the next edition"),
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
    translate = translator(locale)
    return MappingProxyType({key: translate(text) for key, text in LABELS.items()})


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    path = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return gettext.NullTranslations()  # English: the words as written
    with path.open("rb") as file:
        catalog = read_po(file, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@functools.cache
def translator(locale: str) -> Translate:
    """`_` for `locale`: `_("Subscribe to %(site)s", site=name)` in its language.

    Values are filled after translating, so a translation may put them in its own order.
    """
    translations = _translations(language_of(locale))

    def translate(message: str, **values: object) -> str:
        text = translations.gettext(message)
        return text % values if values else text

    return translate


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
