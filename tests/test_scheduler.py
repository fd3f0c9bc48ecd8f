"""The clock: slots in the site's time zone, and `syndicate run` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from syndicate.config import load_config
from syndicate.db.models import Delivery, DeliveryState, JobRun
from syndicate.db.session import open_database
from syndicate.demo import write_sample_feed
from syndicate.slots import current_slot, next_fire_times

JAKARTA = ZoneInfo("Asia/Jakarta")

SETTINGS = """\
[site]
name = "Kabar Pilihan"
locale = "id"
timezone = "Asia/Jakarta"

[[sources]]
name = "warta"
url = "{feed_url}"

[channels.telegram]
type = "outbox"
medium = "telegram"
path = "outbox"
chat_id = "@kabarpilihan"
"""


def test_a_cron_slot_is_the_scheduled_instant_even_when_fired_late() -> None:
    config_trigger = _job_trigger("0 7 * * *")
    fired = datetime(2026, 11, 27, 7, 0, 3, tzinfo=JAKARTA)
    slot = current_slot(config_trigger, fired)
    assert slot == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def test_interval_slots_are_the_same_instants_in_every_process(tmp_path: Path) -> None:
    site = _site(tmp_path, 'every = "10m"')
    job = load_config(site).job("kilat")
    now = datetime(2026, 11, 27, 9, 27, 41, tzinfo=UTC)
    first = current_slot(job.trigger(JAKARTA), now)
    again = current_slot(load_config(site).job("kilat").trigger(JAKARTA), now)
    assert first == again == datetime(2026, 11, 27, 9, 20, tzinfo=UTC)


def test_next_fire_times_are_in_the_site_time_zone(tmp_path: Path) -> None:
    config = load_config(_site(tmp_path, 'schedule = "0 7 * * *"'))
    now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # 06:30 in Jakarta
    when = next_fire_times(config, now)["kilat"]
    assert when is not None
    assert when.utcoffset() == timedelta(hours=7)
    assert (when.day, when.hour, when.minute) == (27, 7, 0)


def test_run_fires_jobs_delivers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    site = _site(tmp_path, 'every = "2s"')
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--config", str(site), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        outbox = tmp_path / "outbox"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(outbox.glob("*.json"))) < 3:
            time.sleep(0.2)
        posts = [json.loads(path.read_text()) for path in outbox.glob("*.json")]
        assert len(posts) >= 3, process.stderr
        assert all(post["target"] == "@kabarpilihan" for post in posts)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr

    db = open_database(f"sqlite:///{tmp_path / 'syndicate.db'}")
    with db.session() as session:
        states = list(session.scalars(select(Delivery.state)))
        slots = list(session.scalars(select(JobRun.scheduled_for)))
    db.dispose()
    assert states and set(states) == {DeliveryState.SENT}
    assert len(slots) == len(set(slots))
    assert all(slot.second % 2 == 0 and slot.microsecond == 0 for slot in slots)


def _site(folder: Path, schedule: str) -> Path:
    feed = write_sample_feed(folder / "feed.xml")
    (folder / "jobs").mkdir()
    (folder / "jobs" / "kilat.toml").write_text(
        f'{schedule}\nchannels = ["telegram"]\nformat = "each"\n[select]\nnew = 1\n',
        encoding="utf-8",
    )
    settings = folder / "syndicate.toml"
    settings.write_text(SETTINGS.format(feed_url=feed.as_uri()), encoding="utf-8")
    return settings


def _job_trigger(cron: str) -> object:
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(cron, timezone=JAKARTA)


def test_missed_slots_are_caught_up_once_at_start_and_logged(tmp_path: Path) -> None:
    site = _site(tmp_path, 'schedule = "0 7 * * *"')
    (tmp_path / "jobs" / "baru.toml").write_text(
        'schedule = "0 7 * * *"\nchannels = ["telegram"]\nformat = "each"\n', encoding="utf-8"
    )
    config = load_config(site)
    db = open_database(config.database_url)
    latest = current_slot(
        config.job("kilat").trigger(JAKARTA), datetime.now(UTC), timedelta(days=2)
    )
    with db.session() as session:  # the job last ran three days before its latest slot
        session.add(
            JobRun(job="kilat", scheduled_for=latest - timedelta(days=3), outcome="edition")
        )
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--config", str(site), "scheduler"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _runs(db, "kilat") < 2:
            time.sleep(0.2)
        time.sleep(1)  # give a wrong second catch-up (or the new job) the chance to show
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    with db.session() as session:
        runs = list(session.scalars(select(JobRun).order_by(JobRun.scheduled_for)))
    db.dispose()
    assert [(run.job, run.scheduled_for) for run in runs] == [
        ("kilat", latest - timedelta(days=3)),
        ("kilat", latest),
    ], "the latest missed slot runs once; a job that never ran is not caught up"
    assert "3 runs missed" in stderr and "running it once now" in stderr


def _runs(db, job: str) -> int:
    from sqlalchemy import func

    with db.session() as session:
        return session.scalar(select(func.count()).select_from(JobRun).where(JobRun.job == job))


def test_jobs_fire_on_schedule_while_a_feed_drips(tmp_path: Path) -> None:
    """A feed sends a byte a second and may take 5 minutes: the poll it holds never holds
    a job for more than the scheduler's POLL_WAIT."""
    from tests.feedserver import FeedServer
    from tests.hostile import drip, summary_feed

    site = _site(tmp_path, 'every = "2s"')
    with FeedServer() as server:
        feed = summary_feed("Lambat", server.url("/"), [server.url("/1.html")]) * 10
        server.add_stream("/lambat.xml", drip(feed, every=1.0), "application/rss+xml")
        with site.open("a", encoding="utf-8") as settings:
            settings.write(
                f'\n[[sources]]\nname = "lambat"\nurl = "{server.url("/lambat.xml")}"\n'
                '\n[ingest]\nfeed_timeout = "5m"\n'
            )
        process = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "--config", str(site), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            db = open_database(f"sqlite:///{tmp_path / 'syndicate.db'}")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _runs(db, "kilat") < 2:
                time.sleep(0.2)
            runs = _runs(db, "kilat")
            db.dispose()
            still_dripping = server.hits("/lambat.xml") == 1 and process.poll() is None
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert runs >= 2, stderr
    assert still_dripping, "the drip was over before the jobs ran: the test proved nothing"
    assert "the poll is still running" in stderr
    assert process.returncode == 0, stderr
