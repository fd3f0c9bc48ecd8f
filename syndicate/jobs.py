"""One job run: choose the posts, render them once per channel, and queue the deliveries.

Nothing is sent here. The run writes an edition, its renderings and one delivery row per
(channel, target, item) in one transaction; `syndicate.delivery` sends them. Because the
rows are unique, running a job twice, or two processes firing the same slot, sends nothing
twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from syndicate.channels.base import Channel
from syndicate.channels.outbox import OutboxChannel
from syndicate.channels.registry import AdapterFailed, NoRenderer, no_renderer, renders
from syndicate.config import Config, CreditName, Job
from syndicate.db.insert import insert_new
from syndicate.db.models import (
    Delivery,
    Edition,
    EditionPost,
    EditionState,
    JobRun,
    MailingList,
    Post,
    Rendering,
    Source,
    Subscriber,
    SubscriberStatus,
    Subscription,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.errors import SyndicateError
from syndicate.ingest.attribution import also_carried_by, shown_origin
from syndicate.ingest.identity import host_of
from syndicate.links import Links
from syndicate.messages import PREVIEW_RECIPIENT, Letterhead, compose, social_body
from syndicate.render.email import render_edition
from syndicate.render.lead import lead_text
from syndicate.render.social import DoesNotFit, one_line
from syndicate.render.templates import template_environment
from syndicate.render.text import shorten
from syndicate.select import fullest_of, published, select_posts
from syndicate.trickle import send_times
from syndicate.types import Credit, EditionView, PostView, SocialPost
from syndicate.wallclock import wall_instant

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = [
    "JobOutcome",
    "NoRenderer",
    "NothingToSend",
    "RenderedPart",
    "edition_posts",
    "preview_edition",
    "preview_job",
    "queue_edition",
    "render_parts",
    "run_job",
    "subscriber_zones",
    "test_send",
]

log = logging.getLogger(__name__)

FANOUT_BATCH = 5000

# One receiver of a channel: its address or chat, and its subscriber id and time zone if any.
_Target = tuple[str, int | None, str | None]
# What a channel's fit_post / fit_digest returns.
_Fitted = TypeVar("_Fitted")


@dataclass(frozen=True)
class JobOutcome:
    job: str
    edition_id: int | None = None
    posts: int = 0
    queued: int = 0
    note: str = ""  # why nothing was queued, when nothing was
    held: bool = False  # the edition waits for an editor's approval (a job with review)


@dataclass(frozen=True)
class RenderedPart:
    """One rendered message of an edition for one channel, before any target is known."""

    part: str  # "edition", "post:42", "part:2"
    item: str  # what a delivery of it is unique by: "edition:7", "post:42", "edition:7:2"
    body: dict[str, Any]


def run_job(
    db: Database,
    config: Config,
    channels: dict[str, Channel],
    job: Job,
    *,
    scheduled_for: datetime | None = None,
    local_date: date | None = None,
) -> JobOutcome:
    """Fire `job` for one slot; a slot that already ran is not run again.

    With `local_date` (a local-time job fired by the clock), each subscriber's copy is
    held until the job's hour on that date in the subscriber's own time zone. A job with
    `review` makes its edition and holds it: nothing is queued until an editor approves
    (see `syndicate.review`).
    """
    now = utcnow()
    slot = scheduled_for or now
    # Read (or make) the signing secret before the run's transaction holds the database.
    # Every edition needs the links: a digest cut for size links its archive page.
    links = Letterhead.for_site(db, config).links
    with db.session() as session:
        inserted = insert_new(
            session, JobRun, [{"job": job.name, "scheduled_for": slot}], ("job", "scheduled_for")
        )
        if not inserted:
            return JobOutcome(job.name, note="this slot already ran")
        run = session.scalars(
            select(JobRun).where(JobRun.job == job.name, JobRun.scheduled_for == slot)
        ).one()
        posts = select_posts(session, job, now)
        targets = [channels[name] for name in job.channels]
        receiving = [c for c in targets if _anyone_receives(session, [c])]
        # Posts an email channel missed while its list was empty: they are its due still.
        owed = {c.name: _owed_posts(session, job, c, now) for c in receiving}
        if not posts and not any(owed.values()) and job.skip_if_empty:
            run.outcome, run.finished_at = "empty", now
            log.info("job %s: nothing new to send", job.name)
            return JobOutcome(job.name, note="nothing new")
        if posts and not receiving:
            lists = _empty_lists(targets)
            note = f"nobody on {lists} yet" if lists else "nobody to send to yet"
            run.outcome, run.finished_at, run.detail = "empty", now, note
            log.info(
                "job %s: %s; its %d new posts wait for the next run", job.name, note, len(posts)
            )
            return JobOutcome(job.name, note=note)
        waiting = _empty_lists([c for c in targets if c not in receiving])
        if posts and waiting:
            log.info(
                "job %s: nobody on %s yet; its %d new posts wait for %s",
                job.name,
                waiting,
                len(posts),
                waiting,
            )
        posts = _unless_lost(session, config, channels, job, posts, links)
        edition = Edition(
            job=job.name,
            job_run_id=run.id,
            subject=_subject(job, config),
            format=job.format,
            state=EditionState.HELD if job.review else EditionState.SENT,
            released_at=None if job.review else now,
        )
        session.add(edition)
        session.flush()
        session.add_all(
            EditionPost(edition_id=edition.id, post_id=post.id, position=index)
            for index, post in enumerate(posts)
        )
        if job.review:
            run.outcome, run.finished_at = "held", utcnow()
            run.detail = f"{len(posts)} posts, held for review"
            log.info("job %s: edition %d held for review", job.name, edition.id)
            return JobOutcome(job.name, edition.id, len(posts), held=True)
        view = _edition_view(session, config, job, edition, posts, links)
        queued = 0
        for channel in receiving:
            if not posts and not owed[channel.name] and job.skip_if_empty:
                continue  # only a channel's missed posts made this edition: not this one's
            channel_view = view
            if owed[channel.name]:
                # The new posts first, as selected; then the older ones it missed.
                carried = list({p.id: p for p in [*posts, *owed[channel.name]]}.values())
                channel_view = _edition_view(session, config, job, edition, carried, links)
            queued += _enqueue(session, config, channel, job, edition, channel_view, local_date)
        run.outcome, run.finished_at = "edition", utcnow()
        run.detail = f"{len(posts)} posts, {queued} deliveries"
    log.info(
        "job %s: edition %d with %d post%s, %d deliver%s queued",
        job.name,
        edition.id,
        len(posts),
        "" if len(posts) == 1 else "s",
        queued,
        "y" if queued == 1 else "ies",
    )
    return JobOutcome(job.name, edition.id, len(posts), queued)


def queue_edition(
    session: Session,
    config: Config,
    channels: dict[str, Channel],
    job: Job,
    edition: Edition,
    links: Links | None,
) -> int:
    """Render a held edition as it now stands and queue its deliveries; returns how many."""
    view = _edition_view(session, config, job, edition, edition_posts(session, edition.id), links)
    return sum(
        _enqueue(session, config, channels[name], job, edition, view) for name in job.channels
    )


def edition_posts(session: Session, edition_id: int) -> list[Post]:
    """An edition's posts in the order it shows them."""
    return list(
        session.scalars(
            select(Post)
            .join(EditionPost, EditionPost.post_id == Post.id)
            .where(EditionPost.edition_id == edition_id)
            .order_by(EditionPost.position, EditionPost.post_id)
        )
    )


