"""Telling the editors that an edition waits for their review: a mail and a Telegram post.

`[review] notify` addresses get a short mail through the review's email channel, and
`[review] telegram_chat` a message through its Telegram channel, each with the edition's
page on the dashboard. A notice that cannot be sent is logged; it never stops the clock.
"""

from __future__ import annotations

import html
import logging
import secrets
from datetime import datetime
from email import policy
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime

from syndicate.channels.base import Channel, ChannelError, EmailMessage, SocialPost
from syndicate.config import Config
from syndicate.db.models import utcnow
from syndicate.render.email import make_message_id, parse_mailbox

__all__ = ["edition_link", "tell_editors"]

log = logging.getLogger(__name__)


def edition_link(config: Config, edition_id: int) -> str:
    return f"{config.site.base_url}/admin/editions/{edition_id}"


async def tell_editors(
    config: Config,
    channels: dict[str, Channel],
    *,
    edition_id: int,
    job: str,
    posts: int,
    slot: datetime | None,
) -> int:
    """Send the notices of one held edition; returns how many were sent."""
    review = config.review
    when = slot.astimezone(config.site.timezone).strftime("%Y-%m-%d %H:%M %Z") if slot else "now"
    line = (
        f"Edition {edition_id} of {job} ({posts} posts, due {when}) waits for your review: "
        f"{edition_link(config, edition_id)}"
    )
    sent = 0
    if review.notify and review.email_channel in channels:
        channel = channels[review.email_channel]
        for address in review.notify:
            sent += await _send(channel, _mail(config, channel, address, job, edition_id, line))
    if review.telegram_chat and review.telegram_channel in channels:
        channel = channels[review.telegram_channel]
        post = SocialPost(target=review.telegram_chat, text=html.escape(line), link_preview=False)
        sent += await _send(channel, post)
    return sent


async def _send(channel: Channel, message: EmailMessage | SocialPost) -> int:
    try:
        await channel.send(message)
    except ChannelError as error:
        log.warning("review notice through %s was not sent: %s", channel.name, error)
        return 0
    except Exception:  # a bug in a channel must not stop the clock
        log.exception("review notice through %s failed", channel.name)
        return 0
    finally:
        await channel.close()
    return 1


def _mail(
    config: Config, channel: Channel, address: str, job: str, edition_id: int, line: str
) -> EmailMessage:
    sender = parse_mailbox(channel.sender or f"syndicate@{_host(config)}")
    message_id = make_message_id(
        f"review-{edition_id}-{secrets.token_hex(4)}", address, sender.addr_spec
    )
    mime = MimeMessage(policy=policy.SMTP)
    mime["Message-ID"] = f"<{message_id}>"
    mime["Date"] = format_datetime(utcnow())
    mime["From"] = sender
    mime["To"] = address
    mime["Subject"] = f"[review] {config.site.name}: edition {edition_id} of {job} waits for you"
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(
        f"{line}\n\nOpen it to drop, reorder or pin posts, change the subject, see it as it "
        "will be sent, and approve or discard it.\n"
    )
    return EmailMessage(
        recipient=address, sender=sender.addr_spec, message_id=message_id, data=mime.as_bytes()
    )


def _host(config: Config) -> str:
    from urllib.parse import urlsplit

    return urlsplit(config.site.base_url).hostname or "localhost"
