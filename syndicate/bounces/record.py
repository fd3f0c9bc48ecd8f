"""Writing down a bounce or complaint, and what it does to the subscription.

A hard bounce or a complaint ends the subscription at once (`bounced`, `complained`); a
soft bounce (a mailbox full, a server that kept saying "later" until we gave up) only
counts, and `soft_limit` of them within `SOFT_WINDOW` end it as `bounced`. A mailed
unsubscribe is the reader's own act, recorded like the one-click link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndicate.consent import leave
from syndicate.db.insert import insert_new
from syndicate.db.models import BounceEvent, MailingList, Subscriber, SubscriberStatus, utcnow

__all__ = ["HARD", "SOFT", "SOFT_WINDOW", "Bounce", "record_bounce"]

HARD, SOFT, COMPLAINT, UNSUBSCRIBE = "hard", "soft", "complaint", "unsubscribe"
KINDS = (HARD, SOFT, COMPLAINT, UNSUBSCRIBE)
SOFT_WINDOW = timedelta(days=30)
DEFAULT_SOFT_LIMIT = 3

_STATUS = {
    HARD: SubscriberStatus.BOUNCED,
    SOFT: SubscriberStatus.BOUNCED,
    COMPLAINT: SubscriberStatus.COMPLAINED,
    UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED,
}


@dataclass(frozen=True)
class Bounce:
    """What came back about one message to one subscriber."""

    kind: str  # hard, soft, complaint, unsubscribe
    source: str  # smtp, mailbox, ses, sendgrid, postmark, mailgun
    subscriber_id: int
    list_name: str | None  # the list the message was sent for
    delivery_id: int | None = None
    edition_id: int | None = None
    detail: str | None = None


def record_bounce(
    session: Session,
    bounce: Bounce,
    *,
    soft_limit: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Log the bounce and mark the subscription; True when the subscription changed."""
    now = now or utcnow()
    if session.get(Subscriber, bounce.subscriber_id) is None:  # forgotten meanwhile
        return False
    if bounce.delivery_id is not None and _seen(session, bounce):
        return False  # webhooks are at-least-once, and two schedulers may read one mail
    list_id = _list_id(session, bounce.list_name) if bounce.list_name else None
    session.add(
        BounceEvent(
            at=now,
            kind=bounce.kind,
            source=bounce.source,
            subscriber_id=bounce.subscriber_id,
            list_id=list_id,
            delivery_id=bounce.delivery_id,
            edition_id=bounce.edition_id,
            detail=(bounce.detail or "")[:2000] or None,
        )
    )
    session.flush()
    if list_id is None:
        return False
    if bounce.kind == SOFT:
        limit = soft_limit or DEFAULT_SOFT_LIMIT
        if _soft_bounces(session, bounce.subscriber_id, now) < limit:
            return False
        detail: str | None = f"{limit} soft bounces within {SOFT_WINDOW.days} days"
    else:
        detail = bounce.detail
    how = "bounce" if bounce.kind in (HARD, SOFT) else bounce.kind
    if bounce.kind == UNSUBSCRIBE:  # the reader's own act, by mail or at their provider
        how = "mailto" if bounce.source == "mailbox" else bounce.source
    status = _STATUS[bounce.kind]
    return leave(session, bounce.subscriber_id, list_id, status, how, detail=detail, now=now)


def _seen(session: Session, bounce: Bounce) -> bool:
    """Whether this delivery's bounce of this kind is already in the log."""
    query = select(BounceEvent.id).where(
        BounceEvent.delivery_id == bounce.delivery_id, BounceEvent.kind == bounce.kind
    )
    return session.scalar(query.limit(1)) is not None


def _soft_bounces(session: Session, subscriber_id: int, now: datetime) -> int:
    query = select(func.count()).where(
        BounceEvent.subscriber_id == subscriber_id,
        BounceEvent.kind == SOFT,
        BounceEvent.at >= now - SOFT_WINDOW,
    )
    return session.scalar(query) or 0


def _list_id(session: Session, name: str) -> int:
    insert_new(session, MailingList, [{"name": name}], ("name",))
    return session.scalars(select(MailingList.id).where(MailingList.name == name)).one()