def preview_edition(
    db: Database, config: Config, channels: dict[str, Channel], edition_id: int, folder: Path
) -> list[Path]:
    """Write a stored edition as it would be sent now into `folder`; record nothing."""
    letterhead = Letterhead.for_site(db, config)
    with db.sessions() as session:
        edition = session.get(Edition, edition_id)
        if edition is None or edition.job not in config.jobs:
            return []
        job = config.jobs[edition.job]
        posts = edition_posts(session, edition_id)
        if not posts:
            return []
        links = letterhead.links if job.track_clicks else None
        view = _edition_view(session, config, job, edition, posts, links)
        return _write_previews(session, config, channels, job, view, folder, letterhead)


def _unless_lost(
    session: Session,
    config: Config,
    channels: dict[str, Channel],
    job: Job,
    posts: list[Post],
    links: Links,
) -> list[Post]:
    """The posts of an edition, less those its email cannot show and no archive would.

    A digest too long for one email shows the posts that fit and links the rest on the
    edition's archive page. Without a served archive (no `[web]` table) that page does not
    exist: the posts that do not fit stay new for the job's next edition instead.
    """
    emails = [name for name in job.channels if channels[name].medium == "email"]
    if links.web or job.format != "digest" or not emails or not posts:
        return posts
    view = _draft(session, config, job, posts, links)
    env = template_environment(config.site.templates_dir)
    shown = render_edition(view, env=env).posts_shown if view is not None else len(posts)
    if shown is None or shown >= len(posts):
        return posts
    log.warning(
        "job %s: %d of %d posts fit in one email; the other %d stay new for the next "
        "edition (with a [web] table they would be linked on the edition's archive page)",
        job.name,
        shown,
        len(posts),
        len(posts) - shown,
    )
    return posts[: max(shown, 1)]


