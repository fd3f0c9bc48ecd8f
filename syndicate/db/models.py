"""The tables: sources, posts, subscribers and lists, editions, deliveries and job runs."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from syndicate.types import DeliveryState, EditionState, SubscriberStatus

__all__ = [
    "Attempt",
    "Base",
    "BounceEvent",
    "Click",
    "Delivery",
    "DeliveryState",
    "Edition",
    "EditionChange",
    "EditionPost",
    "EditionState",
    "ExaminedMail",
    "JobRun",
    "MailingList",
    "PausedTarget",
    "Post",
    "Rendering",
    "SiteSecret",
    "Source",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "SubscriptionChange",
    "Suppression",
    "WebhookToken",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# How long a text column's values may be, where shorter than `syndicate.db.fit.TEXT_CHARS`
# (the info is read when a row is fitted; it is not part of the schema).
URL_CHARS = {"max_chars": 8000}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _message_key() -> str:
    return secrets.token_hex(8)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict: JSON}
    # Every model here is declared with its columns, so its table is a Table (SQLAlchemy
    # types it as the wider FromClause, which has no insert(), update() or .table).
    __table__: ClassVar[Table]


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    site_name: Mapped[str | None] = mapped_column(String(300))
    site_url: Mapped[str | None] = mapped_column(Text, info=URL_CHARS)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_fetched_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text, info={"max_chars": 2000})
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The lines its theme prints around every article, learned from its posts (JSON list).
    furniture: Mapped[str | None] = mapped_column(Text)


class Post(Base):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(700), unique=True)
    guid: Mapped[str | None] = mapped_column(Text, info=URL_CHARS)
    url: Mapped[str | None] = mapped_column(Text, info=URL_CHARS)
    title: Mapped[str] = mapped_column(Text, info={"max_chars": 1000})
    content_html: Mapped[str] = mapped_column(Text, default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    summary_only: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str | None] = mapped_column(Text, info={"max_chars": 300})
    image_url: Mapped[str | None] = mapped_column(Text, info=URL_CHARS)
    origin_name: Mapped[str | None] = mapped_column(String(300))
    origin_url: Mapped[str | None] = mapped_column(Text, info=URL_CHARS)
    comments: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The same story from several sources: the id of the cluster's first stored post.
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    # Its fingerprint for clustering (`syndicate.ingest.shingles.pack`), read back by later
    # polls instead of being made again from the text; none for posts stored before.
    shingles: Mapped[bytes | None] = mapped_column(LargeBinary)

    source: Mapped[Source] = relationship()

    __table_args__ = (
        Index("ix_posts_published", "published_at"),
        Index("ix_posts_cluster", "cluster_id"),
        Index("ix_posts_source", "source_id", "id"),  # a source's latest posts
    )


class MailingList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))  # as typed, for display
    # The address lower-cased, local part and domain: two spellings of one mailbox are one row.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    __tablename__ = "subscriptions"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[int] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.ACTIVE)
    # When and how the status last changed: "one-click", "web", "cli", "import", "bounce", ...
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(40), default="cli")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_subscriptions_list", "list_id", "status"),)


class SubscriptionChange(Base):
    """One change of a subscription's status: the history an editor can show a reader."""

    __tablename__ = "subscription_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20))
    previous: Mapped[str | None] = mapped_column(String(20))
    changed_by: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text, info={"max_chars": 2000})

    __table_args__ = (Index("ix_subscription_changes_subscriber", "subscriber_id", "at"),)


class Suppression(Base):
    """An address that must never be mailed again, kept only as a hash (`forget`)."""

    __tablename__ = "suppressions"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookToken(Base):
    """A signed provider request already taken (Mailgun's token), so a replay is refused
    by every `serve` process, also after a restart; kept while its signature is fresh."""

    __tablename__ = "webhook_tokens"

    token: Mapped[str] = mapped_column(String(100), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ExaminedMail(Base):
    """A mail in the POP3 bounce mailbox already read and left (unmatched), by its UIDL,
    so each is downloaded once; IMAP marks such mail with a keyword instead."""

    __tablename__ = "examined_mail"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # mailbox + UIDL
    at: Mapped[datetime] = mapped_column(default=utcnow)


class BounceEvent(Base):
    """A bounce, complaint or mailed unsubscribe, from SMTP, the bounce mailbox or a webhook."""

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # hard, soft, complaint, unsubscribe
    source: Mapped[str] = mapped_column(String(20))  # smtp, mailbox, ses, sendgrid, ...
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("deliveries.id", ondelete="SET NULL"),
    )
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id", ondelete="SET NULL"))
    detail: Mapped[str | None] = mapped_column(Text, info={"max_chars": 2000})

    __table_args__ = (
        Index("ix_bounce_events_subscriber", "subscriber_id", "kind", "at"),
        Index("ix_bounce_events_edition", "edition_id"),
        Index("ix_bounce_events_at", "at"),
    )


