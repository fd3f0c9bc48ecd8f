"""The quick look `syndicate fetch` takes first: 304s recorded without httpx or SQLAlchemy,
everything else left to the ordinary poll."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.config import Source as SourceConfig
from syndicate.db.models import Source, utcnow
from syndicate.db.session import open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest import plain, recheck
from syndicate.ingest.poll import poll_sources
from syndicate.ingest.recheck import look
from syndicate.ingest.request import USER_AGENT
from tests.feedserver import FeedServer
from tests.smtpserver import make_tls_files

ROOT = Path(__file__).resolve().parent.parent


def source(name: str, url: str, *, enabled: bool = True, site_name: str | None = None):
    return SourceConfig(name, url, timedelta(minutes=15), site_name, enabled)


def polled(database_url: str, sources: list[SourceConfig]) -> None:
    """An ordinary poll, as the first `syndicate fetch` makes: rows and validators stored."""
    db = open_database(database_url)
    reports = asyncio.run(poll_sources(db, sources))
    db.dispose()
    assert not [r.error for r in reports if r.error]


def rows(database_url: str) -> dict[str, Source]:
    db = open_database(database_url)
    with db.session() as session:
        found = {row.name: row for row in session.scalars(select(Source))}
    db.dispose()
    return found


@pytest.fixture
def feed(tmp_path: Path) -> bytes:
    return write_sample_feed(tmp_path / "feed.xml").read_bytes()


def test_unchanged_feeds_are_answered_by_304s_and_recorded_as_healthy(
    database_url: str, feed: bytes
) -> None:
    with FeedServer() as server:
        server.add("/a", feed, "application/atom+xml")
        server.add("/b", feed.replace(b"Warta", b"Kabar"), "application/atom+xml")
        sources = [source("a", server.url("/a")), source("b", server.url("/b"))]
        polled(database_url, sources)
        before = rows(database_url)
        quick = asyncio.run(look(database_url, sources))
        asked = server.requests[-2:]
    after = rows(database_url)
    assert quick.rest == []
    assert [(r.source, r.not_modified, r.new_posts) for r in quick.unchanged] == [
        ("a", True, 0),
        ("b", True, 0),
    ]
    by_path = {request.path: request.headers for request in asked}
    assert by_path["/a"]["if-none-match"] == before["a"].etag
    assert by_path["/a"]["if-modified-since"] == before["a"].last_modified
    assert by_path["/a"]["user-agent"] == USER_AGENT
    for name in ("a", "b"):
        row = after[name]
        assert row.last_fetched_at > before[name].last_fetched_at
        assert row.last_success_at == row.last_fetched_at
        assert row.next_poll_at == row.last_fetched_at + timedelta(minutes=15)
        assert (row.etag, row.last_modified) == (before[name].etag, before[name].last_modified)
        assert row.consecutive_failures == 0 and row.last_error is None


def test_a_changed_feed_and_a_new_source_go_on_to_the_ordinary_poll(
    database_url: str, feed: bytes
) -> None:
    with FeedServer() as server:
        server.add("/same", feed, "application/atom+xml")
        server.add("/changing", feed, "application/atom+xml")
        old = [source("same", server.url("/same")), source("changing", server.url("/changing"))]
        polled(database_url, old)
        server.add(
            "/changing", feed.replace(b"</feed>", b"<!-- new --></feed>"), "application/atom+xml"
        )
        server.add("/new", feed, "application/atom+xml")
        sources = [*old, source("new", server.url("/new"))]
        before = rows(database_url)
        quick = asyncio.run(look(database_url, sources))
    after = rows(database_url)
    assert [r.source for r in quick.unchanged] == ["same"]
    assert [s.name for s in quick.rest] == ["changing", "new"]
    # What the quick look did not confirm, it did not touch either.
    assert after["changing"].last_fetched_at == before["changing"].last_fetched_at
    assert "new" not in after


def test_a_source_whose_settings_changed_is_not_asked(database_url: str, feed: bytes) -> None:
    """A new address or a new site name is the ordinary poll's to store; a disabled source
    is polled by no one; a source without validators cannot be asked "changed since?"."""
    with FeedServer() as server:
        for path in ("/moved", "/renamed", "/off", "/plain", "/elsewhere"):
            server.add(path, feed, "application/atom+xml")
        polled(
            database_url,
            [
                source("moved", server.url("/moved")),
                source("renamed", server.url("/renamed")),
                source("off", server.url("/off")),
                source("plain", server.url("/plain")),
            ],
        )
        _forget_validators(database_url, "plain")
        sources = [
            source("moved", server.url("/elsewhere")),
            source("renamed", server.url("/renamed"), site_name="Warta Baru"),
            source("off", server.url("/off"), enabled=False),
            source("plain", server.url("/plain")),
        ]
        hits_before = len(server.requests)
        quick = asyncio.run(look(database_url, sources))
        asked = len(server.requests) - hits_before
    assert quick.unchanged == []
    assert [s.name for s in quick.rest] == ["moved", "renamed", "plain"]
    assert asked == 0


def test_errors_are_left_to_the_ordinary_poll_which_reports_them(
    database_url: str, feed: bytes
) -> None:
    with FeedServer() as server:
        for path in ("/broken", "/gone", "/slow"):
            server.add(path, feed, "application/atom+xml")
        sources = [
            source("broken", server.url("/broken")),
            source("gone", server.url("/gone")),
        ]
        polled(database_url, sources)
        server.add_status("/broken", 500)
        server.add_status("/gone", 404)
        before = rows(database_url)
        quick = asyncio.run(look(database_url, sources))
        assert [s.name for s in quick.rest] == ["broken", "gone"]
        db = open_database(database_url)
        reports = {r.source: r.error or "" for r in asyncio.run(poll_sources(db, quick.rest))}
        db.dispose()
    after = rows(database_url)
    assert "500" in reports["broken"] and "404" in reports["gone"]
    # Recorded once, by the ordinary poll, not twice.
    assert [after[n].consecutive_failures for n in ("broken", "gone")] == [1, 1]
    assert before["broken"].consecutive_failures == 0


def test_a_server_that_is_down_or_speaks_nonsense_is_left_to_the_ordinary_poll(
    tmp_path: Path, feed: bytes
) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        polled(url, [source("feed", server.url("/feed"))])
        port = server.url("/").split(":")[2].split("/")[0]
    nonsense = _nonsense_server()
    try:
        sources = [
            source("feed", f"http://127.0.0.1:{port}/feed"),  # its server has stopped
            source("odd", f"http://127.0.0.1:{nonsense}/feed"),
        ]
        _store_source(url, "odd", sources[1].url, etag='"x"')
        quick = asyncio.run(look(url, sources))
    finally:
        _stop_nonsense()
    assert quick.unchanged == []
    assert [s.name for s in quick.rest] == ["feed", "odd"]


def test_a_304_that_drips_is_given_up_at_the_quick_looks_deadline(
    tmp_path: Path, feed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its deadline is for the whole question: connecting and every byte of the answer."""
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        polled(url, [source("feed", server.url("/feed"))])
    head = b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nConnection: close\r\n\r\n'
    dripping = _nonsense_server(head, every=0.2)  # 12 s for the whole head
    monkeypatch.setattr(recheck, "TIMEOUT", 1.0)
    try:
        sources = [source("drip", f"http://127.0.0.1:{dripping}/feed")]
        _store_source(url, "drip", sources[0].url, etag='"x"')
        quick = asyncio.run(look(url, sources))
    finally:
        _stop_nonsense()
    assert quick.unchanged == [] and quick.rest == sources


