"""An editor's review of an edition before it goes out: hold, change, approve or discard.

A job with `review = true` makes its edition `review_before` ahead of each slot and holds
it (`jobs.run_job`); nothing is queued. Editors change it (drop, move or pin a post,
change the subject) and approve or discard it, from the CLI or the dashboard; every act
is recorded with the editor's name and time. The clock's `review_tick`
(`syndicate.review_clock`) makes the editions whose review time has come and releases
those whose slot has come: the approved ones, and the held ones of a job whose
`if_not_approved = "send"`. An edition approved after its slot goes out at once.

Safety is one conditional UPDATE per act. A change is made only to an edition still
open (`held` or `approved`) and, when the editor says which version they saw, only to
that version; releasing moves the edition to `sent` and queues its deliveries in the same
transaction, so two approvals queue once and a sending edition is frozen. The slot's
`job_runs` row is never touched: approving or discarding never frees or doubles a slot.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from syndicate.channels.base import Channel
from syndicate.config import Config, Job
from syndicate.db.fit import holds
from syndicate.db.models import (
    Delivery,
    Edition,
    EditionChange,
    EditionPost,
    EditionState,
    JobRun,
    Post,
    Source,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.errors import SyndicateError
from syndicate.jobs import edition_posts, queue_edition
from syndicate.messages import Letterhead
from syndicate.printable import printable, shortened
from syndicate.types import OPEN_EDITION_STATES

__all__ = [
    "CLOCK",
    "EditionDetail",
    "EditionSummary",
    "ReviewError",
    "approve",
    "discard",
    "drop_post",
    "edition_detail",
    "list_editions",
    "move_post",
    "pin_post",
    "record_change",
    "record_notice",
    "release_edition",
    "set_subject",
    "untold_editions",
]

log = logging.getLogger(__name__)

CLOCK = "the schedule"  # who acted, when the clock released or held an edition at its slot
NOTICE = "notice"  # the action of a record of the editors' notice (not a change)
NOT_TOLD = "editors not told: "  # how a failed notice's record starts
NOTICE_RETRY = timedelta(minutes=5)  # how often a failed notice is tried again
NOTICE_RETRY_DAY = timedelta(days=1)  # tried again until the slot, or a day at least
MAX_SUBJECT_CHARS = 300


class ReviewError(SyndicateError):
    """An editor's act that cannot be done; the message says why in one sentence."""


@dataclass(frozen=True)
class EditionSummary:
    id: int
    job: str
    state: str
    subject: str
    version: int
    slot: datetime | None  # when the schedule sends it (None: sent by hand)
    created_at: datetime
    released_at: datetime | None
    posts: int
    untold: str | None = None  # why the editors' notice did not go out (retried)


@dataclass(frozen=True)
class EditionPostLine:
    post_id: int
    title: str
    url: str | None
    source: str


@dataclass(frozen=True)
class ChangeLine:
    at: datetime
    editor: str
    action: str
    detail: str


@dataclass(frozen=True)
class EditionDetail:
    summary: EditionSummary
    posts: list[EditionPostLine]
    changes: list[ChangeLine]
    deliveries: dict[str, int] = field(default_factory=dict)  # by state


# --- reading ---------------------------------------------------------------------------


def list_editions(
    db: Database, *, open_only: bool = False, limit: int = 50
) -> list[EditionSummary]:
    """The latest editions, newest first; with `open_only`, those still held or approved."""
    with db.sessions() as session:
        query = select(Edition).order_by(Edition.id.desc()).limit(limit)
        if open_only:
            query = query.where(Edition.state.in_(OPEN_EDITION_STATES))
        return [_summary(session, edition) for edition in session.scalars(query)]


