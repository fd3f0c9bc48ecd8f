"""The web pages over real HTTP: uvicorn on 127.0.0.1, real SMTP, SQLite and PostgreSQL.

These pin what a browser cannot easily show: headers, CSRF refusals, RFC 8058 one-click
semantics, forged and reused tokens, and that the click redirect is never an open one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from sqlalchemy import select

from syndicate.db.models import Click, Delivery, Post, Rendering, SubscriberStatus, utcnow
from syndicate.messages import Letterhead
from syndicate.optin import ConfirmationRequest, confirm_token
from syndicate.subscribers import add_subscriber
from syndicate.tokens import make_token
from syndicate.web.security import check_password, hash_password
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER, LiveSite
from tests.smtpserver import SmtpServer


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveSite]:
    with SmtpServer() as smtp, LiveSite(tmp_path, database_url, smtp) as site:
        yield site


@pytest.fixture
def live_sqlite(tmp_path: Path) -> Iterator[LiveSite]:
    with SmtpServer() as smtp, LiveSite(tmp_path, f"sqlite:///{tmp_path}/web.db", smtp) as site:
        yield site


def client(site: LiveSite) -> httpx.Client:
    """A browser of the site's pages, closed with the site."""
    browser = httpx.Client(base_url=site.base_url, follow_redirects=False, timeout=10)
    site.closing.append(browser.close)
    return browser


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def subscribe(browser: httpx.Client, email: str, *lists: str) -> httpx.Response:
    token = csrf_of(browser.get("/subscribe").text)
    return browser.post(
        "/subscribe", data={"csrf": token, "email": email, "list": list(lists or ["newsletter"])}
    )


def confirm_link(site: LiveSite, index: int = -1) -> str:
    body = site.smtp.messages[index].message.get_body(("plain",)).get_content()
    match = re.search(rf"{re.escape(site.base_url)}/confirm/\S+", body)
    assert match, body
    return match.group(0)


def unsubscribe_url(site: LiveSite, subscriber_id: int, list_name: str = "newsletter") -> str:
    return Letterhead.for_site(site.db, site.config).links.unsubscribe(subscriber_id, list_name)


