"""No feed can stop the poller: generated hostile entries in RSS, Atom and JSON Feed.

Every field of an entry is poisoned in turn (tests/hostile_entries.py): NUL and the other controls,
escape sequences, a megabyte of text, huge and negative numbers, dates in year 0 and
99999, bytes that are not UTF-8, lone surrogates. Each poisoned feed keeps its good
entries, every entry is stored fitted to its columns on SQLite and PostgreSQL, an entry
the database still refuses costs only itself, and a source that fails is recorded as
failing while the other sources and the jobs carry on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from syndicate.channels.registry import build_channels
from syndicate.config import Source as SourceConfig
from syndicate.config import load_config
from syndicate.db.fit import EARLIEST, LATEST
from syndicate.db.models import JobRun, Post, Source
from syndicate.db.session import Database, open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest.parse import parse_feed
from syndicate.ingest.poll import poll_sources
from syndicate.scheduler import Clock
from tests.feedserver import FeedServer
from tests.hostile_entries import GOOD, hostile_feeds

FEEDS = list(hostile_feeds())
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
TEXT_COLUMNS = ("key", "guid", "url", "title", "content_html", "excerpt", "author", "image_url")
INT32 = 2**31 - 1

SETTINGS = """\
[site]
name = "Kabar Pilihan"
timezone = "Asia/Jakarta"

[database]
url = "{database_url}"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "warta"
url = "{calm_url}"
full_text = "never"

{hostile_sources}
[channels.kanal]
type = "outbox"
medium = "telegram"
path = "outbox"
chat_id = "@kabarpilihan"
"""


def good_titles() -> set[str]:
    return {f"good {n}" for n in range(1, GOOD + 1)}


def sources_of(server: FeedServer) -> list[SourceConfig]:
    return [
        # Short posts count as teasers; their pages (hostile.example) are not the point here.
        SourceConfig(
            feed.name, server.url(feed.path), timedelta(minutes=15), None, True, full_text="never"
        )
        for feed in FEEDS
    ]


@pytest.fixture
def hostile_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        for feed in FEEDS:
            server.add(feed.path, feed.body, feed.content_type)
        yield server


def stored_posts(db: Database) -> dict[str, list[Post]]:
    with db.session() as session:
        rows = session.execute(select(Source.name, Post).join(Post.source)).all()
    posts: dict[str, list[Post]] = {}
    for name, post in rows:
        posts.setdefault(name, []).append(post)
    return posts


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("feed", FEEDS, ids=[feed.name for feed in FEEDS])
def test_every_hostile_entry_is_read_and_the_good_ones_are_whole(feed) -> None:
    parsed = parse_feed(feed.body, url=f"https://example.org{feed.path}", content_type=None)
    assert parsed.dropped == ()
    titles = {entry.title for entry in parsed.entries}
    assert good_titles() <= titles
    assert len(parsed.entries) > GOOD + 3  # the poisoned entries are read too
    for entry in parsed.entries:
        assert entry.comments is None or 0 <= entry.comments <= 10_000_000
        for when in (entry.published_at, entry.updated_at):
            assert when is None or when.tzinfo is not None


def test_an_entry_that_cannot_be_read_is_left_out_and_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from syndicate.ingest import parse

    real = parse._make_entry

    def refuse_one(**fields):
        if fields["title"] == "good 2":
            raise RuntimeError("a bug met a strange entry")
        return real(**fields)

    monkeypatch.setattr(parse, "_make_entry", refuse_one)
    feed = next(feed for feed in FEEDS if feed.name == "rss-clean")
    parsed = parse_feed(feed.body, url="https://example.org/rss-clean")
    titles = {entry.title for entry in parsed.entries}
    assert "good 1" in titles and "good 3" in titles and "good 2" not in titles
    assert len(parsed.dropped) == 1
    assert "entry 2 ('good-2')" in parsed.dropped[0]
    assert "a bug met a strange entry" in parsed.dropped[0]


# --- storing -------------------------------------------------------------------------------


def test_hostile_entries_are_stored_fitted_and_the_good_ones_arrive(
    database_url: str, hostile_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_database(database_url)
    try:
        with caplog.at_level(logging.WARNING):
            reports = asyncio.run(poll_sources(db, sources_of(hostile_server), workers=0))
        assert {report.source: report.error for report in reports} == {
            feed.name: None for feed in FEEDS
        }
        posts = stored_posts(db)
        with db.session() as session:
            health = {row.name: row.consecutive_failures for row in session.scalars(select(Source))}
    finally:
        db.dispose()
    assert health == {feed.name: 0 for feed in FEEDS}
    for feed in FEEDS:
        titles = {post.title for post in posts[feed.name]}
        assert good_titles() <= titles, feed.name
        assert len(titles) > GOOD, f"{feed.name}: the poisoned entries are stored too"
    for post in (post for source in posts.values() for post in source):
        for column in TEXT_COLUMNS:
            value = getattr(post, column)
            assert value is None or not CONTROL.search(value), (column, value[:80])
        assert len(post.title) <= 1000 and len(post.key) <= 700
        assert post.comments is None or 0 <= post.comments <= INT32
        for when in (post.published_at, post.updated_at):
            assert when is None or EARLIEST <= when <= LATEST
    assert "Traceback" not in caplog.text


def test_an_entry_the_database_refuses_costs_only_itself(
    database_url: str, hostile_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The refused entry is left out, said in the poll's report (which `syndicate fetch`
    prints) and on the source, and read again at the next poll: the feed is then asked
    for whole, not "changed since?", so the entry is offered to the database again."""
    db = open_database(database_url)
    try:
        refuse_title(db, "good 2")
        rss = [source for source in sources_of(hostile_server) if source.name == "rss-clean"]
        with caplog.at_level(logging.WARNING, logger="syndicate.ingest.poll"):
            [report] = asyncio.run(poll_sources(db, rss, workers=0))
        posts = stored_posts(db)["rss-clean"]
        titles = {post.title for post in posts}
        with db.session() as session:
            row = session.scalars(select(Source).where(Source.name == "rss-clean")).one()
            failures, error, etag = row.consecutive_failures, row.last_error, row.etag
        with db.engine.begin() as connection:  # the database takes it now
            connection.execute(text("DROP TRIGGER refuse" + ("" if db.is_sqlite else " ON posts")))
        [again] = asyncio.run(poll_sources(db, rss, workers=0))
        later = {post.title for post in stored_posts(db)["rss-clean"]}
    finally:
        db.dispose()
    assert report.error is None and failures == 0 and etag is None
    [problem] = report.problems
    assert "https://example.org/rss-clean/good/2" in problem and "refused" in problem
    assert error is not None and "https://example.org/rss-clean/good/2" in error
    assert {"good 1", "good 3"} <= titles and "good 2" not in titles
    assert report.new_posts == len(posts) > GOOD
    [refused] = [r for r in caplog.records if "left out" in r.getMessage()]
    assert refused.levelno == logging.WARNING
    assert "rss-clean" in refused.getMessage()
    assert "https://example.org/rss-clean/good/2" in refused.getMessage()
    assert not again.not_modified and again.new_posts == 1 and "good 2" in later


