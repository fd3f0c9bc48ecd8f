"""Choosing what a job sends: the newest posts it has not sent yet (trending comes later).

Each way of choosing is a function from (session, job, now, already chosen) to posts; a
job's `[select]` table says how many each one contributes, and no post appears twice in
one edition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndicate.config import Job
from syndicate.db.models import Edition, EditionPost, Post, Source

__all__ = ["select_posts"]

Chooser = Callable[[Session, Job, datetime, set[int]], list[Post]]


def select_posts(session: Session, job: Job, now: datetime) -> list[Post]:
    """The posts the job's next edition carries, in the order they are shown."""
    chosen: list[Post] = []
    taken: set[int] = set()
    for chooser in _CHOOSERS:
        for post in chooser(session, job, now, taken):
            if post.id not in taken:
                taken.add(post.id)
                chosen.append(post)
    return chosen


def published(post_table: type[Post] = Post) -> object:
    """When a post counts as published: its own date, or when we first saw it."""
    return func.coalesce(post_table.published_at, post_table.first_seen_at)


def _new(session: Session, job: Job, now: datetime, taken: set[int]) -> list[Post]:
    """The newest posts within the window that no edition of this job has carried."""
    wanted = job.selection.new
    if wanted <= 0:
        return []
    sent_by_job = (
        select(EditionPost.post_id)
        .join(Edition, Edition.id == EditionPost.edition_id)
        .where(Edition.job == job.name)
    )
    query = select(Post).where(Post.id.not_in(sent_by_job))
    if taken:
        query = query.where(Post.id.not_in(taken))
    if job.selection.window is not None:
        query = query.where(published() >= now - job.selection.window)
    if job.selection.sources:
        query = query.join(Source, Source.id == Post.source_id).where(
            Source.name.in_(job.selection.sources)
        )
    query = query.order_by(published().desc(), Post.id.desc()).limit(wanted)
    return list(session.scalars(query))


_CHOOSERS: Sequence[Chooser] = (_new,)
