"""Trending: how much a story is talked about now, from signals we really have.

A story is a cluster of posts (the same article on several sites, see
`syndicate.ingest.cluster`). Its score is Hacker-News-style gravity over points:

    points = 1 + 3·(sources − 1) + 2·ln(1 + comments) + 2·ln(1 + clicks)
    score  = points / (age_hours + 2) ** 1.8

- **sources**: how many of our sources carry the story (distinct sources in its cluster).
  Another outlet picking a story up is the strongest sign it matters, hence the weight 3.
- **comments**: the comment counts the feeds gave (`thr:total`, `slash:comments`), summed
  over the cluster's posts. Logarithmic: the 500th comment says less than the 5th.
- **clicks**: clicks on our own tracked links (`/r/<token>`, jobs with `track_clicks`) to
  any post of the story within the window; 0 when no job tracks clicks. A client counts
  once per post, however often it clicks; scanners and prefetches never count.
- **age_hours**: hours since the story was first published. The +2 keeps a brand-new story
  from dividing by almost nothing; gravity 1.8 halves a score in roughly the first hours and
  makes a day-old story need about ten times the points of a new one.

Only stories published within the window (72 hours unless the job sets `window`) count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndicate.db.models import Click, Post, Source
from syndicate.db.session import Database
from syndicate.ingest.cluster import original_of

__all__ = ["GRAVITY", "WINDOW", "Trend", "rank_stories", "trending_table"]

WINDOW = timedelta(hours=72)
GRAVITY = 1.8
SOURCE_WEIGHT = 3.0
COMMENT_WEIGHT = 2.0
CLICK_WEIGHT = 2.0


@dataclass(frozen=True)
class Trend:
    """One story's score and what it is made of."""

    post: Post  # the post that stands for the story (its original, when eligible)
    cluster_id: int
    score: float
    sources: int
    comments: int
    clicks: int
    age_hours: float

    @property
    def points(self) -> float:
        return points(self.sources, self.comments, self.clicks)

    @property
    def reasons(self) -> str:
        """ "3 sources, 14 comments, 2 clicks, 5.0 h old" — what the score is made of."""
        return (
            f"{_plural(self.sources, 'source')}, {_plural(self.comments, 'comment')}, "
            f"{_plural(self.clicks, 'click')}, {self.age_hours:.1f} h old"
        )


def points(sources: int, comments: int, clicks: int) -> float:
    return (
        1.0
        + SOURCE_WEIGHT * max(sources - 1, 0)
        + COMMENT_WEIGHT * math.log1p(comments)
        + CLICK_WEIGHT * math.log1p(clicks)
    )


def score(sources: int, comments: int, clicks: int, age_hours: float) -> float:
    return points(sources, comments, clicks) / (max(age_hours, 0.0) + 2.0) ** GRAVITY


def rank_stories(
    session: Session,
    now: datetime,
    *,
    window: timedelta | None = None,
    sources: Sequence[str] = (),
    exclude_clusters: Iterable[int] = (),
    exclude_posts: Iterable[int] = (),
) -> list[Trend]:
    """The stories of the window, highest score first.

    `sources` limits the post that stands for a story to those sources (the others still
    count as carrying it); excluded clusters and posts are left out.
    """
    since = now - (window or WINDOW)
    published = func.coalesce(Post.published_at, Post.first_seen_at)
    posts = list(
        session.scalars(select(Post).join(Post.source).where(published >= since, published <= now))
    )
    clusters: dict[int, list[Post]] = defaultdict(list)
    for post in posts:
        clusters[post.cluster_id or post.id].append(post)
    clicks = _clicks(session, [post.id for post in posts], since)
    skip_clusters, skip_posts = set(exclude_clusters), set(exclude_posts)
    trends = []
    for cluster_id, members in clusters.items():
        if cluster_id in skip_clusters:
            continue
        eligible = [
            m for m in members if m.id not in skip_posts and (not sources or _name(m) in sources)
        ]
        if not eligible:
            continue
        original = original_of(members)
        shown = original if original in eligible else original_of(eligible)
        assert shown is not None  # eligible has members, so one of them stands for the story
        first = min(m.published_at or m.first_seen_at for m in members)
        age = (now - first).total_seconds() / 3600
        carried = len({m.source_id for m in members})
        comments = sum(m.comments or 0 for m in members)
        clicked = sum(clicks.get(m.id, 0) for m in members)
        trends.append(
            Trend(shown, cluster_id, score(carried, comments, clicked, age), carried, comments,
                  clicked, age)
        )  # fmt: skip
    trends.sort(key=lambda t: (-t.score, -t.post.id))
    return trends


def _clicks(session: Session, post_ids: list[int], since: datetime) -> dict[int, int]:
    if not post_ids:
        return {}
    # One client counts once per post, however often it clicked (clicks recorded before
    # clients were, with no client, count one each).
    unnamed = func.count() - func.count(Click.client)
    rows = session.execute(
        select(Click.post_id, func.count(Click.client.distinct()) + unnamed)
        .where(Click.post_id.in_(post_ids), Click.at >= since)
        .group_by(Click.post_id)
    )
    return {post_id: count for post_id, count in rows}


def _name(post: Post) -> str:
    source: Source = post.source
    return source.name


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def trending_table(
    db: Database, now: datetime, *, limit: int = 20, window: timedelta | None = None
) -> list[tuple[str, str, str, str]]:
    """The ranking as rows for `syndicate trending`: score, title, source, reasons."""
    with db.session() as session:
        trends = rank_stories(session, now, window=window)[:limit]
        return [
            (f"{trend.score:.3f}", _shorten(trend.post.title), _name(trend.post), trend.reasons)
            for trend in trends
        ]


def _shorten(title: str, width: int = 60) -> str:
    return title if len(title) <= width else title[: width - 1].rstrip() + "…"
