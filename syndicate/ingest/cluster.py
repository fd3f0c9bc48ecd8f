"""Clusters: the same story carried by several sources, sent once and credited to its original.

Two posts tell the same story when they share enough of their words in order: each post's
fingerprint is the set of word 3-shingles of its title and its first `LEAD_WORDS` words,
and two fingerprints match when the smaller one is at least `THRESHOLD` contained in the
larger (containment, not Jaccard, so a feed's short summary still matches the full copy
another site printed). Posts are compared only with posts published within `WINDOW` of
them. `THRESHOLD` was chosen on the labelled set in `tests/data/clusters.json`; the test
that reads it prints the precision and recall.

A cluster is named by the id of its first stored post (`Post.cluster_id`); a post alone is
its own cluster. Its original is the member the others credit, else the earliest.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndicate.db.models import Post, Source
from syndicate.ingest.identity import host_of
from syndicate.render import Credit

__all__ = [
    "LEAD_WORDS",
    "THRESHOLD",
    "WINDOW",
    "assign_clusters",
    "cluster_credit",
    "fingerprint",
    "similarity",
]

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=72)
LEAD_WORDS = 120
SHINGLE_WORDS = 3
THRESHOLD = 0.5
MIN_SHINGLES = 6  # fewer shared-able shingles than this and two texts prove nothing
_EXCERPT_CHARS = 2000  # enough for LEAD_WORDS words
_WORD = re.compile(r"\w+", re.UNICODE)


def fingerprint(title: str, text: str) -> frozenset[int]:
    """The word 3-shingles of a title and the lead of a text, hashed."""
    words = _WORD.findall(title.casefold())
    words += _WORD.findall(text.casefold())[:LEAD_WORDS]
    return frozenset(
        zlib.crc32(" ".join(words[i : i + SHINGLE_WORDS]).encode())
        for i in range(max(len(words) - SHINGLE_WORDS + 1, 0))
    )


def similarity(first: frozenset[int], second: frozenset[int]) -> float:
    """How much of the smaller fingerprint the larger one contains, from 0 to 1."""
    smaller = min(len(first), len(second))
    if smaller < MIN_SHINGLES:
        return 0.0
    return len(first & second) / smaller


@dataclass
class _Candidate:
    post_id: int
    cluster_id: int
    when: datetime
    shingles: frozenset[int]


def assign_clusters(session: Session, posts: Sequence[Post]) -> None:
    """Give each new (flushed) post the cluster of its closest earlier match, or its own."""
    if not posts:
        return
    times = [_when(post) for post in posts]
    candidates = _candidates(session, min(times) - WINDOW, max(times) + WINDOW, posts)
    for post, when in zip(posts, times, strict=True):
        shingles = fingerprint(post.title, post.excerpt[:_EXCERPT_CHARS])
        best, best_score = None, THRESHOLD
        for candidate in candidates:
            if abs(candidate.when - when) > WINDOW:
                continue
            score = similarity(shingles, candidate.shingles)
            if score >= best_score:
                best, best_score = candidate, score
        post.cluster_id = best.cluster_id if best is not None else post.id
        if best is not None:
            logger.debug("post %s joins cluster %s (%.2f)", post.id, best.cluster_id, best_score)
        candidates.append(_Candidate(post.id, post.cluster_id, when, shingles))


def _candidates(
    session: Session, start: datetime, end: datetime, exclude: Iterable[Post]
) -> list[_Candidate]:
    published = func.coalesce(Post.published_at, Post.first_seen_at)
    excluded = {post.id for post in exclude}
    rows = session.execute(
        select(
            Post.id,
            func.coalesce(Post.cluster_id, Post.id),
            Post.published_at,
            Post.first_seen_at,
            Post.title,
            func.substr(Post.excerpt, 1, _EXCERPT_CHARS),
        ).where(published >= start, published <= end)
    )
    return [
        _Candidate(post_id, cluster_id, published_at or seen, fingerprint(title, excerpt or ""))
        for post_id, cluster_id, published_at, seen, title, excerpt in rows
        if post_id not in excluded
    ]


def _when(post: Post) -> datetime:
    return post.published_at or post.first_seen_at


def cluster_credit(session: Session, post: Post) -> Credit | None:
    """Whom `post` should credit: its own origin, else its cluster's original when that is
    another site's post; None when the post is the original.
    """
    if post.origin_name:
        return Credit(post.origin_name, post.origin_url)
    if post.cluster_id is None:
        return None
    members = list(
        session.scalars(select(Post).where(Post.cluster_id == post.cluster_id).join(Post.source))
    )
    original = original_of(members)
    if original is None or original.id == post.id or original.source_id == post.source_id:
        return None
    if original.origin_name:
        return Credit(original.origin_name, original.origin_url)
    source: Source = original.source
    return Credit(source.site_name or source.name, original.url)


def original_of(members: Sequence[Post]) -> Post | None:
    """The member the others credit (by its site), else the earliest published."""
    if not members:
        return None
    credited = {host_of(m.origin_url) for m in members if m.origin_url}
    named = {(m.origin_name or "").casefold() for m in members if m.origin_name}
    for member in sorted(members, key=_when):
        site = member.source.site_name or member.source.name
        if host_of(member.url) in credited or site.casefold() in named:
            return member
    return min(members, key=lambda m: (_when(m), m.id))
