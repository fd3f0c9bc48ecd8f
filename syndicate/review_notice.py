"""Telling the editors that an edition waits for their review: a mail and a Telegram post.

`[review] notify` addresses get a short mail through the review's email channel, and
`[review] telegram_chat` a message through its Telegram channel, each with the edition's
page on the dashboard. A notice that cannot be sent never stops the clock: it is noted on
the edition ("editors not told: ...", shown by `edition show`, `editions` and the
dashboard) and `retry_notices`, run by the scheduler's review tick, tries it again every
few minutes until it goes out or the edition's slot comes.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from datetime import datetime
from email import policy
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime

from syndicate.channels.base import Channel, ChannelError
from syndicate.config import Config
from syndicate.db.models import utcnow
from syndicate.db.session import Database
from syndicate.printable import printable
from syndicate.render.email import make_message_id, parse_mailbox
from syndicate.types import EmailMessage, SocialPost

__all__ = ["edition_link", "notify_editors", "retry_notices", "tell_editors"]

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
    failures: list[str] | None = None,
) -> int:
    """Send the notices of one held edition; returns how many were sent. Why each one
    that was not sent failed is added to `failures`."""
    failures = [] if failures is None else failures
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
            mail = _mail(config, channel, address, job, edition_id, line)
            sent += await _send(channel, mail, failures)
    if review.telegram_chat and review.telegram_channel in channels:
        channel = channels[review.telegram_channel]
        post = SocialPost(
            target=review.telegram_chat,
            text=html.escape(line),
            parse_mode="HTML",
            link_preview=False,
        )
        sent += await _send(channel, post, failures)
    return sent


async def notify_editors(
    db: Database, config: Config, channels: dict[str, Channel], edition_id: int
) -> int:
    """Tell the editors of one held edition, noting on it a notice that failed (to be
    tried again by `retry_notices`); returns how many notices were sent."""
    from syndicate.review import edition_detail, record_notice

    summary = (await asyncio.to_thread(edition_detail, db, edition_id)).summary
    failures: list[str] = []
    sent = await tell_editors(
        config,
        channels,
        edition_id=edition_id,
        job=summary.job,
        posts=summary.posts,
        slot=summary.slot,
        failures=failures,
    )
    await asyncio.to_thread(record_notice, db, edition_id, failures)
    return sent


async def retry_notices(
    db: Database, config: Config, channels: dict[str, Channel], now: datetime | None = None
) -> list[int]:
    """Try again the notices that failed and are due (`review.untold_editions`); returns
    the editions tried."""
    from syndicate.review import untold_editions

    due = await asyncio.to_thread(untold_editions, db, now or utcnow())
    for edition_id in due:
        await notify_editors(db, config, channels, edition_id)
    return due


async def _send(channel: Channel, message: EmailMessage | SocialPost, failures: list[str]) -> int:
    try:
        await channel.send(message)
    except ChannelError as error:
        log.warning("review notice through %s was not sent: %s", channel.name, error)
        failures.append(f"{channel.name}: {printable(str(error))}")
        return 0
    except Exception as error:  # a bug in a channel must not stop the clock
        log.exception("review notice through %s failed", channel.name)
        failures.append(f"{channel.name}: {type(error).__name__}")
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
