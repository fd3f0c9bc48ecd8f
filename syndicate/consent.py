"""Consent: each (subscriber, list) status, who may change it, and the history of changes.

A subscription that left (`unsubscribed`, `bounced`, `complained`) comes back only through
the reader's own confirmation or an editor's explicit act, both recorded; imports, `add`
and the subscribe form never bring it back. Leaving never makes a status less restrictive:
a complaint followed by a one-click unsubscribe stays a complaint. `forget` keeps a hash of
the address in the suppression list, so nobody can add it again by accident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from syndicate.db.insert import insert_new
from syndicate.db.models import (
    SubscriberStatus,
    Subscription,
    SubscriptionChange,
    Suppression,
    utcnow,
)
from syndicate.types import LEFT_STATUSES

__all__ = [
    "EDITOR",
    "RESTRICTIVENESS",
    "Joined",
    "address_hash",
    "is_suppressed",
    "join",
    "leave",
    "more_restrictive",
    "record_change",
    "suppress",
]

# How a status changed, as written in the history.
EDITOR = "editor"  # an editor's explicit act (`--resubscribe`, the dashboard)

RESTRICTIVENESS: dict[str, int] = {  # a status read from the database is a plain str
    SubscriberStatus.ACTIVE: 0,
    SubscriberStatus.UNCONFIRMED: 1,
    SubscriberStatus.UNSUBSCRIBED: 2,
    SubscriberStatus.BOUNCED: 3,
    SubscriberStatus.COMPLAINED: 4,
}


@dataclass(frozen=True)
class Joined:
    """What `join` did: `new`, `activated`, `unchanged`, or `left` (kept as it was)."""

    outcome: str
    status: str  # the status now


def more_restrictive(a: str, b: str) -> str:
    return a if RESTRICTIVENESS.get(a, 0) >= RESTRICTIVENESS.get(b, 0) else b


def address_hash(email_key: str) -> str:
    """The suppression list's form of an address: SHA-256 of the lower-cased address."""
    return hashlib.sha256(f"syndicate-suppression:{email_key.lower()}".encode()).hexdigest()


def is_suppressed(session: Session, email_key: str) -> bool:
    return session.get(Suppression, address_hash(email_key)) is not None


def suppress(session: Session, email_key: str, reason: str) -> None:
    row = {"address_hash": address_hash(email_key), "reason": reason, "at": utcnow()}
    insert_new(session, Suppression, [row], ("address_hash",))


def join(
    session: Session,
    subscriber_id: int,
    list_id: int,
    by: str,
    *,
    status: str = SubscriberStatus.ACTIVE,
    overrule: bool = False,
    now: datetime | None = None,
) -> Joined:
    """Put a subscriber on a list with `status` (active or unconfirmed).

    Without `overrule` a subscription that left stays as it is, and an active one is never
    made unconfirmed; `overrule` is for the reader's confirmation and an editor's act.
    """
    now = now or utcnow()
    current = session.get(Subscription, (subscriber_id, list_id))
    if current is None:
        row = {
            "subscriber_id": subscriber_id,
            "list_id": list_id,
            "status": status,
            "changed_at": now,
            "changed_by": by,
            "created_at": now,
        }
        if insert_new(session, Subscription, [row], ("subscriber_id", "list_id")):
            record_change(session, subscriber_id, list_id, status, None, by, now=now)
            return Joined("new", status)
        current = session.get(Subscription, (subscriber_id, list_id))
        assert current is not None
    if current.status == status or current.status == SubscriberStatus.ACTIVE:
        return Joined("unchanged", current.status)
    if current.status in LEFT_STATUSES and not overrule:
        return Joined("left", current.status)
    _set(session, current, status, by, None, now)
    return Joined("activated", status)


def leave(
    session: Session,
    subscriber_id: int,
    list_id: int,
    status: str,
    by: str,
    *,
    detail: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Mark a subscription left (`unsubscribed`, `bounced`, `complained`); True if it changed.

    An address that was never on the list gets a row too, so a complaint or bounce about
    it keeps a later import from adding it.
    """
    now = now or utcnow()
    current = session.get(Subscription, (subscriber_id, list_id))
    if current is None:
        joined = join(session, subscriber_id, list_id, by, status=status, now=now)
        return joined.outcome == "new"
    new = more_restrictive(current.status, status)
    if new == current.status:
        return False
    _set(session, current, new, by, detail, now)
    return True


def record_change(
    session: Session,
    subscriber_id: int,
    list_id: int,
    status: str,
    previous: str | None,
    by: str,
    *,
    detail: str | None = None,
    now: datetime | None = None,
) -> None:
    session.add(
        SubscriptionChange(
            subscriber_id=subscriber_id,
            list_id=list_id,
            at=now or utcnow(),
            status=status,
            previous=previous,
            changed_by=by,
            detail=detail[:2000] if detail else None,
        )
    )


def _set(
    session: Session,
    subscription: Subscription,
    status: str,
    by: str,
    detail: str | None,
    now: datetime,
) -> None:
    previous = subscription.status
    subscription.status, subscription.changed_at, subscription.changed_by = status, now, by
    record_change(
        session,
        subscription.subscriber_id,
        subscription.list_id,
        status,
        previous,
        by,
        detail=detail,
        now=now,
    )
