"""The delivery state machine, driven through the library against real peers.

Each test sets up a site (feed server, SMTP server, Bot API server, a database), runs a
job to queue an edition, sends it with `deliver_due` and checks where every delivery row
ended, which attempts were recorded, and what the peers actually received. Most run on
SQLite and on a real PostgreSQL; the claim race runs on PostgreSQL only.
"""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from syndicate.db.models import (
    Delivery,
    DeliveryState,
    SubscriberStatus,
    utcnow,
)
from syndicate.db.session import Database, open_database
from syndicate.delivery import DeliveryPolicy, queue, requeue
from syndicate.demo import write_sample_feed
from syndicate.subscribers import add_subscriber, import_csv, remove_subscriber
from tests.botapi import TEST_TOKEN, BotApiServer
from tests.feedserver import FeedServer
from tests.sites import FEED_PATH, Site, job_toml
from tests.smtpserver import SmtpServer

# -- email ------------------------------------------------------------------------------


def test_smtp_451_on_rcpt_is_retried_and_sent_once(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"))
    add_subscriber(site.db, "sari@example.org", "newsletter", name="Sari")
    assert site.run("pagi").queued == 1
    site.smtp.fail_next("RCPT", "451 4.3.0 Try again later")

    assert site.deliver(wait=5) == {"sent": 1}  # one row, counted where it ended

    (row,) = site.rows()
    assert (row.state, row.attempts, row.error) == (DeliveryState.SENT, 2, None)
    assert site.attempts(row.id) == ["retry", "sent"]
    assert site.sent_to() == ["sari@example.org"]


def test_smtp_451_without_waiting_leaves_the_row_queued_for_later(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.run("pagi")
    site.smtp.fail_next("RCPT", "451 4.3.0 Try again later")
    before = utcnow()

    site.deliver(policy=DeliveryPolicy(backoff_base=timedelta(minutes=10)))

    (row,) = site.rows()
    assert row.state == DeliveryState.QUEUED and row.lease_until is None
    assert "451 4.3.0 Try again later" in (row.error or "")
    assert before <= row.next_attempt_at <= utcnow() + timedelta(minutes=10)
    assert site.attempts(row.id) == ["retry"]
    assert site.smtp.messages == []


def test_smtp_550_5_1_1_fails_the_row_and_bounces_the_address_at_once(site: Site) -> None:
    site.open(pagi=job_toml("newsletter", new=1))
    add_subscriber(site.db, "hilang@example.org", "newsletter")
    add_subscriber(site.db, "sari@example.org", "newsletter")
    policy = DeliveryPolicy(backoff_base=timedelta(milliseconds=50))

    site.smtp.replies = {"hilang@example.org": "550 5.1.1 No such user"}
    outcome = site.run("pagi", 1)
    assert outcome.queued == 2
    assert site.deliver(policy) == {"failed": 1, "sent": 1}
    gone = next(row for row in site.rows() if row.target == "hilang@example.org")
    assert gone.state == DeliveryState.FAILED
    assert "550 5.1.1 No such user" in (gone.error or "")
    assert site.attempts(gone.id) == ["failed"]
    assert site.statuses("hilang@example.org") == {"newsletter": SubscriberStatus.BOUNCED}

    second = site.run("pagi", 2)
    assert second.posts == 1
    targets = [row.target for row in site.rows() if row.edition_id == second.edition_id]
    assert targets == ["sari@example.org"]
    assert site.sent_to() == ["sari@example.org"]


def test_smtp_451_every_time_gives_up_after_max_attempts(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.run("pagi")
    site.smtp.fail_next("RCPT", "451 4.3.0 Try again later", times=10)
    policy = DeliveryPolicy(max_attempts=2, backoff_base=timedelta(milliseconds=50))

    assert site.deliver(policy, wait=5) == {"failed": 1}

    (row,) = site.rows()
    assert row.state == DeliveryState.FAILED and row.attempts == 2
    assert (row.error or "").startswith("gave up after 2 attempts")
    assert "451 4.3.0" in (row.error or "")
    assert site.attempts(row.id) == ["retry", "failed"]
    assert site.smtp.messages == []


def test_subscriber_who_left_after_the_edition_was_queued_is_skipped(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    add_subscriber(site.db, "budi@example.org", "newsletter")
    assert site.run("pagi").queued == 2
    remove_subscriber(site.db, "budi@example.org")

    assert site.deliver() == {"sent": 1, "skipped": 1}

    budi = site.row("newsletter", "budi@example.org")
    assert budi.state == DeliveryState.SKIPPED
    assert site.attempts(budi.id) == ["skipped"]
    assert site.row("newsletter", "sari@example.org").state == DeliveryState.SENT
    assert site.sent_to() == ["sari@example.org"]


def test_subscriber_taken_off_the_list_after_the_edition_was_queued_is_skipped(
    site: Site,
) -> None:
    site.open(pagi=job_toml("newsletter"))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    add_subscriber(site.db, "budi@example.org", "newsletter")
    add_subscriber(site.db, "budi@example.org", "sore")  # still active on another list
    assert site.run("pagi").queued == 2
    remove_subscriber(site.db, "budi@example.org", list_name="newsletter")

    assert site.deliver() == {"sent": 1, "skipped": 1}

    assert site.row("newsletter", "budi@example.org").state == DeliveryState.SKIPPED
    assert site.sent_to() == ["sari@example.org"]


# -- Telegram ---------------------------------------------------------------------------


def test_telegram_timeout_after_the_request_left_is_unknown_and_not_sent_again(
    site: Site,
) -> None:
    site.open(kilat=job_toml("telegram"))
    assert site.run("kilat").queued == 1
    # The server records the message, then answers after the client (timeout = 1) gave up.
    site.bot.fail_next("sendMessage", kind="timeout", seconds=4)

    assert site.deliver() == {"unknown": 1}

    (row,) = site.rows()
    assert row.state == DeliveryState.UNKNOWN
    assert "may have been posted" in (row.error or "")
    assert site.attempts(row.id) == ["unknown"]
    assert len(site.bot.messages) == 1

    assert site.deliver(wait=1) == {}
    assert len(site.bot.messages) == 1
    assert site.rows()[0].state == DeliveryState.UNKNOWN

    assert requeue(site.db, "unknown") == 1
    assert site.rows()[0].state == DeliveryState.QUEUED
    assert site.deliver() == {"sent": 1}
    (row,) = site.rows()
    assert row.state == DeliveryState.SENT
    assert site.attempts(row.id) == ["unknown", "sent"]
    assert len(site.bot.messages) == 2  # the copy the editor asked for
    assert site.bot.messages[0].text == site.bot.messages[1].text


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own
def test_telegram_retry_after_pauses_only_that_chat(site: Site) -> None:
    site.open(siaran=job_toml("siaran"))
    assert site.run("siaran").queued == 3
    site.bot.fail_next("sendMessage", kind="retry_after", seconds=1)
    before = utcnow()

    assert site.deliver() == {"queued": 1, "sent": 2}

    rows = site.rows()
    (waiting,) = [row for row in rows if row.state == DeliveryState.QUEUED]
    assert waiting.attempts == 1 and waiting.lease_until is None
    assert waiting.next_attempt_at >= before + timedelta(seconds=1)
    assert site.attempts(waiting.id) == ["retry"]
    # The other chats were not held back by one chat's flood control.
    assert {m.chat_id for m in site.bot.messages} == {r.target for r in rows} - {waiting.target}

    assert site.deliver(wait=5) == {"sent": 1}

    final = site.rows()
    assert [row.state for row in final] == [DeliveryState.SENT] * 3
    assert sorted(m.chat_id for m in site.bot.messages) == sorted(r.target for r in final)
    assert site.attempts(waiting.id) == ["retry", "sent"]


def test_telegram_forbidden_fails_the_row_saying_the_bot_was_removed(site: Site) -> None:
    site.open(kilat=job_toml("telegram"))
    site.run("kilat")
    site.bot.fail_next("sendMessage", kind="forbidden")

    assert site.deliver(wait=1) == {"failed": 1}

    (row,) = site.rows()
    assert row.state == DeliveryState.FAILED and row.attempts == 1
    assert "the bot was removed" in (row.error or "")
    assert "@kabarpilihan" in (row.error or "")
    assert site.attempts(row.id) == ["failed"]
    assert site.bot.messages == []


# -- a sender that stopped mid-send --------------------------------------------------------


def test_expired_lease_requeues_email_and_marks_telegram_unknown(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"), kilat=job_toml("telegram"))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    add_subscriber(site.db, "budi@example.org", "newsletter")
    site.run("pagi")
    site.run("kilat")
    now = utcnow()
    # A crashed worker left these in flight; budi's is held by a worker still alive.
    with site.db.session() as session:
        session.execute(
            update(Delivery).values(
                state=DeliveryState.SENDING, attempts=1, lease_until=now - timedelta(minutes=1)
            )
        )
        session.execute(
            update(Delivery)
            .where(Delivery.target == "budi@example.org")
            .values(lease_until=now + timedelta(minutes=5))
        )

    assert site.deliver() == {"sent": 1}

    sari = site.row("newsletter", "sari@example.org")
    assert (sari.state, sari.attempts) == (DeliveryState.SENT, 2)
    assert site.attempts(sari.id) == ["interrupted", "sent"]
    assert site.sent_to() == ["sari@example.org"]

    post = site.row("telegram", "@kabarpilihan")
    assert post.state == DeliveryState.UNKNOWN
    assert "may or may not have arrived" in (post.error or "")
    assert site.attempts(post.id) == ["interrupted"]
    assert site.bot.messages == []

    budi = site.row("newsletter", "budi@example.org")
    assert budi.state == DeliveryState.SENDING
    assert site.attempts(budi.id) == []

    assert site.deliver() == {}
    assert site.sent_to() == ["sari@example.org"]
    assert site.bot.messages == []


# -- the job side: a slot runs once, a post goes out once ----------------------------------


def test_the_same_slot_fired_twice_queues_once(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    first = site.run("pagi", 1)
    assert first.queued == 1 and first.posts > 0

    again = site.run("pagi", 1)
    assert again.note == "this slot already ran"
    assert (again.edition_id, again.queued) == (None, 0)

    later = site.run("pagi", 2)
    assert later.queued == 0 and later.edition_id is None
    assert later.note == "nothing new"
    assert len(site.rows()) == 1

    site.deliver()
    assert site.sent_to() == ["sari@example.org"]


# -- PostgreSQL: concurrent claimers ---------------------------------------------------------


def test_concurrent_claimers_on_postgresql_never_take_the_same_row(
    tmp_path: Path, postgres_url: str
) -> None:
    addresses = tmp_path / "pembaca.csv"
    lines = [f"pembaca{n:03d}@example.org,Pembaca {n}" for n in range(500)]
    addresses.write_text("email,name\n" + "\n".join(lines) + "\n", encoding="utf-8")
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    with FeedServer() as feeds, SmtpServer() as smtp, BotApiServer(token=TEST_TOKEN) as bot:
        feeds.add(FEED_PATH, feed, "application/atom+xml")
        site = Site(tmp_path, postgres_url, smtp, bot, feeds.url(FEED_PATH))
        site.open(arsip=job_toml("outbox"))
        try:
            assert import_csv(site.db, addresses, "newsletter").added == 500
            assert site.run("arsip").queued == 500
            claimed = _claim_from_two_workers(postgres_url, batch_size=7)
        finally:
            site.db.dispose()
            db = open_database(postgres_url)
            with db.session() as session:
                ids = set(session.scalars(select(Delivery.id)))
                states = set(session.scalars(select(Delivery.state)))
            db.dispose()

    taken = [row_id for worker in claimed for row_id in worker]
    assert len(taken) == len(set(taken)), "a row was claimed twice"
    assert set(taken) == ids and len(ids) == 500
    assert states == {DeliveryState.CLAIMED}
    assert all(worker for worker in claimed), "one worker got nothing: no contention tested"


def _claim_from_two_workers(url: str, *, batch_size: int) -> list[list[int]]:
    """Two workers, each with its own engine, claim until nothing is queued."""
    policy = DeliveryPolicy(batch_size=batch_size)
    start = threading.Barrier(2)
    claimed: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        db = open_database(url, upgrade=False)
        try:
            start.wait()
            for n in itertools.count():
                batch = claim(db, ["outbox"], policy, f"worker{index}-{n}")
                claimed[index].extend(row.id for row in batch)
                if not batch and not _any_queued(db):
                    return
        except BaseException as error:  # reported by the test's thread
            errors.append(error)
        finally:
            db.dispose()

    workers = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    return claimed


def claim(db: Database, channels: list[str], policy: DeliveryPolicy, token: str) -> list[Any]:
    return db.run(lambda session: queue.claim(session, channels, policy, token), doing="claiming")


def _any_queued(db: Database) -> bool:
    with db.session() as session:
        return (
            session.scalar(select(Delivery.id).where(Delivery.state == DeliveryState.QUEUED))
            is not None
        )