def archive_copy(db: Database, config: Config, job: Job, edition_id: int) -> dict[str, Any] | None:
    """An edition's email with every one of its posts, for its archive page.

    The email itself may show only the first posts (see `render_edition`) and link the
    rest here, so this page shows them all, however long it gets.
    """
    letterhead = Letterhead.for_site(db, config)
    with db.sessions() as session:
        edition = session.get(Edition, edition_id)
        if edition is None or edition.job != job.name:
            return None
        posts = list(
            session.scalars(
                select(Post)
                .join(EditionPost, EditionPost.post_id == Post.id)
                .where(EditionPost.edition_id == edition_id)
                .order_by(EditionPost.position)
            )
        )
        view = _edition_view(session, config, job, edition, posts, letterhead.links)
    env = template_environment(config.site.templates_dir)
    return _asdict(render_edition(view, env=env, html_limit=sys.maxsize))


def preview_job(
    db: Database, config: Config, channels: dict[str, Channel], job: Job, folder: Path
) -> list[Path]:
    """Write what `job` would send now into `folder`, one file per message; record nothing."""
    letterhead = Letterhead.for_site(db, config)
    now = utcnow()
    with db.sessions() as session:
        view = _draft(session, config, job, select_posts(session, job, now), letterhead.links)
        if view is None:
            return []
        return _write_previews(session, config, channels, job, view, folder, letterhead)


def _write_previews(
    session: Session,
    config: Config,
    channels: dict[str, Channel],
    job: Job,
    view: EditionView,
    folder: Path,
    letterhead: Letterhead,
) -> list[Path]:
    written: list[Path] = []
    now = utcnow()
    for name in job.channels:
        # Refused here, so the sentence names the channel's own type, not the outbox's.
        _refuse_unless_renders(channels[name], job)
        outbox = OutboxChannel.standing_in_for(channels[name], folder / name)
        target = _preview_target(session, outbox)
        for part in render_parts(config, outbox, job, view):
            message = compose(
                outbox,
                part.body,
                target=target[0],
                item=f"preview:{part.item}",
                job=job.name,
                edition_id=None,
                letterhead=letterhead,
                now=now,
                subscriber_id=target[1],
                subscriber_name=target[2],
            )
            written.append(Path(_write_now(outbox, message)))
    return written


class NothingToSend(SyndicateError):
    """A job has no post to show yet; the message says so in one sentence."""


