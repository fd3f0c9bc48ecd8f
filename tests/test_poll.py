"""Polling sources into the database: stored once, validators kept, failures recorded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from syndicate.config import Source as SourceConfig
from syndicate.db.models import Post, Source, utcnow
from syndicate.db.session import Database, open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from tests.corpus import CORPUS
from tests.feedserver import FeedServer


def source(name: str, url: str, poll: str = "15m") -> SourceConfig:
    minutes = int(poll.removesuffix("m"))
    return SourceConfig(name, url, timedelta(minutes=minutes), None, True)


def test_a_feed_polled_twice_stores_each_post_once_and_answers_304(
    database_url: str, tmp_path: Path
) -> None:
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("warta", server.url("/feed"))]
        first = asyncio.run(poll_sources(db, sources))
        second = asyncio.run(poll_sources(db, sources))
        conditional = server.requests[-1].headers
    with db.session() as session:
        posts = session.scalar(select(func.count()).select_from(Post))
        row = session.scalars(select(Source)).one()
    db.dispose()
    assert first[0].new_posts == posts == 8
    assert second[0].not_modified and second[0].new_posts == 0
    assert conditional.get("if-none-match") == row.etag
    assert row.site_name == "Warta Nusantara Online"
    assert row.consecutive_failures == 0 and row.last_error is None


def test_a_304_without_validators_keeps_the_stored_ones(database_url: str, tmp_path: Path) -> None:
    """Some servers answer 304 without ETag or Last-Modified: the next poll stays conditional."""
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        route = server.add("/feed", feed, "application/atom+xml")
        sources = [source("warta", server.url("/feed"))]
        asyncio.run(poll_sources(db, sources))
        # From now on the server sends no validators, on its 304s either.
        server._server.RequestHandlerClass._validators = lambda self, route: None  # type: ignore[attr-defined]
        second = asyncio.run(poll_sources(db, sources))
        third = asyncio.run(poll_sources(db, sources))
        conditional = server.requests[-1].headers
    with db.session() as session:
        row = session.scalars(select(Source)).one()
    db.dispose()
    assert second[0].not_modified and third[0].not_modified
    assert conditional.get("if-none-match") == route.etag
    assert (row.etag, row.last_modified) == (route.etag, route.last_modified)


def test_validators_the_rows_no_longer_hold_are_not_sent_when_the_store_opens(
    tmp_path: Path,
) -> None:
    """A poll fetches its first feeds with the validators the quick look read, while its
    store opens; should the rows say otherwise by then (the database file put back from a
    copy, another poll's write), the feed is read again as the rows say: a 304 for the
    old validators must not leave the new database without the feed's posts."""
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("warta", server.url("/feed"))]
        first = open_database(f"sqlite:///{tmp_path / 'first.db'}")
        asyncio.run(poll_sources(first, sources))
        with first.session() as session:
            row = session.scalars(select(Source)).one()
            read_by_the_look = {"warta": (row.etag, row.last_modified)}
        first.dispose()
        assert read_by_the_look["warta"] != (None, None)
        replaced = f"sqlite:///{tmp_path / 'replaced.db'}"
        opened = []

        def open_replaced():  # as `syndicate fetch` opens it: in the poll's storing thread
            opened.append(open_database(replaced))
            return opened[-1]

        [report] = asyncio.run(
            poll_sources(
                open_replaced, sources, look_first=False, validators=read_by_the_look, workers=0
            )
        )
        last = server.requests[-1].headers
    (db,) = opened
    with db.session() as session:
        posts = session.scalar(select(func.count()).select_from(Post))
        etag = session.scalars(select(Source.etag)).one()
    db.dispose()
    assert report.new_posts == posts == 8 and not report.not_modified
    assert "if-none-match" not in last and "if-modified-since" not in last
    assert etag == read_by_the_look["warta"][0]


def test_a_broken_source_is_recorded_and_stops_no_other(database_url: str) -> None:
    tails = (CORPUS / "rss2email" / "tails" / "feed.rss").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        server.add("/good", tails, "application/rss+xml")
        server.add("/garbage", b"<html><body>Maintenance</body></html>", "text/html")
        server.add_status("/busy", 429, {"Retry-After": "7200"})
        sources = [
            source("good", server.url("/good")),
            source("garbage", server.url("/garbage")),
            source("busy", server.url("/busy")),
            source("down", "http://127.0.0.1:9/feed"),
        ]
        reports = {r.source: r for r in asyncio.run(poll_sources(db, sources))}
        asyncio.run(poll_sources(db, sources[1:2]))
    with db.session() as session:
        rows = {row.name: row for row in session.scalars(select(Source))}
    db.dispose()
    assert reports["good"].new_posts > 0 and reports["good"].error is None
    for name in ("garbage", "busy", "down"):
        assert reports[name].error and reports[name].error.count("\n") == 0
        assert rows[name].last_error == reports[name].error
    assert server.url("/garbage") in rows["garbage"].last_error
    assert rows["garbage"].consecutive_failures == 2
    assert rows["down"].consecutive_failures == 1
    # The server asked for two hours: the next poll is not sooner.
    assert rows["busy"].next_poll_at - utcnow() > timedelta(hours=1, minutes=55)
    # A source failing twice waits longer than its interval before the next try.
    assert rows["garbage"].next_poll_at - utcnow() > timedelta(minutes=25)


