"""Editions held for an editor's review, through the CLI and the real SMTP and Bot API peers.

A job with `review = true` makes its edition ahead of the slot and sends nothing until an
editor approves it; editors drop, move and pin posts and change the subject; every act is
recorded; approving twice sends once; a sent edition is frozen; a dropped post is new
again for the next edition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.db.models import Edition, EditionChange, JobRun
from syndicate.review import edition_detail
from syndicate.review_clock import review_tick
from tests.sites import Site

SCHEDULE_HOUR = 7  # the job's slot, in the site's zone (Asia/Jakarta, UTC+7): 00:00 UTC
REVIEW = '\n[review]\nnotify = ["desk@example.org"]\ntelegram_chat = "@redaksi"\n'


def review_job(*, if_not_approved: str = "hold", new: int = 3) -> str:
    return (
        f'schedule = "0 {SCHEDULE_HOUR} * * *"\nchannels = ["newsletter", "telegram"]\n'
        f'format = "digest"\nsubject = "Kabar pagi"\nreview = true\nreview_before = "30m"\n'
        f'if_not_approved = "{if_not_approved}"\n[select]\nnew = {new}\nwindow = "7d"\n'
    )


def next_slot() -> datetime:
    """The job's next slot (07:00 Asia/Jakarta is 00:00 UTC), tomorrow at the latest."""
    now = datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def last_slot() -> datetime:
    """The job's latest slot, already passed: an approval then sends at once."""
    return next_slot() - timedelta(days=1)


def syndicate(site: Site, *command: str) -> int:
    return main(["--config", str(site.folder / "syndicate.toml"), *command])


def open_site(site: Site, **job: str) -> Site:
    site.open(REVIEW, **job)
    assert syndicate(site, "subscribers", "add", "sari@example.org", "--list", "newsletter") == 0
    return site


def digests(site: Site) -> list:
    return [m for m in site.smtp.messages if m.envelope_to == ["sari@example.org"]]


def hold(site: Site, slot: datetime) -> int:
    tick = review_tick(site.db, site.config, site.channels, now=slot - timedelta(minutes=20))
    (outcome,) = tick.held
    assert outcome.edition_id is not None
    return outcome.edition_id