def test_no_quick_look_at_a_database_that_is_missing_or_awaits_a_migration(
    tmp_path: Path, feed: bytes
) -> None:
    missing = tmp_path / "none" / "syndicate.db"
    sources = [source("feed", "http://127.0.0.1:9/feed")]
    quick = asyncio.run(look(f"sqlite:///{missing}", sources))
    assert quick.rest == sources and not missing.exists() and not missing.parent.exists()

    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("feed", server.url("/feed"))]
        polled(url, sources)
        import sqlite3

        with sqlite3.connect(tmp_path / "syndicate.db") as connection:
            connection.execute("UPDATE alembic_version SET version_num = '0001'")
        hits = len(server.requests)
        quick = asyncio.run(look(url, sources))
        assert len(server.requests) == hits
    assert quick.rest == sources and quick.unchanged == []


def test_a_source_behind_a_proxy_is_left_to_httpx(
    tmp_path: Path, feed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("feed", server.url("/feed"))]
        polled(url, sources)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        hits = len(server.requests)
        quick = asyncio.run(look(url, sources))
        assert len(server.requests) == hits
    assert quick.rest == sources


def test_an_unchanged_local_feed_file_is_confirmed_by_its_date(tmp_path: Path) -> None:
    path = write_sample_feed(tmp_path / "feed.xml")
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    sources = [source("local", path.as_uri())]
    polled(url, sources)
    assert asyncio.run(look(url, sources)).rest == []
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 60))
    assert asyncio.run(look(url, sources)).rest == sources


