"""Secrets and terminals: a source URL's password and key never shown, logged or stored;
nothing a feed wrote can drive the terminal a command prints on; an id no row can have
answers 404.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from syndicate.cli import main
from syndicate.config import Source as SourceConfig
from syndicate.db.models import Post, Source, utcnow
from syndicate.db.session import open_database
from syndicate.ingest.poll import poll_sources
from syndicate.redaction import redact, redact_url
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER, LiveSite
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer

SECRETS = ("hunter2", "s3cret", "t0ken")
ESCAPES = "\x1b[31mBanjir\x1b[0m di Kota \x1b]0;pwned\x07Lama\x1b[2J\x07"


def secret_url(server: FeedServer, path: str = "/private.xml") -> str:
    base = server.base_url.replace("http://", "http://editor:hunter2@")
    return f"{base}{path}?apikey=s3cret&page=2&access_token=t0ken"


def shows_no_secret(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


# --- the function --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@host.example/feed", "https://***@host.example/feed"),
        ("https://token@host.example/feed", "https://***@host.example/feed"),
        (
            "https://h.example/f?apikey=1&API_KEY=2&key=3&token=4&page=5",
            "https://h.example/f?apikey=***&API_KEY=***&key=***&token=***&page=5",
        ),
        (
            "https://h.example/f?access_token=1&secret=2&password=3&sig=4&signature=5&auth=6",
            "https://h.example/f?access_token=***&secret=***&password=***&sig=***"
            "&signature=***&auth=***",
        ),
        ("https://h.example/f?X-Amz-Signature=abc&keyword=berita", None),
        ("https://medium.com/feed/@newsroom?q=1", "https://medium.com/feed/@newsroom?q=1"),
        ("https://h.example/f#access_token=1", "https://h.example/f#access_token=***"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_redact_url_hides_credentials_and_secret_parameters(url: str, shown: str | None) -> None:
    if shown is None:
        assert redact_url(url) == "https://h.example/f?X-Amz-Signature=***&keyword=berita"
    else:
        assert redact_url(url) == shown


def test_redact_finds_every_url_in_an_error_message() -> None:
    message = (
        "Server error '500 Internal Server Error' for url "
        "'https://a:b@h.example/x?token=1'. Also https://u:p@h.example/f?key=2: gone."
    )
    assert redact(message) == (
        "Server error '500 Internal Server Error' for url "
        "'https://***@h.example/x?token=***'. Also https://***@h.example/f?key=***: gone."
    )


# --- logs and the database -----------------------------------------------------------------


def test_a_failing_source_is_logged_reported_and_stored_without_its_secrets(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_database(database_url)
    try:
        with FeedServer() as server:
            server.add_status("/private.xml", 500)
            url = secret_url(server)
            source = SourceConfig("rahasia", url, timedelta(minutes=15), None, True)
            with caplog.at_level(logging.DEBUG):
                [report] = asyncio.run(poll_sources(db, [source], workers=0))
        with db.session() as session:
            row = session.scalars(select(Source).where(Source.name == "rahasia")).one()
            stored, failures = row.last_error, row.consecutive_failures
    finally:
        db.dispose()
    assert failures == 1 and stored and report.error == stored
    assert "500" in stored and "***@127.0.0.1" in stored and "page=2" in stored
    assert shows_no_secret(stored)
    ours = [record for record in caplog.records if record.name.startswith("syndicate")]
    messages = "\n".join(record.getMessage() for record in ours)
    assert "rahasia" in messages and shows_no_secret(messages)


def test_verbose_fetch_prints_no_secret_of_a_failing_source(tmp_path: Path) -> None:
    settings = tmp_path / "syndicate.toml"
    (tmp_path / "jobs").mkdir()
    with FeedServer() as server:
        server.add_status("/private.xml", 500)
        settings.write_text(
            f'[site]\nname = "Uji"\n[database]\nurl = "sqlite:///{tmp_path / "site.db"}"\n'
            f'[scheduler]\njobs_dir = "jobs"\n'
            f'[[sources]]\nname = "rahasia"\nurl = "{secret_url(server)}"\n',
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "syndicate", "--config", str(settings), "-v", "fetch"]
        shown = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "rahasia" in shown.stderr and "***@127.0.0.1" in shown.stderr
    assert "1 failed" in shown.stdout
    assert shows_no_secret(shown.stdout + shown.stderr)


# --- the dashboard and the CLI -------------------------------------------------------------


@pytest.fixture
def secret_site(tmp_path: Path) -> Iterator[tuple[LiveSite, FeedServer]]:
    with FeedServer() as feeds, SmtpServer() as smtp:
        feeds.add_status("/private.xml", 500)
        more = f'\n[[sources]]\nname = "rahasia"\nurl = "{secret_url(feeds)}"\n'
        database = f"sqlite:///{tmp_path}/web.db"
        with LiveSite(tmp_path, database, smtp, more_sources=more) as site:
            yield site, feeds


def test_admin_shows_the_failing_source_with_its_url_and_error_redacted(
    secret_site: tuple[LiveSite, FeedServer],
) -> None:
    site, _ = secret_site
    with httpx.Client(base_url=site.base_url, timeout=10) as browser:
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/admin/login").text)
        assert token
        browser.post(
            "/admin/login",
            data={"csrf": token.group(1), "user": ADMIN_USER, "password": ADMIN_PASSWORD},
        )
        page = browser.get("/admin")
    assert page.status_code == 200
    row = re.search(
        r'<tr class="(\w+)">\s*<td><span class="dot"></span> rahasia.*?</tr>', page.text, re.S
    )
    assert row, page.text
    assert row.group(1) == "bad"  # shown as failing
    assert "***@127.0.0.1" in row.group(0) and "500" in row.group(0)
    assert "<td>1</td>" in row.group(0)  # one failure in a row
    assert shows_no_secret(page.text)


def test_sources_command_lists_the_failing_source_redacted(
    secret_site: tuple[LiveSite, FeedServer], capsys: pytest.CaptureFixture[str]
) -> None:
    site, _ = secret_site
    capsys.readouterr()
    assert main(["--config", str(site.folder / "syndicate.toml"), "sources"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["warta"].split()[1] == "ok"
    assert lines["rahasia"].split()[1] == "FAILING"
    assert "500" in lines["rahasia"] and "***@127.0.0.1" in lines["rahasia"]
    assert "1 of 2 sources failing" in out
    assert shows_no_secret(out)


# --- ids no row can have -------------------------------------------------------------------


@pytest.mark.parametrize("edition", ["99999999999999999999999", "9" * 5000, "２", "-1"])
def test_an_edition_id_no_row_can_have_answers_404(
    secret_site: tuple[LiveSite, FeedServer], edition: str
) -> None:
    site, _ = secret_site
    answer = httpx.get(f"{site.base_url}/archive/pagi/{edition}", timeout=10)
    assert answer.status_code == 404
    assert "Traceback" not in answer.text


def test_admin_requeue_and_preview_frame_refuse_numbers_no_row_can_have(
    secret_site: tuple[LiveSite, FeedServer],
) -> None:
    site, _ = secret_site
    with httpx.Client(base_url=site.base_url, timeout=30) as browser:
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/admin/login").text)
        assert token
        csrf = token.group(1)
        browser.post(
            "/admin/login", data={"csrf": csrf, "user": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
        # Form tokens are bound to the session: the dashboard's, not the login page's.
        fresh = re.search(r'name="csrf" value="([^"]+)"', browser.get("/admin").text)
        assert fresh
        csrf = fresh.group(1)
        requeued = browser.post(
            "/admin/requeue", data={"csrf": csrf, "delivery": "99999999999999999999999"}
        )
        frame = browser.get("/admin/preview/pagi/email/99999999999999999999999")
    assert requeued.status_code == 303 and "requeued=0" in requeued.headers["location"]
    assert frame.status_code == 404


# --- terminals -----------------------------------------------------------------------------


def test_trending_prints_no_escape_sequence_a_title_carries(tmp_path: Path) -> None:
    """A row stored before titles were cleaned still reaches the terminal clean."""
    settings = tmp_path / "syndicate.toml"
    (tmp_path / "jobs").mkdir()
    database = f"sqlite:///{tmp_path / 'site.db'}"
    settings.write_text(
        f'[site]\nname = "Uji"\n[database]\nurl = "{database}"\n[scheduler]\njobs_dir = "jobs"\n'
        '[[sources]]\nname = "kanal"\nurl = "https://example.org/feed"\n',
        encoding="utf-8",
    )
    db = open_database(database)
    try:
        with db.session() as session:
            source = Source(name="kanal", url="https://example.org/feed")
            session.add(source)
            session.flush()
            session.add(
                Post(
                    source_id=source.id,
                    key="https://example.org/banjir",
                    title=ESCAPES,
                    content_hash="0" * 64,
                    published_at=utcnow(),
                )
            )
    finally:
        db.dispose()
    command = [sys.executable, "-m", "syndicate", "--config", str(settings), "trending"]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "Banjir di Kota Lama" in shown.stdout
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown.stdout + shown.stderr)
    assert "pwned" not in shown.stdout


def test_a_title_with_escape_sequences_is_stored_without_them(tmp_path: Path) -> None:
    feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "1",'
        ' "url": "https://example.org/banjir", "title": "'
        + ESCAPES.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
        + '", "content_text": "Air naik."}]}'
    )
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    try:
        with FeedServer() as server:
            server.add("/feed.json", feed.encode(), "application/feed+json")
            source = SourceConfig("j", server.url("/feed.json"), timedelta(minutes=15), None, True)
            asyncio.run(poll_sources(db, [source], workers=0))
        with db.session() as session:
            titles = list(session.scalars(select(Post.title)))
    finally:
        db.dispose()
    assert titles == ["Banjir di Kota Lama"]


def test_every_character_is_kept_or_removed_alike_by_the_quick_check_and_the_pattern() -> None:
    """`printable` answers most text with a quick check over its bytes: for every character
    (below U+0100, above it, a surrogate half) it must decide what the full pattern does."""
    from syndicate.printable import _CONTROLS, _SEQUENCES, printable

    for code in [*range(0x3000), *range(0xD7F0, 0xE010), 0x10FFFF]:
        character = chr(code)
        for text in (f"a{character}b", f"\u201c{character}", character * 3):
            expected = _CONTROLS.sub("", _SEQUENCES.sub("", text))
            assert printable(text) == expected, hex(code)
            assert (printable(text) is text) == (_CONTROLS.search(text) is None), hex(code)