def edition_detail(db: Database, edition_id: int) -> EditionDetail:
    with db.sessions() as session:
        edition = _edition(session, edition_id)
        sources = dict(session.execute(select(Source.id, Source.name)).all())
        posts = [
            EditionPostLine(post.id, post.title, post.url, sources.get(post.source_id, "?"))
            for post in edition_posts(session, edition_id)
        ]
        changes = [
            ChangeLine(change.at, change.editor, change.action, change.detail)
            for change in session.scalars(
                select(EditionChange)
                .where(EditionChange.edition_id == edition_id)
                .order_by(EditionChange.at, EditionChange.id)
            )
        ]
        counts: dict[str, int] = {}
        for state in session.scalars(
            select(Delivery.state).where(Delivery.edition_id == edition_id)
        ):
            counts[state] = counts.get(state, 0) + 1
        return EditionDetail(_summary(session, edition), posts, changes, counts)


def _summary(session: Session, edition: Edition) -> EditionSummary:
    count = len(
        session.scalars(
            select(EditionPost.post_id).where(EditionPost.edition_id == edition.id)
        ).all()
    )
    return EditionSummary(
        id=edition.id,
        job=edition.job,
        state=edition.state,
        subject=edition.subject,
        version=edition.version,
        slot=_slot(session, edition),
        created_at=edition.created_at,
        released_at=edition.released_at,
        posts=count,
        untold=_untold(session, edition.id),
    )


def _untold(session: Session, edition_id: int) -> str | None:
    """Why the editors were not told of the edition, when its latest notice failed."""
    last = session.scalar(
        select(EditionChange.detail)
        .where(EditionChange.edition_id == edition_id, EditionChange.action == NOTICE)
        .order_by(EditionChange.id.desc())
        .limit(1)
    )
    return last[len(NOT_TOLD) :] if last and last.startswith(NOT_TOLD) else None


def record_notice(db: Database, edition_id: int, failures: Sequence[str]) -> None:
    """Note on the edition a notice that did not go out, or that one went out after a
    failure; a first notice that went out is not noted."""
    with db.session() as session:
        if failures:
            reason = shortened("; ".join(failures), 500)
            record_change(session, edition_id, CLOCK, NOTICE, NOT_TOLD + reason)
        elif _untold(session, edition_id) is not None:
            record_change(session, edition_id, CLOCK, NOTICE, "editors told")


def untold_editions(db: Database, now: datetime) -> list[int]:
    """Open editions whose editors' notice failed, due another try: the last try
    `NOTICE_RETRY` ago, until the slot or, when that is sooner, a day after making it."""
    with db.sessions() as session:
        due = []
        for edition in session.scalars(
            select(Edition).where(Edition.state.in_(OPEN_EDITION_STATES)).order_by(Edition.id)
        ):
            if _untold(session, edition.id) is None:
                continue
            tried = session.scalar(
                select(func.max(EditionChange.at)).where(
                    EditionChange.edition_id == edition.id, EditionChange.action == NOTICE
                )
            )
            if tried is None:  # not so: the failed notice _untold read is such a change
                continue
            slot = _slot(session, edition)
            until = _aware(edition.created_at) + NOTICE_RETRY_DAY
            if slot is not None:
                until = max(until, _aware(slot))
            if _aware(tried) + NOTICE_RETRY <= now < _aware(until):
                due.append(edition.id)
        return due


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _slot(session: Session, edition: Edition) -> datetime | None:
    if edition.job_run_id is None:
        return None
    return session.scalar(select(JobRun.scheduled_for).where(JobRun.id == edition.job_run_id))


def _edition(session: Session, edition_id: int) -> Edition:
    known = holds(Edition.__table__.c.id, edition_id)
    edition = session.get(Edition, edition_id, populate_existing=True) if known else None
    if edition is None:
        raise ReviewError(f"There is no edition {edition_id} (see `syndicate editions`).")
    return edition


# --- changing a held edition -----------------------------------------------------------


