"""Turning a stored rendering into the message for one target.

A rendering is made once per edition and channel; this fills in what differs per
target: the subscriber's address, name and unsubscribe link for an email, the chat id
for a social post. It is cheap by design: it runs once per recipient.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from syndicate.bounces.verp import verp_address
from syndicate.channels.base import Channel
from syndicate.config import Config
from syndicate.db.session import Database
from syndicate.links import Links
from syndicate.render.email import Recipient, RenderedEdition, make_message_id, personalize
from syndicate.tokens import site_secret
from syndicate.types import Message, SocialPost

__all__ = ["PREVIEW_RECIPIENT", "Letterhead", "compose", "social_body"]

# Whom an email goes to when a channel has no subscriber list (an outbox preview).
PREVIEW_RECIPIENT = "pembaca@example.org"


@dataclass(frozen=True)
class Letterhead:
    """What every email of a site shares: where links point and how they are signed."""

    site_name: str
    links: Links
    bounce_address: str | None = None  # `[bounces] address`: the VERP return address

    @classmethod
    def for_site(cls, db: Database, config: Config) -> Letterhead:
        secret = site_secret(db, config.site.secret_key)
        links = Links(config.site.base_url, secret, web=config.web is not None)
        return cls(config.site.name, links, config.bounces.address)

    def list_id(self, list_name: str) -> str:
        host = urlsplit(self.links.base_url).hostname or "localhost"
        return f"{self.site_name} <{list_name}.{host}>"


def social_body(post: SocialPost) -> dict[str, Any]:
    """A fitted social post as stored: everything but the target."""
    body = asdict(post)
    body.pop("target")
    return body


def compose(
    channel: Channel,
    body: dict[str, Any],
    *,
    target: str,
    item: str,
    job: str,
    edition_id: int | None,
    letterhead: Letterhead,
    now: datetime,
    subscriber_id: int | None = None,
    subscriber_name: str | None = None,
    test: bool = False,
    message_key: str | None = None,
    delivery_id: int | None = None,
) -> Message:
    """The message `channel` sends to `target` for one stored rendering.

    `test=True` makes an email a test copy ("[TEST] " subject, a Message-ID of its own).
    `message_key` (the edition's random key) makes the Message-ID differ from any other
    install's or an earlier database's, while a retry of the delivery keeps it. With
    `delivery_id` and a bounce address the envelope sender is the delivery's VERP address.
    """
    if channel.medium != "email":
        return SocialPost(target=target, **body)
    sender = channel.sender or f"{letterhead.site_name} <noreply@localhost>"
    list_name = channel.list_name or "preview"
    recipient_key = f"s{subscriber_id}" if subscriber_id is not None else target
    if message_key:
        recipient_key = f"{recipient_key}:{message_key}"
    message = personalize(
        RenderedEdition(**body),
        recipient=Recipient(email=target, name=subscriber_name),
        sender=sender,
        list_id=letterhead.list_id(list_name),
        message_id=make_message_id(item, recipient_key, sender),
        date=now,
        unsubscribe_url=letterhead.links.unsubscribe(subscriber_id or 0, list_name),
        view_url=letterhead.links.view(job, edition_id) if edition_id else None,
        extra_headers=_list_headers(channel, letterhead, job),
        unsubscribe_mailto=getattr(channel, "unsubscribe_mailto", None),
        test=test,
    )
    if letterhead.bounce_address and delivery_id is not None and not test:
        verp = verp_address(letterhead.bounce_address, delivery_id, letterhead.links.secret)
        message = replace(message, sender=verp)
    return message


def _list_headers(channel: Channel, letterhead: Letterhead, job: str) -> dict[str, str]:
    headers = dict(channel.headers)
    archive = letterhead.links.archive(job)
    if archive:
        headers["List-Archive"] = f"<{archive}>"
    return headers
