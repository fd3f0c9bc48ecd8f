"""What a second round of breaking `syndicate serve` found, each pinned over real HTTP.

One address holding every connection, IPv6 clients dodging limits with their /64, the
editor locked out by strangers, redirects that drop to http or name a made-up Host,
base_url with a path, malformed Host headers, and the small things around `serve`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from syndicate.config import ConfigError, load_config
from syndicate.db.models import Click, Post
from syndicate.links import Links
from syndicate.ratelimit import RateLimiter
from syndicate.tokens import site_secret
from syndicate.web.gate import client_identity
from syndicate.web.security import check_password
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER
from tests.served import ServedSite
from tests.smtpserver import SmtpServer
from tests.test_web_abuse import BEHIND_PROXY, BROWSER, client, csrf_of, try_login


def quick_to_check(site: ServedSite) -> ServedSite:
    """The site with a PBKDF2 hash of few rounds for admin_password (a format the setting
    takes): tests that try many passwords then spend milliseconds, not seconds, on them."""
    salt = "garam"
    digest = hashlib.pbkdf2_hmac("sha256", ADMIN_PASSWORD.encode(), salt.encode(), 1000).hex()
    text = site.settings.read_text(encoding="utf-8")
    text = re.sub(
        r'admin_password = "[^"]*"', f'admin_password = "pbkdf2:sha256:1000${salt}${digest}"', text
    )
    site.settings.write_text(text, encoding="utf-8")
    return site


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSite]:
    """Behind a trusted proxy; each test uses addresses of its own."""
    folder = tmp_path_factory.mktemp("hardening")
    with SmtpServer() as smtp, quick_to_check(ServedSite(folder, smtp, BEHIND_PROXY)) as site:
        yield site


def connect_from(site: ServedSite, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", site.port), timeout=5, source_address=(source, 0))


def get_from(site: ServedSite, source: str, path: str = "/subscribe") -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as browser:
        return browser.get(site.url(path)).status_code


def refused_at_once(sock: socket.socket) -> bool:
    """Was this connection answered 503 as soon as it was made (before a request)? Asked
    after a pause: by then such an answer is waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(100).startswith(b"HTTP/1.1 503")
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def answer_status(sock: socket.socket, port: int) -> bytes:
    sock.settimeout(10)
    sock.sendall(
        f"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data[:12]


# --- 1. connections ----------------------------------------------------------------------


def test_one_address_holding_half_open_connections_leaves_room_for_everyone_else(
    tmp_path: Path,
) -> None:
    settings = 'max_connections = 20\nheader_timeout = "3s"'
    with SmtpServer() as smtp, ServedSite(tmp_path, smtp, settings) as site:
        held = []
        for _ in range(25):
            sock = connect_from(site, "127.0.0.66")
            sock.sendall(b"GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
            held.append(sock)
        try:
            time.sleep(0.3)
            refused = sum(refused_at_once(sock) for sock in held)
            # A quarter of max_connections from one address; the rest refused at once.
            assert refused == 20
            assert [get_from(site, "127.0.0.67") for _ in range(5)] == [200] * 5
            assert "over max_connections_per_client (from 127.0.0.66)" in site.log()
        finally:
            for sock in held:
                sock.close()


@pytest.mark.slow
def test_the_cap_admits_exactly_max_connections_first_come_first_served(
    tmp_path: Path,
) -> None:
    settings = 'max_connections = 10\nheader_timeout = "2s"'
    with SmtpServer() as smtp, ServedSite(tmp_path, smtp, settings) as site:
        idle = [connect_from(site, f"127.0.1.{n}") for n in range(1, 10)]
        try:
            time.sleep(0.2)
            assert get_from(site, "127.0.1.100") == 200  # the 10th of 10
            idle.append(connect_from(site, "127.0.1.10"))
            time.sleep(0.2)
            assert get_from(site, "127.0.1.100") == 503  # the 11th
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        assert get_from(site, "127.0.1.100") == 200  # and the site recovers

        burst = [connect_from(site, f"127.0.2.{n}") for n in range(1, 15)]
        try:
            time.sleep(0.3)
            refused = [sock for sock in burst if refused_at_once(sock)]
            admitted = [sock for sock in burst if sock not in refused]
            assert len(refused) == 4
            assert [answer_status(sock, site.port) for sock in admitted] == [b"HTTP/1.1 200"] * 10
        finally:
            for sock in burst:
                sock.close()


def test_max_connections_per_client_must_leave_room_for_others(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        site = ServedSite(tmp_path, smtp, "max_connections = 20\nmax_connections_per_client = 20")
        with pytest.raises(ConfigError, match="less than max_connections"):
            load_config(site.settings)


# --- 2. IPv6 clients are counted per /64 -------------------------------------------------


def test_client_identity_is_the_ipv4_address_or_the_ipv6_64() -> None:
    assert client_identity("2001:db8:1:2::7") == client_identity("2001:db8:1:2:ffff::1")
    assert client_identity("2001:db8:1:2::7") == "2001:db8:1:2::/64"
    assert client_identity("2001:db8:1:3::7") != client_identity("2001:db8:1:2::7")
    assert client_identity("::ffff:198.51.100.9") == "198.51.100.9"
    assert client_identity("198.51.100.9") == "198.51.100.9"


def test_subscribes_from_one_ipv6_64_share_one_limit(shared: ServedSite) -> None:
    browser = client(shared)
    answers = []
    for n in range(1, 12):
        token = csrf_of(browser.get("/subscribe").text)
        data = {"csrf": token, "email": f"enam{n}@example.net", "list": ["newsletter"]}
        hop = {"x-forwarded-for": f"2001:db8:1:2::{n:x}"}
        answers.append(browser.post("/subscribe", data=data, headers=hop))
    assert [answer.status_code for answer in answers] == [200] * 10 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0


def test_logins_from_one_ipv6_64_share_one_limit(shared: ServedSite) -> None:
    browser = client(shared)
    answers = [
        try_login(browser, "salah", {"x-forwarded-for": f"2001:db8:5:6::{n:x}"})
        for n in range(1, 12)
    ]
    assert answers == [401] * 10 + [429]


def test_clicks_from_one_ipv6_64_count_once_and_mapped_ipv4_is_ipv4(shared: ServedSite) -> None:
    with shared.db.session() as session:
        post_id = session.scalars(select(Post.id).order_by(Post.id.desc())).first()
        before = session.scalar(select(func.count()).select_from(Click))
    secret = site_secret(shared.db, shared.config.site.secret_key)
    link = Links(shared.base_url, secret, web=True).click(post_id, "pagi")
    path = "/" + link.split("/", 3)[3]
    browser = client(shared)
    for n in range(1, 101):
        hop = {"x-forwarded-for": f"2001:db8:9:1::{n:x}"}
        assert browser.get(path, headers=hop, follow_redirects=False).status_code == 302
    for address in ("198.51.100.9", "::ffff:198.51.100.9"):
        hop = {"x-forwarded-for": address}
        assert browser.get(path, headers=hop, follow_redirects=False).status_code == 302
    with shared.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Click)) - before == 2


# --- 3. the editor cannot be locked out by strangers -------------------------------------


@pytest.mark.slow
def test_a_browser_the_editor_used_before_logs_in_while_strangers_are_held(
    tmp_path: Path,
) -> None:
    with SmtpServer() as smtp, quick_to_check(ServedSite(tmp_path, smtp, BEHIND_PROXY)) as site:
        editor = client(site)
        assert try_login(editor, ADMIN_PASSWORD, {"x-forwarded-for": "198.51.100.50"}) == 303
        assert editor.cookies.get("syn_device", path="/admin")
        wrong = [
            try_login(client(site), "salah", {"x-forwarded-for": f"203.0.113.{n}"})
            for n in range(1, 22)
        ]
        assert wrong[:20] == [401] * 20 and wrong[20] == 429
        # A new browser, even with the right password, is held by the account's limit...
        stranger = client(site)
        token = csrf_of(stranger.get("/admin/login").text)
        form = {"csrf": token, "user": ADMIN_USER, "password": ADMIN_PASSWORD}
        held = stranger.post("/admin/login", data=form, headers={"x-forwarded-for": "192.0.2.77"})
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
        # ...and so is one with a made-up device cookie,
        forger = client(site)
        forger.cookies.set("syn_device", "made-up", path="/admin")
        assert try_login(forger, ADMIN_PASSWORD, {"x-forwarded-for": "192.0.2.78"}) == 429
        # but the editor's own browser is not.
        assert try_login(editor, ADMIN_PASSWORD, {"x-forwarded-for": "192.0.2.79"}) == 303
        assert editor.get("/admin").status_code == 200


# --- 4. redirects name no host -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": "192.0.2.30", "x-forwarded-proto": "https"},
        {"forwarded": "for=192.0.2.31;proto=https"},
        {"host": "localhost:9999"},
    ],
)
def test_trailing_slash_redirects_are_relative(shared: ServedSite, headers: dict[str, str]) -> None:
    answer = httpx.get(shared.url("/subscribe/?a=1"), headers=headers)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/subscribe?a=1"
    assert httpx.get(shared.url("//subscribe/")).headers.get("location", "/")[:2] != "//"


