"""The review pages over real HTTP: a login, the CSRF token and the page's version are
needed for every act; a held edition is not public; two approvals send once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicate.review import edition_detail, record_notice
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


def test_a_bad_form_is_answered_with_the_sentence_the_command_line_gives(
    live: LiveSite,
) -> None:
    import re

    edition = held(live)
    editor = client(live)
    login(editor)
    token = csrf_of(editor.get(f"/admin/editions/{edition}").text)
    version = str(edition_detail(live.db, edition).summary.version)
    post = str(edition_detail(live.db, edition).posts[0].post_id)
    stale = "This form is out of date; reload the page."
    cases = [
        ("move", {"post": post, "position": "-5", "version": version}, "not -5."),
        ("move", {"post": post, "position": "top", "version": version}, 'not "top".'),
        ("drop", {"post": post}, stale),
        ("drop", {"post": post, "version": "x"}, stale),
        ("drop", {"post": post, "version": "9" * 40}, stale),
        ("drop", {"post": post, "version": "9" * 19}, stale),
        ("drop", {"post": "abc", "version": version}, '"abc" is not a post number'),
        ("move", {"post": "9" * 30, "position": "1", "version": version}, "is not in edition"),
    ]
    for act, form, said in cases:
        answer = editor.post(f"/admin/editions/{edition}/{act}", data={"csrf": token, **form})
        problems = re.findall(r'class="problem" role="alert">([^<]*)', answer.text)
        assert answer.status_code == 409 and len(problems) == 1, (act, form, answer.status_code)
        assert said in problems[0].replace("&#34;", '"').replace("&quot;", '"'), problems
    assert edition_detail(live.db, edition).changes == []


def test_pinning_a_post_the_job_sent_is_refused_on_the_page_and_a_lost_notice_shown(
    live: LiveSite,
) -> None:
    import re

    first = held(live)
    sent = edition_detail(live.db, first).posts[0].post_id
    editor = client(live)
    login(editor)
    token = csrf_of(editor.get(f"/admin/editions/{first}").text)
    version = str(edition_detail(live.db, first).summary.version)
    answer = editor.post(
        f"/admin/editions/{first}/approve", data={"csrf": token, "version": version}
    )
    assert answer.status_code == 303
    second = live.run("tinjau").edition_id
    assert second is not None
    # This site has no [review] notify: the failed notice's record stands in for one.
    record_notice(live.db, second, ["newsletter: cannot reach the SMTP server"])
    page = editor.get(f"/admin/editions/{second}").text
    told = "editors not told: newsletter: cannot reach the SMTP server"
    assert told in page and told in editor.get("/admin/editions").text
    version = str(edition_detail(live.db, second).summary.version)
    answer = editor.post(
        f"/admin/editions/{second}/pin",
        data={"csrf": csrf_of(page), "version": version, "url": str(sent)},
    )
    problems = re.findall(r'class="problem" role="alert">([^<]*)', answer.text)
    assert answer.status_code == 409
    assert problems and f"went out in edition {first}" in problems[0]
    assert sent not in [p.post_id for p in edition_detail(live.db, second).posts]
