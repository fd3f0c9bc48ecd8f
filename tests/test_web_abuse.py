"""The web side under abuse, against a real `syndicate serve` process over real HTTP.

Forged forwarding headers, subscription bombing, big and slow bodies, a burst of logins,
reused session cookies, foreign Host headers and click flooding: each must leave the
site answering, the limits holding on the real client, and nothing counted twice.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from syndicate.db.models import Click, Post
from syndicate.links import Links
from syndicate.tokens import site_secret
from syndicate.trending import rank_stories
from syndicate.web.confirmations import mailbox_of
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER
from tests.served import ServedSite
from tests.smtpserver import SmtpServer

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
BEHIND_PROXY = 'trusted_proxies = ["127.0.0.1"]\nheader_timeout = "2s"\nbody_timeout = "2s"'


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSite]:
    """No trusted proxy. Its two tests use different limits (logins, subscriptions)."""
    folder = tmp_path_factory.mktemp("served")
    with SmtpServer() as smtp, ServedSite(folder, smtp, 'header_timeout = "2s"') as site:
        yield site


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[ServedSite]:
    with SmtpServer() as smtp, ServedSite(tmp_path, smtp, BEHIND_PROXY) as site:
        yield site


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSite]:
    """One server for the tests whose limits cannot meet (each uses its own addresses)."""
    folder = tmp_path_factory.mktemp("shared")
    with SmtpServer() as smtp, ServedSite(folder, smtp, BEHIND_PROXY) as site:
        yield site


def client(site: ServedSite) -> httpx.Client:
    """A browser of the site's pages, closed with the site."""
    browser = httpx.Client(base_url=site.address, timeout=10, headers={"user-agent": BROWSER})
    site.closing.append(browser.close)
    return browser


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1)


def try_login(browser: httpx.Client, password: str, headers: dict[str, str] | None = None) -> int:
    token = csrf_of(browser.get("/admin/login").text)
    form = {"csrf": token, "user": ADMIN_USER, "password": password}
    return browser.post("/admin/login", data=form, headers=headers or {}).status_code


# --- 1. forwarding headers ---------------------------------------------------------------


def test_forged_forwarded_for_from_an_untrusted_peer_does_not_escape_the_login_limit(
    served: ServedSite,
) -> None:
    browser = client(served)
    answers = [
        try_login(browser, "salah", {"x-forwarded-for": f"203.0.113.{n}"}) for n in range(14)
    ]
    assert answers[:10] == [401] * 10
    assert set(answers[10:]) == {429}


def test_behind_a_trusted_proxy_limits_hold_per_real_client_and_per_account(
    proxied: ServedSite,
) -> None:
    browser = client(proxied)
    one = {"x-forwarded-for": "198.51.100.7"}
    assert [try_login(browser, "salah", one) for _ in range(11)] == [401] * 10 + [429]
    assert try_login(browser, "salah", {"x-forwarded-for": "198.51.100.8"}) == 401
    # Many addresses, one account: wrong passwords are limited per account too.
    spread = [
        try_login(browser, "salah", {"x-forwarded-for": f"192.0.2.{n}, 127.0.0.1"})
        for n in range(12)
    ]
    assert spread[-1] == 429
    assert try_login(browser, ADMIN_PASSWORD, {"x-forwarded-for": "192.0.2.200"}) == 429


# --- 2. subscription bombing -------------------------------------------------------------


def test_forty_plus_addressed_subscriptions_put_one_mail_in_the_mailbox(
    shared: ServedSite,
) -> None:
    browser = client(shared)
    texts = []
    addresses = [f"korban+{n}@example.org" for n in range(40)]
    addresses += ["k.o.r.b.a.n@gmail.com", "korban+x@googlemail.com", "KORBAN@gmail.com"]
    for n, address in enumerate(addresses):
        hop = {"x-forwarded-for": f"10.9.{n // 200}.{n % 200 + 1}"}
        token = csrf_of(browser.get("/subscribe").text)
        answer = browser.post(
            "/subscribe",
            data={"csrf": token, "email": address, "list": ["newsletter"]},
            headers=hop,
        )
        assert answer.status_code == 200, answer.text
        texts.append(answer.text.replace(address, "X"))
    assert len(set(texts)) == 1  # the same answer, mailed or not
    time.sleep(1.0)  # the mails go out after the page: give them time to arrive
    recipients = sorted(m.envelope_to[0] for m in shared.smtp.messages)
    assert recipients == ["k.o.r.b.a.n@gmail.com", "korban+0@example.org"]