async def test_send(
    db: Database, config: Config, channels: dict[str, Channel], job: Job, address: str
) -> list[str]:
    """Send one copy of the job's email to `address`, marked as a test; record nothing.

    The copy carries what the job would send now, or, when it has nothing new, its latest
    edition. Returns what each email channel's server answered.
    """
    emails = [channels[name] for name in job.channels if channels[name].medium == "email"]
    if not emails:
        raise NothingToSend(f"Job {job.name} sends no email, so there is nothing to test-send.")
    letterhead = Letterhead.for_site(db, config)
    now = utcnow()
    with db.sessions() as session:
        posts = select_posts(session, job, now) or _latest_edition_posts(session, job)
        view = _draft(session, config, job, posts, letterhead.links)
    if view is None:
        raise NothingToSend(f"Job {job.name} has no posts to show yet (run `syndicate fetch`).")
    answers = []
    for channel in emails:
        for part in render_parts(config, channel, job, view):
            message = compose(
                channel,
                part.body,
                target=address,
                item=part.item,
                job=job.name,
                edition_id=None,
                letterhead=letterhead,
                now=now,
                test=True,
            )
            try:
                result = await channel.send(message)
            finally:
                await channel.close()
            answers.append(f"{channel.name}: {result.detail or 'sent'}")
    return answers


def _draft(
    session: Session, config: Config, job: Job, posts: Sequence[Post], links: Links
) -> EditionView | None:
    """An edition that is shown or tested, never stored."""
    if not posts:
        return None
    edition = Edition(
        id=0, job=job.name, subject=_subject(job, config), format=job.format, created_at=utcnow()
    )
    return _edition_view(session, config, job, edition, posts, links)


def _latest_edition_posts(session: Session, job: Job) -> list[Post]:
    latest = session.scalar(
        select(Edition.id).where(Edition.job == job.name).order_by(Edition.id.desc()).limit(1)
    )
    if latest is None:
        return []
    return list(
        session.scalars(
            select(Post)
            .join(EditionPost, EditionPost.post_id == Post.id)
            .where(EditionPost.edition_id == latest)
            .order_by(EditionPost.position)
        )
    )


def _write_now(outbox: OutboxChannel, message: Any) -> str:
    import asyncio

    return asyncio.run(outbox.send(message)).external_id or ""


def render_parts(
    config: Config, channel: Channel, job: Job, view: EditionView
) -> list[RenderedPart]:
    """Render the edition for one channel: once, whatever the number of recipients.

    A post that no message of the channel can carry (`DoesNotFit`: its credit and link
    alone are too long) is left out on that channel, said in one log line; an adapter
    that raises while rendering fails the run as `AdapterFailed`, in one line.
    """
    env = template_environment(config.site.templates_dir)
    edition_item = f"edition:{view.key.removeprefix('e')}"
    if channel.medium == "email":
        if job.format == "digest":
            return [RenderedPart("edition", edition_item, _asdict(render_edition(view, env=env)))]
        return [
            RenderedPart(
                f"post:{_id(post)}",
                f"post:{_id(post)}",
                _asdict(render_edition(_single(view, post), env=env)),
            )
            for post in _oldest_first(view.posts)
        ]
    _refuse_unless_renders(channel, job)
    fitting = _Fitting(config, channel, job, env)
    if job.format == "each":
        parts = []
        for post in _oldest_first(view.posts):
            fitted = fitting.post(post)
            if fitted is not None:
                item = f"post:{_id(post)}"
                parts.append(RenderedPart(item, item, social_body(fitted)))
        return parts
    messages = fitting.digest(view)
    if len(messages) == 1:
        return [RenderedPart("edition", edition_item, social_body(messages[0]))]
    return [
        RenderedPart(f"part:{index}", f"{edition_item}:{index}", social_body(message))
        for index, message in enumerate(messages, start=1)
    ]