# --- 5. base_url with a path -------------------------------------------------------------


def test_pages_answer_under_base_urls_path(tmp_path: Path) -> None:
    with SmtpServer() as smtp, ServedSite(tmp_path, smtp, base_path="/news") as site:
        assert site.base_url.endswith("/news")
        assert "Serving Kabar Pilihan at " + site.base_url in site.log()
        with httpx.Client(timeout=10, headers={"user-agent": BROWSER}) as browser:
            for path in ("/news", "/news/"):
                answer = browser.get(site.url(path))
                assert answer.status_code == 303 and answer.headers["location"] == (
                    "/news/subscribe"
                )
            page = browser.get(site.url("/news/subscribe"))
            assert page.status_code == 200 and 'action="/news/subscribe"' in page.text
            assert browser.get(site.url("/news/archive/pagi")).status_code == 200
            assert browser.get(site.url("/subscribe")).status_code == 200  # a stripping proxy
            token = csrf_of(browser.get(site.url("/news/admin/login")).text)
            form = {"csrf": token, "user": ADMIN_USER, "password": ADMIN_PASSWORD}
            login = browser.post(site.url("/news/admin/login"), data=form)
            assert login.status_code == 303 and login.headers["location"] == "/news/admin"
            assert browser.get(site.url("/news/admin")).status_code == 200
            # The link a subscriber gets by mail works as printed.
            token = csrf_of(browser.get(site.url("/news/subscribe")).text)
            form = {"csrf": token, "email": "jalur@example.org", "list": ["newsletter"]}
            assert browser.post(site.url("/news/subscribe"), data=form).status_code == 200
            deadline = time.monotonic() + 5
            while not site.smtp.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            mail = site.smtp.messages[0].data.decode("utf-8", "replace").replace("=\r\n", "")
            match = re.search(rf"{re.escape(site.base_url)}(/confirm/[\w.=-]+)", mail)
            assert match, mail[:2000]
            confirm = browser.get(site.url("/news" + match.group(1)))
            assert confirm.status_code == 200


