"""Feeds parsed in worker processes: the same posts as in a thread, errors intact, no leftovers."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.config import Source as SourceConfig
from syndicate.db.models import Post, Source
from syndicate.db.session import open_database
from syndicate.ingest.parse import FeedError
from syndicate.ingest.poll import poll_sources
from syndicate.ingest.workers import PARALLEL_FROM, PARSER_NICENESS, FeedParsers
from tests.corpus import CORPUS
from tests.feedserver import FeedServer

FEEDS = {
    "tails": ("rss2email/tails/feed.rss", "application/rss+xml"),
    "quiltville": ("rss2email/quiltville/feed.atom", "application/atom+xml"),
    "bbc": ("rss2email/bbc-chinese/feed.atom", "application/atom+xml"),
    "tumblr": ("rss2email/tumblr/feed.rss", "application/rss+xml"),
    "gmane": ("rss2email/gmane/feed.rss", "application/rss+xml"),
}


Polled = tuple[dict[str, list[tuple]], dict[str, str | None]]  # posts by source, errors


def _poll(database_url: str, server: FeedServer, workers: int) -> Polled:
    db = open_database(database_url)
    # Parsing is what is compared: the corpus feeds' article pages (on the internet) are
    # not read.
    sources = [
        SourceConfig(name, server.url(f"/{name}"), timedelta(minutes=15), None, True, "never")
        for name in FEEDS
    ]
    sources.append(SourceConfig("broken", server.url("/broken"), timedelta(minutes=15), None, True))
    reports = asyncio.run(poll_sources(db, sources, workers=workers))
    with db.session() as session:
        stored = session.execute(
            select(Source.name, Post.key, Post.title, Post.excerpt, Post.origin_name)
            .join(Post.source)
            .order_by(Post.key)
        ).all()
        errors = dict(session.execute(select(Source.name, Source.last_error)).all())
    db.dispose()
    posts: dict[str, list[tuple]] = {}
    for name, *post in stored:
        posts.setdefault(name, []).append(tuple(post))
    assert {report.source for report in reports} == {*FEEDS, "broken"}
    return posts, errors


@pytest.fixture
def served() -> FeedServer:
    with FeedServer() as server:
        for name, (path, kind) in FEEDS.items():
            server.add(f"/{name}", (CORPUS / path).read_bytes(), kind)
        server.add("/broken", b"<html><body>Maintenance</body></html>", "text/html")
        yield server


def test_a_poll_in_worker_processes_stores_what_a_poll_in_threads_stores(
    database_url: str, served: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="syndicate.ingest.workers"):
        posts, errors = _poll(database_url, served, workers=2)
    # Only a dead or unstartable worker sends a poll back to threads, and it says so.
    assert "parses feeds one at a time" not in caplog.text
    assert multiprocessing.active_children() == []  # the workers and their server are gone
    posts_in_threads, errors_in_threads = _poll(
        f"sqlite:///{tmp_path / 'threads.db'}", served, workers=0
    )
    assert posts == posts_in_threads
    assert set(posts) == set(FEEDS)
    assert sum(map(len, posts.values())) > 50
    # The broken feed's one sentence came back from the worker as it would from a thread.
    assert errors["broken"] == errors_in_threads["broken"]
    assert "this is not an RSS, Atom or JSON feed" in (errors["broken"] or "")
    assert all(errors[name] is None for name in FEEDS)


def test_a_big_poll_uses_worker_processes_and_a_small_one_does_not() -> None:
    cores = len(os.sched_getaffinity(0))
    assert FeedParsers(PARALLEL_FROM - 1).workers == 0
    assert FeedParsers(PARALLEL_FROM).workers == (cores if cores > 1 else 0)
    assert FeedParsers(1, workers=3).workers == 3


def test_a_worker_that_dies_costs_no_feed(caplog: pytest.LogCaptureFixture) -> None:
    body = (CORPUS / FEEDS["tails"][0]).read_bytes()

    async def scenario() -> list[int]:
        counts = []
        async with FeedParsers(1, workers=1) as parsers:
            first = await parsers.parse(
                body, url="https://t.example/", content_type=None, timezone=None
            )
            counts.append(len(first.entries))
            for process in list(parsers._pool._processes.values()):  # type: ignore[union-attr]
                os.kill(process.pid, signal.SIGKILL)
                process.join()
            second = await parsers.parse(
                body, url="https://t.example/", content_type=None, timezone=None
            )
            counts.append(len(second.entries))
            assert not parsers.parallel  # the rest of the poll parses in threads
            with pytest.raises(FeedError, match="not an RSS"):
                await parsers.parse(
                    b"<html></html>",
                    url="https://t.example/x",
                    content_type="text/html",
                    timezone=None,
                )
        return counts

    with caplog.at_level(logging.WARNING, logger="syndicate.ingest.workers"):
        counts = asyncio.run(scenario())
    assert counts[0] == counts[1] > 0
    assert "stopped unexpectedly" in caplog.text
    assert multiprocessing.active_children() == []


def test_parsing_processes_yield_the_core_to_the_poll_that_stores() -> None:
    """The poll's own process stores and clusters one source after another while the
    parsing processes read feeds: they run at a lower priority, so it never waits for a core."""
    body = (CORPUS / FEEDS["tails"][0]).read_bytes()

    async def scenario() -> list[int]:
        async with FeedParsers(1, workers=2) as parsers:
            await parsers.parse(body, url="https://t.example/", content_type=None, timezone=None)
            pids = [p.pid for p in parsers._pool._processes.values()]  # type: ignore[union-attr]
            return [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids]

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    theirs = asyncio.run(scenario())
    assert theirs and all(niceness == min(19, mine + PARSER_NICENESS) for niceness in theirs)
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # the poll's own is untouched


def test_a_poll_killed_outright_leaves_no_parsing_process_behind(tmp_path: Path) -> None:
    """`kill -9` of the poll's process (a cron job's timeout): its parsing processes, the
    fork server and the resource tracker end too, instead of waiting forever."""
    import subprocess
    import sys
    import time

    script = f"""