def test_an_https_feed_is_asked_over_tls_with_the_certificates_httpx_trusts(
    tmp_path: Path, feed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = make_tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))  # httpx honours it too
    plain.tls_context.cache_clear()
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    try:
        with FeedServer() as server:
            server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
            server.add("/feed", feed, "application/atom+xml")
            sources = [source("secure", server.url("/feed").replace("http:", "https:"))]
            polled(url, sources)
            trusted = asyncio.run(look(url, sources))
            monkeypatch.delenv("SSL_CERT_FILE")  # now the certificate is a stranger's
            plain.tls_context.cache_clear()
            untrusted = asyncio.run(look(url, sources))
    finally:
        plain.tls_context.cache_clear()
    assert [r.source for r in trusted.unchanged] == ["secure"] and trusted.rest == []
    assert untrusted.unchanged == [] and untrusted.rest == sources


def test_fetch_of_unchanged_feeds_never_loads_sqlalchemy_or_httpx(
    tmp_path: Path, feed: bytes
) -> None:
    """The point of the quick look: a second `syndicate fetch` costs its answers, not imports."""
    with FeedServer() as server:
        server.add("/a", feed, "application/atom+xml")
        server.add("/b", feed.replace(b"Warta", b"Kabar"), "application/atom+xml")
        (tmp_path / "jobs").mkdir()
        settings = tmp_path / "syndicate.toml"
        settings.write_text(
            "[site]\nname = 'Kabar'\nbase_url = 'https://kabar.example.id'\n\n"
            + "".join(
                f"[[sources]]\nname = '{n}'\nurl = '{server.url('/' + n)}'\n\n" for n in "ab"
            ),
            encoding="utf-8",
        )
        probe = (
            "import sys\nfrom syndicate.cli import main\n"
            f"code = main(['--config', {str(settings)!r}, 'fetch'])\n"
            "print('loaded:', sorted(m for m in ('sqlalchemy', 'httpx') if m in sys.modules))\n"
            "sys.exit(code)\n"
        )
        runs = [
            subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
            for _ in range(2)
        ]
        answers = [request.path for request in server.requests]
    first, second = runs
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "2 sources fetched: 8 new posts, 0 failed." in first.stdout
    assert "loaded: ['httpx', 'sqlalchemy']" in first.stdout
    assert "2 sources fetched: 0 new posts, 0 failed." in second.stdout
    assert "loaded: []" in second.stdout
    assert sorted(answers) == ["/a", "/a", "/b", "/b"]
    row = rows(f"sqlite:///{tmp_path / 'syndicate.db'}")["a"]
    assert row.last_fetched_at > utcnow() - timedelta(minutes=1)


def test_fetch_quick_look_works_on_postgresql(postgres_url: str, feed: bytes) -> None:
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("feed", server.url("/feed"))]
        polled(postgres_url, sources)
        before = rows(postgres_url)["feed"]
        quick = asyncio.run(look(postgres_url, sources))
    after = rows(postgres_url)["feed"]
    assert quick.rest == [] and quick.unchanged[0].not_modified
    assert after.last_fetched_at > before.last_fetched_at


# --- helpers ---------------------------------------------------------------------------


def _forget_validators(database_url: str, name: str) -> None:
    db = open_database(database_url)
    with db.session() as session:
        row = session.scalars(select(Source).where(Source.name == name)).one()
        row.etag = row.last_modified = None
    db.dispose()


def _store_source(database_url: str, name: str, url: str, *, etag: str) -> None:
    db = open_database(database_url)
    with db.session() as session:
        session.add(Source(name=name, url=url, etag=etag))
    db.dispose()


_nonsense: list = []