# --- 6. Host headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost:{port}@evil.example",
        "localhost:{port}/x",
        "localhost:abc",
        "localhost:{port}#@evil",
        "127.0.0.1.",
        "localhost:99999",
        "[::1",
        "localhost:{port}, evil.example",
    ],
)
def test_a_malformed_host_gets_400(shared: ServedSite, host: str) -> None:
    value = host.format(port=shared.port)
    head = f"GET /subscribe HTTP/1.1\r\nHost: {value}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400"), data[:100]
    assert b"evil" not in data


# --- 7. the small things -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_client_going_away_mid_body_is_one_quiet_line(shared: ServedSite, kind: str) -> None:
    path = "/subscribe"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{shared.port}\r\n"
        f"Content-Type: {kind}\r\nContent-Length: 10000\r\n\r\n--x\r\nemail="
    )
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as sock:
        sock.sendall(head.encode())
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    line = f"A client went away while sending POST {path}"
    while line not in shared.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = shared.log()
    assert line in log
    assert "Exception in ASGI application" not in log and "Traceback" not in log


def syndicate(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hash_password_reads_one_line_from_a_pipe() -> None:
    done = syndicate("serve", "--hash-password", stdin="rahasia panjang\n")
    assert done.returncode == 0, done.stderr
    assert check_password(done.stdout.strip(), "rahasia panjang")
    empty = syndicate("serve", "--hash-password", stdin="")
    assert empty.returncode != 0
    assert "The password is empty; nothing was printed." in empty.stderr
    assert "not your fault" not in empty.stderr


def test_check_warns_about_very_wide_trusted_proxies(tmp_path: Path) -> None:
    proxies = 'trusted_proxies = ["0.0.0.0/0", "::/0", "10.0.0.0/4", "10.0.0.0/8", "fd00::/8"]'
    with SmtpServer() as smtp:
        site = ServedSite(tmp_path, smtp, proxies)
        done = syndicate("--config", str(site.settings), "check")
    assert done.returncode == 0, done.stderr
    warned = re.findall(r"Warning: trusted_proxies (\S+) takes in a large part", done.stderr)
    assert warned == ["0.0.0.0/0", "::/0", "0.0.0.0/4"]


def test_three_db_upgrades_at_once_on_a_new_sqlite_file_all_succeed(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        site = ServedSite(tmp_path, smtp)
    argv = [sys.executable, "-m", "syndicate", "--config", str(site.settings), "db", "upgrade"]
    runs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [run.communicate(timeout=60)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors


def test_the_banner_brackets_an_ipv6_listen_address_and_serve_warns_of_wide_proxies(
    tmp_path: Path,
) -> None:
    with SmtpServer() as smtp:
        site = ServedSite(tmp_path, smtp, 'trusted_proxies = ["::/0"]')
    text = site.settings.read_text(encoding="utf-8")
    site.settings.write_text(text.replace('host = "127.0.0.1"', 'host = "::1"'), encoding="utf-8")
    argv = [sys.executable, "-m", "syndicate", "--config", str(site.settings), "serve"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        assert process.stdout is not None
        while not lines or ("listening on" not in lines[-1] and len(lines) < 20):
            lines.append(process.stdout.readline())
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert f"(listening on [::1]:{site.port})" in lines[-1]
    assert any("Warning: trusted_proxies ::/0 takes in a large part" in line for line in lines)


def test_host_double_colon_serves_ipv4_and_ipv6_and_trusts_a_mapped_proxy(
    tmp_path: Path,
) -> None:
    with SmtpServer() as smtp:
        site = quick_to_check(ServedSite(tmp_path, smtp, 'trusted_proxies = ["127.0.0.1"]'))
        text = site.settings.read_text(encoding="utf-8")
        site.settings.write_text(text.replace('host = "127.0.0.1"', 'host = "::"'), "utf-8")
        with site:
            assert f"(listening on [::]:{site.port})" in site.log()
            host = {"host": f"localhost:{site.port}"}
            assert httpx.get(site.url("/subscribe"), headers=host).status_code == 200
            six = f"http://[::1]:{site.port}/subscribe"
            assert httpx.get(six, headers=host).status_code == 200
            # The proxy at 127.0.0.1 reaches "::" as ::ffff:127.0.0.1, and is still trusted.
            browser = client(site)
            browser.headers["host"] = f"localhost:{site.port}"
            one = {"x-forwarded-for": "198.51.100.70"}
            assert [try_login(browser, "salah", one) for _ in range(11)][-1] == 429
            assert try_login(browser, "salah", {"x-forwarded-for": "198.51.100.71"}) == 401


@pytest.mark.parametrize(("events", "apart"), [(3, 4.0), (5, 4.0), (12, 4.0), (12, 10.0)])
def test_retry_after_is_when_the_limit_lets_the_key_in_again(events: int, apart: float) -> None:
    limiter = RateLimiter(3, 60, clock=lambda: 0.0)
    for at in range(events):
        limiter.add("k", now=at * apart)
    now = events * apart
    assert limiter.blocked("k", now=now)
    wait = limiter.retry_after("k", now=now)
    assert not limiter.blocked("k", now=now + wait)
    assert limiter.blocked("k", now=now + wait - 2)  # and not much later than needed