import multiprocessing.forkserver, multiprocessing.resource_tracker
{_four_feeds_parsed(tmp_path)}
        pids = [p.pid for p in parsers._pool._processes.values()]
        pids.append(multiprocessing.forkserver._forkserver._forkserver_pid)
        pids.append(multiprocessing.resource_tracker._resource_tracker._pid)
        print(*pids, flush=True)
        time.sleep(600)

asyncio.run(poll())
"""
    poll = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert poll.stdout is not None
    pids = [int(pid) for pid in poll.stdout.readline().split()]
    assert len(pids) == 4 and all(pids), pids
    poll.kill()
    poll.wait()
    poll.stdout.close()
    deadline = time.monotonic() + 60  # generous: they go within a second or so
    left = pids
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [pid for pid in pids if _running(pid)]
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_ctrl_c_stops_a_poll_without_a_traceback_from_its_parsing_processes(
    tmp_path: Path,
) -> None:
    """A terminal's Ctrl-C goes to every process of the command: the poll's process says
    it stopped; its parsing processes leave that to it and print nothing."""
    import subprocess
    import sys
    import time

    script = f"""
{_four_feeds_parsed(tmp_path)}
        print("parsed", flush=True)
        await asyncio.sleep(600)

try:
    asyncio.run(poll())
except KeyboardInterrupt:
    print("Stopped.", file=sys.stderr)
