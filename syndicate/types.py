"""The value types every layer passes around: posts, credits, messages, states and choices.

This module is the bottom of the package: it imports nothing from syndicate, so ingest,
render, channels, delivery and the web can all name a `Credit` or a `SocialPost` without
importing one another. Renderers take the plain views (`PostView`, `EditionView`) and make
messages (`EmailMessage`, `SocialPost`); a channel sends a message and returns a
`SendResult`. The states are `StrEnum`s whose values are the strings stored in the
database, so a state compares equal to its text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

__all__ = [
    "DELIVERY_STATES",
    "LEFT_STATUSES",
    "OPEN_EDITION_STATES",
    "SUBSCRIBER_STATUSES",
    "AfterCrash",
    "Credit",
    "DeliveryState",
    "EditionState",
    "EditionView",
    "EmailMessage",
    "JobFormat",
    "Message",
    "PostView",
    "RetryScope",
    "SendResult",
    "SocialPost",
    "SubscriberStatus",
]

# What happens to a message whose sender crashed mid-send (see `Channel.after_crash`).
AfterCrash = Literal["requeue", "unknown"]
# What else waits after a transient error (see `TransientError.scope`).
RetryScope = Literal["channel", "target", "message"]
# How a job sends its selection: one digest per edition, or each post on its own.
JobFormat = Literal["digest", "each"]


@dataclass(frozen=True)
class Credit:
    """Who published something: a name to show and a link to their site or article."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class PostView:
    """One post as every renderer sees it."""

    key: str  # stable identity, e.g. "p42"
    title: str
    url: str
    excerpt: str  # plain text, already cleaned of widgets and the credit line
    publisher: Credit  # the site we read it from
    origin: Credit | None = None  # the outlet that wrote it, when the publisher copied it
    image_url: str | None = None
    published_at: datetime | None = None  # aware
    also: tuple[Credit, ...] = ()  # the other sites that carried the same story

    @property
    def credit_line(self) -> str:
        """ "Inilah.com via Repelita Online", or just "Repelita Online"."""
        if self.origin and self.origin.name.casefold() != self.publisher.name.casefold():
            return f"{self.origin.name} via {self.publisher.name}"
        return self.publisher.name


@dataclass(frozen=True)
class EditionView:
    """One job run's selection, as a digest shows it."""

    key: str  # stable identity, e.g. "e7"
    job: str
    subject: str
    site_name: str
    site_url: str
    locale: str
    timezone: str
    created_at: datetime  # aware
    posts: tuple[PostView, ...] = field(default_factory=tuple)
    archive_url: str | None = None  # the edition's web copy, when the site serves one


@dataclass(frozen=True)
class EmailMessage:
    """One complete RFC 5322 message for one recipient."""

    recipient: str  # envelope recipient, e.g. "sari@example.org"
    sender: str  # envelope sender (bare address)
    message_id: str  # without angle brackets
    data: bytes  # the whole message, headers and body, CRLF line ends


@dataclass(frozen=True)
class SocialPost:
    """One post for one chat or account, already fitted to the network's limits."""

    target: str  # e.g. "@kabarpilihan" or "-1001234567890"
    text: str  # in `parse_mode`; the caption when `photo` is set
    parse_mode: str = "plain"  # or the network's own: Telegram's "HTML", a "markdown"
    photo: str | None = None  # URL of an image to post with `text` as its caption
    link: str | None = None  # the URL a link preview should show
    link_preview: bool = True
    message_thread_id: int | None = None  # a forum topic
    fallback_text: str | None = None  # the text-only version, when the photo is refused


Message = EmailMessage | SocialPost


@dataclass(frozen=True)
class SendResult:
    """What the network said when it took the message."""

    external_id: str | None  # SMTP Message-ID, Telegram message_id, ...
    detail: str = ""  # e.g. the SMTP server's reply, or "sent as text: photo refused"


class DeliveryState(StrEnum):
    """Where one delivery row stands (drawn in docs: queued → claimed → sending → sent)."""

    QUEUED = "queued"
    CLAIMED = "claimed"  # a worker holds it (with a lease) but its request has not started
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


DELIVERY_STATES: tuple[DeliveryState, ...] = tuple(DeliveryState)


class EditionState(StrEnum):
    """Where an edition stands. Without review an edition is `sent` (queued) when made;
    with review it is `held` until an editor approves (`approved`: it goes out at its
    slot) or discards it. Once `sent`, nothing in it changes."""

    HELD = "held"
    APPROVED = "approved"
    SENT = "sent"
    DISCARDED = "discarded"


# What an editor may still change.
OPEN_EDITION_STATES: tuple[EditionState, ...] = (EditionState.HELD, EditionState.APPROVED)


class SubscriberStatus(StrEnum):
    """Where one subscriber stands with one list; the order is from least to most restrictive."""

    ACTIVE = "active"
    UNCONFIRMED = "unconfirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


SUBSCRIBER_STATUSES: tuple[SubscriberStatus, ...] = tuple(SubscriberStatus)
# Statuses that only the reader's own confirmation or an editor's recorded act undo.
LEFT_STATUSES: tuple[SubscriberStatus, ...] = (
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.COMPLAINED,
)