def drop_post(
    db: Database, edition_id: int, post_id: int, editor: str, version: int | None = None
) -> str:
    """Take a post out of the edition; it stays new for the job's next edition."""
    with db.session() as session:
        _claim(session, edition_id, version)
        order = _order(session, edition_id)
        if post_id not in order:
            raise ReviewError(_not_in(post_id, edition_id))
        session.execute(
            delete(EditionPost).where(
                EditionPost.edition_id == edition_id, EditionPost.post_id == post_id
            )
        )
        order.remove(post_id)
        _renumber(session, edition_id, order)
        title = _title(session, post_id)
        record_change(session, edition_id, editor, "drop", f"post {post_id} taken out: {title}")
    return f"Post {post_id} is out of edition {edition_id}; it stays new for the next edition."


def move_post(
    db: Database,
    edition_id: int,
    post_id: int,
    position: int,
    editor: str,
    version: int | None = None,
) -> str:
    """Put a post at `position` (1 is the top); the others keep their order."""
    with db.session() as session:
        _claim(session, edition_id, version)
        order = _order(session, edition_id)
        if post_id not in order:
            raise ReviewError(_not_in(post_id, edition_id))
        if not 1 <= position <= len(order):
            raise ReviewError(
                f"Edition {edition_id} has {len(order)} posts: the position must be "
                f"from 1 to {len(order)}, not {position}."
            )
        was = order.index(post_id) + 1
        order.remove(post_id)
        order.insert(position - 1, post_id)
        _renumber(session, edition_id, order)
        title = _title(session, post_id)
        record_change(
            session, edition_id, editor, "move", f"post {post_id} from {was} to {position}: {title}"
        )
    return f"Post {post_id} is now at position {position} of edition {edition_id}."


def pin_post(
    db: Database,
    edition_id: int,
    post_id: int,
    editor: str,
    version: int | None = None,
    position: int = 1,
) -> str:
    """Add a stored post to the edition at `position` (the top by default)."""
    with db.session() as session:
        _claim(session, edition_id, version)
        if not holds(Post.__table__.c.id, post_id) or session.get(Post, post_id) is None:
            raise ReviewError(f"There is no post {post_id}.")
        order = _order(session, edition_id)
        if post_id in order:
            raise ReviewError(
                f"Post {post_id} is already in edition {edition_id}; move it instead "
                f"(`syndicate edition move {edition_id} {post_id} 1`)."
            )
        _refuse_if_sent(session, edition_id, post_id)
        position = min(max(position, 1), len(order) + 1)
        order.insert(position - 1, post_id)
        session.add(EditionPost(edition_id=edition_id, post_id=post_id, position=-1))
        session.flush()
        _renumber(session, edition_id, order)
        title = _title(session, post_id)
        record_change(
            session, edition_id, editor, "pin", f"post {post_id} added at {position}: {title}"
        )
    return f"Post {post_id} is pinned at position {position} of edition {edition_id}."


def set_subject(
    db: Database, edition_id: int, subject: str, editor: str, version: int | None = None
) -> str:
    subject = " ".join(_without_format_controls(printable(subject)).split())  # a mail header
    if not subject:
        raise ReviewError("The subject must not be empty.")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ReviewError(f"The subject is longer than {MAX_SUBJECT_CHARS} characters.")
    with db.session() as session:
        edition = _claim(session, edition_id, version)
        old = edition.subject
        edition.subject = subject
        record_change(session, edition_id, editor, "subject", f"{old!r} → {subject!r}")
    return f"Edition {edition_id} now has the subject {subject!r}."


_JOINERS = frozenset("\u200c\u200d")  # zero-width (non-)joiners: emoji and scripts need them


def _without_format_controls(text: str) -> str:
    """`text` without Unicode format characters (category Cf): the bidi overrides and
    isolates (U+202E turns "gpj.exe" around), zero-width spaces, soft hyphens; the
    joiners stay."""
    return "".join(char for char in text if char in _JOINERS or unicodedata.category(char) != "Cf")


