"""Double opt-in and a subscriber's own choices: join, confirm, leave, pick lists.

A subscribe request changes nothing a reader could notice: a new address is stored as
`unconfirmed` on the lists chosen, a known one is left as it is, a forgotten one is not
stored and gets no mail. The lists are joined only when the owner of the
address opens the confirmation link, which is signed, names the subscriber and the lists,
expires, and stops working once anything about the subscriber changed (including the
confirmation itself), so an old link cannot undo a later unsubscribe.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicate.consent import is_suppressed, join, leave
from syndicate.db.insert import insert_new
from syndicate.db.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.render.email import make_message_id, parse_mailbox
from syndicate.render.locale import translator
from syndicate.subscribers import normalize_address
from syndicate.tokens import TokenError, make_token, read_token
from syndicate.types import EmailMessage

__all__ = [
    "CONFIRM_LIFETIME",
    "ConfirmationRequest",
    "TokenError",
    "confirm",
    "confirm_token",
    "confirmation_message",
    "preferences_token",
    "read_preferences_token",
    "request_subscription",
    "set_lists",
    "subscriber_lists",
    "unsubscribe",
]

CONFIRM = "confirm"
PREFERENCES = "preferences"
CONFIRM_LIFETIME = timedelta(days=2)


@dataclass(frozen=True)
class ConfirmationRequest:
    """Whom to send a confirmation link to, and what the link will confirm."""

    subscriber_id: int
    email: str
    lists: tuple[str, ...]
    stamp: int  # the subscriber's last change, as the token must find it
    suppressed: bool = False  # forgotten, bounced or complained: send nothing


def request_subscription(db: Database, email: str, lists: Iterable[str]) -> ConfirmationRequest:
    """Store a new address, unconfirmed on the lists chosen; ValueError if invalid.

    What a known address has is left as it is. An address forgotten at its owner's request
    gets nothing stored, and `suppressed` says no mail may go to it; so it says for an
    address that bounced or complained on a list chosen.
    """
    address, key = normalize_address(email)
    chosen = tuple(sorted(set(lists)))
    with db.session() as session:
        if is_suppressed(session, key):
            return ConfirmationRequest(0, address, chosen, 0, suppressed=True)
        now = utcnow()
        row = {"email": address, "email_key": key, "created_at": now, "updated_at": now}
        insert_new(session, Subscriber, [row], ("email_key",))
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email_key == key)).one()
        ended = False
        for list_id in _list_ids(session, chosen):
            joined = join(
                session, subscriber.id, list_id, "web", status=SubscriberStatus.UNCONFIRMED
            )
            ended |= joined.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)
        # A dead mailbox, or a reader who reported our mail as spam, gets no confirmation
        # mail from a form anyone can fill in; the editor can bring them back.
        return ConfirmationRequest(
            subscriber.id, subscriber.email, chosen, _stamp(subscriber), suppressed=ended
        )


def confirm_token(secret: bytes, request: ConfirmationRequest, now: datetime) -> str:
    expires = int((now + CONFIRM_LIFETIME).timestamp())
    payload = json.dumps([request.subscriber_id, request.stamp, expires, list(request.lists)])
    return make_token(secret, CONFIRM, payload)


def confirm(db: Database, secret: bytes, token: str, now: datetime) -> tuple[int, tuple[str, ...]]:
    """Join the lists a confirmation link names; (subscriber id, lists) or TokenError."""
    try:
        subscriber_id, stamp, expires, lists = json.loads(read_token(secret, CONFIRM, token))
    except (ValueError, TypeError):
        raise TokenError("the link is not valid") from None
    if now.timestamp() > expires:
        raise TokenError("the link has expired")
    with db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None or _stamp(subscriber) != stamp:
            raise TokenError("the link was already used, or is out of date")
        _join(session, subscriber, lists, now, "confirmation")
    return subscriber_id, tuple(lists)


def unsubscribe(db: Database, subscriber_id: int, list_name: str, how: str = "one-click") -> bool:
    """Mark a subscriber unsubscribed from one list; True when they were on it. Safe to repeat."""
    with db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        list_id = session.scalar(select(MailingList.id).where(MailingList.name == list_name))
        if subscriber is None or list_id is None:
            return False
        current = session.get(Subscription, (subscriber_id, list_id))
        if current is None:
            return False
        was_on = current.status in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED)
        if leave(session, subscriber_id, list_id, SubscriberStatus.UNSUBSCRIBED, how):
            subscriber.updated_at = utcnow()  # outdated confirmation links stop working
        return was_on


def preferences_token(secret: bytes, subscriber_id: int) -> str:
    return make_token(secret, PREFERENCES, str(subscriber_id))


def read_preferences_token(secret: bytes, token: str) -> int:
    value = read_token(secret, PREFERENCES, token)
    if not value.isdigit():
        raise TokenError("the link is not valid")
    return int(value)


def subscriber_lists(db: Database, subscriber_id: int) -> tuple[str, frozenset[str]] | None:
    """(address, the lists they are on), or None for an unknown subscriber."""
    with db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return None
        names = session.scalars(
            select(MailingList.name)
            .join(Subscription, Subscription.list_id == MailingList.id)
            .where(
                Subscription.subscriber_id == subscriber_id,
                Subscription.status == SubscriberStatus.ACTIVE,
            )
        )
        return subscriber.email, frozenset(names)


def set_lists(db: Database, subscriber_id: int, chosen: set[str], offered: set[str]) -> None:
    """Put the subscriber on exactly the `chosen` lists among the `offered` ones."""
    now = utcnow()
    with db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return
        left = offered - chosen
        if left:
            ids = session.scalars(select(MailingList.id).where(MailingList.name.in_(left)))
            for list_id in ids:
                if session.get(Subscription, (subscriber_id, list_id)) is not None:
                    leave(session, subscriber_id, list_id, SubscriberStatus.UNSUBSCRIBED, "web")
        subscriber.updated_at = now
        if chosen & offered:
            _join(session, subscriber, sorted(chosen & offered), now, "preferences")


def confirmation_message(
    env: jinja2.Environment,
    *,
    site_name: str,
    sender: str,
    recipient: str,
    lists: Iterable[str],
    confirm_url: str,
    now: datetime,
    locale: str = "en",
) -> EmailMessage:
    """The mail with the confirmation link, in plain text and HTML, in `locale`'s language."""
    _ = translator(locale)
    context = {
        "site_name": site_name,
        "lists": list(lists),
        "confirm_url": confirm_url,
        "lang": locale.strip().replace("_", "-") or "en",
        "_": _,
    }
    sender_address = parse_mailbox(sender)
    message_id = make_message_id(f"confirm-{secrets.token_hex(8)}", recipient, sender)
    mime = MimeMessage(policy=policy.SMTP)
    mime["Message-ID"] = f"<{message_id}>"
    mime["Date"] = format_datetime(now)
    mime["From"] = sender_address
    mime["To"] = recipient
    mime["Subject"] = _(
        "%(site)s: please confirm your subscription", site=" ".join(site_name.split())
    )
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(env.get_template("web/confirm_email.txt").render(context))
    mime.add_alternative(env.get_template("web/confirm_email.html").render(context), subtype="html")
    return EmailMessage(
        recipient=recipient,
        sender=sender_address.addr_spec,
        message_id=message_id,
        data=mime.as_bytes(),
    )


def _join(
    session: Session, subscriber: Subscriber, lists: Iterable[str], now: datetime, how: str
) -> None:
    """The reader's own act: active on each list, whatever the status was."""
    for list_id in _list_ids(session, lists):
        join(session, subscriber.id, list_id, how, overrule=True, now=now)
    subscriber.updated_at = now


def _list_ids(session: Session, lists: Iterable[str]) -> list[int]:
    names = list(lists)
    insert_new(session, MailingList, [{"name": name} for name in names], ("name",))
    return list(session.scalars(select(MailingList.id).where(MailingList.name.in_(names))))


def _stamp(subscriber: Subscriber) -> int:
    return int(subscriber.updated_at.timestamp() * 1_000_000)
