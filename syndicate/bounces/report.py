"""What came back: recent bounces and complaints, and each edition's rates.

Mailbox providers (Gmail and Yahoo's 2024 rules for bulk senders) start refusing mail
from senders whose complaints pass 0.1% or 0.3%, and a bounce rate above 2% marks a
list that is not kept clean; the dashboard warns at `BOUNCE_WARNING` and
`COMPLAINT_WARNING`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from syndicate.db.models import (
    BounceEvent,
    Delivery,
    DeliveryState,
    MailingList,
    Subscriber,
    SubscriberStatus,
    SubscriptionChange,
    utcnow,
)
from syndicate.db.session import Database

__all__ = [
    "BOUNCE_WARNING",
    "COMPLAINT_WARNING",
    "BounceLine",
    "EditionRates",
    "edition_rates",
    "recent_bounces",
]

BOUNCE_WARNING = 0.02
COMPLAINT_WARNING = 0.001


@dataclass(frozen=True)
class BounceLine:
    at: datetime
    kind: str
    source: str
    email: str | None
    list_name: str | None
    detail: str | None


@dataclass(frozen=True)
class EditionRates:
    """Of an edition's emails handed to the mail server (sent, or refused by it): how many
    bounced (hard, or the soft bounce that ended a subscription) and complained."""

    edition_id: int
    mailed: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.mailed if self.mailed else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.mailed if self.mailed else 0.0

    @property
    def warnings(self) -> list[str]:
        found = []
        if self.bounce_rate > BOUNCE_WARNING:
            found.append(
                f"{self.bounce_rate:.1%} bounced (above 2%): clean the list before the next one"
            )
        if self.complaint_rate > COMPLAINT_WARNING:
            found.append(
                f"{self.complaint_rate:.2%} complained (above 0.1%): mailbox providers may "
                "start refusing your mail"
            )
        return found


def recent_bounces(
    db: Database, *, days: int = 30, kind: str | None = None, limit: int = 1000
) -> list[BounceLine]:
    since = utcnow() - timedelta(days=max(days, 0))
    query = (
        select(
            BounceEvent.at,
            BounceEvent.kind,
            BounceEvent.source,
            Subscriber.email,
            MailingList.name,
            BounceEvent.detail,
        )
        .outerjoin(Subscriber, Subscriber.id == BounceEvent.subscriber_id)
        .outerjoin(MailingList, MailingList.id == BounceEvent.list_id)
        .where(BounceEvent.at >= since)
        .order_by(BounceEvent.at.desc(), BounceEvent.id.desc())
        .limit(limit)
    )
    if kind:
        query = query.where(BounceEvent.kind == kind)
    with db.sessions() as session:
        return [BounceLine(*row) for row in session.execute(query)]


def edition_rates(db: Database, edition_ids: Sequence[int]) -> dict[int, EditionRates]:
    """Each edition's email rates; deliveries through social channels do not count."""
    if not edition_ids:
        return {}
    with db.sessions() as session:
        mailed = dict(
            session.execute(
                select(Delivery.edition_id, func.count())
                .where(
                    Delivery.edition_id.in_(edition_ids),
                    Delivery.subscriber_id.is_not(None),
                    Delivery.state.in_((DeliveryState.SENT, DeliveryState.FAILED)),
                )
                .group_by(Delivery.edition_id)
            ).all()
        )
        # A soft bounce counts when it is the one that ended the subscription: the change
        # to "bounced" it caused was written at the same instant.
        ended = (
            select(SubscriptionChange.id)
            .where(
                SubscriptionChange.subscriber_id == BounceEvent.subscriber_id,
                SubscriptionChange.list_id == BounceEvent.list_id,
                SubscriptionChange.status == SubscriberStatus.BOUNCED,
                SubscriptionChange.at == BounceEvent.at,
            )
            .exists()
        )
        kind = case((and_(BounceEvent.kind == "soft", ended), "hard"), else_=BounceEvent.kind)
        counts: dict[tuple[int, str], int] = {}
        for edition_id, counted_as, n in session.execute(
            select(BounceEvent.edition_id, kind, func.count(func.distinct(BounceEvent.delivery_id)))
            .where(BounceEvent.edition_id.in_(edition_ids))
            .group_by(BounceEvent.edition_id, kind)
        ):
            counts[(edition_id, counted_as)] = counts.get((edition_id, counted_as), 0) + n
    return {
        edition_id: EditionRates(
            edition_id,
            mailed.get(edition_id, 0),
            counts.get((edition_id, "hard"), 0),
            counts.get((edition_id, "complaint"), 0),
        )
        for edition_id in edition_ids
    }