def discard(db: Database, edition_id: int, editor: str, version: int | None = None) -> str:
    """Send nothing of the edition; its posts are new again for the next edition."""
    with db.session() as session:
        edition = _edition(session, edition_id)
        if edition.state == EditionState.DISCARDED:
            return f"Edition {edition_id} was already discarded."
        _claim(session, edition_id, version, state=EditionState.DISCARDED)
        record_change(session, edition_id, editor, "discard", "nothing of it will be sent")
    return f"Edition {edition_id} is discarded: nothing of it is sent, its posts are new again."


def approve(
    db: Database,
    config: Config,
    channels: dict[str, Channel],
    edition_id: int,
    editor: str,
    version: int | None = None,
    now: datetime | None = None,
) -> tuple[str, int]:
    """Approve the edition: it goes out at its slot, or at once when the slot has come.

    Returns a sentence and the number of deliveries queued now. Approving an edition
    already sent sends nothing and says so.
    """
    now = now or utcnow()
    job = _job_of(db, config, edition_id)
    links = Letterhead.for_site(db, config).links if job.track_clicks else None
    with db.session() as session:
        edition = _edition(session, edition_id)
        if edition.state == EditionState.SENT:
            return _already_sent(edition), 0
        if job.skip_if_empty and not edition_posts(session, edition_id):
            raise ReviewError(f"Edition {edition_id} has no posts left: pin one, or discard it.")
        slot = _slot(session, edition)
        if slot is not None and slot > now:
            if edition.state == EditionState.APPROVED and version in (None, edition.version):
                at = _when(config, slot)
                return f"Edition {edition_id} is already approved; it goes out at {at}.", 0
            _claim(session, edition_id, version, state=EditionState.APPROVED)
            record_change(
                session, edition_id, editor, "approve", f"goes out at {_when(config, slot)}"
            )
            return f"Edition {edition_id} is approved; it goes out at {_when(config, slot)}.", 0
        queued = release_edition(session, config, channels, job, edition_id, version, links, now)
        if queued is None:
            return _already_sent(_edition(session, edition_id)), 0
        record_change(
            session, edition_id, editor, "approve", f"sent at once: {queued} deliveries queued"
        )
    return (
        f"Edition {edition_id} is approved and goes out now ({queued} deliveries queued).",
        queued,
    )


def release_edition(
    session: Session,
    config: Config,
    channels: dict[str, Channel],
    job: Job,
    edition_id: int,
    version: int | None,
    links: Any,
    now: datetime,
    states: tuple[str, ...] = OPEN_EDITION_STATES,
) -> int | None:
    """Freeze the edition and queue its deliveries, if it is in one of `states`; None
    when another act already sent it."""
    query = (
        update(Edition)
        .where(Edition.id == edition_id, Edition.state.in_(states))
        .values(state=EditionState.SENT, released_at=now, version=Edition.version + 1)
        .execution_options(synchronize_session=False)
    )
    if version is not None:
        query = query.where(Edition.version == version)
    # An UPDATE answers with a CursorResult; SQLAlchemy's types say only Result.
    changed = session.execute(query).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        edition = _edition(session, edition_id)
        if edition.state == EditionState.SENT:
            return None
        raise ReviewError(_why_not(session, edition, version))
    edition = _edition(session, edition_id)
    return queue_edition(session, config, channels, job, edition, links)


def _refuse_if_sent(session: Session, edition_id: int, post_id: int) -> None:
    """Refuse a post whose story (its cluster, or the post alone) an edition of the same
    job already sent: readers got it once."""
    job = session.scalar(select(Edition.job).where(Edition.id == edition_id))
    story = func.coalesce(Post.cluster_id, Post.id)
    mine = select(story).where(Post.id == post_id).scalar_subquery()
    sent = session.execute(
        select(Edition.id, Edition.released_at, Post.id)
        .join(EditionPost, EditionPost.edition_id == Edition.id)
        .join(Post, Post.id == EditionPost.post_id)
        .where(
            Edition.job == job,
            Edition.id != edition_id,
            Edition.state == EditionState.SENT,
            story == mine,
        )
        .order_by(Edition.id)
        .limit(1)
    ).first()
    if sent is None:
        return
    sent_id, released_at, carried = sent
    on = f" on {released_at:%Y-%m-%d %H:%M} UTC" if released_at else ""
    what = (
        f"Post {post_id}" if carried == post_id else f"Post {post_id} (the story of post {carried})"
    )
    raise ReviewError(f"{what} went out in edition {sent_id}{on}; a job sends a story once.")