class JobRun(Base):
    """One firing of a job's schedule: unique per (job, slot), so a slot runs once."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(200))
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))  # edition, empty, failed
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("job", "scheduled_for"),)


class Edition(Base):
    """What one job run selected: the posts that go out together."""

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(200))
    job_run_id: Mapped[int | None] = mapped_column(ForeignKey("job_runs.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    # Random, so Message-IDs differ between installs and after a database reset.
    message_key: Mapped[str | None] = mapped_column(String(32), default=_message_key)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(
        String(20), default=EditionState.SENT, server_default=EditionState.SENT
    )
    # Moves on with every change an editor makes: a change made on an older version is
    # refused, so two editors cannot undo each other's work unseen.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    released_at: Mapped[datetime | None]  # when its deliveries were queued (it froze then)

    __table_args__ = (Index("ix_editions_job", "job"), Index("ix_editions_state", "state"))


class EditionChange(Base):
    """One editor's act on a held edition: a post dropped, moved or pinned, the subject
    changed, the edition approved or discarded; or the clock's, at its slot."""

    __tablename__ = "edition_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    editor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # drop, move, pin, subject, approve, ...
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_edition_changes_edition", "edition_id", "at"),)


class EditionPost(Base):
    __tablename__ = "edition_posts"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_edition_posts_post", "post_id"),)


class Rendering(Base):
    """A message rendered once for a channel: an email edition or one social post.

    Deliveries point at it; per-recipient parts are filled in when each one is sent.
    """

    __tablename__ = "renderings"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    part: Mapped[str] = mapped_column(String(100))  # "edition", "post:42", "part:2"
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("edition_id", "channel", "part"),)


class Delivery(Base):
    """One message to one target through one channel: unique, so it is sent once."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(320))
    # What is delivered: "edition:7" for a digest, "post:42" for one post of a feed.
    item: Mapped[str] = mapped_column(String(100))
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    rendering_id: Mapped[int] = mapped_column(ForeignKey("renderings.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    # Which claim took the row (a worker's token): a worker finds its rows again by it.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("channel", "target", "item"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_edition", "edition_id"),
        # A bounce names the Message-ID of what bounced.
        Index("ix_deliveries_external_id", "external_id"),
    )


class Attempt(Base):
    """One try at a delivery: when, what happened, and what the network said."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_attempts_delivery", "delivery_id"),)


class PausedTarget(Base):
    """A chat or account a channel stopped sending to: the bot was removed, for one.

    Deliveries to it fail at once, without a request, until an editor resumes it.
    """

    __tablename__ = "paused_targets"

    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    target: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)


class Click(Base):
    """A reader followed a tracked link (`/r/<token>`) of a job to a post: a trending signal."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    job: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who clicked (a keyed hash of the client address) and on which UTC day: a click counts
    # once per client, post and day. Clicks recorded before this have neither.
    client: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_clicks_post_at", "post_id", "at"),
        Index("ux_clicks_post_client_day", "post_id", "client", "day", unique=True),
    )


class Editor(Base):
    """An editor of the dashboard; logging out moves `session_generation` on, which ends
    every session cookie made before."""

    __tablename__ = "editors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    sessions_ended_at: Mapped[datetime | None] = mapped_column()


class ConfirmationMail(Base):
    """A confirmation mail the subscribe page sent: how often a mailbox may get one.

    `mailbox` is a keyed hash of the folded address (plus-tags off, and dots off where the
    provider ignores them), so the table holds no address.
    """

    __tablename__ = "confirmation_mails"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_confirmation_mails_mailbox_sent", "mailbox", "sent_at"),
        Index("ix_confirmation_mails_sent", "sent_at"),
    )


class SiteSecret(Base):
    """A generated secret for signing links, kept when none is configured."""

    __tablename__ = "site_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
