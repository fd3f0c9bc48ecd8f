"""An editor reviews a held edition in chromium: drop, reorder, pin by URL, subject, approve.

The site is served for real (uvicorn), mail goes to a real SMTP server, the pinned page
comes from a local HTTP server and is read by the ingest pipeline. Screenshots go to
test-artifacts/web/ like the other browser tests'.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from syndicate.review import drop_post, edition_detail
from syndicate.subscribers import add_subscriber
from tests.browser.chromium import screenshot
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER, LiveSite
from tests.corpus import CORPUS
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer

REVIEWED = (
    'schedule = "0 7 * * *"\nchannels = ["newsletter"]\nsubject = "Kabar pagi"\n'
    'review = true\n[select]\nnew = 3\nwindow = "3650d"\n'
)
SEED_TITLE = "50.000 Pasukan Korut Siap Gabung Rusia, Konflik Dunia Kian Runyam"


def seed_page() -> bytes:
    """The seed article as a Blogger page: the theme's widgets, the article, the footer."""
    lines = (CORPUS / "seed" / "000_dedce096c3d8b221.txt").read_text("utf-8").splitlines()
    start = lines.index(SEED_TITLE)
    end = next(i for i, line in enumerate(lines) if line.startswith("Sumber Berita"))
    widgets = "".join(f"<div class='widget'>{line}</div>" for line in lines[:start] if line)
    body = "".join(f"<p>{line.strip()}</p>" for line in lines[start + 1 : end + 1] if line)
    footer = "".join(f"<div>{line}</div>" for line in lines[end + 1 :] if line)
    return (
        "<!DOCTYPE html><html lang='id'><head><meta charset='utf-8'>"
        f"<title>{SEED_TITLE} - Repelita</title>"
        f"<meta property='og:title' content='{SEED_TITLE}'>"
        "<meta property='og:site_name' content='Repelita'></head><body>"
        f"{widgets}<article class='post'><h1>{SEED_TITLE}</h1><div class='post-body'>{body}"
        f"</div></article><footer>{footer}</footer></body></html>"
    ).encode()


def test_an_editor_drops_reorders_pins_and_approves_in_the_browser(
    tmp_path: Path, page: Any
) -> None:
    with (
        FeedServer() as pages,
        SmtpServer() as smtp,
        LiveSite(
            tmp_path,
            f"sqlite:///{tmp_path}/web.db",
            smtp,
            jobs={"tinjau": REVIEWED},
            more_sources='\n[ingest]\nprivate_hosts = ["127.0.0.1"]\n',
        ) as live,
    ):
        pages.add("/2024/10/korut.html", seed_page(), "text/html; charset=utf-8")
        add_subscriber(live.db, "sari@example.org", "newsletter", name="Sari")
        outcome = live.run("tinjau")
        assert outcome.held and outcome.edition_id is not None
        edition = outcome.edition_id
        first, second, third = [p.post_id for p in edition_detail(live.db, edition).posts]
        titles = {p.post_id: p.title for p in edition_detail(live.db, edition).posts}
        live.deliver()
        assert smtp.messages == []  # held: nothing goes out

        page.set_default_timeout(10_000)
        page.goto(live.url("/admin/login"))
        page.fill("#user", ADMIN_USER)
        page.fill("#password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Dashboard')")
        page.click("nav >> text=Editions")
        page.wait_for_selector(f"a:has-text('#{edition}')")
        assert page.locator("tr.edition-held").count() == 1
        page.click(f"a:has-text('#{edition}')")
        page.wait_for_selector("#state:has-text('held')")
        screenshot(page, "30-review-held")

        page.click(f"button[aria-label='Drop: {titles[second]}']")
        page.wait_for_selector("p.done")
        page.click(f"button[aria-label='Move up: {titles[third]}']")
        page.wait_for_selector("p.done:has-text('position 1')")
        page.fill("#pin input[name=url]", pages.url("/2024/10/korut.html"))
        page.fill("#pin input[name=position]", "2")
        page.click("#pin button[type=submit]")
        page.wait_for_selector("p.done:has-text('pinned')")
        page.fill("input[name=subject]", "Kabar pagi pilihan redaksi")
        page.click("text=Change subject")
        page.wait_for_selector("p.done:has-text('subject')")
        listed = page.locator("ol.edition-posts .post-title").all_inner_texts()
        assert listed == [titles[third], SEED_TITLE, titles[first]]
        # The preview is the edition as it will be sent.
        frame = page.frame_locator("iframe.email-frame")
        frame.locator("a:has-text('Inilah.com')").first.wait_for()  # credited to the original
        shown = frame.locator("body").inner_text()
        assert shown.find(titles[third]) < shown.find(SEED_TITLE) < shown.find(titles[first])
        page.click("summary:has-text('Text version')")
        assert SEED_TITLE in page.locator("pre.email-text").inner_text()
        editors = page.locator("#changes tbody td:nth-child(2)").all_inner_texts()
        actions = page.locator("#changes tbody td:nth-child(3)").all_inner_texts()
        assert editors == [ADMIN_USER] * 4
        assert actions == ["drop", "move", "pin", "subject"]
        screenshot(page, "31-review-edited")

        # Another editor changes it meanwhile: this page's next act is refused, not lost.
        drop_post(live.db, edition, first, "Budi")
        page.click("#decide button:has-text('Approve')")
        page.wait_for_selector("p.problem")
        problem = page.locator("p.problem").inner_text()
        assert "changed by Budi" in problem and "reload it" in problem
        assert smtp.messages == []
        screenshot(page, "32-review-conflict")

        page.goto(live.url(f"/admin/editions/{edition}"))
        page.click("#decide button:has-text('Approve')")
        page.wait_for_selector("#state:has-text('sent')")
        assert page.locator("#decide").count() == 0  # frozen: no more forms
        screenshot(page, "33-review-approved")
        live.deliver()
        (mail,) = smtp.messages
        assert mail.message["Subject"] == "Kabar pagi pilihan redaksi"
        text = mail.message.get_body(("plain",)).get_content()
        assert text.find(titles[third]) < text.find(SEED_TITLE)
        assert titles[second] not in text and titles[first] not in text
        assert re.search(r"Inilah\.com", text)