@pytest.mark.slow
def test_a_held_edition_sends_nothing_until_approved_and_twice_sends_once(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    open_site(site, pagi=review_job())
    slot = last_slot()
    # Before its review time nothing is made.
    early = review_tick(site.db, site.config, site.channels, now=slot - timedelta(hours=2))
    assert early.held == [] and early.released == []
    edition = hold(site, slot)
    assert site.rows() == []
    # The slot passes: with if_not_approved = "hold" it stays held, and says so once.
    for minutes in (1, 2):
        review_tick(site.db, site.config, site.channels, now=slot + timedelta(minutes=minutes))
    site.deliver()
    assert digests(site) == [] and site.bot.messages == []
    assert [c.action for c in edition_detail(site.db, edition).changes] == ["missed"]
    with site.db.session() as session:  # the slot is still one run
        assert session.scalar(select(func.count()).select_from(JobRun)) == 1

    assert syndicate(site, "approve", str(edition), "--editor", "Rina") == 0
    assert len(digests(site)) == 1
    assert digests(site)[0].message["Subject"] == "Kabar pagi"
    assert [m.chat_id for m in site.bot.messages] == ["@kabarpilihan"]
    capsys.readouterr()
    assert syndicate(site, "approve", str(edition), "--editor", "Budi") == 0
    assert "already sent" in capsys.readouterr().out
    site.deliver()
    assert len(digests(site)) == 1 and len(site.bot.messages) == 1

    # Frozen: a change after sending is refused in one sentence.
    post = edition_detail(site.db, edition).posts[0].post_id
    assert syndicate(site, "edition", "drop", str(edition), str(post)) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"syndicate: Edition {edition} is already being sent, so it can no longer be changed."
    )
    detail = edition_detail(site.db, edition)
    assert len(detail.posts) == 3
    assert [(c.editor, c.action) for c in detail.changes] == [
        ("the schedule", "missed"),
        ("Rina", "approve"),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_if_not_approved_send_sends_at_the_slot(site: Site) -> None:
    open_site(site, pagi=review_job(if_not_approved="send"))
    slot = next_slot()
    edition = hold(site, slot)
    review_tick(site.db, site.config, site.channels, now=slot - timedelta(minutes=5))
    site.deliver()
    assert digests(site) == []
    tick = review_tick(site.db, site.config, site.channels, now=slot + timedelta(seconds=30))
    assert [edition_id for edition_id, _ in tick.released] == [edition]
    site.deliver()
    assert len(digests(site)) == 1
    changes = edition_detail(site.db, edition).changes
    assert [(c.editor, c.action) for c in changes] == [("the schedule", "send")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_approved_before_the_slot_goes_out_at_the_slot(site: Site) -> None:
    open_site(site, pagi=review_job())
    slot = next_slot()
    edition = hold(site, slot)
    assert syndicate(site, "approve", str(edition), "--editor", "Rina") == 0
    site.deliver()
    assert digests(site) == []  # approved, waiting for its slot
    review_tick(site.db, site.config, site.channels, now=slot + timedelta(seconds=5))
    site.deliver()
    assert len(digests(site)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_drop_move_pin_subject_shape_what_is_sent_and_a_dropped_post_comes_next(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_site(site, pagi=review_job(new=3))
    assert syndicate(site, "send", "pagi") == 0
    assert "is held for review" in capsys.readouterr().out
    site.deliver()
    assert digests(site) == []
    with site.db.session() as session:
        edition = session.scalar(select(Edition.id))
    posts = [p.post_id for p in edition_detail(site.db, edition).posts]
    first, second, third = posts
    assert syndicate(site, "edition", "drop", str(edition), str(second), "--editor", "Rina") == 0
    assert (
        syndicate(site, "edition", "move", str(edition), str(third), "1", "--editor", "Budi") == 0
    )
    with site.db.session() as session:  # a post from the database that no edition carries
        spare = session.scalar(select(func.max(Edition.id)).where(Edition.id == -1)) or _spare_post(
            site, posts
        )
    assert syndicate(site, "edition", "pin", str(edition), str(spare), "--position", "2") == 0
    hostile = "Pagi  ini\r\nBcc: semua@example.org\x00\x1b[31m saja"
    assert syndicate(site, "edition", "subject", str(edition), hostile) == 0
    # A change on an older version is refused with the reason, and changes nothing.
    assert syndicate(site, "edition", "drop", str(edition), str(first), "--version", "1") == 2
    err = capsys.readouterr().err
    assert "was changed by" in err and "reload it and make your change again" in err
    detail = edition_detail(site.db, edition)
    assert [p.post_id for p in detail.posts] == [third, spare, first]
    assert detail.summary.subject == "Pagi ini Bcc: semua@example.org saja"
    assert [c.action for c in detail.changes] == ["drop", "move", "pin", "subject"]
    assert [c.editor for c in detail.changes][:2] == ["Rina", "Budi"]

    out = tmp_path / "preview"
    assert syndicate(site, "edition", "show", str(edition), "--preview", str(out)) == 0
    shown = capsys.readouterr().out
    assert "held (version 4)" in shown and "Rina: drop" in shown
    emails = sorted(out.rglob("*.eml"))
    assert len(emails) == 1 and list(out.rglob("*.json"))
    titles = [p.title for p in detail.posts]
    previewed = emails[0].read_text(encoding="utf-8", errors="replace")
    assert "Pagi ini Bcc: semua@example.org saja" in previewed

    assert syndicate(site, "approve", str(edition), "--editor", "Rina") == 0
    (sent,) = digests(site)
    assert sent.message["Subject"] == "Pagi ini Bcc: semua@example.org saja"
    assert sent.message["Bcc"] is None and sent.envelope_to == ["sari@example.org"]
    text = sent.message.get_body(("plain",)).get_content()
    positions = [text.find(title) for title in titles]
    assert -1 not in positions and positions == sorted(positions)
    dropped_title = _title(site, second)
    assert dropped_title not in text

    # The dropped post is new again: the next edition carries it.
    outcome = site.run("pagi", n=1)
    assert outcome.held
    nxt = edition_detail(site.db, outcome.edition_id)
    assert second in [p.post_id for p in nxt.posts]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_discarding_sends_nothing_frees_the_posts_and_keeps_the_slot_used(site: Site) -> None:
    open_site(site, pagi=review_job())
    slot = next_slot()
    edition = hold(site, slot)
    posts = {p.post_id for p in edition_detail(site.db, edition).posts}
    assert syndicate(site, "discard", str(edition), "--editor", "Rina") == 0
    assert syndicate(site, "approve", str(edition)) == 2
    # The same slot is not made again, however often the clock looks.
    again = review_tick(site.db, site.config, site.channels, now=slot - timedelta(minutes=10))
    after = review_tick(site.db, site.config, site.channels, now=slot + timedelta(minutes=1))
    assert again.held == [] and after.held == [] and after.released == []
    site.deliver()
    assert digests(site) == []
    # Its posts go into the next slot's edition.
    nxt = hold(site, slot + timedelta(days=1))
    assert posts <= {p.post_id for p in edition_detail(site.db, nxt).posts}
    with site.db.session() as session:
        actions = list(
            session.scalars(select(EditionChange.action).where(EditionChange.edition_id == edition))
        )
    assert actions == ["discard"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_job_without_review_sends_as_before(site: Site) -> None:
    from tests.sites import job_toml

    open_site(site, pagi=job_toml("newsletter"))
    outcome = site.run("pagi")
    assert not outcome.held and outcome.queued == 1
    site.deliver()
    assert len(digests(site)) == 1
    with site.db.session() as session:
        assert session.scalar(select(Edition.state)) == "sent"


def _spare_post(site: Site, taken: list[int]) -> int:
    from syndicate.db.models import Post

    with site.db.session() as session:
        return session.scalar(select(Post.id).where(Post.id.not_in(taken)).order_by(Post.id))


def _title(site: Site, post_id: int) -> str:
    from syndicate.db.models import Post

    with site.db.session() as session:
        return session.get(Post, post_id).title


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_approving_at_once_send_once(site: Site) -> None:
    import subprocess
    import sys

    open_site(site, pagi=review_job())
    readers = [f"pembaca{n}@example.org" for n in range(12)]
    for reader in readers:
        assert syndicate(site, "subscribers", "add", reader, "--list", "newsletter") == 0
    edition = hold(site, last_slot())
    command = [sys.executable, "-m", "syndicate", "--config", str(site.folder / "syndicate.toml")]
    runs = [
        subprocess.Popen(
            [*command, "approve", str(edition), "--editor", f"editor {n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    said = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], said
    outs = [out for out, _ in said]
    assert sum("goes out now" in out for out in outs) == 1, outs
    assert sum("already sent" in out for out in outs) == 1, outs
    received = sorted(to for m in site.smtp.messages for to in m.envelope_to)
    assert received == sorted(["sari@example.org", *readers])
    assert [c.action for c in edition_detail(site.db, edition).changes] == ["approve"]
    assert len(site.bot.messages) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_clock_holds_the_next_slot_once_and_tells_the_editors(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import functools

    import syndicate.review_clock
    from syndicate.scheduler import Clock

    every = review_job().replace('schedule = "0 7 * * *"', 'every = "10m"')
    open_site(site, kilat=every.replace('review_before = "30m"', 'review_before = "9m"'))
    # Five minutes before a slot (slots are at :00, :10, ... UTC): within review_before.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now = now.replace(minute=now.minute - now.minute % 10) + timedelta(minutes=5)
    monkeypatch.setattr(
        syndicate.review_clock, "review_tick", functools.partial(review_tick, now=now)
    )
    clock = Clock(site.db, site.config, site.channels)
    asyncio.run(clock._review())
    asyncio.run(clock._review())  # the same slot again: taken
    with site.db.session() as session:
        (edition,) = session.scalars(select(Edition)).all()
        assert edition.state == "held"
    (notice,) = [m for m in site.smtp.messages if m.envelope_to == ["desk@example.org"]]
    link = f"http://localhost:8080/admin/editions/{edition.id}"
    assert link in notice.message.get_body(("plain",)).get_content()
    assert [m.chat_id for m in site.bot.messages] == ["@redaksi"]
    assert digests(site) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("javascript:alert(1)", "neither a post number nor a web address"),
        ("http://169.254.169.254/latest/meta-data/", "could not be fetched"),
        ("99999", "There is no post 99999."),
        ("9" * 25, "There is no post 999"),
    ],
)
def test_pinning_hostile_or_missing_things_is_refused_in_one_sentence(
    site: Site, capsys: pytest.CaptureFixture[str], given: str, said: str
) -> None:
    open_site(site, pagi=review_job())
    edition = hold(site, next_slot())
    capsys.readouterr()
    assert syndicate(site, "edition", "pin", str(edition), given) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and len(err.splitlines()) == 1
    assert len(edition_detail(site.db, edition).posts) == 3
    assert edition_detail(site.db, edition).changes == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("tail", "job", "said"),
    [
        ('\n[review]\nnotify = ["not an address"]\n', "", "is not an address"),
        ('\n[review]\nemail_channel = "telegram"\n', "", "is not one of the email channels"),
        ("", "local_time = true\n", "cannot be combined with local_time"),
        ("", 'if_not_approved = "maybe"\n', '"maybe" is not one of "hold", "send"'),
    ],
)
def test_review_settings_are_checked(site: Site, tail: str, job: str, said: str) -> None:
    from syndicate.config import ConfigError

    with pytest.raises(ConfigError, match=re.escape(said)):
        site.open(tail, pagi=job + review_job().replace('if_not_approved = "hold"\n', ""))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_edition_number_no_database_can_hold_is_no_edition(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    open_site(site, pagi=review_job())
    capsys.readouterr()
    assert syndicate(site, "approve", "9" * 25) == 2
    assert capsys.readouterr().err.startswith("syndicate: There is no edition 9999")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_once_holds_a_review_job_and_tells_the_editors(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    open_site(site, pagi=review_job())
    capsys.readouterr()
    assert syndicate(site, "run", "--once") == 0
    assert "job pagi: edition 1 held for review" in capsys.readouterr().out
    assert digests(site) == []
    assert [m.envelope_to for m in site.smtp.messages] == [["desk@example.org"]]
    assert [m.chat_id for m in site.bot.messages] == ["@redaksi"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_editors_changing_the_same_version_at_once_lose_nothing(site: Site) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from syndicate.review import ReviewError, drop_post, move_post

    open_site(site, pagi=review_job())
    edition = hold(site, next_slot())
    detail = edition_detail(site.db, edition)
    first, second, third = (p.post_id for p in detail.posts)
    seen = detail.summary.version
    acts = [
        lambda: drop_post(site.db, edition, first, "Rina", seen),
        lambda: move_post(site.db, edition, third, 1, "Budi", seen),
    ]

    def attempt(act):  # type: ignore[no-untyped-def]
        try:
            return act()
        except ReviewError as error:
            return error

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(attempt, acts))
    refused = [r for r in results if isinstance(r, ReviewError)]
    assert len(refused) == 1 and "reload it and make your change again" in str(refused[0])
    after = edition_detail(site.db, edition)
    assert after.summary.version == seen + 1 and len(after.changes) == 1
    done = after.changes[0].action
    expected = [second, third] if done == "drop" else [third, first, second]
    assert [p.post_id for p in after.posts] == expected


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pinning_a_post_the_job_already_sent_is_refused_naming_the_edition(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    from syndicate.db.models import Post

    open_site(site, pagi=review_job(new=1))
    first = hold(site, last_slot() - timedelta(days=1))
    (sent,) = [p.post_id for p in edition_detail(site.db, first).posts]
    assert syndicate(site, "approve", str(first)) == 0
    site.deliver()
    assert len(digests(site)) == 1
    held = hold(site, next_slot())
    with site.db.session() as session:
        url = session.get(Post, sent).url
    capsys.readouterr()
    for given in (str(sent), url):
        assert syndicate(site, "edition", "pin", str(held), given) == 2
        err = capsys.readouterr().err.strip()
        assert f"Post {sent} went out in edition {first} on " in err, err
        assert err.endswith("a job sends a story once.") and len(err.splitlines()) == 1
    # Another site's copy of the same story (its cluster) went out with it, too.
    carried = [p.post_id for p in edition_detail(site.db, held).posts]
    copy = _spare_post(site, [sent, *carried])
    with site.db.session() as session:
        story = session.get(Post, sent).cluster_id or sent
        session.get(Post, copy).cluster_id = story
    assert syndicate(site, "edition", "pin", str(held), str(copy)) == 2
    err = capsys.readouterr().err.strip()
    assert f"Post {copy} (the story of post {sent}) went out in edition {first} on " in err
    assert sent not in [p.post_id for p in edition_detail(site.db, held).posts]
    assert edition_detail(site.db, held).changes == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_notice_the_editors_never_got_is_shown_and_tried_again_until_it_goes_out(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from syndicate.review_notice import retry_notices

    open_site(site, pagi=review_job())
    site.smtp.down()
    try:
        assert syndicate(site, "send", "pagi") == 0
    finally:
        site.smtp.up()
    with site.db.session() as session:
        edition = session.scalar(select(Edition.id))
    untold = edition_detail(site.db, edition).summary.untold
    assert untold and untold.startswith("newsletter")
    capsys.readouterr()
    assert syndicate(site, "edition", "show", str(edition)) == 0
    assert f"editors not told: {untold}" in capsys.readouterr().out
    assert syndicate(site, "editions") == 0
    assert f"Edition {edition}: editors not told: {untold}" in capsys.readouterr().out
    assert site.smtp.messages == []
    # The review tick tries again, not at once but every few minutes, until it goes out.
    now = datetime.now(UTC)
    assert asyncio.run(retry_notices(site.db, site.config, site.channels, now)) == []
    later = now + timedelta(minutes=6)
    assert asyncio.run(retry_notices(site.db, site.config, site.channels, later)) == [edition]
    assert [m.envelope_to for m in site.smtp.messages] == [["desk@example.org"]]
    assert edition_detail(site.db, edition).summary.untold is None
    assert (
        asyncio.run(
            retry_notices(site.db, site.config, site.channels, later + timedelta(minutes=6))
        )
        == []
    )
    capsys.readouterr()
    assert syndicate(site, "edition", "show", str(edition)) == 0
    assert "editors not told" not in capsys.readouterr().out.split("Changes:")[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("schedule", "before", "gap"),
    [
        ("*/2 * * * *", "7m", "2m"),
        ("0 7,8 * * mon", "1h", "1h"),
        ("every 10m", "10m", "10m"),
    ],
)
def test_review_before_as_long_as_the_gap_between_slots_is_refused(
    site: Site, schedule: str, before: str, gap: str
) -> None:
    from syndicate.config import ConfigError

    job = review_job().replace(f'schedule = "0 {SCHEDULE_HOUR} * * *"', f'schedule = "{schedule}"')
    if schedule.startswith("every"):
        job = job.replace(f'schedule = "{schedule}"', f'every = "{schedule.split()[1]}"')
    job = job.replace('review_before = "30m"', f'review_before = "{before}"')
    with pytest.raises(ConfigError) as caught:
        site.open(REVIEW, pagi=job)
    said = str(caught.value)
    assert f'"{before}" is not shorter than the {gap} between two of the job\'s slots' in said
    assert len(said.strip().splitlines()) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_check_warns_of_review_settings_on_a_job_without_review(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    weekly = review_job().replace('schedule = "0 7 * * *"', 'schedule = "0 7 * * mon"')
    plain = review_job().replace("review = true\n", "")
    open_site(site, pagi=plain, mingguan=weekly.replace('"30m"', '"6d"'))
    capsys.readouterr()
    syndicate(site, "check")
    err = capsys.readouterr()
    said = err.out + err.err
    assert "review_before does nothing without review = true" in said
    assert "if_not_approved does nothing without review = true" in said
    assert "mingguan.toml: review_before" not in said


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bidi_and_other_format_controls_are_taken_out_of_a_subject(site: Site) -> None:
    from syndicate.review import set_subject

    open_site(site, pagi=review_job())
    edition = hold(site, next_slot())
    hostile = "Kabar \u202eharian\u202c \u2066pagi\u2069\u200b\u00ad ini \U0001f469\u200d\U0001f4bb"
    set_subject(site.db, edition, hostile, "Rina")
    subject = edition_detail(site.db, edition).summary.subject
    assert subject == "Kabar harian pagi ini \U0001f469\u200d\U0001f4bb"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_notify_address_with_a_line_break_is_shown_escaped(site: Site) -> None:
    from syndicate.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        site.open('\n[review]\nnotify = ["desk@example.org\\r\\nBcc: all@example.org"]\n')
    said = str(caught.value)
    assert '"desk@example.org\\r\\nBcc: all@example.org" is not an address' in said
    assert "\r" not in said and "\n" not in said.strip()