def test_only_due_sources_are_polled(database_url: str, tmp_path: Path) -> None:
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        sources = [source("warta", server.url("/feed"))]
        asyncio.run(poll_sources(db, sources))
        again = asyncio.run(poll_sources(db, sources, only_due=True))
        hits = server.hits("/feed")
    db.dispose()
    assert again == [] and hits == 1


def test_a_sources_latest_posts_are_read_through_an_index(tmp_path: Path) -> None:
    """Each changed source's latest posts are read on every poll (to learn its theme): by a
    scan of every stored post, a first poll of many sources cost the square of its posts."""
    from syndicate.ingest.store import LATEST_POSTS

    db = open_database(f"sqlite:///{tmp_path / 'plan.db'}")
    statement = LATEST_POSTS.params(source="kabar")
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.engine.connect() as connection:
        plan = " ".join(
            str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "USING INDEX ix_posts_source" in plan
    assert "SCAN posts" not in plan


def test_a_polled_posts_dates_are_stored_as_the_database_layer_writes_them(
    database_url: str, tmp_path: Path
) -> None:
    """New posts are inserted through the database's driver, each value through its
    column's own conversion: a date compared in SQL with one the ORM binds is equal
    (stored in another text form, SQLite would compare it wrongly), and reads back alike."""
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        asyncio.run(poll_sources(db, [source("warta", server.url("/feed"))]))
    with db.session() as session:
        posts = session.execute(select(Post.id, Post.published_at, Post.first_seen_at)).all()
        found = [
            session.scalar(
                select(Post.id).where(
                    Post.published_at == published, Post.first_seen_at == first_seen
                )
            )
            for _, published, first_seen in posts
        ]
    db.dispose()
    assert len(posts) == 8
    assert found == [post_id for post_id, _, _ in posts]
    assert all(published.tzinfo is not None for _, published, _ in posts)


def test_a_source_another_poll_adds_at_the_same_moment_is_no_error(
    database_url: str, tmp_path: Path, monkeypatch
) -> None:
    """Two `syndicate fetch` on a new database both add the same sources: the one whose
    insert comes second reads the other's rows and polls on, instead of stopping."""
    from contextlib import contextmanager

    from sqlalchemy import event, insert

    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    own_session = db.session
    raced = []

    def the_other_poll(session, context, instances) -> None:
        if not raced:  # it adds the same source and commits first
            raced.append(True)
            with db.engine.begin() as connection:
                connection.execute(insert(Source).values(name="warta", url="https://x.example"))

    @contextmanager
    def racing_session():
        with own_session() as session:
            event.listen(session, "before_flush", the_other_poll)
            yield session

    monkeypatch.setattr(db, "session", racing_session)
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        [report] = asyncio.run(poll_sources(db, [source("warta", server.url("/feed"))]))
    monkeypatch.undo()
    with db.session() as session:
        rows = session.scalars(select(Source)).all()
        posts = session.scalar(select(func.count()).select_from(Post))
    db.dispose()
    assert raced and report.error is None and report.new_posts == posts == 8
    assert [(row.name, row.url) for row in rows] == [("warta", server.url("/feed"))]


def test_a_database_that_stops_taking_writes_mid_poll_stops_it_in_one_sentence(
    database_url: str, tmp_path: Path
) -> None:
    """A database gone read-only (or full) while a poll stores: the poll stops with one
    sentence, no feed is marked failing for it, and the next poll reads them again.
    (PostgreSQL says "read-only" with an error of another class than SQLite's.)"""
    import pytest

    from syndicate.db.session import DatabaseError

    first = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        server.add("/feed", first, "application/atom+xml")
        names = ("warta", "kabar", "pos", "suara", "warga")
        for name in names[1:]:
            server.add(f"/{name}", first.replace(b"warta", name.encode()), "application/atom+xml")
        sources = [
            replace(  # the feed's own text: the sample's article pages are not served
                source(name, server.url("/feed" if name == "warta" else f"/{name}")),
                full_text="never",
            )
            for name in names
        ]
        asyncio.run(poll_sources(db, sources, workers=0))
        for name in names:  # every feed changed: every source has posts to store
            path = "/feed" if name == "warta" else f"/{name}"
            changed = first.replace(b"warta", name.encode()).replace(b"/20", b"/baru/20")
            server.add(path, changed, "application/atom+xml")
        _take_no_write(db)
        with pytest.raises(DatabaseError) as stopped:
            asyncio.run(poll_sources(db, sources, workers=0))
        db.dispose()
        db = open_database(database_url)
        with db.session() as session:
            rows = session.scalars(select(Source).order_by(Source.id)).all()
            failing = [(row.name, row.consecutive_failures) for row in rows]
            blamed = [row.name for row in rows if "database" in (row.last_error or "")]
        reports = asyncio.run(poll_sources(db, sources, workers=0))
    db.dispose()
    sentence = str(stopped.value)
    assert sentence.startswith("The poll stopped: the database could not store")
    assert "read" in sentence.lower() and "only" in sentence.lower() and "\n" not in sentence
    assert failing == [(name, 0) for name in names] and blamed == []
    assert all(report.error is None and report.new_posts > 0 for report in reports)


def test_a_read_only_database_stops_a_poll_with_only_failures_and_304s_to_record(
    database_url: str, tmp_path: Path
) -> None:
    """With no post to store, a poll still writes each source's health: a database that
    takes no write stops it in the same one sentence (it printed two tracebacks, and the
    command said it had fetched the sources)."""
    import pytest

    from syndicate.db.session import DatabaseError

    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    db = open_database(database_url)
    with FeedServer() as server:
        server.add("/feed", feed, "application/atom+xml")
        fine = replace(source("warta", server.url("/feed")), full_text="never")
        asyncio.run(poll_sources(db, [fine], workers=0))
        with db.session() as session:
            row = session.scalars(select(Source)).one()
            validators = {"warta": (row.etag, row.last_modified)}
        _take_no_write(db)
        for polled in ([fine], [fine, source("hilang", server.url("/hilang"))]):
            with pytest.raises(DatabaseError) as stopped:  # a 304 to record; and a failure
                asyncio.run(
                    poll_sources(db, polled, workers=0, look_first=False, validators=validators)
                )
            sentence = str(stopped.value)
            assert sentence.startswith("The poll stopped: the database could not store")
            assert "\n" not in sentence
        assert server.hits("/feed") >= 3  # answered, 304, and not the reason it stopped
    db.dispose()


def test_two_sources_numbering_their_items_alike_keep_each_others_posts(
    database_url: str,
) -> None:
    """Feeds without links, whose GUIDs are "1", "2", "3" in each: one source's item 1 is
    not another's. Both keep their posts, and a poll reading the feeds again stores none
    twice; the same feed under two names is still stored once."""

    def feed(site: str, extra: str = "") -> bytes:
        items = "".join(
            f"<item><guid isPermaLink='false'>{n}</guid><title>{site} kabar {n}</title>"
            f"<description>Isi berita {n} dari {site}, panjang dan berbeda.</description></item>"
            for n in (1, 2, 3)
        )
        rss = f"<?xml version='1.0'?><rss version='2.0'><channel><title>{site}</title>{items}"
        return f"{rss}</channel></rss>{extra}".encode()

    db = open_database(database_url)
    with FeedServer() as server:
        for site in ("warta", "kabar"):
            server.add(f"/{site}", feed(site), "application/rss+xml")
        sources = [source(name, server.url(f"/{name}")) for name in ("kabar", "warta")]
        sources.append(source("warta-again", server.url("/warta")))
        # One after another: kabar takes the bare GUIDs, warta's differ, warta-again's
        # are warta's own items.
        first = [asyncio.run(poll_sources(db, [each], workers=0))[0] for each in sources]
        for site in ("warta", "kabar"):  # read again whole: another ETag, the same items
            server.add(f"/{site}", feed(site, "\n"), "application/rss+xml")
        second = asyncio.run(poll_sources(db, sources, workers=0))
    with db.session() as session:
        stored = session.execute(select(Source.name, Post.title).join(Post.source)).all()
    db.dispose()
    titles = sorted(title for _, title in stored)
    assert titles == sorted(f"{site} kabar {n}" for site in ("warta", "kabar") for n in (1, 2, 3))
    assert sum(report.new_posts for report in first) == 6
    assert sum(report.new_posts for report in second) == 0
    assert not any(report.not_modified for report in second if report.source != "warta-again")


def test_a_poll_the_database_stopped_ends_every_source_before_it_says_so() -> None:
    """Should one source's storing stop the poll, the sources still being read are
    cancelled before the poll ends: none goes on to a storing thread that has stopped
    (where it failed, and was marked failing though its feed was fine)."""
    import pytest

    from syndicate.db.session import DatabaseError
    from syndicate.ingest.poll import _all_or_none

    went_on: list[str] = []

    async def stopping() -> None:
        await asyncio.sleep(0)
        raise DatabaseError("The poll stopped: the database could not store what was read.")

    async def still_reading() -> None:
        await asyncio.sleep(0.5)
        went_on.append("stored")

    async def poll() -> None:
        with pytest.raises(DatabaseError):
            await _all_or_none([stopping(), still_reading()])
        await asyncio.sleep(1)  # what the poll's teardown awaits

    asyncio.run(poll())
    assert went_on == []


def _take_no_write(db: Database) -> None:
    """From now on the database's connections take no write: a read-only SQLite file, a
    PostgreSQL session whose transactions are read-only."""
    from sqlalchemy import event

    def read_only(dbapi, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi.cursor()
        if db.is_sqlite:
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi.commit()
        cursor.close()

    event.listen(db.engine, "connect", read_only)
    db.engine.dispose()  # the connections made so far are closed