class _Fitting:
    """One channel's `fit_post` / `fit_digest` for one job, with what the job does when a
    post does not fit (leave it out there) or the adapter raises (fail in one line)."""

    def __init__(self, config: Config, channel: Channel, job: Job, env: Environment) -> None:
        self.channel, self.job, self.env = channel, job, env
        self.locale, self.timezone = config.site.locale, config.site.timezone.key

    def post(self, post: PostView) -> SocialPost | None:
        """The post's message; None when no message of the channel can carry it."""
        doing = f'rendering post {_id(post)} of job "{self.job.name}"'
        fit = partial(
            self.channel.fit_post, post, env=self.env, locale=self.locale, timezone=self.timezone
        )
        try:
            fitted = self._call(doing, fit)
        except DoesNotFit as error:
            self._leave_out(post, error.limit)
            return None
        if fitted is None:
            raise NoRenderer(_claimed(self.channel, self.job))
        return fitted

    def digest(self, view: EditionView) -> list[SocialPost]:
        """The edition's messages, less the posts no message of the channel can carry."""
        number = view.key.removeprefix("e")  # 0: a draft, shown by preview and never stored
        doing = f'rendering edition {number} of job "{self.job.name}"'
        if number == "0":
            doing = f'rendering what job "{self.job.name}" would send now'
        while True:
            fit = partial(
                self.channel.fit_digest,
                view,
                env=self.env,
                locale=self.locale,
                timezone=self.timezone,
            )
            try:
                messages = self._call(doing, fit)
            except DoesNotFit as error:
                post = next((p for p in view.posts if p.key == error.key), None)
                if post is None:  # not one of the edition's posts: the adapter's own doing
                    failed = AdapterFailed(self.channel.name, self.channel.type, doing, error)
                    raise failed from error
                self._leave_out(post, error.limit)
                view = replace(view, posts=tuple(p for p in view.posts if p is not post))
                if not view.posts:  # nothing left to deliver: not a question for the adapter
                    return []
                continue
            if messages is None:
                raise NoRenderer(_claimed(self.channel, self.job))
            return messages

    def _call(self, doing: str, fit: Callable[[], _Fitted]) -> _Fitted:
        try:
            return fit()
        except (DoesNotFit, NoRenderer, AdapterFailed):  # answers the job knows what to do with
            raise
        except Exception as error:  # syndicate's own errors too: the adapter raised them
            raise AdapterFailed(self.channel.name, self.channel.type, doing, error) from error

    def _leave_out(self, post: PostView, limit: int) -> None:
        log.warning(
            'job "%s" leaves post %s ("%s") out on channel "%s": its credit and link alone '
            "are longer than a message there may be (%d).",
            self.job.name,
            _id(post),
            shorten(one_line(post.title), 60),
            self.channel.name,
            limit,
        )


def _claimed(channel: Channel, job: Job) -> str:
    """The sentence for an adapter whose `renders` said yes and whose fit_* said None:
    the adapter's mistake, not the job's format, so no advice to change the format."""
    method = "fit_post" if job.format == "each" else "fit_digest"
    return (
        f'channel "{channel.name}" (adapter "{channel.type}") claimed a format it did not '
        f'render: its renders("{job.format}") answered True, but its {method} returned '
        f'nothing for job "{job.name}".'
    )


def _refuse_unless_renders(channel: Channel, job: Job) -> None:
    if channel.medium != "email" and not renders(channel, job.format):
        raise NoRenderer(no_renderer(channel, job))


def _enqueue(
    session: Session,
    config: Config,
    channel: Channel,
    job: Job,
    edition: Edition,
    view: EditionView,
    local_date: date | None = None,
) -> int:
    queued = 0
    parts = render_parts(config, channel, job, view)
    local = _local_wave(job, config, local_date if channel.medium == "email" else None)
    times = send_times(
        len(parts),
        earliest=_trickle_start(session, job, channel.name),
        spacing=job.spacing,
        quiet_hours=job.quiet_hours,
        timezone=config.site.timezone,
    )
    for part, not_before in zip(parts, times, strict=True):
        rendering = Rendering(
            edition_id=edition.id, channel=channel.name, part=part.part, body=part.body
        )
        session.add(rendering)
        session.flush()
        common = {
            "job": job.name,
            "channel": channel.name,
            "item": part.item,
            "edition_id": edition.id,
            "rendering_id": rendering.id,
            "next_attempt_at": not_before,
        }
        for batch in _batches(_targets(session, channel)):
            rows = [
                {**common, "target": target, "subscriber_id": sub_id, **local(zone)}
                for target, sub_id, zone in batch
            ]
            queued += insert_new(session, Delivery, rows, ("channel", "target", "item"))
    return queued


