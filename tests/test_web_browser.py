"""The web pages in a real browser: Debian's chromium driven by Playwright.

Every page visited is saved as a screenshot under test-artifacts/web/ (git ignores it).
Without /usr/bin/chromium these tests are skipped, with the reason; CI sets
SYNDICATE_REQUIRE_BROWSER=1, which makes a missing browser a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate.db.models import SubscriberStatus
from syndicate.messages import Letterhead
from syndicate.subscribers import add_subscriber
from tests.browser.chromium import screenshot
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER, LiveSite
from tests.smtpserver import SmtpServer


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveSite]:
    with SmtpServer() as smtp, LiveSite(tmp_path, f"sqlite:///{tmp_path}/web.db", smtp) as site:
        yield site


def test_subscribe_confirm_by_mail_link_and_the_address_is_active(
    live: LiveSite, page: Any
) -> None:
    page.goto(live.url("/subscribe"))
    screenshot(page, "01-subscribe")
    page.fill("#email", "sari@example.org")
    page.check("input[name=list][value=mingguan]")  # two lists: the page lets one choose
    page.check("input[name=list][value=newsletter]")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    screenshot(page, "02-check-inbox")
    assert set(live.statuses("sari@example.org").values()) == {SubscriberStatus.UNCONFIRMED}

    live.wait_for_mail(1)
    body = live.smtp.messages[0].message.get_body(("html",)).get_content()
    link = re.search(r'href="([^"]+/confirm/[^"]+)"', body).group(1)
    page.goto(link)
    screenshot(page, "03-confirm")
    assert set(live.statuses("sari@example.org").values()) == {SubscriberStatus.UNCONFIRMED}
    page.click("text=Confirm my subscription")
    page.wait_for_selector("text=You are subscribed")
    screenshot(page, "04-confirmed")
    assert set(live.statuses("sari@example.org").values()) == {SubscriberStatus.ACTIVE}
    assert live.lists_of("sari@example.org") == {"newsletter", "mingguan"}

    page.click("text=Choose your lists")
    page.uncheck("input[name=list][value=mingguan]")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"saved=1"))
    screenshot(page, "05-preferences")
    assert live.lists_of("sari@example.org") == {"newsletter"}


def test_unsubscribe_by_button_and_by_one_click_and_a_forged_link_changes_nothing(
    live: LiveSite, page: Any
) -> None:
    add_subscriber(live.db, "sari@example.org", "newsletter")
    add_subscriber(live.db, "budi@example.org", "newsletter")
    live.run("pagi")
    live.deliver()
    urls = {
        message.envelope_to[0]: re.search(
            r"<(https?://[^>]+)>", str(message.message["List-Unsubscribe"])
        ).group(1)
        for message in live.smtp.messages
    }

    forged = urls["sari@example.org"][:-4] + "AAAA"
    page.goto(forged)
    assert page.locator("text=not valid").count() == 1
    screenshot(page, "06-unsubscribe-forged")
    assert live.lists_of("sari@example.org") == {"newsletter"}

    page.goto(urls["sari@example.org"])
    screenshot(page, "07-unsubscribe")
    page.click("button:has-text('Unsubscribe')")
    page.wait_for_selector("text=You are unsubscribed")
    screenshot(page, "08-unsubscribed")
    assert live.lists_of("sari@example.org") == set()

    # RFC 8058: what a mail program sends, without cookies
    answer = page.context.request.post(
        urls["budi@example.org"],
        form={"List-Unsubscribe": "One-Click"},
        max_redirects=0,
    )
    assert answer.status == 200
    assert live.lists_of("budi@example.org") == set()


def test_dashboard_login_preview_and_requeue(live: LiveSite, page: Any) -> None:
    add_subscriber(live.db, "sari@example.org", "newsletter", name="Sari")
    live.smtp.fail_next("DATA", "554 5.6.0 Message rejected")
    live.run("pagi")
    live.deliver()
    (failed,) = live.deliveries()
    assert failed.state == "failed"

    page.goto(live.url("/admin"))
    page.wait_for_selector("text=Editor's login")
    screenshot(page, "10-login")
    page.fill("#user", ADMIN_USER)
    page.fill("#password", "salah")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Wrong name or password")
    page.fill("#user", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert page.locator("[data-state=failed]").inner_text() == "1"
    assert page.locator("svg.chart rect").count() >= 1
    screenshot(page, "11-dashboard")

    page.click("a[href='/admin/preview/kilat']")
    page.wait_for_selector(".bubble")
    assert page.locator(".bubble").count() == 2  # format "each": two posts
    screenshot(page, "12-preview-telegram")

    page.goto(live.url("/admin"))
    page.click("a[href='/admin/preview/pagi']")
    frame = page.frame_locator("iframe.email-frame")
    frame.locator("text=Sari").first.wait_for()  # as the first subscriber sees it
    assert frame.locator("a[href*='/r/']").count() >= 1  # tracked links
    screenshot(page, "13-preview-email")

    page.goto(live.url("/admin"))
    page.click(f"button[aria-label='Requeue delivery {failed.id}']")
    page.wait_for_selector("text=1 queued again")
    screenshot(page, "14-requeued")
    assert [row.state for row in live.deliveries()] == ["queued"]
    assert live.deliver() == {"sent": 1}

    page.goto(live.url("/admin/subscribers"))
    page.set_input_files("#csv", files=[_csv("email\nbaru@example.org\n")])
    page.select_option("#list", "mingguan")
    page.click("#import button[type=submit]")
    page.wait_for_selector("text=1 new")
    page.fill("#q", "baru")
    page.click("form.row button")
    page.wait_for_selector("td:has-text('baru@example.org')")
    screenshot(page, "15-subscribers")

    page.goto(Letterhead.for_site(live.db, live.config).links.archive("pagi") or "")
    page.click("ol.editions a")
    page.wait_for_selector("text=Sari", state="detached")  # the public copy names nobody
    screenshot(page, "16-archive-edition")


def _csv(text: str) -> dict[str, Any]:
    return {"name": "readers.csv", "mimeType": "text/csv", "buffer": text.encode()}


def test_login_works_at_127_0_0_1_while_base_url_says_localhost(tmp_path: Path, page: Any) -> None:
    """The README's defaults: base_url at localhost, `syndicate serve` on 127.0.0.1."""
    from tests.served import ServedSite

    with SmtpServer() as smtp, ServedSite(tmp_path, smtp) as served:
        assert served.base_url.startswith("http://localhost:")
        page.goto(served.url("/admin/login"))
        styled = page.evaluate("document.styleSheets[0].cssRules.length")
        assert styled > 0  # the stylesheet came from this address, not base_url's
        screenshot(page, "20-login-at-127")
        page.fill("#user", ADMIN_USER)
        page.fill("#password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(f"text=Log out ({ADMIN_USER})")
        assert page.url == served.url("/admin")  # still at 127.0.0.1, logged in there
        screenshot(page, "21-dashboard-at-127")
        page.click(f"text=Log out ({ADMIN_USER})")
        page.wait_for_url(served.url("/admin/login"))
        page.goto(served.url("/admin"))
        assert page.url == served.url("/admin/login")
