"""What keeps a sender trusted: soft bounces counted, Message-IDs never reused, and no
edition used up while nobody is on the list."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syndicate.bounces.report import edition_rates
from syndicate.db.models import Edition, EditionPost, Post, SubscriberStatus
from syndicate.delivery import DeliveryPolicy
from syndicate.subscribers import add_subscriber, remove_subscriber
from tests.sites import Site, job_toml
from tests.smtpserver import ACCEPT_THEN_DROP

GIVE_UP_AT_ONCE = DeliveryPolicy(
    max_attempts=1, backoff_base=timedelta(milliseconds=50), bounces_to_stop=2
)


def test_soft_bounces_count_and_the_second_within_30_days_ends_the_subscription(
    site: Site,
) -> None:
    site.open(pagi=job_toml("newsletter", new=1))
    add_subscriber(site.db, "penuh@example.net", "newsletter")
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.smtp.replies = {"penuh@example.net": "452 4.2.2 Mailbox full"}
    first = site.run("pagi", 1)
    assert site.deliver(GIVE_UP_AT_ONCE) == {"failed": 1, "sent": 1}
    assert site.statuses("penuh@example.net") == {"newsletter": SubscriberStatus.ACTIVE}

    second = site.run("pagi", 2)
    assert site.deliver(GIVE_UP_AT_ONCE) == {"failed": 1, "sent": 1}
    assert site.statuses("penuh@example.net") == {"newsletter": SubscriberStatus.BOUNCED}
    rates = edition_rates(site.db, [first.edition_id, second.edition_id])
    assert (rates[first.edition_id].mailed, rates[first.edition_id].bounced) == (2, 0)
    # The soft bounce that ended the subscription is in its edition's bounce rate.
    assert (rates[second.edition_id].mailed, rates[second.edition_id].bounced) == (2, 1)
    assert site.statuses("sari@example.org") == {"newsletter": SubscriberStatus.ACTIVE}
    assert site.run("pagi", 3).queued == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_server_that_is_down_counts_no_bounce(site: Site) -> None:
    site.open(pagi=job_toml("newsletter", new=1))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.smtp.fail_next("MAIL", "451 4.3.0 Try later", times=10)
    for n in (1, 2, 3):
        site.run("pagi", n)
        site.deliver(GIVE_UP_AT_ONCE)
    assert site.statuses("sari@example.org") == {"newsletter": SubscriberStatus.ACTIVE}


def message_ids(site: Site) -> list[str]:
    return [str(m.message["Message-ID"]) for m in site.smtp.messages]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_message_ids_differ_across_installs_and_resets_but_not_for_a_resend(
    site: Site, tmp_path: Path
) -> None:
    site.open(pagi=job_toml("newsletter", new=1))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    site.smtp.fail_next("DATA", ACCEPT_THEN_DROP)  # taken, then the line dies: sent again
    site.run("pagi", 1)
    site.deliver(wait=5)
    first, again = message_ids(site)
    assert first == again  # the receiver can drop the second copy

    # The same site on a new, empty database (a reset, or another install of it): the
    # same edition number to the same subscriber id gets a Message-ID of its own.
    site.db.dispose()
    site.database_url = f"sqlite:///{tmp_path / 'reset.db'}"
    site.open(pagi=job_toml("newsletter", new=1))
    add_subscriber(site.db, "sari@example.org", "newsletter")
    outcome = site.run("pagi", 1)
    assert outcome.edition_id == 1
    site.deliver()
    assert len(set(message_ids(site))) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_edition_with_nobody_to_receive_it_is_skipped_and_its_posts_wait(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site.open(pagi=job_toml("newsletter", new=2))
    with caplog.at_level(logging.INFO, logger="syndicate.jobs"):
        empty = site.run("pagi", 1)
    assert empty.edition_id is None and empty.note == "nobody on newsletter yet"
    assert "nobody on newsletter yet" in caplog.text
    with site.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Edition)) == 0
        newest = list(
            session.scalars(select(Post.title).order_by(Post.published_at.desc()).limit(2))
        )

    add_subscriber(site.db, "sari@example.org", "newsletter")
    later = site.run("pagi", 2)
    assert later.posts == 2 and later.queued == 1
    site.deliver()
    text = site.smtp.messages[0].message.get_body(("plain",)).get_content()
    assert all(" ".join(title.split()[:4]) in " ".join(text.split()) for title in newest)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_posts_go_to_telegram_now_and_wait_for_an_empty_email_list(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    job = job_toml("newsletter", new=2).replace(
        'channels = ["newsletter"]', 'channels = ["newsletter", "telegram"]'
    )
    site.open(pagi=job)
    add_subscriber(site.db, "pergi@example.org", "newsletter")
    remove_subscriber(site.db, "pergi@example.org", list_name="newsletter")
    with caplog.at_level(logging.INFO, logger="syndicate.jobs"):
        first = site.run("pagi", 1)
    assert first.edition_id is not None and first.queued == 1  # the Telegram chat's
    assert "nobody on newsletter yet" in caplog.text
    assert site.deliver() == {"sent": 1}
    assert site.smtp.messages == []

    add_subscriber(site.db, "sari@example.org", "newsletter")
    later = site.run("pagi", 2)  # two new posts; the digest also carries what was missed
    assert later.queued == 2  # Sari and the chat
    assert site.deliver() == {"sent": 2}
    (mail,) = site.smtp.messages
    assert mail.envelope_to == ["sari@example.org"]
    text = mail.message.get_body(("plain",)).get_content()
    with site.db.session() as session:
        titles = {
            edition: list(
                session.scalars(
                    select(Post.title)
                    .join(EditionPost, EditionPost.post_id == Post.id)
                    .where(EditionPost.edition_id == edition)
                )
            )
            for edition in (first.edition_id, later.edition_id)
        }
    assert all(title in text for edition in titles.values() for title in edition)
    chat = " ".join(message.text for message in site.bot.messages)
    assert len(site.bot.messages) == 2  # each edition's own posts, once
    assert all(title in chat for edition in titles.values() for title in edition)
    site.run("pagi", 3)
    site.deliver()
    assert len(site.smtp.messages) == 1 or all(  # a third digest carries none of them again
        title not in site.smtp.messages[-1].message.get_body(("plain",)).get_content()
        for edition in titles.values()
        for title in edition
    )
