"""Outages on the delivery side, with real processes: each fault is made for real.

A `syndicate worker` process sends a fan-out while the test takes something away from it:
the SMTP server (refusing, answering 421, hanging before or after the body), PostgreSQL
(a server of the test's own, stopped fast or immediately, or its connections terminated),
the SQLite file's disk (a small tmpfs filled up), or the worker itself (kill -9 while
Telegram posts wait for their pacing). Each test then checks that nothing was lost, that
no attempt was burned by the outage, and that copies stay within what was on the wire.

With SYNDICATE_FAULT_REPORT=FILE each test adds its figures (lost, duplicates, seconds
to recover) to FILE as JSON lines; `python -m bench.faults` runs this file that way and
prints the table in the README.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from syndicate.db.models import Attempt, Delivery
from syndicate.db.session import Database, open_database
from syndicate.delivery import DeliveryPolicy
from syndicate.delivery.queue import claim
from syndicate.demo import write_sample_feed
from tests import test_faults as faults
from tests.botapi import TEST_TOKEN, BotApiServer
from tests.privatepg import PrivatePostgres, postgres_tools_problem
from tests.smtpserver import FAULTS, SmtpServer
from tests.test_faults import recipients, terminate_other_connections

# Each test runs `syndicate worker` processes through a fault and its recovery.
pytestmark = pytest.mark.slow

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
max_attempts = 3
batch_size = {batch_size}
outage_backoff_base = "1s"
outage_backoff_cap = "2s"

[[sources]]
name = "warta"
url = "{feed_url}"

[channels.newsletter]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"
connections = 2
timeout = 2
{email_extra}

[channels.telegram]
type = "telegram"
token = "{token}"
chat_id = ["@kanal_satu", "@kanal_dua", "@kanal_tiga"]
api_base_url = "{bot_url}"
timeout = 5
max_per_second = 2
"""

DIGEST = 'every = "1h"\nchannels = ["newsletter"]\nformat = "digest"\n[select]\nnew = 1\n'
POSTS = 'every = "1h"\nchannels = ["telegram"]\nformat = "each"\n[select]\nnew = 8\n'
# Seconds the database stays away: longer than `Database.run`'s reconnect window (about
# 21 s of waits), so only the patient path can wait it out; `python -m bench.faults` makes
# it the minute the README's table quotes.
OUTAGE = float(os.environ.get("SYNDICATE_DB_OUTAGE", "25"))
# Seconds the SMTP server stays down; `python -m bench.faults --smtp-outage 600` makes it
# the ten minutes the README quotes.
SMTP_OUTAGE = float(os.environ.get("SYNDICATE_SMTP_OUTAGE", "10"))
FAULT_REPORT = os.environ.get("SYNDICATE_FAULT_REPORT")
# Planner settings under which `id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` becomes a
# nested-loop semi join that runs the subquery again for every row: the plan a fresh,
# unanalysed table got, made certain here.
BAD_PLAN = (
    "-c enable_hashjoin=off -c enable_mergejoin=off -c enable_material=off "
    "-c enable_hashagg=off -c enable_sort=off"
)


@dataclass
class Site(faults.Site):
    """test_faults' site, whose workers keep their logs and whose counts wait out outages."""

    logs: list[Path] = field(default_factory=list)

    def states(self) -> Counter[str]:
        return self._count(Delivery.state)

    def outcomes(self) -> Counter[str]:
        return self._count(Attempt.outcome)

    def _count(self, column: Any) -> Counter[str]:
        rows = self.db.run(
            lambda session: session.execute(select(column, func.count()).group_by(column)).all(),
            doing="counting",
        )
        return Counter(dict(rows))

    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self.folder / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as stderr:  # the worker has its own copy of the file
            return subprocess.Popen(
                [sys.executable, "-m", "syndicate", "--config", str(self.settings), "worker"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, **(env or {})},
            )

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)