def login(browser: httpx.Client) -> None:
    token = csrf_of(browser.get("/admin/login").text)
    answer = browser.post(
        "/admin/login", data={"csrf": token, "user": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    assert answer.status_code == 303, answer.text


# --- headers and CSRF ----------------------------------------------------------------------


def test_pages_carry_security_headers_and_a_strict_httponly_csrf_cookie(
    live_sqlite: LiveSite,
) -> None:
    answer = client(live_sqlite).get("/subscribe")
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy  # no script runs
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_subscribe_without_a_valid_csrf_token_is_refused_and_stores_nothing(
    live_sqlite: LiveSite,
) -> None:
    site = live_sqlite
    bare = client(site).post("/subscribe", data={"email": "sari@example.org", "list": "newsletter"})
    assert bare.status_code == 403
    browser = client(site)
    browser.get("/subscribe")  # has the cookie, but sends a token of its own making
    forged = browser.post(
        "/subscribe", data={"csrf": "x.y", "email": "sari@example.org", "list": "newsletter"}
    )
    assert forged.status_code == 403
    assert site.subscriber("sari@example.org") is None
    assert site.smtp.messages == []


# --- double opt-in -------------------------------------------------------------------------


def test_subscribe_then_confirm_makes_the_address_active_on_the_chosen_lists(
    live: LiveSite,
) -> None:
    site, browser = live, client(live)
    answer = subscribe(browser, "Sari@Example.org", "newsletter", "mingguan")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert set(site.statuses("Sari@example.org").values()) == {SubscriberStatus.UNCONFIRMED}
    site.wait_for_mail(1)  # one mail, with one link for both lists
    (mail,) = site.smtp.messages
    assert mail.envelope_to == ["Sari@Example.org"]  # the address as typed
    assert mail.envelope_from == "redaksi@example.org"  # through the list's email channel
    assert site.lists_of("Sari@Example.org") == set()
    link = confirm_link(site)
    assert link.startswith(site.base_url + "/confirm/")
    page = browser.get(link)  # opening the link alone (a mail scanner) changes nothing
    assert page.status_code == 200
    assert set(site.statuses("Sari@example.org").values()) == {SubscriberStatus.UNCONFIRMED}
    assert browser.post(link, data={}).status_code == 403  # no CSRF token
    done = browser.post(link, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert set(site.statuses("Sari@example.org").values()) == {SubscriberStatus.ACTIVE}
    assert site.lists_of("Sari@Example.org") == {"newsletter", "mingguan"}


def test_a_confirmation_link_works_once_and_not_after_an_unsubscribe(live: LiveSite) -> None:
    site, browser = live, client(live)
    subscribe(browser, "budi@example.org")
    site.wait_for_mail(1)
    link = confirm_link(site)
    token = csrf_of(browser.get(link).text)
    assert browser.post(link, data={"csrf": token}).status_code == 200
    subscriber = site.subscriber("budi@example.org")
    browser.post(unsubscribe_url(site, subscriber.id), data={"List-Unsubscribe": "One-Click"})
    assert site.lists_of("budi@example.org") == set()
    again = browser.post(link, data={"csrf": token})
    assert again.status_code == 400
    assert site.lists_of("budi@example.org") == set()


def test_an_expired_confirmation_link_changes_nothing(live_sqlite: LiveSite) -> None:
    site, browser = live_sqlite, client(live_sqlite)
    subscribe(browser, "tua@example.org")
    subscriber = site.subscriber("tua@example.org")
    stamp = int(subscriber.updated_at.timestamp() * 1_000_000)
    request = ConfirmationRequest(subscriber.id, subscriber.email, ("newsletter",), stamp)
    old = confirm_token(site.links_secret(), request, utcnow() - timedelta(days=3))
    page = browser.get(f"/confirm/{old}")
    answer = browser.post(f"/confirm/{old}", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 400 and "expired" in answer.text
    assert set(site.statuses("tua@example.org").values()) == {SubscriberStatus.UNCONFIRMED}


def test_subscribe_answers_the_same_whether_or_not_the_address_is_subscribed(
    live_sqlite: LiveSite,
) -> None:
    site = live_sqlite
    add_subscriber(site.db, "ada@example.org", "newsletter")
    known = subscribe(client(site), "ada@example.org")
    unknown = subscribe(client(site), "baru@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ada@", "X@") == unknown.text.replace("baru@", "X@")
    assert set(site.statuses("ada@example.org").values()) == {SubscriberStatus.ACTIVE}


def test_subscribe_is_rate_limited_per_address_and_per_client(live_sqlite: LiveSite) -> None:
    site, browser = live_sqlite, client(live_sqlite)
    answers = [subscribe(browser, "sama@example.org").status_code for _ in range(5)]
    assert answers == [200] * 5  # the page never tells ...
    site.wait_for_mail(1)
    assert len(site.smtp.messages) == 1  # ... but one confirmation is pending at a time
    answers = [subscribe(browser, f"lain{n}@example.org").status_code for n in range(6)]
    assert answers == [200] * 5 + [429]  # ten requests from one client an hour


# --- unsubscribe -----------------------------------------------------------------------------


def test_one_click_unsubscribe_from_a_delivered_mail_answers_200_without_redirect_or_cookie(
    live: LiveSite,
) -> None:
    site = live
    add_subscriber(site.db, "sari@example.org", "newsletter")
    add_subscriber(site.db, "sari@example.org", "mingguan")
    assert site.run("pagi").queued == 1
    site.deliver()
    header = str(site.smtp.messages[-1].message["List-Unsubscribe"])
    url = re.search(r"<(https?://[^>]+)>", header).group(1)
    assert url.startswith(site.base_url + "/unsubscribe/")
    one_click = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert one_click.status_code == 200
    assert "location" not in one_click.headers and "set-cookie" not in one_click.headers
    assert site.lists_of("sari@example.org") == {"mingguan"}  # only the list of that mail
    assert httpx.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_unsubscribe_post_with_forged_token_changes_nothing(live: LiveSite) -> None:
    site = live
    add_subscriber(site.db, "sari@example.org", "newsletter")
    add_subscriber(site.db, "budi@example.org", "newsletter")
    sari, budi = site.subscriber("sari@example.org"), site.subscriber("budi@example.org")
    real = unsubscribe_url(site, sari.id).rsplit("/", 1)[1]
    payload, signature = real.split(".")
    budi_payload = make_token(b"x", "x", f"{budi.id}:newsletter").split(".")[0]
    forged = [
        f"{budi_payload}.{signature}",  # Sari's signature on Budi's id
        make_token(b"another-site-secret", "unsubscribe", f"{budi.id}:newsletter"),
        make_token(site.links_secret(), "click", f"{budi.id}:newsletter"),  # wrong purpose
        f"{payload}.{signature[:-2]}AA",
        "nonsense",
    ]
    for token in forged:
        answer = httpx.post(f"{site.base_url}/unsubscribe/{token}", data={"x": "y"})
        assert answer.status_code == 404, token
    assert site.lists_of("budi@example.org") == {"newsletter"}
    assert site.lists_of("sari@example.org") == {"newsletter"}


def test_preferences_need_the_csrf_token_and_set_exactly_the_chosen_lists(
    live_sqlite: LiveSite,
) -> None:
    site, browser = live_sqlite, client(live_sqlite)
    add_subscriber(site.db, "sari@example.org", "newsletter")
    page = browser.get(unsubscribe_url(site, site.subscriber("sari@example.org").id))
    preferences = re.search(r'href="([^"]*/preferences/[^"]+)"', page.text).group(1)
    form = browser.get(preferences)
    assert browser.post(preferences, data={"list": ["mingguan"]}).status_code == 403
    saved = browser.post(preferences, data={"csrf": csrf_of(form.text), "list": ["mingguan"]})
    assert saved.status_code == 303
    assert site.lists_of("sari@example.org") == {"mingguan"}


# --- archive and clicks ----------------------------------------------------------------------


def test_archive_lists_editions_serves_each_one_and_an_atom_feed(live: LiveSite) -> None:
    site, browser = live, client(live)
    add_subscriber(site.db, "sari@example.org", "newsletter")
    outcome = site.run("pagi")
    listing = browser.get("/archive/pagi")
    assert f"/archive/pagi/{outcome.edition_id}" in listing.text
    edition = browser.get(f"/archive/pagi/{outcome.edition_id}")
    assert edition.status_code == 200
    assert "sandbox" in edition.headers["content-security-policy"]
    assert "SYNDICATEx7" not in edition.text and "sari@example.org" not in edition.text
    with site.db.session() as session:
        titles = list(session.scalars(select(Post.title)))
    assert any(title in edition.text for title in titles)
    feed = feedparser.parse(browser.get("/archive/pagi/feed.atom").content)
    assert feed.version == "atom10" and len(feed.entries) == 1
    assert feed.entries[0].link == f"{site.base_url}/archive/pagi/{outcome.edition_id}"
    assert browser.get("/archive/nojob").status_code == 404


def test_a_click_is_recorded_and_redirects_only_to_that_posts_own_url(live: LiveSite) -> None:
    site, browser = live, client(live)
    add_subscriber(site.db, "sari@example.org", "newsletter")  # an edition needs a reader
    outcome = site.run("pagi")
    with site.db.session() as session:
        html = session.scalars(
            select(Rendering.body).where(Rendering.edition_id == outcome.edition_id)
        ).first()["html"]
        urls = {post.id: post.url for post in session.scalars(select(Post))}
    links = re.findall(rf'href="({re.escape(site.base_url)}/r/[^"]+)"', html)
    assert links, "a job with track_clicks links its posts through /r/"
    answer = browser.get(links[0] + "?next=https://evil.example/")
    assert answer.status_code == 302
    assert answer.headers["location"] in urls.values()
    with site.db.session() as session:
        clicks = list(session.scalars(select(Click)))
    assert [(click.job, urls[click.post_id]) for click in clicks] == [
        ("pagi", answer.headers["location"])
    ]
    token = links[0].rsplit("/", 1)[1]
    forged = make_token(b"not-the-site-secret", "click", "1:pagi")
    for bad in (forged, token[:-3] + "AAA", "https%3A%2F%2Fevil.example"):
        refused = browser.get(f"/r/{bad}")
        assert refused.status_code == 404 and "location" not in refused.headers


# --- dashboard -------------------------------------------------------------------------------


def test_the_dashboard_needs_a_login_and_its_session_cookie_is_httponly_and_strict(
    live_sqlite: LiveSite,
) -> None:
    site, browser = live_sqlite, client(live_sqlite)
    assert browser.get("/admin").headers["location"] == "/admin/login"  # at every address
    token = csrf_of(browser.get("/admin/login").text)
    wrong = browser.post("/admin/login", data={"csrf": token, "user": ADMIN_USER, "password": "x"})
    assert wrong.status_code == 401
    good = browser.post(
        "/admin/login", data={"csrf": token, "user": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    dashboard = browser.get("/admin")
    assert dashboard.status_code == 200 and "warta" in dashboard.text
    stranger = client(site)
    stranger.cookies.set("syn_admin", "e30.AAAAAAAAAAAAAAAAAAAAAA")
    assert stranger.get("/admin").status_code == 303


def test_requeue_needs_the_csrf_token(live_sqlite: LiveSite) -> None:
    site, browser = live_sqlite, client(live_sqlite)
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.smtp.fail_next("DATA", "554 5.6.0 Message rejected")
    site.run("pagi")
    site.deliver()
    (row,) = site.deliveries()
    assert row.state == "failed"
    login(browser)
    assert browser.post("/admin/requeue", data={"delivery": str(row.id)}).status_code == 403
    assert site.deliveries()[0].state == "failed"
    token = csrf_of(browser.get("/admin").text)
    done = browser.post("/admin/requeue", data={"csrf": token, "delivery": str(row.id)})
    assert done.status_code == 303
    with site.db.session() as session:
        assert session.get(Delivery, row.id).state == "queued"


def test_the_dashboard_says_why_deliveries_wait_and_when_they_are_tried(
    live_sqlite: LiveSite,
) -> None:
    site, browser = live_sqlite, client(live_sqlite)
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.smtp.fail_next("RCPT", "451 4.3.0 Mailbox busy, try later")
    site.run("pagi")
    site.deliver()
    assert site.deliveries()[0].state == "queued"
    login(browser)
    page = browser.get("/admin").text
    waiting = page[page.index('id="waiting"') :].split("</section>", 1)[0]
    assert "to be retried after:" in waiting and "451 4.3.0 Mailbox busy" in waiting
    row = (
        r"<td>pagi</td><td>newsletter</td><td>1</td><td><time datetime=\"[^\"]+\">[-\d]+ \d\d:\d\d"
    )
    assert re.search(row, waiting)


def test_csv_import_and_search_in_the_dashboard(live: LiveSite, tmp_path: Path) -> None:
    site, browser = live, client(live)
    login(browser)
    token = csrf_of(browser.get("/admin/subscribers").text)
    csv = b"email,name\nsari@example.org,Sari\nnot-an-address,X\nbudi@example.org,Budi\n"
    answer = browser.post(
        "/admin/subscribers/import",
        data={"csrf": token, "list": "mingguan"},
        files={"csv": ("readers.csv", csv, "text/csv")},
    )
    assert answer.status_code == 200 and "2 new" in answer.text and "line 3" in answer.text
    found = browser.get("/admin/subscribers", params={"q": "SARI"})
    assert "sari@example.org" in found.text and "budi@example.org" not in found.text
    assert site.lists_of("budi@example.org") == {"mingguan"}


def test_a_csv_upload_in_another_encoding_names_the_file_once(live: LiveSite) -> None:
    browser = client(live)
    login(browser)
    token = csrf_of(browser.get("/admin/subscribers").text)
    answer = browser.post(
        "/admin/subscribers/import",
        data={"csrf": token, "list": "mingguan"},
        files={"csv": ("pelanggan.csv", "email\nsari@example.org\n".encode("utf-16"), "text/csv")},
    )
    assert answer.status_code == 400
    assert answer.text.count("pelanggan.csv") == 1
    assert "neither UTF-8 nor Windows-1252" in answer.text and "CSV UTF-8" in answer.text
    assert "/tmp" not in answer.text and "the file" not in answer.text
    token = csrf_of(answer.text)
    excel = "email;name\r\nsari@example.org;Sári\r\n".encode("cp1252")
    answer = browser.post(
        "/admin/subscribers/import",
        data={"csrf": token, "list": "mingguan"},
        files={"csv": ("pelanggan.csv", excel, "text/csv")},
    )
    assert answer.status_code == 200 and "1 new" in answer.text
    assert "read as Windows-1252" in answer.text


def test_a_macintosh_csv_upload_is_read_and_a_broken_one_refused_not_a_500(
    live: LiveSite,
) -> None:
    browser = client(live)
    login(browser)
    token = csrf_of(browser.get("/admin/subscribers").text)
    mac = "email;name\rcr@example.org;Renée\r".encode("cp1252")  # Excel for Mac, CR only
    answer = browser.post(
        "/admin/subscribers/import",
        data={"csrf": token, "list": "mingguan"},
        files={"csv": ("mac.csv", mac, "text/csv")},
    )
    assert answer.status_code == 200 and "1 new" in answer.text, answer.text
    assert live.lists_of("cr@example.org") == {"mingguan"}
    broken = b'email\nsari@example.org\n"' + b"x" * 200_000
    answer = browser.post(
        "/admin/subscribers/import",
        data={"csrf": csrf_of(answer.text), "list": "mingguan"},
        files={"csv": ("rusak.csv", broken, "text/csv")},
    )
    assert answer.status_code == 400 and "cannot be read as CSV" in answer.text


def test_the_subscribe_form_refuses_an_address_no_server_can_take(live: LiveSite) -> None:
    browser = client(live)
    answer = subscribe(browser, "andré@example.org")
    assert answer.status_code == 400 and "plain letters" in answer.text
    assert live.subscriber("andré@example.org") is None


def test_admin_password_may_be_an_scrypt_or_pbkdf2_hash_or_the_word() -> None:
    made = hash_password("rahasia")
    assert made.startswith("scrypt:") and check_password(made, "rahasia")
    assert not check_password(made, "Rahasia")
    salt = "garam"
    pbkdf2 = hashlib.pbkdf2_hmac("sha256", b"rahasia", salt.encode(), 1000).hex()
    setting = f"pbkdf2:sha256:1000${salt}${pbkdf2}"  # Werkzeug's format
    assert check_password(setting, "rahasia") and not check_password(setting, "salah")
    assert check_password("rahasia", "rahasia") and not check_password("rahasia", "rahasi")
