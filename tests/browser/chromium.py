"""Debian's chromium, driven by Playwright: found, or skipped with the reason (failed in CI).

CI sets SYNDICATE_REQUIRE_BROWSER=1: a missing browser is then a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ARTIFACTS", "CHROMIUM", "chromium_browser", "screenshot"]

CHROMIUM = Path(os.environ.get("SYNDICATE_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("SYNDICATE_REQUIRE_BROWSER") == "1"
# Screenshots of every page the browser tests visit; git ignores this folder.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def chromium_browser() -> Iterator[Any]:
    """A headless chromium for the whole test session."""
    problem = _problem()
    if problem is not None:
        if REQUIRED:
            pytest.fail(f"A browser is required here but {problem}.")
        pytest.skip(f"{problem}; the browser tests need it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