@contextmanager
def make_site(
    folder: Path, database_url: str, *, batch_size: int = 50, email_extra: str = ""
) -> Iterator[Site]:
    feed = write_sample_feed(folder / "feed.xml")
    (folder / "jobs").mkdir(exist_ok=True)
    (folder / "jobs" / "pagi.toml").write_text(DIGEST, encoding="utf-8")
    (folder / "jobs" / "kilat.toml").write_text(POSTS, encoding="utf-8")
    with SmtpServer() as smtp, BotApiServer(token=TEST_TOKEN) as bot:
        settings = folder / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                database_url=database_url,
                feed_url=feed.as_uri(),
                smtp_url=smtp.url,
                token=TEST_TOKEN,
                bot_url=bot.base_url,
                batch_size=batch_size,
                email_extra=email_extra,
            ),
            encoding="utf-8",
        )
        db = open_database(database_url)
        try:
            yield Site(folder, settings, database_url, smtp, bot, db)
        finally:
            db.dispose()


@contextmanager
def running(
    site: Site, count: int = 1, env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    workers = [site.start_worker(env) for _ in range(count)]
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:  # pragma: no cover - the assertions say why
                worker.kill()


def first_received_after(site: Site, moment: float) -> float:
    """Seconds from `moment` to the first message the SMTP server took after it."""
    times = [m.received_at for m in site.smtp.messages if m.received_at >= moment]
    return min(times) - moment if times else float("nan")


def report(fault: str, *, lost: int, duplicates: int, recovered_in: float, bound: int) -> None:
    if FAULT_REPORT:
        with open(FAULT_REPORT, "a", encoding="utf-8") as out:
            figures = {
                "fault": fault,
                "lost": lost,
                "duplicates": duplicates,
                "duplicate_bound": bound,
                "recovered_in": round(recovered_in, 1),
            }
            out.write(json.dumps(figures) + "\n")


@pytest.fixture
def site(tmp_path: Path, postgres_url: str) -> Iterator[Site]:
    with make_site(tmp_path, postgres_url) as made:
        yield made


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    problem = postgres_tools_problem()
    if problem is not None:
        if os.environ.get("SYNDICATE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"a private PostgreSQL is required here but {problem}.")
        pytest.skip(f"{problem}; this test starts and stops a PostgreSQL of its own.")
    with PrivatePostgres() as server:
        yield server


# -- 1. a claim never holds more than batch_size rows -------------------------------------


def test_a_claim_holds_at_most_batch_size_rows_whatever_plan_postgresql_picks(
    site: Site,
) -> None:
    assert site.queue("pagi", subscribers=3_000) == 3_000
    policy = DeliveryPolicy(batch_size=100)
    db = Database(create_engine(site.database_url, connect_args={"options": BAD_PLAN}))
    try:
        claimed = db.run(
            lambda session: claim(session, ["newsletter"], policy, "solo-0"), doing="claiming"
        )
    finally:
        db.dispose()
    assert len(claimed) == 100
    assert site.states() == {"claimed": 100, "queued": 2_900}


def test_two_workers_on_fresh_rows_each_send_a_fair_share(
    tmp_path: Path, postgres_url: str
) -> None:
    with make_site(
        tmp_path, postgres_url, batch_size=100, email_extra="max_per_second = 200"
    ) as site:
        assert site.queue("pagi", subscribers=3_000) == 3_000
        with running(site, 2, env={"PGOPTIONS": BAD_PLAN}):
            site.wait_until(lambda: site.states() == {"sent": 3_000}, "all 3,000 sent")
        shares = site.db.run(
            lambda session: Counter(
                token.split("-")[0] for token in session.scalars(select(Delivery.claimed_by))
            ),
            doing="counting",
        )
    assert len(shares) == 2 and min(shares.values()) >= 750, shares
    assert recipients(site) == Counter(f"p{n:05d}@example.org" for n in range(3_000))


# -- 2. an SMTP outage burns no attempts --------------------------------------------------


def test_smtp_server_down_then_back_sends_everything_and_fails_nothing(site: Site) -> None:
    assert site.queue("pagi", subscribers=300) == 300
    with running(site):
        site.wait_until(lambda: site.states()["sent"] >= 50, "the fan-out to start")
        site.smtp.down()
        down_at = time.monotonic()
        time.sleep(SMTP_OUTAGE)  # with max_attempts = 3 and 1 s backoff: all used up
        site.smtp.up()
        back_at = time.monotonic()
        site.wait_until(lambda: site.states() == {"sent": 300}, "all 300 sent")
    received = recipients(site)
    assert set(received) == {f"p{n:05d}@example.org" for n in range(300)}
    assert sum(received.values()) - 300 <= 2, "more copies than messages on the wire"
    outcomes = site.outcomes()
    assert outcomes["failed"] == 0 and outcomes["retry"] == 0, outcomes
    assert "cannot reach its server" in site.log_text()
    assert "gave up" not in site.log_text()
    report(
        f"SMTP server down {back_at - down_at:.0f} s",
        lost=300 - len(received),
        duplicates=sum(received.values()) - 300,
        recovered_in=first_received_after(site, back_at),
        bound=2,
    )


@pytest.mark.parametrize("fault", FAULTS)
def test_smtp_faults_pause_the_channel_and_cost_no_attempt(site: Site, fault: str) -> None:
    assert site.queue("pagi", subscribers=200) == 200
    with running(site):
        site.wait_until(lambda: site.states()["sent"] >= 30, "the fan-out to start")
        site.smtp.fault = fault
        time.sleep(5)
        site.smtp.fault = None
        ended_at = time.monotonic()
        site.wait_until(lambda: site.states() == {"sent": 200}, "all 200 sent")
    received = recipients(site)
    assert set(received) == {f"p{n:05d}@example.org" for n in range(200)}
    assert set(received.values()) == {1}
    outcomes = site.outcomes()
    assert (outcomes["failed"], outcomes["retry"]) == (0, 0), outcomes
    assert outcomes["sent"] == 200
    report(
        f"SMTP {fault} for 5 s",
        lost=0,
        duplicates=0,
        recovered_in=first_received_after(site, ended_at),
        bound=0,
    )


def test_550_for_some_addresses_fails_only_those_with_one_attempt(site: Site) -> None:
    assert site.queue("pagi", subscribers=100) == 100
    gone = {f"p{n:05d}@example.org" for n in (3, 17, 42)}
    site.smtp.refuse = gone
    with running(site):
        site.wait_until(lambda: site.states() == {"sent": 97, "failed": 3}, "97 sent and 3 failed")
    assert set(recipients(site)) == {f"p{n:05d}@example.org" for n in range(100)} - gone
    failed = site.db.run(
        lambda session: session.execute(
            select(Delivery.target, Delivery.attempts).where(Delivery.state == "failed")
        ).all(),
        doing="reading",
    )
    assert {target for target, _ in failed} == gone
    assert {attempts for _, attempts in failed} == {1}


# -- 3. a crash parks nothing that was never sent ------------------------------------------


def test_killed_telegram_worker_leaves_every_paced_post_to_be_sent_once(site: Site) -> None:
    assert site.queue("kilat") == 24  # 8 posts to each of 3 chats, two a second in all
    worker = site.start_worker()
    try:
        site.wait_until(lambda: len(site.bot.messages) >= 6, "some posts out")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        killed_at = time.monotonic()
        held = site.states()["claimed"] + site.states()["sending"]
        assert held > 3, "the kill came when no post was waiting: nothing tested"
        with running(site):
            site.wait_until(
                lambda: site.states()["sent"] + site.states()["unknown"] == 24,
                "every post settled",
            )
    finally:
        if worker.poll() is None:
            worker.kill()
    states = site.states()
    posted = Counter((m.chat_id, m.text) for m in site.bot.messages)
    assert set(posted.values()) == {1}, "a post went out twice"
    assert states["unknown"] <= 3, "more than one post per chat was in flight"
    assert len(posted) == 24, f"{24 - len(posted)} posts never went out: {states}"
    report(
        "kill -9 of a Telegram worker (until every post settled)",
        lost=24 - len(posted),
        duplicates=sum(posted.values()) - len(posted),
        recovered_in=time.monotonic() - killed_at,
        bound=0,
    )


# -- 4. a database outage duplicates nothing ----------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_stopped_mid_fan_out_loses_nothing(
    tmp_path: Path, private_postgres: PrivatePostgres, mode: str
) -> None:
    extra = "max_per_second = 25"  # a fan-out that lasts: the stop comes in the middle
    with make_site(tmp_path, private_postgres.url, email_extra=extra) as site:
        assert site.queue("pagi", subscribers=400) == 400
        with running(site) as workers:
            site.wait_until(lambda: site.states()["sent"] >= 100, "the fan-out to start")
            private_postgres.stop(mode)
            time.sleep(OUTAGE)
            private_postgres.start()
            back_at = time.monotonic()
            site.wait_until(lambda: site.states() == {"sent": 400}, "all 400 sent")
            assert workers[0].poll() is None, "the worker died"
        received = recipients(site)
        duplicates = sum(received.values()) - 400
        assert set(received) == {f"p{n:05d}@example.org" for n in range(400)}
        assert duplicates <= 2, f"{duplicates} copies; 2 connections were on the wire"
        assert "waiting for it" in site.log_text()
        report(
            f"PostgreSQL stopped ({mode}) for {OUTAGE:.0f} s",
            lost=400 - len(received),
            duplicates=duplicates,
            recovered_in=first_received_after(site, back_at),
            bound=2,
        )


def test_postgresql_connections_terminated_ten_times_lose_nothing(site: Site) -> None:
    assert site.queue("pagi", subscribers=1_500) == 1_500
    with running(site, 2) as workers:
        site.wait_until(lambda: site.states()["sent"] >= 200, "the fan-out to start")
        for _ in range(10):  # each time, once the workers have connected again
            site.wait_until(lambda: terminate_other_connections(site) > 0, "a connection")
            time.sleep(0.5)
        back_at = time.monotonic()
        site.wait_until(lambda: site.states() == {"sent": 1_500}, "all 1,500 sent")
        assert all(worker.poll() is None for worker in workers), "a worker died"
    received = recipients(site)
    duplicates = sum(received.values()) - 1_500
    assert len(received) == 1_500
    assert duplicates <= 10 * 4, "more copies than the connections on the wire"
    report(
        "pg_terminate_backend x10, two workers",
        lost=1_500 - len(received),
        duplicates=duplicates,
        recovered_in=first_received_after(site, back_at),
        bound=40,
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs the test can fill; SQLite's file lives on it."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"a small filesystem is required in CI but {reason}.")
        pytest.skip(f"{reason}; this test fills a small filesystem of its own.")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path) -> Path:
    """Write to `disk` until it has no byte left; return the file that holds them."""
    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = b"\0" * 65536
        while True:
            try:
                os.write(handle, block)
            except OSError:
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
    finally:
        os.close(handle)
    return filler


def test_sqlite_on_a_full_disk_waits_and_loses_nothing(tmp_path: Path, small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'syndicate.db'}"
    with make_site(tmp_path, url, email_extra="max_per_second = 25") as site:
        assert site.queue("pagi", subscribers=400) == 400
        with running(site) as workers:
            site.wait_until(lambda: site.states()["sent"] >= 100, "the fan-out to start")
            filler = fill(small_disk)
            time.sleep(OUTAGE)
            filler.unlink()
            back_at = time.monotonic()
            site.wait_until(lambda: site.states() == {"sent": 400}, "all 400 sent")
            assert workers[0].poll() is None, "the worker died"
        received = recipients(site)
        duplicates = sum(received.values()) - 400
        assert set(received) == {f"p{n:05d}@example.org" for n in range(400)}
        assert duplicates <= 2
        assert "disk is full" in site.log_text()
        assert "connection was lost" not in site.log_text()
        report(
            f"SQLite disk full for {OUTAGE:.0f} s",
            lost=400 - len(received),
            duplicates=duplicates,
            recovered_in=first_received_after(site, back_at),
            bound=2,
        )
