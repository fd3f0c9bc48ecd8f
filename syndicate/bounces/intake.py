"""Matching what came back to the delivery it is about, and acting on it.

A report is matched first by the signed VERP address it came back to, else by the
Message-ID of the original; a provider's webhook (already authenticated) may also be
matched by the recipient's address, to their latest delivery. A mailed unsubscribe is
matched by the signed token in its subject, else by its sender's address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicate.bounces.record import DEFAULT_SOFT_LIMIT, UNSUBSCRIBE, Bounce, record_bounce
from syndicate.bounces.reports import NOTHING, Report
from syndicate.bounces.verp import read_verp
from syndicate.channels.base import Channel
from syndicate.config import Config
from syndicate.db.models import Delivery, MailingList, Subscriber, Subscription, utcnow
from syndicate.db.session import Database
from syndicate.links import Links
from syndicate.tokens import TokenError, site_secret

__all__ = ["Intake", "Outcome"]

_BY_ADDRESS_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Outcome:
    matched: bool
    changed: bool = False  # a subscription changed status
    note: str = ""


@dataclass(frozen=True)
class Intake:
    """What matching needs to know about the site: its secret, channels and addresses."""

    db: Database
    secret: bytes
    bounce_address: str | None
    links: Links
    lists: Mapping[str, str | None] = field(default_factory=dict)  # channel → its list
    soft_limits: Mapping[str, int] = field(default_factory=dict)  # channel → bounce_after
    mailto_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trusted_authserv_id: str | None = None  # see [bounces] trusted_authserv_id

    @classmethod
    def for_site(cls, db: Database, config: Config, channels: Mapping[str, Channel]) -> Intake:
        secret = site_secret(db, config.site.secret_key)
        email = [c for c in channels.values() if c.medium == "email"]
        mailto: dict[str, list[str]] = {}
        for channel in email:
            address = getattr(channel, "unsubscribe_mailto", None)
            if address and channel.list_name:
                mailto.setdefault(address.lower(), []).append(channel.list_name)
        return cls(
            db,
            secret,
            config.bounces.address,
            Links(config.site.base_url, secret, web=config.web is not None),
            {c.name: c.list_name for c in email},
            {c.name: c.bounce_limit or DEFAULT_SOFT_LIMIT for c in email},
            {address: tuple(names) for address, names in mailto.items()},
            config.bounces.trusted_authserv_id,
        )

    @property
    def unsubscribe_addresses(self) -> tuple[str, ...]:
        return tuple(self.mailto_lists)

    def apply(self, report: Report, source: str, *, by_address: bool = False) -> Outcome:
        """Match the report and record it; `by_address` only for authenticated webhooks."""
        if report.kind == UNSUBSCRIBE and source == "mailbox":
            return self.db.run(lambda s: self._unsubscribe(s, report), doing="unsubscribing")
        return self.db.run(
            lambda s: self._bounce(s, report, source, by_address), doing="recording a bounce"
        )

    def _bounce(self, session: Session, report: Report, source: str, by_address: bool) -> Outcome:
        delivery = self._delivery(session, report, by_address)
        if delivery is None:
            return Outcome(False, note="no delivery of ours matches")
        if report.kind == NOTHING or delivery.subscriber_id is None:
            return Outcome(True, note="nothing to do")
        bounce = Bounce(
            report.kind,
            source,
            delivery.subscriber_id,
            self.lists.get(delivery.channel),
            delivery_id=delivery.id,
            edition_id=delivery.edition_id,
            detail=report.detail,
        )
        limit = self.soft_limits.get(delivery.channel, DEFAULT_SOFT_LIMIT)
        return Outcome(True, record_bounce(session, bounce, soft_limit=limit))

    def _delivery(self, session: Session, report: Report, by_address: bool) -> Delivery | None:
        if self.bounce_address:
            delivery_id = read_verp([report.raw_text], self.bounce_address, self.secret)
            if delivery_id is not None:
                found = session.get(Delivery, delivery_id)
                if found is not None:
                    return found
        for message_id in report.message_ids:
            found = session.scalar(
                select(Delivery).where(Delivery.external_id == message_id).limit(1)
            )
            if found is not None:
                return found
        if by_address and report.recipients:
            return _latest_to(session, report.recipients)
        return None

    def _unsubscribe(self, session: Session, report: Report) -> Outcome:
        targets = self._by_token(report.unsubscribe_token)
        if not targets:
            # A From address alone is trivially forged: it is believed only when the
            # trusted receiving server says the sender passed DMARC, DKIM or SPF.
            if self.trusted_authserv_id not in report.authenticated_by:
                return Outcome(False, note="an unsubscribe mail without its token, unverified")
            targets = self._by_sender(session, report.recipients)
        if not targets:
            return Outcome(False, note="no subscriber matches the unsubscribe mail")
        changed = False
        for subscriber_id, list_name in targets:
            bounce = Bounce(UNSUBSCRIBE, "mailbox", subscriber_id, list_name, detail=report.detail)
            changed |= record_bounce(session, bounce)
        return Outcome(True, changed)

    def _by_token(self, token: str | None) -> list[tuple[int, str]]:
        if not token:
            return []
        try:
            subscriber_id, list_name = self.links.read_unsubscribe(token)
        except TokenError:
            return []
        return [(subscriber_id, list_name)]

    def _by_sender(self, session: Session, senders: Iterable[str]) -> list[tuple[int, str]]:
        lists = {name for names in self.mailto_lists.values() for name in names}
        keys = [sender.lower() for sender in senders]
        if not keys or not lists:
            return []
        rows = session.execute(
            select(Subscriber.id, MailingList.name)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscriber.email_key.in_(keys), MailingList.name.in_(lists))
        )
        return [(subscriber_id, name) for subscriber_id, name in rows]


def _latest_to(session: Session, recipients: Iterable[str]) -> Delivery | None:
    keys = [r.lower() for r in recipients]
    subscriber_ids = select(Subscriber.id).where(Subscriber.email_key.in_(keys))
    return session.scalar(
        select(Delivery)
        .where(
            Delivery.subscriber_id.in_(subscriber_ids),
            Delivery.sent_at >= utcnow() - _BY_ADDRESS_WINDOW,
        )
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    )
