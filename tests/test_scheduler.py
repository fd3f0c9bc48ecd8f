"""The clock: slots in the site's time zone, and `syndicate run` as a real process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from syndicate.channels.registry import build_channels
from syndicate.config import load_config
from syndicate.db.models import Delivery, DeliveryState, JobRun
from syndicate.db.session import open_database
from syndicate.demo import write_sample_feed
from syndicate.scheduler import Clock
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


@pytest.mark.slow
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


# --- daylight saving: the clock driven with fixed times ---------------------------------

NEW_YORK = ZoneInfo("America/New_York")  # springs forward 2027-03-14, falls back 2027-11-07


def _new_york_clock(folder: Path, schedule: str) -> Clock:
    settings = _site(folder, f'schedule = "{schedule}"')
    settings.write_text(
        settings.read_text().replace("Asia/Jakarta", "America/New_York"), encoding="utf-8"
    )
    config = load_config(settings)
    return Clock(open_database(config.database_url), config, {}, deliver=False)


def _slots_run(clock: Clock) -> list[datetime]:
    with clock.db.session() as session:
        query = select(JobRun.scheduled_for).order_by(JobRun.scheduled_for)
        return list(session.scalars(query))


def _ran(clock: Clock, slot: datetime) -> None:
    with clock.db.session() as session:
        session.add(JobRun(job="kilat", scheduled_for=slot, outcome="edition"))


@pytest.mark.parametrize("started", ["03:00:01", "03:10", "03:29", "03:45", "04:30"])
def test_a_clock_started_after_the_spring_forward_jump_runs_the_skipped_slot_once(
    tmp_path: Path, started: str
) -> None:
    clock = _new_york_clock(tmp_path, "30 2 * * *")
    clock.channels = build_channels(clock.config)
    saturday = datetime(2027, 3, 13, 7, 30, tzinfo=UTC)  # 02:30 EST, the day before
    _ran(clock, saturday)
    now = datetime.fromisoformat(f"2027-03-14T{started}").replace(tzinfo=NEW_YORK)

    asyncio.run(clock._catch_up(now=now))
    asyncio.run(clock._catch_up(now=now + timedelta(minutes=5)))  # and a restart after it

    # 02:30 never showed on the clock: its slot is the jump, 03:00 EDT.
    gap_slot = datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    assert _slots_run(clock) == [saturday, gap_slot]
    # The scheduler's own next fire is the next day: the slot is not run a second time.
    trigger = clock.config.job("kilat").trigger(NEW_YORK)
    assert trigger.get_next_fire_time(None, now) == datetime(2027, 3, 15, 2, 30, tzinfo=NEW_YORK)
    clock.db.dispose()


@pytest.mark.parametrize("started", ["01:10", "01:35"])
def test_a_clock_started_in_the_repeated_hour_does_not_run_the_slot_again(
    tmp_path: Path, started: str
) -> None:
    clock = _new_york_clock(tmp_path, "30 1 * * *")
    clock.channels = build_channels(clock.config)
    first = datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT, before the fall-back
    _ran(clock, first)
    # The clock shows 01:10 or 01:35 again, now in EST.
    now = datetime.fromisoformat(f"2027-11-07T{started}").replace(tzinfo=NEW_YORK, fold=1)
    assert now.utcoffset() == timedelta(hours=-5)

    asyncio.run(clock._catch_up(now=now))

    assert _slots_run(clock) == [first]
    trigger = clock.config.job("kilat").trigger(NEW_YORK)
    assert trigger.get_next_fire_time(None, now) == datetime(2027, 11, 8, 1, 30, tzinfo=NEW_YORK)
    clock.db.dispose()


def test_a_slot_missed_across_the_fall_back_is_caught_up_once(tmp_path: Path) -> None:
    clock = _new_york_clock(tmp_path, "30 1 * * *")
    clock.channels = build_channels(clock.config)
    saturday = datetime(2027, 11, 6, 5, 30, tzinfo=UTC)
    _ran(clock, saturday)
    now = datetime(2027, 11, 7, 1, 40, tzinfo=NEW_YORK, fold=1)  # 01:40 EST

    asyncio.run(clock._catch_up(now=now))
    asyncio.run(clock._catch_up(now=now + timedelta(minutes=5)))

    assert _slots_run(clock) == [saturday, datetime(2027, 11, 7, 5, 30, tzinfo=UTC)]
    clock.db.dispose()


@pytest.mark.parametrize(
    ("schedule", "last", "now", "latest"),
    [
        # Monthly, stopped for five weeks and more: beyond a week back.
        ("0 7 1 * *", "2027-01-01T07:00-05:00", "2027-02-09T12:00-05:00", "2027-02-01T07:00-05:00"),
        # A leap day, stopped for seven years: beyond four years and a day.
        (
            "0 0 29 2 *",
            "2024-02-29T00:00-05:00",
            "2031-03-01T00:00-05:00",
            "2028-02-29T00:00-05:00",
        ),
        # A leap day that is a Sunday (2032, then 2060): beyond every window but the span.
        (
            "0 0 29 2 */8",
            "2032-02-29T00:00-05:00",
            "2061-01-01T00:00-05:00",
            "2060-02-29T00:00-05:00",
        ),
    ],
)
def test_a_slot_missed_longer_ago_than_a_week_is_caught_up_once_and_logged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    schedule: str,
    last: str,
    now: str,
    latest: str,
) -> None:
    clock = _new_york_clock(tmp_path, schedule)
    clock.channels = build_channels(clock.config)
    last_run = datetime.fromisoformat(last).astimezone(UTC)
    _ran(clock, last_run)
    started = datetime.fromisoformat(now)

    with caplog.at_level(logging.WARNING, logger="syndicate.scheduler"):
        asyncio.run(clock._catch_up(now=started))
        asyncio.run(clock._catch_up(now=started + timedelta(minutes=5)))

    assert _slots_run(clock) == [last_run, datetime.fromisoformat(latest).astimezone(UTC)]
    assert caplog.text.count("1 run missed while syndicate was stopped") == 1
    clock.db.dispose()


def test_a_count_of_missed_runs_that_stopped_short_says_more_than(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = _new_york_clock(tmp_path, "* * * * *")
    clock.channels = build_channels(clock.config)
    _ran(clock, datetime(2027, 1, 1, 12, 0, tzinfo=UTC))
    now = datetime(2027, 1, 9, 12, 0, 30, tzinfo=UTC)  # 11,520 minutes later

    with caplog.at_level(logging.WARNING, logger="syndicate.scheduler"):
        asyncio.run(clock._catch_up(now=now))

    assert "more than 10,000 runs missed" in caplog.text
    assert _slots_run(clock)[-1] == datetime(2027, 1, 9, 12, 0, tzinfo=UTC)
    clock.db.dispose()


@pytest.mark.parametrize("day", ["2027-01-15", "2027-07-15"])
def test_an_interval_slot_is_the_instant_it_fired_in_winter_and_summer_time(
    tmp_path: Path, day: str
) -> None:
    clock = _new_york_clock(tmp_path, "0 7 * * *")
    settings = clock.config.file
    (settings.parent / "jobs" / "kilat.toml").write_text(
        'every = "10m"\nchannels = ["telegram"]\n', encoding="utf-8"
    )
    trigger = load_config(settings).job("kilat").trigger(NEW_YORK)
    fired = trigger.get_next_fire_time(None, datetime.fromisoformat(f"{day}T12:03:00+00:00"))
    assert fired.astimezone(UTC) == datetime.fromisoformat(f"{day}T12:10:00+00:00")
    late = fired.astimezone(UTC) + timedelta(seconds=3)
    assert current_slot(trigger, late) == fired.astimezone(UTC)
    clock.db.dispose()


@pytest.mark.slow
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


def test_the_slot_after_a_run_once_is_caught_up_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = _new_york_clock(tmp_path, "0 * * * *")
    clock.channels = build_channels(clock.config)
    by_hand = datetime(2027, 1, 4, 14, 55, 12, tzinfo=UTC)  # `run --once`, off the schedule
    _ran(clock, by_hand)
    with caplog.at_level(logging.INFO, logger="syndicate.scheduler"):
        asyncio.run(clock._catch_up(now=by_hand + timedelta(minutes=7)))
    (said,) = [r for r in caplog.records if "missed" in r.getMessage()]
    assert said.levelname == "INFO" and "1 run missed" in said.getMessage()
    assert _slots_run(clock) == [by_hand, datetime(2027, 1, 4, 15, 0, tzinfo=UTC)]

    # Slots missed after a scheduled run, or several after a run by hand, still warn.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="syndicate.scheduler"):
        asyncio.run(clock._catch_up(now=by_hand + timedelta(hours=3)))
    (said,) = [r for r in caplog.records if "missed" in r.getMessage()]
    assert said.levelname == "WARNING" and "2 runs missed" in said.getMessage()
    clock.db.dispose()


def test_a_refused_run_at_a_slot_is_logged_in_one_line_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from syndicate import scheduler
    from syndicate.channels.registry import NoRenderer

    def refused(*args: object, **kwargs: object) -> object:
        raise NoRenderer('Job "kilat" sends each post on its own to channel "x", whose type ...')

    async def no_poll(job: object) -> None:
        return None

    config = load_config(_site(tmp_path, 'every = "10m"'))
    clock = Clock(open_database(config.database_url), config, {}, deliver=False)
    monkeypatch.setattr(scheduler, "run_job", refused)
    monkeypatch.setattr(clock, "_wait_for_poll", no_poll)
    slot = datetime(2027, 1, 4, 7, tzinfo=UTC)
    with caplog.at_level(logging.ERROR, logger="syndicate.scheduler"):
        outcome = asyncio.run(clock._run_slot(config.job("kilat"), slot, None))
    clock.db.dispose()
    assert outcome.note == "failed"
    [record] = caplog.records
    assert record.exc_info is None
    assert record.getMessage() == (
        "job kilat: the run at 2027-01-04T07:00:00+00:00 failed: "
        'Job "kilat" sends each post on its own to channel "x", whose type ...'
    )