def _nonsense_server(answer: bytes = b"SSH-2.0-OpenSSH_9.2\r\n\r\n", every: float = 0) -> int:
    """A server that answers every request with a line that is not HTTP, then hangs up
    (or with `answer`, a byte every `every` seconds)."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                connection.recv(4096)
                for piece in [answer[i : i + 1] for i in range(len(answer))] if every else [answer]:
                    connection.sendall(piece)
                    time.sleep(every)

    threading.Thread(target=serve, daemon=True).start()
    _nonsense.append(listener)
    return listener.getsockname()[1]


def _stop_nonsense() -> None:
    while _nonsense:
        _nonsense.pop().close()


def test_a_scheduled_poll_asks_only_the_sources_that_are_due(
    database_url: str, feed: bytes
) -> None:
    """`syndicate run` polls with only_due: a source whose next poll is still to come is
    neither asked nor fetched, unless its settings changed (then its row is updated)."""
    with FeedServer() as server:
        for path in ("/due", "/later", "/moved", "/elsewhere"):
            server.add(path, feed, "application/atom+xml")
        sources = [
            source("due", server.url("/due")),
            source("later", server.url("/later")),
            source("moved", server.url("/moved")),
        ]
        polled(database_url, sources)
        _make_due(database_url, "due")
        sources[2] = source("moved", server.url("/elsewhere"))
        hits = len(server.requests)
        quick = asyncio.run(look(database_url, sources, only_due=True))
        asked = [request.path for request in server.requests[hits:]]
        _make_due(database_url, "due")  # the look above moved its next poll on
        hits = len(server.requests)
        db = open_database(database_url)
        reports = asyncio.run(poll_sources(db, sources, only_due=True))
        db.dispose()
        polled_paths = [request.path for request in server.requests[hits:]]
    assert [r.source for r in quick.unchanged] == ["due"]
    assert [s.name for s in quick.rest] == ["moved"]
    assert asked == ["/due"]
    # The whole scheduled poll: "due" confirmed by one request (the quick look's), "later"
    # left alone, "moved" recorded at its new address but not fetched before its time.
    assert [(r.source, r.not_modified) for r in reports] == [("due", True)]
    assert polled_paths == ["/due"]
    assert rows(database_url)["moved"].url == server.url("/elsewhere")


def _make_due(database_url: str, name: str) -> None:
    db = open_database(database_url)
    with db.session() as session:
        row = session.scalars(select(Source).where(Source.name == name)).one()
        row.next_poll_at = utcnow() - timedelta(seconds=1)
    db.dispose()


def test_a_failure_inside_the_quick_look_costs_only_the_shortcut(
    tmp_path: Path, feed: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("feed", server.url("/feed"))]
        polled(url, sources)

        def broken(*args: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(recheck, "healthy", broken)
        db = open_database(url)
        reports = asyncio.run(poll_sources(db, sources))
        db.dispose()
    assert [(r.source, r.not_modified, r.error) for r in reports] == [("feed", True, None)]
    assert "the quick look at the feeds failed" in caplog.text


def test_an_at_sign_in_the_path_is_no_credential(tmp_path: Path, feed: bytes) -> None:
    """medium.com/feed/@newsroom style addresses are asked like any other."""
    url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    with FeedServer() as server:
        server.add("/feed/@newsroom", feed, "application/atom+xml")
        sources = [source("medium", server.url("/feed/@newsroom"))]
        polled(url, sources)
        quick = asyncio.run(look(url, sources))
    assert [r.source for r in quick.unchanged] == ["medium"] and quick.rest == []


def test_a_304_with_a_validator_that_cannot_be_sent_back_keeps_the_stored_one(
    database_url: str, feed: bytes
) -> None:
    """Stored, a validator that is not ASCII, from a 304, failed every later poll before a
    request left."""
    with FeedServer() as server:
        route = server.add("/feed", feed, "application/atom+xml")
        sources = [source("warta", server.url("/feed"))]
        polled(database_url, sources)
        stored = rows(database_url)["warta"].last_modified
        assert stored
        route.last_modified = "Sen, 7 Des 2026 caf\u00e9"  # a 304's (the ETag still matches)
        quick = asyncio.run(look(database_url, sources))
    assert [r.source for r in quick.unchanged] == ["warta"]
    assert rows(database_url)["warta"].last_modified == stored
