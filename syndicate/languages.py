"""Which languages syndicate speaks: one Babel catalog per language, found on disk.

The settings check (config) and every renderer (render.locale) ask the same two
questions — which language does a locale mean, and which languages have a catalog — so
the answers live here, below both.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CATALOGS", "FALLBACK_LANGUAGE", "available_languages", "language_of"]

CATALOGS = Path(__file__).resolve().parent / "locales"
FALLBACK_LANGUAGE = "en"


def language_of(locale: str) -> str:
    """ "id-ID" → "id": the language whose catalog is used."""
    return locale.strip().replace("-", "_").split("_", 1)[0].lower() or FALLBACK_LANGUAGE


def available_languages() -> list[str]:
    """The languages with a catalog: "en", "id", ..."""
    return sorted(path.parent.parent.name for path in CATALOGS.glob("*/LC_MESSAGES/messages.po"))
