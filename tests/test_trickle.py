"""Trickle and quiet hours, stale posts, and pausing a chat the bot was removed from."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from syndicate.cli import main
from syndicate.db.models import Delivery, DeliveryState, utcnow
from syndicate.trickle import in_quiet_hours, quiet_hours_end, send_times
from tests.sites import Site

JAKARTA = ZoneInfo("Asia/Jakarta")
NIGHT = (time(23, 0), time(6, 0))


def each_job(channel: str, extra: str = "", new: int = 5) -> str:
    return (
        f'every = "10m"\nchannels = ["{channel}"]\nformat = "each"\n{extra}\n'
        f'[select]\nnew = {new}\nwindow = "7d"\n'
    )


def sends(site: Site) -> int:
    return sum(request.method.startswith("send") for request in site.bot.requests)


def test_spacing_gives_one_message_per_interval_in_order() -> None:
    start = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta
    times = send_times(
        4, earliest=start, spacing=timedelta(minutes=15), quiet_hours=None, timezone=JAKARTA
    )
    assert [t - start for t in times] == [timedelta(minutes=m) for m in (0, 15, 30, 45)]


def test_what_waits_out_the_night_goes_at_its_end_still_spaced() -> None:
    evening = datetime(2026, 11, 27, 22, 40, tzinfo=JAKARTA)
    times = send_times(
        4, earliest=evening, spacing=timedelta(minutes=15), quiet_hours=NIGHT, timezone=JAKARTA
    )
    local = [t.astimezone(JAKARTA).strftime("%d %H:%M") for t in times]
    assert local == ["27 22:40", "27 22:55", "28 06:00", "28 06:15"]


def test_quiet_hours_within_a_day_and_across_midnight() -> None:
    lunch = (time(12, 0), time(13, 0))
    assert in_quiet_hours(datetime(2026, 11, 27, 12, 30, tzinfo=JAKARTA), lunch, JAKARTA)
    assert not in_quiet_hours(datetime(2026, 11, 27, 13, 0, tzinfo=JAKARTA), lunch, JAKARTA)
    assert in_quiet_hours(datetime(2026, 11, 27, 0, 30, tzinfo=JAKARTA), NIGHT, JAKARTA)
    assert quiet_hours_end(datetime(2026, 11, 27, 14, 0, tzinfo=JAKARTA), NIGHT, JAKARTA) is None
    end = quiet_hours_end(datetime(2026, 11, 27, 23, 5, tzinfo=JAKARTA), NIGHT, JAKARTA)
    assert end == datetime(2026, 11, 28, 6, 0, tzinfo=JAKARTA)


def test_a_burst_is_trickled_one_post_per_interval_oldest_first(site: Site) -> None:
    site.open(kilat=each_job("telegram", 'spacing = "1h"', new=3))
    assert site.run("kilat").queued == 3
    assert site.deliver() == {"sent": 1}
    rows = site.rows("telegram")
    waits = [row.next_attempt_at - rows[0].next_attempt_at for row in rows]
    assert waits == [timedelta(0), timedelta(hours=1), timedelta(hours=2)]
    states = [row.state for row in rows]
    assert states == [DeliveryState.SENT, DeliveryState.QUEUED, DeliveryState.QUEUED]
    # The oldest of the three went first.
    first = site.bot.messages[0].text or ""
    assert "Tim Voli" in first  # the oldest of the three newest posts

    # The next run continues the trickle after the last queued post, not from now.
    site.open(kilat=each_job("telegram", 'spacing = "1h"', new=1))
    site.run("kilat", 1)
    last = site.rows("telegram")[-1]
    assert last.next_attempt_at - rows[-1].next_attempt_at == timedelta(hours=1)


def test_nothing_is_posted_in_quiet_hours(site: Site) -> None:
    now = utcnow().astimezone(JAKARTA)
    start, end = now - timedelta(minutes=30), now + timedelta(hours=2)
    quiet = f'quiet_hours = "{start:%H:%M}-{end:%H:%M}"'
    site.open(kilat=each_job("telegram", quiet, new=2))
    site.run("kilat")
    assert site.deliver() == {}
    assert site.bot.messages == []
    for row in site.rows("telegram"):
        assert row.state == DeliveryState.QUEUED
        assert row.next_attempt_at.astimezone(JAKARTA).strftime("%H:%M") == f"{end:%H:%M}"


def test_a_post_waiting_past_max_delay_is_dropped_as_skipped(site: Site) -> None:
    site.open(kilat=each_job("telegram", 'max_delay = "1h"', new=2))
    site.run("kilat")
    with site.db.session() as session:
        first = min(row.id for row in site.rows("telegram"))
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(created_at=utcnow() - timedelta(hours=2))
        )
    assert site.deliver() == {"skipped": 1, "sent": 1}
    assert "max_delay" in (site.rows("telegram")[0].error or "")
    assert len(site.bot.messages) == 1


def test_a_chat_the_bot_was_removed_from_is_paused_until_resumed(site: Site, capsys) -> None:
    site.open(kilat=each_job("telegram", new=3))
    site.run("kilat")
    site.bot.fail_next("sendMessage", kind="forbidden")
    site.bot.fail_next("sendPhoto", kind="forbidden")
    outcome = site.deliver()
    assert outcome == {"failed": 3}
    requests_after_pause = sends(site)
    errors = [row.error or "" for row in site.rows("telegram")]
    assert "removed" in errors[0] and all("paused" in error for error in errors[1:])

    settings = str(site.folder / "syndicate.toml")
    capsys.readouterr()
    assert main(["--config", settings, "deliveries"]) == 0
    shown = capsys.readouterr().out
    assert "PAUSED" in shown and "@kabarpilihan" in shown

    # Until resumed, nothing is even tried.
    site.run("kilat", 1)
    assert site.deliver() == {"failed": 3}
    assert sends(site) == requests_after_pause
    assert main(["--config", settings, "resume", "telegram"]) == 0
    assert main(["--config", settings, "retry", "--state", "failed"]) == 0
    assert site.deliver() == {"sent": 6}