def test_copies_of_a_refused_post_name_their_cluster_after_the_first_one_stored(
    database_url: str,
) -> None:
    """Posts are placed in their clusters before they are stored: when the database then
    refuses the post a story began with, its stored copies name the story after the first of
    them, and a later copy joins that name, not the id of a post that is not there."""
    article = " ".join(
        f"Kalimat ke-{n} tentang banjir bandang yang melanda kawasan hulu sungai Ciliwung "
        f"pada pekan ini menurut laporan petugas nomor {n * 7}."
        for n in range(1, 16)
    )
    title = "Banjir bandang melanda hulu Ciliwung pekan ini"
    items = "".join(
        f"<item><title>{title}{suffix}</title><link>https://example.org/banjir/{n}</link>"
        f"<guid>https://example.org/banjir/{n}</guid><description>{article}</description>"
        f"<pubDate>Mon, 30 Nov 2026 0{n}:00:00 +0000</pubDate></item>"
        for n, suffix in ((3, ""), (2, " (2)"), (1, " (3)"))
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Warta</title>{items}'
    feed += "</channel></rss>"
    later = feed.replace("banjir/3", "banjir/4").replace(title + "<", title + " (4)<")
    db = open_database(database_url)
    try:
        refuse_title(db, title)  # the newest entry comes first in the feed, and is refused
        with FeedServer() as server:
            server.add("/feed", feed.encode(), "application/rss+xml")
            server.add("/later", later.encode(), "application/rss+xml")
            first = SourceConfig("warta", server.url("/feed"), timedelta(minutes=15), None, True)
            asyncio.run(poll_sources(db, [first], workers=0))
            second = SourceConfig("kabar", server.url("/later"), timedelta(minutes=15), None, True)
            asyncio.run(poll_sources(db, [second], workers=0))
        with db.session() as session:
            rows = session.execute(select(Post.url, Post.id, Post.cluster_id)).all()
    finally:
        db.dispose()
    stored = {url.rsplit("/", 1)[1]: (post_id, cluster) for url, post_id, cluster in rows}
    assert set(stored) == {"1", "2", "4"}  # "3", the first placed, was refused
    ids = {post_id for post_id, _ in stored.values()}
    first_stored = stored["2"][0]
    assert {cluster for _, cluster in stored.values()} == {first_stored} <= ids


def test_a_source_that_cannot_be_stored_is_recorded_failing_and_the_others_arrive(
    database_url: str, hostile_server: FeedServer
) -> None:
    db = open_database(database_url)
    try:
        refuse_health(db, "json-escaped")
        reports = asyncio.run(poll_sources(db, sources_of(hostile_server), workers=0))
        errors = {report.source: report.error for report in reports}
        posts = stored_posts(db)
        with db.session() as session:
            rows = {row.name: row for row in session.scalars(select(Source))}
    finally:
        db.dispose()
    assert errors["json-escaped"] and "refused by the test" in errors["json-escaped"]
    assert rows["json-escaped"].consecutive_failures == 1
    assert "refused by the test" in rows["json-escaped"].last_error
    assert rows["json-escaped"].next_poll_at is not None
    assert "json-escaped" not in posts  # its transaction was rolled back whole
    for name in {feed.name for feed in FEEDS} - {"json-escaped"}:
        assert errors[name] is None and rows[name].consecutive_failures == 0
        assert good_titles() <= {post.title for post in posts[name]}


def refuse_title(db: Database, title: str) -> None:
    """A trigger that makes the database refuse one post, as no fitting can foresee."""
    with db.engine.begin() as connection:
        if db.is_sqlite:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON posts "
                    f"WHEN NEW.title = '{title}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.title = '{title}' THEN RAISE EXCEPTION 'refused by the test'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON posts "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


def refuse_health(db: Database, name: str) -> None:
    """A trigger that refuses to record a source as healthy (its failure still goes in)."""
    with db.engine.begin() as connection:
        if db.is_sqlite:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON sources "
                    f"WHEN NEW.name = '{name}' AND NEW.last_error IS NULL "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.name = '{name}' AND NEW.last_error IS NULL THEN "
                    "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON sources "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


# --- the clock -----------------------------------------------------------------------------


def test_a_poll_that_raises_does_not_fail_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = write_site(tmp_path, f"sqlite:///{tmp_path / 'site.db'}", 'every = "1h"', [])
    config = load_config(settings)
    db = open_database(config.database_url)
    try:
        asyncio.run(poll_sources(db, config.sources))  # the calm feed's posts are stored

        async def broken_poll(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the poll broke")

        monkeypatch.setattr("syndicate.scheduler.poll_sources", broken_poll)
        clock = Clock(db, config, build_channels(config), deliver=False)
        slot = datetime(2026, 1, 5, tzinfo=UTC)
        outcome = asyncio.run(clock._run_slot(config.job("kilat"), slot, None))
        with db.session() as session:
            runs = [(run.scheduled_for, run.outcome) for run in session.scalars(select(JobRun))]
    finally:
        db.dispose()
    assert outcome.note != "failed" and outcome.queued > 0
    assert runs == [(slot, "edition")]
    assert "the poll broke" in caplog.text


def write_site(folder: Path, database_url: str, schedule: str, hostile: list[str]) -> Path:
    calm = write_sample_feed(folder / "calm.xml")
    (folder / "jobs").mkdir()
    (folder / "jobs" / "kilat.toml").write_text(
        f'{schedule}\nchannels = ["kanal"]\nformat = "each"\n[select]\nnew = 3\nwindow = "3650d"\n',
        encoding="utf-8",
    )
    sources = "".join(
        f'[[sources]]\nname = "{url.rsplit("/", 1)[1]}"\nurl = "{url}"\nfull_text = "never"\n\n'
        for url in hostile
    )
    settings = folder / "syndicate.toml"
    settings.write_text(
        SETTINGS.format(database_url=database_url, calm_url=calm.as_uri(), hostile_sources=sources),
        encoding="utf-8",
    )
    return settings


@pytest.mark.slow
def test_syndicate_run_beside_hostile_feeds_stores_and_sends_on_schedule(
    tmp_path: Path, database_url: str, hostile_server: FeedServer
) -> None:
    hostile = [hostile_server.url(feed.path) for feed in FEEDS]
    settings = write_site(tmp_path, database_url, 'every = "2s"', hostile)
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--config", str(settings), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    db = open_database(database_url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (editions(db) >= 2 and all_arrived(db)):
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        arrived, runs, failed = all_arrived(db), editions(db), editions(db, ("failed",))
    finally:
        if process.poll() is None:
            process.kill()
        db.dispose()
    assert process.returncode == 0, stderr
    assert arrived, stderr
    assert runs >= 2 and failed == 0, f"slots of a 2 s job: {runs} ran, {failed} failed\n{stderr}"
    assert list((tmp_path / "outbox").glob("*.json")), "the job's posts were delivered"
    assert "Traceback" not in stderr and "ERROR" not in stderr


def editions(db: Database, outcomes: tuple[str, ...] = ("edition", "empty")) -> int:
    """How many of the job's slots ran to one of `outcomes`."""
    with db.session() as session:
        runs = session.scalars(select(JobRun.outcome)).all()
    return sum(outcome in outcomes for outcome in runs)


def all_arrived(db: Database) -> bool:
    posts = stored_posts(db)
    calm = bool(posts.get("warta"))
    return calm and all(
        good_titles() <= {post.title for post in posts.get(feed.name, [])} for feed in FEEDS
    )