"""
    poll = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )
    assert poll.stdout is not None
    assert poll.stdout.readline().strip() == "parsed"
    time.sleep(0.5)  # the parsing processes wait for the next feed
    os.killpg(poll.pid, signal.SIGINT)
    _, err = poll.communicate(timeout=60)
    assert err.strip() == "Stopped.", err


def test_ctrl_c_while_the_fork_server_starts_stops_only_the_poll(tmp_path: Path) -> None:
    """The fork server imports the parser for about a second after it starts: a Ctrl-C
    then (a terminal sends it to every process of the command) must neither kill it nor
    make it print a traceback; the poll's own process hears it when its handler is back."""
    import subprocess
    import sys

    feed = tmp_path / "feed.rss"
    feed.write_bytes((CORPUS / FEEDS["tails"][0]).read_bytes())
    script = f"""
import asyncio, multiprocessing.forkserver, os, pathlib, signal, time
from syndicate.ingest.workers import FeedParsers, start_early

start_early(20)
server = multiprocessing.forkserver._forkserver._forkserver_pid
os.kill(server, signal.SIGINT)  # at once: it is still importing the parser
time.sleep(1)

async def poll():
    async with FeedParsers(20, workers=2) as parsers:
        body = pathlib.Path({str(feed)!r}).read_bytes()
        feed = await parsers.parse(body, url="https://t.example/", content_type=None, timezone=None)
        print(len(feed.entries), multiprocessing.forkserver._forkserver._forkserver_pid == server)

asyncio.run(poll())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    entries, same_server = done.stdout.split()
    assert int(entries) > 0 and same_server == "True"
    assert done.stderr == ""


def _four_feeds_parsed(folder: Path) -> str:
    """The start of a poll's script: two parsing processes, four feeds parsed, and the
    poll still within its `async with` (the script goes on, indented, from there)."""
    feed = folder / "feed.rss"
    feed.write_bytes((CORPUS / FEEDS["tails"][0]).read_bytes())
    return f"""import asyncio, os, pathlib, signal, sys, time
from syndicate.ingest.workers import FeedParsers

async def poll():
    async with FeedParsers(20, workers=2) as parsers:
        body = pathlib.Path({str(feed)!r}).read_bytes()
        await asyncio.gather(*(
            parsers.parse(body, url="https://t.example/", content_type=None, timezone=None)
            for _ in range(4)
        ))"""


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, ended but not reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_feed_error_crosses_from_a_worker_process_whole() -> None:
    async def scenario() -> FeedError:
        async with FeedParsers(1, workers=1) as parsers:
            try:
                await parsers.parse(
                    b"<html><body>Maintenance</body></html>",
                    url="https://k.example/feed",
                    content_type="text/html",
                    timezone=None,
                )
            except FeedError as error:
                return error
        raise AssertionError("no error")

    error = asyncio.run(scenario())
    assert error.url == "https://k.example/feed"
    assert (
        str(error)
        == "https://k.example/feed: this is not an RSS, Atom or JSON feed (it is an HTML page)."
    )


def test_when_no_process_can_start_feeds_are_parsed_in_place(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    def no_more_processes(self: ProcessPoolExecutor) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # fork's EAGAIN

    monkeypatch.setattr(ProcessPoolExecutor, "_adjust_process_count", no_more_processes)
    body = (CORPUS / FEEDS["tails"][0]).read_bytes()

    async def scenario() -> tuple[int, bool]:
        async with FeedParsers(20) as parsers:
            assert parsers.parallel or len(os.sched_getaffinity(0)) == 1
            feed = await parsers.parse(
                body, url="https://t.example/", content_type=None, timezone=None
            )
            return len(feed.entries), parsers.parallel

    with caplog.at_level(logging.WARNING, logger="syndicate.ingest.workers"):
        entries, parallel = asyncio.run(scenario())
    assert entries > 0 and not parallel
    if len(os.sched_getaffinity(0)) > 1:
        assert "Resource temporarily unavailable" in caplog.text


def _settings(folder: Path, sources: dict[str, str]) -> Path:
    """A site's settings file in `folder` (its database there too) polling `sources`
    (name: URL) for their feeds' own text, and its jobs folder."""
    listed = "".join(
        f'\n[[sources]]\nname = "{name}"\nurl = "{url}"\n'
        'full_text = "never"\n'  # the feeds' own text: their article pages are elsewhere
        for name, url in sources.items()
    )
    settings = folder / "syndicate.toml"
    settings.write_text(
        '[site]\nname = "Kabar"\nbase_url = "https://kabar.example"\n'
        f'[database]\nurl = "sqlite:///{folder / "site.db"}"\n' + listed,
        encoding="utf-8",
    )
    (folder / "jobs").mkdir()
    return settings