def test_one_client_may_ask_for_ten_subscriptions_an_hour(served: ServedSite) -> None:
    browser = client(served)
    answers = []
    for n in range(11):
        token = csrf_of(browser.get("/subscribe").text)
        data = {"csrf": token, "email": f"orang{n}@example.net", "list": ["newsletter"]}
        answers.append(browser.post("/subscribe", data=data).status_code)
    assert answers == [200] * 10 + [429]


def test_mailbox_folding_is_for_counting_only() -> None:
    assert mailbox_of("Sari.Dewi+berita@GoogleMail.com") == "saridewi@gmail.com"
    assert mailbox_of("sari.dewi+berita@example.org") == "sari.dewi@example.org"


# --- 3. bodies and slow clients ----------------------------------------------------------


def raw(site: ServedSite, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", site.port), timeout=10)
    sock.sendall(head)
    return sock


def answer_of(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_huge_content_length_is_refused_before_any_body_is_read(shared: ServedSite) -> None:
    head = (
        f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 314572800\r\n\r\n"
    )
    with raw(shared, head.encode()) as sock:
        answer = answer_of(sock)  # the server answers and closes without the body
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_large_body_streamed_slowly_is_cut_at_the_form_cap(shared: ServedSite) -> None:
    head = (
        f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"a" * 8192
    sent = 0
    with raw(shared, head.encode()) as sock:
        try:
            for _ in range(400):  # up to 3.2 MB, 8 KB at a time
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 3 * 1024 * 1024  # cut off long before the end


def test_the_csv_upload_takes_more_than_a_form(shared: ServedSite) -> None:
    head = (
        f"POST /admin/subscribers/import HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        f"Content-Length: {51 * 1024 * 1024}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n\r\n"
    )
    with raw(shared, head.encode()) as sock:
        assert answer_of(sock).startswith(b"HTTP/1.1 413")  # over the 50 MB default
    head = head.replace(str(51 * 1024 * 1024), str(200 * 1024))
    with raw(shared, head.encode() + b"--x--\r\n") as sock:
        sock.shutdown(socket.SHUT_WR)
        assert not answer_of(sock).startswith(b"HTTP/1.1 413")  # 200 KB is no form, but fine


def test_a_client_that_sends_its_headers_slowly_is_cut_off(shared: ServedSite) -> None:
    with raw(
        shared, f"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n".encode()
    ) as sock:
        sock.settimeout(8)
        for _ in range(8):  # a header line now and then, never the end of the headers
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.4)
        assert answer_of(sock) == b""  # closed with no answer: the header timeout (2 s)
    assert client(shared).get("/subscribe").status_code == 200


@pytest.mark.slow
def test_three_hundred_slow_clients_on_256_file_descriptors_are_cut_and_pages_answer(
    tmp_path: Path,
) -> None:
    """The issue's slow-loris: with 256 descriptors the server used to stop answering."""
    serve = f'ulimit -n 256 && exec {sys.executable} -m syndicate --config "$0" serve'
    settings = 'header_timeout = "1s"'
    with (
        SmtpServer() as smtp,
        ServedSite(tmp_path, smtp, settings, command=["bash", "-c", serve]) as site,
    ):
        slow = []
        for _ in range(300):
            try:
                sock = socket.create_connection(("127.0.0.1", site.port), timeout=2)
                sock.sendall(b"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                slow.append(sock)
            except OSError:
                break
        try:
            time.sleep(2.5)  # the header timeout (1 s) has passed for every one of them
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")
            answer = httpx.get(site.url("/subscribe"), timeout=15)
            assert answer.status_code == 200
            log = site.log()
        finally:
            for sock in slow:
                sock.close()
    assert len(log) < 20_000  # no flood of lines about them


def test_a_body_that_stalls_gets_408_and_the_connection_closed(shared: ServedSite) -> None:
    head = (
        f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail="
    )
    with raw(shared, head.encode()) as sock:
        answer = answer_of(sock)  # body_timeout is 2 s; the socket's own timeout 10 s
    assert answer.startswith(b"HTTP/1.1 408")


# --- 4. a burst of logins ----------------------------------------------------------------


@pytest.mark.slow
def test_a_burst_of_parallel_logins_is_answered_at_once_and_the_site_stays_up(
    proxied: ServedSite,
) -> None:
    def one(n: int) -> tuple[int, str]:
        with client(proxied) as browser:
            # A connection of its own for the POST: an idle one may be closed meanwhile.
            token = csrf_of(browser.get("/admin/login", headers={"connection": "close"}).text)
            hop = {"x-forwarded-for": f"10.1.{n // 250}.{n % 250 + 1}"}
            form = {"csrf": token, "user": ADMIN_USER, "password": f"tebak-{n}"}
            answer = browser.post("/admin/login", data=form, headers=hop)
            return answer.status_code, answer.text

    with ThreadPoolExecutor(max_workers=120) as pool:
        answers = list(pool.map(one, range(120)))
    assert {status for status, _ in answers} <= {401, 429}
    busy = [text for status, text in answers if status == 429]
    assert busy and all("logins are being checked" in text for text in busy)
    assert try_login(client(proxied), ADMIN_PASSWORD, {"x-forwarded-for": "10.2.0.1"}) == 303


# --- 5. sessions -------------------------------------------------------------------------


def test_logout_ends_every_session_of_the_editor_and_old_tokens_with_it(
    shared: ServedSite,
) -> None:
    first, second = client(shared), client(shared)
    assert try_login(first, ADMIN_PASSWORD) == 303
    assert try_login(second, ADMIN_PASSWORD) == 303
    old_cookie = first.cookies.get("syn_admin", path="/admin")
    assert first.get("/admin").status_code == 200
    old_form = csrf_of(first.get("/admin").text)
    assert first.post("/admin/logout", data={"csrf": old_form}).status_code == 303
    assert second.get("/admin").status_code == 303  # the other browser is out too
    replay = httpx.get(
        shared.url("/admin"), cookies={"syn_admin": old_cookie}, headers={"user-agent": BROWSER}
    )
    assert replay.status_code == 303 and replay.headers["location"] == "/admin/login"
    # Logged in again: the form token of the ended session is refused.
    assert try_login(first, ADMIN_PASSWORD) == 303
    stale = first.post("/admin/requeue", data={"csrf": old_form, "state": "failed"})
    assert stale.status_code == 403
    fresh = csrf_of(first.get("/admin").text)
    assert first.post("/admin/requeue", data={"csrf": fresh, "state": "failed"}).status_code == 303


# --- 6. Host -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/subscribe", "/admin/", "/archive/"])
def test_a_foreign_host_gets_400_naming_the_right_address_never_its_own(
    shared: ServedSite, path: str
) -> None:
    answer = httpx.get(shared.url(path), headers={"host": "evil.example"})
    assert answer.status_code == 400
    assert "evil.example" not in answer.text and "evil.example" not in str(answer.headers)
    assert f'href="{shared.base_url}/"' in answer.text


def test_two_host_headers_are_one_too_many(shared: ServedSite) -> None:
    head = (
        f"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        "Host: evil.example\r\nConnection: close\r\n\r\n"
    )
    with raw(shared, head.encode()) as sock:
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 400") and b"evil.example" not in answer


def test_base_url_host_and_loopback_names_are_served(shared: ServedSite) -> None:
    for host in (f"localhost:{shared.port}", f"127.0.0.1:{shared.port}", "[::1]"):
        assert httpx.get(shared.url("/subscribe"), headers={"host": host}).status_code == 200
    assert "Serving Kabar Pilihan at " + shared.base_url in shared.log()


# --- 7. clicks ---------------------------------------------------------------------------


def test_three_hundred_clicks_from_one_client_count_once(shared: ServedSite) -> None:
    with shared.db.session() as session:
        post_id = session.scalars(select(Post.id).order_by(Post.id)).first()
    secret = site_secret(shared.db, shared.config.site.secret_key)
    link = Links(shared.base_url, secret, web=True).click(post_id, "pagi")
    path = "/" + link.split("/", 3)[3]
    browser = client(shared)
    answers = {browser.get(path, follow_redirects=False).status_code for _ in range(300)}
    assert answers == {302}
    assert browser.head(path).status_code == 302
    scanner = {"user-agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"}
    prefetch = {"sec-purpose": "prefetch", "user-agent": BROWSER}
    assert httpx.get(shared.url(path), headers=scanner).status_code == 302
    assert httpx.get(shared.url(path), headers=prefetch).status_code == 302
    with shared.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Click)) == 1
        trends = rank_stories(session, datetime.now(UTC), window=None)
        clicks = {trend.post.id: trend.clicks for trend in trends}
    assert sum(clicks.values()) == 1
