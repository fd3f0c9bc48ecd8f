"""A local-time digest: one edition, each subscriber's copy at the hour in their zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from syndicate.config import load_config
from syndicate.db.models import DeliveryState, utcnow
from syndicate.jobs import _local_wave, run_job
from syndicate.slots import local_edition_date
from syndicate.subscribers import add_subscriber
from syndicate.wallclock import WallClockCron
from tests.sites import Site

LOCAL = """\
schedule = "0 7 * * *"
local_time = true
channels = ["newsletter"]
format = "digest"
[select]
new = 3
window = "7d"
"""


def zones_around_seven(now: datetime) -> tuple[str, str, date]:
    """A zone where 07:00 came an hour or two ago and one where it comes within the hour,
    on the same local date."""
    by_offset = {}
    for offset in range(-12, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"
        local = now.astimezone(ZoneInfo(name))
        by_offset[offset] = (name, local)
    for offset, (past, local) in by_offset.items():
        ahead = by_offset.get(offset - 2)
        if local.hour == 8 and ahead and ahead[1].hour == 6 and ahead[1].date() == local.date():
            return past, ahead[0], local.date()
    raise AssertionError("no pair of zones found")  # pragma: no cover


def test_the_edition_date_is_the_newest_one_a_zone_has_reached() -> None:
    job = _job()
    # 23:30 UTC: Tokyo (UTC+9) is at 08:30 on the 27th, Jakarta (UTC+7) at 06:30 on the 27th.
    now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    assert local_edition_date(job, now, ["Asia/Tokyo", "Asia/Jakarta"]) == date(2026, 11, 27)
    assert local_edition_date(job, now, ["Asia/Jakarta"]) == date(2026, 11, 26)


def test_a_weekday_local_job_reads_its_days_as_cron_does() -> None:
    job = _job("0 7 * * 1-5")  # Monday to Friday
    saturday = datetime(2027, 1, 9, 13, 0, tzinfo=UTC)  # 20:00 on Saturday in Jakarta
    assert local_edition_date(job, saturday, ["Asia/Jakarta"]) is None
    monday = datetime(2027, 1, 11, 1, 0, tzinfo=UTC)  # 08:00 on Monday
    assert local_edition_date(job, monday, ["Asia/Jakarta"]) == date(2027, 1, 11)
    sunday_job = _job("0 7 * * 7")
    sunday = datetime(2027, 1, 10, 3, 0, tzinfo=UTC)
    assert local_edition_date(sunday_job, sunday, ["Asia/Jakarta"]) == date(2027, 1, 10)


def test_each_subscriber_gets_the_edition_at_seven_in_their_own_zone(site: Site) -> None:
    site.open(pagi=LOCAL)
    past, soon, day = zones_around_seven(utcnow())
    add_subscriber(site.db, "pagi-sudah@example.org", "newsletter", timezone=past)
    add_subscriber(site.db, "pagi-nanti@example.org", "newsletter", timezone=soon)
    job = site.config.job("pagi")
    slot = datetime.combine(day, time(0), tzinfo=UTC)
    outcome = run_job(site.db, site.config, site.channels, job, scheduled_for=slot, local_date=day)
    assert outcome.queued == 2 and outcome.edition_id is not None

    rows = {row.target: row for row in site.rows("newsletter")}
    for address, zone in (("pagi-sudah@example.org", past), ("pagi-nanti@example.org", soon)):
        local = rows[address].next_attempt_at.astimezone(ZoneInfo(zone))
        assert (local.date(), local.time()) == (day, time(7, 0))
    assert site.deliver() == {"sent": 1}
    assert site.sent_to() == ["pagi-sudah@example.org"]
    assert rows["pagi-nanti@example.org"].edition_id == rows["pagi-sudah@example.org"].edition_id
    later = {row.target: row.state for row in site.rows("newsletter")}
    assert later["pagi-nanti@example.org"] == DeliveryState.QUEUED


@pytest.mark.parametrize(
    ("zone", "schedule", "day", "sent"),
    [
        # 02:30 never shows in New York on 2027-03-14: the clock jumps from 02:00 to 03:00.
        ("America/New_York", "30 2 * * *", date(2027, 3, 14), "2027-03-14T03:00:00-04:00"),
        # Lord Howe moves half an hour: 02:00 (+10:30) becomes 02:30 (+11:00).
        ("Australia/Lord_Howe", "15 2 * * *", date(2026, 10, 4), "2026-10-04T02:30:00+11:00"),
        # 01:30 shows twice when New York falls back: the first time.
        ("America/New_York", "30 1 * * *", date(2027, 11, 7), "2027-11-07T01:30:00-04:00"),
    ],
)
def test_a_subscriber_hour_skipped_by_daylight_saving_goes_out_at_the_jump(
    zone: str, schedule: str, day: date, sent: str
) -> None:
    config = SimpleNamespace(site=SimpleNamespace(timezone=ZoneInfo("Asia/Jakarta")))
    wave = _local_wave(_job(schedule), config, day)  # type: ignore[arg-type]
    at = wave(zone)["next_attempt_at"]
    assert at == datetime.fromisoformat(sent)
    # The same instant the schedule itself fires at in that zone: one rule for both.
    midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
    fired = WallClockCron(schedule, ZoneInfo(zone)).get_next_fire_time(None, midnight)
    assert fired is not None and at == fired.astimezone(UTC)  # (PEP 495: compared in UTC)


def test_local_time_needs_a_schedule_at_one_hour(tmp_path) -> None:
    from syndicate.config import ConfigError

    (tmp_path / "jobs").mkdir()
    (tmp_path / "syndicate.toml").write_text('[channels.x]\ntype = "outbox"\npath = "o"\n')
    for timing in ('every = "1h"', 'schedule = "0 7,19 * * *"', 'schedule = "*/30 7 * * *"'):
        (tmp_path / "jobs" / "pagi.toml").write_text(
            f'{timing}\nlocal_time = true\nchannels = ["x"]\n'
        )
        with pytest.raises(ConfigError, match="local_time: needs a schedule at one hour"):
            load_config(tmp_path / "syndicate.toml")
    (tmp_path / "jobs" / "pagi.toml").write_text(
        'schedule = "30 07 * * mon-fri"\nlocal_time = true\nchannels = ["x"]\n'
    )
    assert load_config(tmp_path / "syndicate.toml").job("pagi").local_hour == time(7, 30)


def _job(schedule: str = "0 7 * * *"):
    from syndicate.config import Job, Selection

    return Job(
        name="pagi",
        file=None,  # type: ignore[arg-type]
        channels=("newsletter",),
        format="digest",
        subject=None,
        selection=Selection(3, timedelta(days=7), ()),
        schedule=schedule,
        local_time=True,
    )