def test_syndicate_fetch_of_many_sources_parses_them_in_workers_and_stores_them_once(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    names = [f"{name}{copy}" for name in FEEDS for copy in (1, 2)]  # 10 sources: workers
    assert len(names) >= PARALLEL_FROM
    with FeedServer() as server:
        for name in names:
            path, kind = FEEDS[name[:-1]]
            server.add(f"/{name}", (CORPUS / path).read_bytes(), kind)
        settings = _settings(tmp_path, {name: server.url("/" + name) for name in names})
        command = [sys.executable, "-m", "syndicate", "--config", str(settings), "fetch"]
        first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    found = re.search(r"10 sources fetched: (\d+) new posts, 0 failed\.", first.stdout)
    assert found and int(found.group(1)) > 50, first.stdout + first.stderr
    # Two copies of each feed: the same articles, stored once.
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    with db.session() as session:
        keys = session.scalars(select(Post.key)).all()
    db.dispose()
    assert len(keys) == len(set(keys)) == int(found.group(1))
    assert "10 sources fetched: 0 new posts, 0 failed." in second.stdout, second.stderr


def test_a_poll_in_workers_leaves_the_parsers_out_of_the_main_process(tmp_path: Path) -> None:
    """With the feeds parsed in worker processes, the process that stores what they read
    loads neither lxml, nh3 nor feedparser (their start-up would be the poll's own), as
    long as no source's theme has lines to take out."""
    import subprocess
    import sys

    def feed(site: int) -> bytes:
        items = "".join(
            f"<item><title>Berita {site}-{n} tentang kota {site * 31 + n}</title>"
            f"<link>https://site{site}.example/{n}</link><description>"
            + " ".join(
                f"Kalimat {site}-{n}-{k} soal warga nomor {site * 97 + n * 13 + k}."
                for k in range(12)
            )
            + "</description></item>"
            for n in range(5)
        )
        head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>S{site}</title>'
        return f"{head}{items}</channel></rss>".encode()

    with FeedServer() as server:
        for site in range(PARALLEL_FROM + 2):
            server.add(f"/{site}", feed(site), "application/rss+xml")
        urls = {f"site{site}": server.url(f"/{site}") for site in range(PARALLEL_FROM + 2)}
        settings = _settings(tmp_path, urls)
        script = (
            "import sys\nfrom syndicate.cli import main\n"
            f"main(['--config', {str(settings)!r}, 'fetch'])\n"
            "print(sorted(m for m in ('lxml', 'nh3', 'feedparser') if m in sys.modules))\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
        )
    assert run.returncode == 0, run.stderr
    assert f"{PARALLEL_FROM + 2} sources fetched: 50 new posts" in run.stdout, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_start_early_starts_the_fork_server_only_for_a_big_poll() -> None:
    """`syndicate fetch` starts the parsing processes' server while it loads the database
    layer; a poll too small for worker processes starts nothing."""
    import multiprocessing.forkserver

    from syndicate.ingest.workers import start_early

    server = multiprocessing.forkserver._forkserver  # the process's one fork server
    start_early(PARALLEL_FROM - 1)
    assert server._forkserver_pid is None
    start_early(PARALLEL_FROM)
    try:
        if FeedParsers(PARALLEL_FROM).workers:  # more than one core
            assert server._forkserver_pid is not None
            os.kill(server._forkserver_pid, 0)  # it is alive
            with multiprocessing.get_context("forkserver").Pool(1) as pool:  # and serves
                assert pool.apply(os.getpid) != os.getpid()
    finally:
        server._stop()
    assert server._forkserver_pid is None
