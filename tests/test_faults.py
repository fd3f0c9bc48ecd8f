"""Faults with real processes: killed workers, a failing SMTP server, dropped database
connections, several workers and several schedulers on one PostgreSQL.

Every test here starts `syndicate worker` / `syndicate scheduler` as separate processes
against a real PostgreSQL, the real SMTP server and the local Bot API server, and checks
what the peers received and where every delivery row ended.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from syndicate.channels.registry import build_channels
from syndicate.config import load_config
from syndicate.db.models import Attempt, Delivery, JobRun
from syndicate.db.session import Database, open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from syndicate.subscribers import import_csv
from tests.botapi import TEST_TOKEN, BotApiServer
from tests.smtpserver import SmtpServer

SETTINGS = """\
[site]
name = "Kabar Pilihan"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "{database_url}"

[delivery]
lease = "3s"
backoff_base = "1s"
backoff_cap = "2s"
max_attempts = 50
batch_size = 50

[[sources]]
name = "warta"
url = "{feed_url}"

[channels.newsletter]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"
connections = 2
timeout = 10

[channels.telegram]
type = "telegram"
token = "{token}"
chat_id = ["@kanal_satu", "@kanal_dua", "@kanal_tiga"]
api_base_url = "{bot_url}"
timeout = 5
"""

DIGEST = 'every = "1h"\nchannels = ["newsletter"]\nformat = "digest"\n[select]\nnew = 1\n'
POSTS = 'every = "1h"\nchannels = ["telegram"]\nformat = "each"\n[select]\nnew = 8\n'
WAIT = 240  # seconds a fault test may take at most before it is declared stuck


@dataclass
class Site:
    folder: Path
    settings: Path
    database_url: str
    smtp: SmtpServer
    bot: BotApiServer
    db: Database

    def queue(self, job: str, subscribers: int = 0) -> int:
        """Poll the sample feed and run `job`, with that many subscribers on the list."""
        config = load_config(self.settings)
        if subscribers:
            csv = self.folder / "pembaca.csv"
            rows = "\n".join(f"p{n:05d}@example.org" for n in range(subscribers))
            csv.write_text("email\n" + rows + "\n", encoding="utf-8")
            import_csv(self.db, csv, "newsletter")
        import asyncio

        asyncio.run(poll_sources(self.db, config.sources))
        return run_job(self.db, config, build_channels(config), config.job(job)).queued

    def states(self) -> Counter[str]:
        with self.db.session() as session:
            rows = session.execute(
                select(Delivery.state, func.count()).group_by(Delivery.state)
            ).all()
        return Counter(dict(rows))

    def start(self, command: str = "worker") -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicate", "--config", str(self.settings), command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not done():
            assert time.monotonic() < deadline, f"stuck waiting for {what}: {self.states()}"
            time.sleep(0.2)


@pytest.fixture
def site(tmp_path: Path, postgres_url: str) -> Iterator[Site]:
    feed = write_sample_feed(tmp_path / "feed.xml")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "pagi.toml").write_text(DIGEST, encoding="utf-8")
    (tmp_path / "jobs" / "kilat.toml").write_text(POSTS, encoding="utf-8")
    with SmtpServer() as smtp, BotApiServer(token=TEST_TOKEN) as bot:
        settings = tmp_path / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                database_url=postgres_url,
                feed_url=feed.as_uri(),
                smtp_url=smtp.url,
                token=TEST_TOKEN,
                bot_url=bot.base_url,
            ),
            encoding="utf-8",
        )
        db = open_database(postgres_url)
        try:
            yield Site(tmp_path, settings, postgres_url, smtp, bot, db)
        finally:
            db.dispose()


@contextmanager
def running(site: Site, count: int, command: str = "worker") -> Iterator[list[subprocess.Popen]]:
    processes = [site.start(command) for _ in range(count)]
    try:
        yield processes
    finally:
        stop(processes)


def stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.communicate(timeout=60)  # reads what is left of its stderr, and closes it
        except subprocess.TimeoutExpired:  # pragma: no cover - reported by the assertion
            process.kill()


def recipients(site: Site) -> Counter[str]:
    return Counter(to for message in site.smtp.messages for to in message.envelope_to)


@pytest.mark.slow
def test_four_workers_send_ten_thousand_deliveries_exactly_once(site: Site) -> None:
    assert site.queue("pagi", subscribers=10_000) == 10_000
    with running(site, 4) as workers:
        site.wait_until(lambda: site.states() == {"sent": 10_000}, "all 10,000 sent")
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0]
    received = recipients(site)
    assert len(received) == 10_000 and set(received.values()) == {1}
    assert len({message.message["Message-ID"] for message in site.smtp.messages}) == 10_000


@pytest.mark.slow
def test_killed_workers_lose_nothing_and_never_post_twice(site: Site) -> None:
    emails = site.queue("pagi", subscribers=1_500)
    posts = site.queue("kilat")
    assert (emails, posts) == (1_500, 24)
    in_flight_at_kills = 0
    workers = [site.start(), site.start()]
    try:
        for kill in range(3):
            site.wait_until(
                lambda kill=kill: site.states()["sent"] >= 300 * (kill + 1), "some progress"
            )
            victim = workers.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=30)
            # Email is not marked when its request starts (it is sent again after a
            # crash anyway): every row the victim held may have been on the wire.
            in_flight_at_kills += site.states()["sending"] + site.states()["claimed"]
            workers.append(site.start())
        site.wait_until(
            lambda: (
                site.states()["sent"] + site.states()["unknown"] == emails + posts
                and site.states()["sending"] + site.states()["claimed"] == 0
            ),
            "every delivery settled",
        )
    finally:
        stop(workers)

    with site.db.session() as session:
        email_states = Counter(
            session.scalars(select(Delivery.state).where(Delivery.channel == "newsletter"))
        )
    assert email_states == {"sent": emails}, "an email was lost"
    received = recipients(site)
    assert set(received) == {f"p{n:05d}@example.org" for n in range(emails)}
    duplicates = sum(received.values()) - emails
    assert duplicates <= in_flight_at_kills
    # Telegram: at most once. A post cut off by a kill is `unknown`, never sent twice.
    sent_posts = Counter((m.chat_id, m.text) for m in site.bot.messages)
    assert set(sent_posts.values()) == {1}
    assert len(sent_posts) == site.states()["sent"] - emails


@pytest.mark.slow
def test_an_smtp_server_refusing_for_a_while_delays_but_loses_nothing(site: Site) -> None:
    assert site.queue("pagi", subscribers=200) == 200
    site.smtp.fail_next("RCPT", "451 4.3.0 Mailbox busy, try again later", times=60)
    site.smtp.fail_next("MAIL", "421 4.3.2 Service shutting down", times=5)
    with running(site, 1):
        site.wait_until(lambda: site.states() == {"sent": 200}, "all 200 sent")
    received = recipients(site)
    assert len(received) == 200 and set(received.values()) == {1}
    with site.db.session() as session:
        retries = session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.outcome == "retry")
        )
    assert retries >= 60


@pytest.mark.slow
def test_dropped_database_connections_do_not_stop_a_run(site: Site) -> None:
    assert site.queue("pagi", subscribers=3_000) == 3_000
    with running(site, 2) as workers:
        site.wait_until(lambda: site.states()["sent"] >= 200, "the run to start")
        for _ in range(4):  # each time, once the workers have connected again
            site.wait_until(lambda: terminate_other_connections(site) > 0, "a connection")
            time.sleep(0.5)
        site.wait_until(lambda: site.states() == {"sent": 3_000}, "all 3,000 sent")
        assert all(worker.poll() is None for worker in workers), "a worker died"
    assert [worker.returncode for worker in workers] == [0, 0]
    assert len(recipients(site)) == 3_000


@pytest.mark.slow
def test_two_schedulers_run_each_slot_exactly_once(site: Site) -> None:
    (site.folder / "jobs" / "pagi.toml").write_text(
        DIGEST.replace('every = "1h"', 'every = "2s"'), encoding="utf-8"
    )
    (site.folder / "jobs" / "kilat.toml").unlink()
    with running(site, 2, "scheduler") as schedulers:
        site.wait_until(lambda: slots(site) >= 8, "eight slots")
    assert [process.returncode for process in schedulers] == [0, 0]
    with site.db.session() as session:
        runs = list(session.scalars(select(JobRun.scheduled_for).order_by(JobRun.scheduled_for)))
    assert len(runs) == len(set(runs))
    steps = {(later - earlier).total_seconds() for earlier, later in pairwise(runs)}
    assert steps == {2.0}, "a slot was skipped"


def test_a_second_sending_process_on_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    settings = tmp_path / "syndicate.toml"
    settings.write_text('[channels.x]\ntype = "outbox"\npath = "o"\n', encoding="utf-8")
    command = [sys.executable, "-m", "syndicate", "--config", str(settings), "worker"]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        lock = tmp_path / "syndicate.db.sending.lock"
        while not (lock.exists() and lock.read_text()):
            assert time.monotonic() < deadline and first.poll() is None, first.stderr
            time.sleep(0.1)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert second.returncode == 2
    assert "already sending" in second.stderr and "PostgreSQL" in second.stderr
    assert second.stderr.strip().count("\n") == 0
    assert first.returncode == 0


def slots(site: Site) -> int:
    with site.db.session() as session:
        return session.scalar(select(func.count()).select_from(JobRun)) or 0


def terminate_other_connections(site: Site) -> int:
    with site.db.engine.connect() as connection:
        name = connection.execute(text("select current_database()")).scalar()
        killed = connection.execute(
            text(
                "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = :name and pid <> pg_backend_pid()) as killed"
            ),
            {"name": name},
        ).scalar()
        connection.commit()
    return int(killed or 0)


@pytest.mark.slow
def test_sigterm_mid_fan_out_finishes_or_gives_back_everything_and_exits_0(site: Site) -> None:
    assert site.queue("pagi", subscribers=2_000) == 2_000
    worker = site.start()
    try:
        site.wait_until(lambda: site.states()["sent"] >= 200, "the fan-out to start")
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, stderr
    states = site.states()
    assert states["sending"] + states["claimed"] == 0, "a row was left in flight"
    assert states["sent"] + states["queued"] == 2_000 and states["queued"] > 0
    # What the database says was sent is exactly what the server received.
    assert len(recipients(site)) == states["sent"]
