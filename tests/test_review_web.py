"""The review pages over real HTTP: a login, the CSRF token and the page's version are
needed for every act; a held edition is not public; two approvals send once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicate.review import edition_detail
from syndicate.subscribers import add_subscriber
from tests.browser.live import LiveSite
from tests.smtpserver import SmtpServer
from tests.test_web_http import client, csrf_of, login

REVIEWED = (
    'schedule = "0 7 * * *"\nchannels = ["newsletter"]\nsubject = "Kabar pagi"\n'
    'review = true\n[select]\nnew = 3\nwindow = "3650d"\n'
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveSite]:
    with (
        SmtpServer() as smtp,
        LiveSite(tmp_path, f"sqlite:///{tmp_path}/web.db", smtp, jobs={"tinjau": REVIEWED}) as site,
    ):
        yield site


def held(live: LiveSite) -> int:
    add_subscriber(live.db, "sari@example.org", "newsletter")
    outcome = live.run("tinjau")
    assert outcome.held and outcome.edition_id is not None
    return outcome.edition_id


def test_review_acts_need_a_login_and_the_csrf_token(live: LiveSite) -> None:
    edition = held(live)
    stranger = client(live)
    assert stranger.get(f"/admin/editions/{edition}").status_code == 303
    assert stranger.post(f"/admin/editions/{edition}/approve", data={}).status_code == 303
    editor = client(live)
    login(editor)
    page = editor.get(f"/admin/editions/{edition}")
    assert page.status_code == 200 and "held" in page.text
    version = str(edition_detail(live.db, edition).summary.version)
    forged = editor.post(f"/admin/editions/{edition}/approve", data={"version": version})
    assert forged.status_code == 403
    assert editor.get("/admin/editions/99999999999999999999999").status_code == 404
    token = csrf_of(page.text)
    odd = editor.post(
        f"/admin/editions/{edition}/publish", data={"csrf": token, "version": version}
    )
    assert odd.status_code == 404
    live.deliver()
    assert live.smtp.messages == []
    assert edition_detail(live.db, edition).summary.state == "held"
    assert edition_detail(live.db, edition).changes == []


def test_a_held_edition_is_not_in_the_public_archive(live: LiveSite) -> None:
    edition = held(live)
    public = client(live)
    assert public.get(f"/archive/tinjau/{edition}").status_code == 404
    assert f"/archive/tinjau/{edition}" not in public.get("/archive/tinjau").text


def test_two_approvals_from_two_pages_send_once(live: LiveSite) -> None:
    edition = held(live)
    pages = [client(live), client(live)]
    forms = []
    for browser in pages:
        login(browser)
        text = browser.get(f"/admin/editions/{edition}").text
        forms.append(
            {
                "csrf": csrf_of(text),
                "version": str(edition_detail(live.db, edition).summary.version),
            }
        )
    answers = [
        browser.post(f"/admin/editions/{edition}/approve", data=form)
        for browser, form in zip(pages, forms, strict=True)
    ]
    assert [answer.status_code for answer in answers] == [303, 303]
    assert "goes%20out%20now" in answers[0].headers["location"]
    assert "already%20sent" in answers[1].headers["location"]
    live.deliver()
    assert [m.envelope_to for m in live.smtp.messages] == [["sari@example.org"]]
    # Frozen: a change from a page opened before is refused with the sentence.
    post = edition_detail(live.db, edition).posts[0].post_id
    late = pages[0].post(f"/admin/editions/{edition}/drop", data={**forms[0], "post": str(post)})
    assert late.status_code == 409
    assert "already being sent, so it can no longer be changed" in late.text