def _claim(
    session: Session, edition_id: int, version: int | None, *, state: str = EditionState.HELD
) -> Edition:
    """Take an open edition for one change, moving its version on; a change takes an
    approved edition back to held (the approval was for what it was)."""
    query = (
        update(Edition)
        .where(Edition.id == edition_id, Edition.state.in_(OPEN_EDITION_STATES))
        .values(version=Edition.version + 1, state=state)
        .execution_options(synchronize_session=False)
    )
    if version is not None:
        query = query.where(Edition.version == version)
    # An UPDATE answers with a CursorResult; SQLAlchemy's types say only Result.
    changed = session.execute(query).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        raise ReviewError(_why_not(session, _edition(session, edition_id), version))
    return _edition(session, edition_id)


def _why_not(session: Session, edition: Edition, version: int | None) -> str:
    if edition.state == EditionState.SENT:
        return f"Edition {edition.id} is already being sent, so it can no longer be changed."
    if edition.state == EditionState.DISCARDED:
        return f"Edition {edition.id} was discarded, so it can no longer be changed."
    last = session.scalars(
        select(EditionChange)
        .where(EditionChange.edition_id == edition.id, EditionChange.action != NOTICE)
        .order_by(EditionChange.id.desc())
        .limit(1)
    ).first()
    by = f" by {last.editor} ({last.action}, {last.at:%H:%M:%S} UTC)" if last else ""
    return (
        f"Edition {edition.id} was changed{by} after you opened it (you saw version "
        f"{version}, it is now at {edition.version}): reload it and make your change again."
    )


def _already_sent(edition: Edition) -> str:
    at = f" at {edition.released_at:%Y-%m-%d %H:%M} UTC" if edition.released_at else ""
    return f"Edition {edition.id} was already sent{at}; approving it again sends nothing."


def _order(session: Session, edition_id: int) -> list[int]:
    return list(
        session.scalars(
            select(EditionPost.post_id)
            .where(EditionPost.edition_id == edition_id)
            .order_by(EditionPost.position, EditionPost.post_id)
        )
    )


def _renumber(session: Session, edition_id: int, order: Sequence[int]) -> None:
    for position, post_id in enumerate(order):
        session.execute(
            update(EditionPost)
            .where(EditionPost.edition_id == edition_id, EditionPost.post_id == post_id)
            .values(position=position)
            .execution_options(synchronize_session=False)
        )


def record_change(session: Session, edition_id: int, editor: str, action: str, detail: str) -> None:
    session.add(
        EditionChange(edition_id=edition_id, editor=editor[:200], action=action, detail=detail)
    )


def _title(session: Session, post_id: int) -> str:
    title = session.scalar(select(Post.title).where(Post.id == post_id)) or ""
    return title if len(title) <= 120 else title[:119] + "…"


def _not_in(post_id: int, edition_id: int) -> str:
    return (
        f"Post {post_id} is not in edition {edition_id} "
        f"(see `syndicate edition show {edition_id}`)."
    )


def _job_of(db: Database, config: Config, edition_id: int) -> Job:
    with db.sessions() as session:
        edition = _edition(session, edition_id)
        if edition.job not in config.jobs:
            raise ReviewError(
                f"Edition {edition_id} belongs to the job {edition.job}, which is no longer "
                f"in {config.jobs_dir}."
            )
        return config.jobs[edition.job]


def _when(config: Config, moment: datetime) -> str:
    return moment.astimezone(config.site.timezone).strftime("%Y-%m-%d %H:%M %Z")
