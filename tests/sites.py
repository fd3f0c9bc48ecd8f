"""A site for tests: settings, jobs, a database and real peers (feeds, SMTP, Bot API).

`site` (a fixture, on SQLite and on PostgreSQL) gives a `Site` whose `open(job=toml)`
writes the settings and jobs, builds the channels and polls the sample feed; `run` fires a
job for a slot and `deliver` sends what is due, as the scheduler would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.channels.base import Channel
from syndicate.channels.registry import build_channels
from syndicate.config import Config, load_config
from syndicate.db.models import Attempt, Delivery, MailingList, Subscriber, Subscription
from syndicate.db.session import Database, open_database
from syndicate.delivery import DeliveryPolicy, deliver_due
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import JobOutcome, run_job
from tests.botapi import TEST_TOKEN, BotApiServer
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer

__all__ = ["FEED_PATH", "FIRST_SLOT", "QUICK", "SETTINGS", "Site", "job_toml", "site", "slot"]

FEED_PATH = "/feeds/posts/default"
FIRST_SLOT = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
# Retries come quickly here, so a test waits for them in a fraction of a second.
QUICK = DeliveryPolicy(backoff_base=timedelta(milliseconds=50))

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "{database_url}"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "warta"
url = "{feed_url}"
poll = "15m"

[channels.newsletter]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"
timeout = 5

[channels.telegram]
type = "telegram"
token = "{token}"
chat_id = "@kabarpilihan"
api_base_url = "{bot_url}"
timeout = 1

[channels.siaran]
type = "telegram"
token = "{token}"
chat_id = ["@siaran_satu", "@siaran_dua", "@siaran_tiga"]
api_base_url = "{bot_url}"
timeout = 1

[channels.outbox]
type = "outbox"
path = "outbox"
list = "newsletter"
"""


def job_toml(channel: str, *, new: int = 10) -> str:
    """A digest job on one channel, taking the `new` newest posts of the past week."""
    return (
        f'every = "10m"\nchannels = ["{channel}"]\nformat = "digest"\n'
        f'[select]\nnew = {new}\nwindow = "7d"\n'
    )


def slot(n: int) -> datetime:
    return FIRST_SLOT + timedelta(hours=n)


@dataclass
class Site:
    """A site with its peers; `open` reads the jobs, builds channels and polls the feed."""

    folder: Path
    database_url: str
    smtp: SmtpServer
    bot: BotApiServer
    feed_url: str
    config: Config = field(init=False)
    channels: dict[str, Channel] = field(init=False)
    db: Database = field(init=False)

    def open(self, settings_tail: str = "", **jobs: str) -> Site:
        """`settings_tail`: more tables after the standard settings."""
        (self.folder / "jobs").mkdir(exist_ok=True)
        for name, text in jobs.items():
            (self.folder / "jobs" / f"{name}.toml").write_text(text, encoding="utf-8")
        settings = self.folder / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                database_url=self.database_url,
                feed_url=self.feed_url,
                smtp_url=self.smtp.url,
                token=TEST_TOKEN,
                bot_url=self.bot.base_url,
            )
            + settings_tail,
            encoding="utf-8",
        )
        self.config = load_config(settings)
        self.channels = build_channels(self.config)
        self.db = open_database(self.config.database_url)
        reports = asyncio.run(poll_sources(self.db, self.config.sources))
        assert [report.error for report in reports] == [None]
        return self

    def run(self, job: str, n: int = 0) -> JobOutcome:
        return run_job(
            self.db, self.config, self.channels, self.config.job(job), scheduled_for=slot(n)
        )

    def deliver(self, policy: DeliveryPolicy = QUICK, wait: float = 0) -> dict[str, int]:
        outcomes = asyncio.run(
            deliver_due(
                self.db,
                self.config,
                self.channels,
                policy=policy,
                wait_for_retries=timedelta(seconds=wait),
            )
        )
        return dict(outcomes)

    def rows(self, channel: str | None = None) -> list[Delivery]:
        query = select(Delivery).order_by(Delivery.id)
        if channel is not None:
            query = query.where(Delivery.channel == channel)
        with self.db.session() as session:
            return list(session.scalars(query))

    def row(self, channel: str, target: str) -> Delivery:
        (found,) = [row for row in self.rows(channel) if row.target == target]
        return found

    def attempts(self, delivery_id: int) -> list[str]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Attempt.outcome)
                    .where(Attempt.delivery_id == delivery_id)
                    .order_by(Attempt.id)
                )
            )

    def subscriber(self, email: str) -> Subscriber:
        with self.db.session() as session:
            return session.scalars(select(Subscriber).where(Subscriber.email == email)).one()

    def statuses(self, email: str) -> dict[str, str]:
        """Each list the address has a status on, with that status."""
        return subscription_statuses(self.db, email)

    def sent_to(self) -> list[str]:
        return [to for message in self.smtp.messages for to in message.envelope_to]


def subscription_statuses(db: Database, email: str) -> dict[str, str]:
    with db.session() as session:
        rows = session.execute(
            select(MailingList.name, Subscription.status)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .where(Subscriber.email_key == email.lower())
        )
        return dict(rows.all())


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    feed = write_sample_feed(tmp_path / "feed.xml").read_bytes()
    with FeedServer() as feeds, SmtpServer() as smtp, BotApiServer(token=TEST_TOKEN) as bot:
        feeds.add(FEED_PATH, feed, "application/atom+xml")
        site = Site(tmp_path, database_url, smtp, bot, feeds.url(FEED_PATH))
        try:
            yield site
        finally:
            if hasattr(site, "db"):
                site.db.dispose()