def _local_wave(
    job: Job, config: Config, local_date: date | None
) -> Callable[[str | None], dict[str, datetime]]:
    """For a local-time edition: each subscriber's copy waits for the hour in their zone."""
    if local_date is None or job.local_hour is None:
        return lambda zone: {}
    wall = datetime.combine(local_date, job.local_hour)

    def at(zone: str | None) -> dict[str, datetime]:
        # A subscriber's hour is read as the schedule reads it: in a gap, at the jump.
        instant = wall_instant(wall, _zone_or(zone, config.site.timezone))
        return {"next_attempt_at": instant.astimezone(UTC)}

    return at


def _zone_or(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def _trickle_start(session: Session, job: Job, channel: str) -> datetime:
    """Now, or one `spacing` after this job's latest message on this channel."""
    now = utcnow()
    if job.spacing is None:
        return now
    latest = session.scalar(
        select(func.max(func.coalesce(Delivery.sent_at, Delivery.next_attempt_at))).where(
            Delivery.job == job.name, Delivery.channel == channel
        )
    )
    return max(now, latest + job.spacing) if latest is not None else now


def _oldest_first(posts: Sequence[PostView]) -> list[PostView]:
    """Posts sent one by one go out in the order they were published."""
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(posts, key=lambda post: post.published_at or floor)


def _targets(session: Session, channel: Channel) -> Iterator[_Target]:
    """Who receives what this channel sends: a list's active subscribers, or its chats.

    Each target comes with its subscriber id and time zone, when it is a subscriber.
    """
    if channel.medium != "email":
        for chat in channel.targets():
            yield chat, None, None
        return
    if channel.list_name is None:
        yield PREVIEW_RECIPIENT, None, None
        return
    query = (
        select(Subscriber.email, Subscriber.id, Subscriber.timezone)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(
            MailingList.name == channel.list_name,
            Subscription.status == SubscriberStatus.ACTIVE,
        )
        .order_by(Subscriber.id)
    )
    yield from session.execute(query)


def _anyone_receives(session: Session, channels: Sequence[Channel]) -> bool:
    """Whether any of the channels has a target: an active subscriber or a chat."""
    for channel in channels:
        if channel.medium != "email":
            if channel.targets():
                return True
        elif channel.list_name is None or _has_active(session, channel.list_name):
            return True
    return False


def _owed_posts(session: Session, job: Job, channel: Channel, now: datetime) -> list[Post]:
    """The posts of this job's editions made since `channel` last got one, while its list
    had nobody: a reader who joins later gets them in the next digest.

    An edition has a rendering for each channel it was sent through, so the editions
    without one for this channel, after the last with one, are those it missed; posts
    older than the job's window are past their time.
    """
    if channel.medium != "email" or channel.list_name is None:
        return []
    mailed = select(Rendering.edition_id).where(Rendering.channel == channel.name)
    last = session.scalar(
        select(func.max(Edition.id)).where(Edition.job == job.name, Edition.id.in_(mailed))
    )
    query = (
        select(Post)
        .join(EditionPost, EditionPost.post_id == Post.id)
        .join(Edition, Edition.id == EditionPost.edition_id)
        .where(Edition.job == job.name, Edition.id > (last or 0), Edition.id.not_in(mailed))
        .order_by(published().desc())
        .limit(max(job.selection.new + job.selection.trending, 1))
    )
    if job.selection.window is not None:
        query = query.where(published() >= now - job.selection.window)
    return list(dict.fromkeys(session.scalars(query)))


def _has_active(session: Session, list_name: str) -> bool:
    someone = (
        select(Subscription.subscriber_id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(MailingList.name == list_name, Subscription.status == SubscriberStatus.ACTIVE)
        .limit(1)
    )
    return session.scalar(someone) is not None


def _empty_lists(channels: Sequence[Channel]) -> str:
    names = sorted({c.list_name for c in channels if c.medium == "email" and c.list_name})
    return " or ".join(names)


def subscriber_zones(session: Session, channels: Sequence[Channel], site_zone: str) -> set[str]:
    """The time zones a local-time job's subscribers live in (the site's for those unset)."""
    lists = [channel.list_name for channel in channels if channel.medium == "email"]
    query = (
        select(func.coalesce(Subscriber.timezone, site_zone))
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(MailingList.name.in_(lists), Subscription.status == SubscriberStatus.ACTIVE)
        .distinct()
    )
    return set(session.scalars(query)) | {site_zone}


def _preview_target(session: Session, channel: Channel) -> tuple[str, int | None, str | None]:
    if channel.medium != "email":
        return (channel.targets() or ("preview",))[0], None, None
    for email, subscriber_id, _zone in _targets(session, channel):
        subscriber = session.get(Subscriber, subscriber_id) if subscriber_id else None
        return email, subscriber_id, subscriber.name if subscriber else None
    return PREVIEW_RECIPIENT, None, None


def _batches(rows: Iterator[_Target]) -> Iterator[Sequence[_Target]]:
    batch: list[_Target] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= FANOUT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _edition_view(
    session: Session,
    config: Config,
    job: Job,
    edition: Edition,
    posts: Sequence[Post],
    links: Links | None = None,
) -> EditionView:
    """The edition as renderers see it; with `track_clicks`, post links go through /r/."""
    sources = {source.id: source for source in session.scalars(select(Source))}
    views = [post_view(post, sources[post.source_id], config.credits) for post in posts]
    if job.track_clicks and links is not None:
        views = [
            replace(view, url=links.click(post.id, job.name)) if post.url else view
            for view, post in zip(views, posts, strict=True)
        ]
    return EditionView(
        key=f"e{edition.id}",
        job=job.name,
        subject=edition.subject,
        site_name=config.site.name,
        site_url=config.site.base_url,
        locale=config.site.locale,
        timezone=config.site.timezone.key,
        created_at=edition.created_at or utcnow(),
        posts=tuple(views),
        archive_url=links.view(job.name, edition.id) if links is not None else None,
    )


def post_view(
    post: Post, source: Source, credits: Mapping[str, CreditName] | None = None
) -> PostView:
    """A stored post as renderers see it, credited to its publisher and its origin.

    The origin is the one the post names, else its story's original on another site,
    with the proper name the `[credits]` table gives.
    """
    publisher_url = source.site_url or _home(post.url or source.url)
    origin = shown_origin(post, credits or {})
    also = tuple(c for c in also_carried_by(post) if not _names(c, origin))
    return PostView(
        key=f"p{post.id}",
        title=post.title,
        url=post.url or publisher_url,
        excerpt=lead_text(post.excerpt, post.title, post.content_html),
        publisher=Credit(source.site_name or source.name, publisher_url),
        origin=origin,
        image_url=post.image_url or _story_picture(post),
        published_at=post.published_at or post.first_seen_at,
        also=also,
    )


def _story_picture(post: Post) -> str | None:
    """When the post has no picture, the one of the fullest copy of its story that has one:
    another site may have carried the same story with its full-size picture."""
    session = object_session(post)
    if session is None or post.cluster_id is None:
        return None
    query = select(Post).where(
        Post.cluster_id == post.cluster_id, Post.id != post.id, Post.image_url.is_not(None)
    )
    pictured = [member for member in session.scalars(query) if member.image_url]
    best = fullest_of(pictured)
    return best.image_url if best is not None else None


def _names(site: Credit, origin: Credit | None) -> bool:
    """Whether `origin` is `site` (by name or by host): it is credited already."""
    if origin is None:
        return False
    if site.name.casefold() == origin.name.casefold():
        return True
    return host_of(site.url) is not None and host_of(site.url) == host_of(origin.url)


def _home(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/" if parts.netloc else url


def _single(view: EditionView, post: PostView) -> EditionView:
    return EditionView(
        **{
            **view.__dict__,
            "key": f"{view.key}-{post.key}",
            "subject": post.title,
            "posts": (post,),
        }
    )


def _id(post: PostView) -> str:
    return post.key.removeprefix("p")


def _subject(job: Job, config: Config) -> str:
    return job.subject or f"{config.site.name}: {job.name}"


def _asdict(rendered: Any) -> dict[str, Any]:
    return dict(rendered.__dict__)
