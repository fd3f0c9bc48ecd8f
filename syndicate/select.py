"""Choosing what a job sends: the newest posts it has not sent yet, and the trending ones.

Each way of choosing is a function from (session, job, now, already chosen) to candidate
posts, best first; a job's `[select]` table says how many each one contributes (`new`,
`trending`). A story is sent once: no edition carries two posts of one cluster, and a
cluster a job already sent is not sent by it again. A story goes out as its fullest member
(a summary never speaks for a story another site printed whole); among members about as
full, the original, else the earliest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from syndicate.config import Job
from syndicate.db.models import Edition, EditionPost, EditionState, Post, Source
from syndicate.ingest.cluster import original_of
from syndicate.trending import rank_stories

__all__ = ["fullest_of", "select_posts"]

Chooser = Callable[[Session, Job, datetime, set[int]], list[Post]]
_SPARE = 3  # candidates asked for per wanted post: some are copies of a story already taken


def select_posts(session: Session, job: Job, now: datetime) -> list[Post]:
    """The posts the job's next edition carries, in the order they are shown."""
    chosen: list[Post] = []
    taken: set[int] = set()
    stories: set[int] = set()
    choosers: list[tuple[Chooser, int]] = [
        (_new, job.selection.new),
        (_trending, job.selection.trending),
    ]
    for chooser, wanted in choosers:
        if wanted <= 0:
            continue
        count = 0
        for candidate in chooser(session, job, now, taken):
            if count >= wanted:
                break
            post = _representative(session, job, candidate)
            if post.id in taken or _story(post) in stories:
                continue
            taken.add(post.id)
            stories.add(_story(post))
            chosen.append(post)
            count += 1
    return chosen


def published(post_table: type[Post] = Post) -> ColumnElement[datetime]:
    """When a post counts as published: its own date, or when we first saw it."""
    return func.coalesce(post_table.published_at, post_table.first_seen_at)


def _story(post: Post) -> int:
    return post.cluster_id or post.id


def _sent_stories(job: Job) -> Select[int]:
    """The clusters (stories) this job's editions have carried (or hold for review); an
    edition an editor discarded carried nothing."""
    return (
        select(func.coalesce(Post.cluster_id, Post.id))
        .join(EditionPost, EditionPost.post_id == Post.id)
        .join(Edition, Edition.id == EditionPost.edition_id)
        .where(Edition.job == job.name, Edition.state != EditionState.DISCARDED)
    )


def _new(session: Session, job: Job, now: datetime, taken: set[int]) -> list[Post]:
    """The newest posts within the window whose story no edition of this job has carried."""
    query = select(Post).where(func.coalesce(Post.cluster_id, Post.id).not_in(_sent_stories(job)))
    if taken:
        query = query.where(Post.id.not_in(taken))
    if job.selection.window is not None:
        query = query.where(published() >= now - job.selection.window)
    if job.selection.sources:
        query = query.join(Source, Source.id == Post.source_id).where(
            Source.name.in_(job.selection.sources)
        )
    limit = job.selection.new * _SPARE + 10
    query = query.order_by(published().desc(), Post.id.desc()).limit(limit)
    return list(session.scalars(query))


def _trending(session: Session, job: Job, now: datetime, taken: set[int]) -> list[Post]:
    """The highest-scoring stories this job has not carried (see `syndicate.trending`)."""
    sent = set(session.scalars(_sent_stories(job)))
    trends = rank_stories(
        session,
        now,
        window=job.selection.window,
        sources=job.selection.sources,
        exclude_clusters=sent,
        exclude_posts=taken,
    )
    return [trend.post for trend in trends]


def _representative(session: Session, job: Job, post: Post) -> Post:
    """The story's original when the job may send it, else the post itself."""
    if post.cluster_id is None:
        return post
    members = list(session.scalars(select(Post).where(Post.cluster_id == post.cluster_id)))
    if len(members) < 2:
        return post
    if job.selection.sources:
        members = [m for m in members if m.source.name in job.selection.sources]
    return fullest_of(members) or post


FULL_ENOUGH = 0.9  # of the longest member's text: about as full


def fullest_of(members: list[Post]) -> Post | None:
    """The member whose text is fullest; among those about as full, the original, else the
    earliest published."""
    if not members:
        return None
    longest = max(len(m.excerpt or "") for m in members)
    full = [m for m in members if len(m.excerpt or "") >= FULL_ENOUGH * longest]
    original = original_of(members)
    if original is not None and original in full:
        return original
    return min(full, key=lambda m: (m.published_at or m.first_seen_at, m.id))
