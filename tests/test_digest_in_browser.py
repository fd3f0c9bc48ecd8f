"""The email digest in chromium: axe-core finds nothing, and at 600 and 375 pixels nothing
scrolls sideways, also in a mail client that drops the <style> block.

axe-core is vendored in tests/vendor/axe-core (MPL-2.0, its licence beside it).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate.render.email import Recipient, make_message_id, personalize, render_edition
from syndicate.render.templates import template_environment
from tests.browser.chromium import screenshot
from tests.test_render_email import SENDER, make_edition

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def _digest_html(posts: int = 10) -> str:
    edition = make_edition()
    many = tuple(
        replace(edition.posts[i % 3], key=f"p{i}", title=f"{edition.posts[i % 3].title} {i}")
        for i in range(posts)
    )
    rendered = render_edition(replace(edition, posts=many), env=template_environment())
    message = personalize(
        rendered,
        recipient=Recipient("sari@example.org", "Sari Dewi"),
        sender=SENDER,
        list_id="newsletter.kabarpilihan.example.id",
        message_id=make_message_id("e7", "s1", SENDER),
        date=datetime(2023, 3, 9, tzinfo=UTC),
        unsubscribe_url="https://kabarpilihan.example.id/unsubscribe/abc",
        view_url="https://kabarpilihan.example.id/archive/pagi/7",
    )
    import email
    from email import policy

    parsed = email.message_from_bytes(message.data, policy=policy.default)
    return parsed.get_body(("html",)).get_content()


def _open(browser: Any, html: str, width: int) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.route("**/*", lambda route: route.abort())  # no network: pictures stay blocked
    page.set_content(html, wait_until="domcontentloaded")
    return page


@pytest.mark.parametrize("width", [600, 375])
@pytest.mark.parametrize("styles", ["kept", "dropped"])
def test_the_digest_never_scrolls_sideways(browser: Any, width: int, styles: str) -> None:
    html = _digest_html()
    if styles == "dropped":  # Gmail's app and others drop <style>: only inline styles remain
        html = re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL)
    page = _open(browser, html, width)
    try:
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        screenshot(page, f"digest-{width}-{styles}")
        assert overflow <= 0, f"{overflow}px wider than a {width}px screen"
    finally:
        page.context.close()


def test_axe_core_finds_no_violation_in_the_digest(browser: Any) -> None:
    page = _open(browser, _digest_html(), 600)
    try:
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)}))"
        )
    finally:
        page.context.close()
    assert result == [], json.dumps(result, indent=1)


def test_axe_core_would_catch_the_old_low_contrast_link(browser: Any) -> None:
    # The check above can fail: the view-in-browser link in the old grey (4.39:1).
    html = _digest_html().replace("color:#374151", "color:#6b7280", 1)
    page = _open(browser, html, 600)
    try:
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        found = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => v.id)"
        )
    finally:
        page.context.close()
    assert "color-contrast" in found
