"""Clusters: the same story carried by several sources, sent once and credited to its original.

Two posts tell the same story when they share enough of their words in order. A post's
fingerprint is the set of word 3-shingles of its first `LEAD_WORDS` words, and the set of
word pairs of its title. Similarity is containment (how much of the smaller set the larger
holds, not Jaccard), so a feed's short summary still matches the full copy another site
printed. Two posts published within `WINDOW` of each other are the same story when

- their texts match at least `THRESHOLD`, their titles at least `TITLE_THRESHOLD`, and the
  figures of their leads agree (at least half of the fewer are in both), or
- their texts match at least `COPY_THRESHOLD` (a copy under a new headline).

The title and figure conditions keep apart daily reports written from one template
("Harga emas hari ini …", where only the figures change, and a short headline of one day
can sit whole inside a longer one of another). The thresholds were chosen on the labelled set in
`tests/data/clusters.json`; `tests/test_clusters.py` prints precision and recall for a
sweep of them. Independent rewrites of one event share too few words to be found this way.

A cluster is named by the id of its first stored post (`Post.cluster_id`); a post alone is
its own cluster. Its original is the member the others credit, else the earliest.

A poll places the new posts of all its sources with one `ClusterIndex`: the posts of the
window are fingerprinted once per poll (not once per source), and a new post is compared
only with a bounded few earlier posts, found through an inverted index of shingles from a
sample of its own, rare shingles first (see `ClusterIndex`): at most `COMPARED` (24)
comparisons and `SAMPLE` x `BUCKET` (1,024) postings read per post, however many posts the
window holds, so a poll's clustering costs time linear in its posts even when the sources
share their phrasing (a wire service's copy on dozens of sites, template reports, one
shared stock of words). On the labelled set it forms the clusters `join` forms.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from syndicate.db.models import Post, Source
from syndicate.ingest.identity import host_of
from syndicate.render import Credit

__all__ = [
    "COPY_THRESHOLD",
    "LEAD_WORDS",
    "THRESHOLD",
    "TITLE_THRESHOLD",
    "WINDOW",
    "Candidate",
    "ClusterIndex",
    "Fingerprint",
    "NewPost",
    "assign_clusters",
    "cluster_credit",
    "fingerprint",
    "join",
    "original_of",
    "place_posts",
    "same_story",
    "similarity",
]

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=72)
LEAD_WORDS = 120
SHINGLE_WORDS = 3
THRESHOLD = 0.3
TITLE_THRESHOLD = 0.7
COPY_THRESHOLD = 0.9
MIN_SHINGLES = 6  # fewer shared-able shingles than this and two texts prove nothing
# Candidate search (`ClusterIndex`): a new post reads at most SAMPLE x BUCKET postings and is
# compared with at most COMPARED earlier posts, whatever the size of the window.
SAMPLE = 16  # shingles of a new post whose postings are read
BUCKET = 64  # latest posts a shingle's postings remember
COMPARED = 24  # earlier posts a new post is compared with, at most
RARE_BELOW = 8  # a shingle fewer indexed posts than this carry is rare
ENOUGH_RARE = 4  # a post with this many rare shingles in the index is found through them
_EXCERPT_CHARS = 2000  # enough for LEAD_WORDS words
_LEAD_CHARS = LEAD_WORDS * 8  # usually enough too, and cheaper to read first
_WORD = re.compile(r"\w+", re.UNICODE)
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
MIN_FIGURES = 2  # fewer figures than this in either lead and figures prove nothing


@dataclass(frozen=True)
class Fingerprint:
    """What a post's words look like to the comparison: hashed shingles."""

    text: frozenset[int]  # word 3-shingles of the lead
    title: frozenset[int]  # word pairs of the title
    figures: frozenset[str] = frozenset()  # the numbers of the lead ("1.131.000", "08.30")


def fingerprint(title: str, text: str) -> Fingerprint:
    """The fingerprint of a post's title and the lead of its text."""
    return Fingerprint(
        _shingles(_lead(text), SHINGLE_WORDS),
        _shingles(_WORD.findall(title.casefold()), 2),
        frozenset(_FIGURE.findall(text[:_LEAD_CHARS])),
    )


def _lead(text: str) -> list[str]:
    """The first `LEAD_WORDS` words of `text`, casefolded, reading only as much as needed.

    A lead usually fits in its first `_LEAD_CHARS` characters; when more than `LEAD_WORDS`
    words are found there, none of the first `LEAD_WORDS` can have been cut short.
    (Casefolding maps each character alone, so it commutes with taking a prefix.)
    """
    prefix = text[:_LEAD_CHARS]
    words = _WORD.findall(prefix.casefold())
    if len(words) <= LEAD_WORDS and len(prefix) < len(text):
        words = _WORD.findall(text.casefold())
    return words[:LEAD_WORDS]


def _shingles(words: list[str], size: int) -> frozenset[int]:
    if len(words) < size:
        return frozenset({zlib.crc32(" ".join(words).encode())}) if words else frozenset()
    # The hash of each run of `size` words joined by spaces, all in C: a post is
    # fingerprinted on every poll that places it or compares with it.
    runs = zip(*(words[i:] for i in range(size)), strict=False)
    return frozenset(map(zlib.crc32, map(str.encode, map(" ".join, runs))))


def similarity(first: Fingerprint, second: Fingerprint) -> tuple[float, float]:
    """How alike two posts' texts and titles are, each from 0 to 1 (containment)."""
    return (
        _containment(first.text, second.text, MIN_SHINGLES),
        _containment(first.title, second.title, 1),
    )


def same_story(first: Fingerprint, second: Fingerprint) -> bool:
    """Whether two posts (published within `WINDOW` of each other) tell the same story."""
    text, title = similarity(first, second)
    return _alike(text, title, first.figures, second.figures)


def _alike(text: float, title: float, first: frozenset[str], second: frozenset[str]) -> bool:
    if text >= COPY_THRESHOLD:
        return True
    return text >= THRESHOLD and title >= TITLE_THRESHOLD and _figures_agree(first, second)


def _figures_agree(first: frozenset[str], second: frozenset[str]) -> bool:
    """Whether two leads' numbers could be one report's: a template report of another day
    ("Harga emas hari ini …") shares the words and the headline, not the figures."""
    smaller = min(len(first), len(second))
    return smaller < MIN_FIGURES or len(first & second) >= smaller / 2


def _containment(first: frozenset[int], second: frozenset[int], minimum: int) -> float:
    smaller = min(len(first), len(second))
    if smaller < minimum:
        return 0.0
    return len(first & second) / smaller


@dataclass
class Candidate:
    """A post already placed in a cluster, as new posts are compared with it."""

    post_id: int
    cluster_id: int
    when: datetime
    shingles: Fingerprint


@dataclass(frozen=True)
class NewPost:
    """A stored post not placed in a cluster yet: what placing it needs."""

    id: int
    title: str
    excerpt: str
    when: datetime  # published, else first seen


def assign_clusters(
    session: Session, posts: Sequence[Post], index: ClusterIndex | None = None
) -> None:
    """Give each new (flushed) post the cluster of its closest earlier match, or its own.

    Pass the poll's `index` when several sources' posts are placed one batch after another.
    """
    new = [NewPost(post.id, post.title, post.excerpt, _when(post)) for post in posts]
    for post, cluster_id in zip(posts, place_posts(session, new, index), strict=True):
        post.cluster_id = cluster_id


def place_posts(
    session: Session | Connection, posts: Sequence[NewPost], index: ClusterIndex | None = None
) -> list[int]:
    """The cluster of each new (stored) post, in order: its closest earlier match's, or its
    own id. The caller stores them (`assign_clusters` does, on ORM objects).
    """
    if not posts:
        return []
    index = index if index is not None else ClusterIndex()
    times = [post.when for post in posts]
    index.cover(session, min(times) - WINDOW, max(times) + WINDOW, {post.id for post in posts})
    clusters = []
    for post in posts:
        shingles = fingerprint(post.title, post.excerpt[:_EXCERPT_CHARS])
        cluster_id = index.join(shingles, post.when, post.id)
        index.add(post.id, cluster_id, post.when, shingles)
        clusters.append(cluster_id)
    return clusters


@dataclass(frozen=True)
class _Member:
    post_id: int
    cluster_id: int
    when: datetime
    text: tuple[int, ...]  # the text shingles, to compare with exactly
    title: frozenset[int]
    figures: frozenset[str]


class ClusterIndex:
    """Placed posts of a time span, of which a new post is compared with a bounded few.

    It reads the posts published in the span it is asked to `cover` from the database once
    (a later, wider span reads only what is missing) and keeps, per post, its cluster, its
    time, its text shingles and its title's word pairs, and an inverted index from each text
    shingle to the latest `BUCKET` posts that have it.

    A new post's candidates come from at most `SAMPLE` of its shingles, rare ones first: a
    shingle fewer than `RARE_BELOW` indexed posts carry is rare (a name, a figure, a turn of
    phrase of this story); common ones ("harga emas hari ini", a wire service's boilerplate,
    the stock phrases of a shared vocabulary) are read only when a post has fewer than
    `ENOUGH_RARE` rare ones. Among the posts found through enough of the sample, the one
    found most often of each story, for at most `COMPARED` stories, is compared with it
    exactly (`same_story`). So a post reads at most `SAMPLE` × `BUCKET` postings and makes
    at most `COMPARED` comparisons, however many posts the window holds. The sample is
    chosen by the shingles' hash values (a min-hash sample), so two copies of one text pick
    the same shingles; a post that shares a third of its text with an earlier one shares,
    in expectation, a third of its sample with it. A copy that joins a story indexes only
    its own words, and posts its lowest shingles again without making them common, so a
    story carried by fifty sites keeps its words rare and stays among the latest posts of
    the shingles its next copy samples first.
    """

    def __init__(self) -> None:
        self._span: tuple[datetime, datetime] | None = None
        self._ids: set[int] = set()
        self._members: list[_Member] = []
        self._postings: dict[int, int | list[int]] = {}
        self._common: set[int] = set()
        self._matched: dict[int, _Member] = {}  # post id -> the member its `join` matched
        self._firsts: dict[int, int] = {}  # cluster id -> its first member `cover` read

    def __len__(self) -> int:
        return len(self._members)

    def cover(
        self,
        session: Session | Connection,
        start: datetime,
        end: datetime,
        exclude: Iterable[int] = (),
    ) -> None:
        """Read the posts published between `start` and `end` not read yet (but `exclude`)."""
        if self._span is None:
            missing = [(start, end)]
            self._span = (start, end)
        else:
            low, high = self._span
            missing = [(a, b) for a, b in ((start, low), (high, end)) if a < b]
            self._span = (min(start, low), max(end, high))
        skip = set(exclude) | self._ids
        for first, last in missing:
            for found in _candidates(session, first, last, skip):
                # A copy read back is indexed as `join` had it: by its own words.
                earlier = self._firsts.setdefault(found.cluster_id, len(self._members))
                if earlier < len(self._members):
                    self._matched[found.post_id] = self._members[earlier]
                self.add(found.post_id, found.cluster_id, found.when, found.shingles)

    def add(self, post_id: int, cluster_id: int, when: datetime, shingles: Fingerprint) -> None:
        """Make a placed post a candidate for the posts placed after it."""
        position = len(self._members)
        member = _Member(
            post_id, cluster_id, when, tuple(shingles.text), shingles.title, shingles.figures
        )
        self._members.append(member)
        self._ids.add(post_id)
        postings = self._postings
        text = shingles.text
        matched = self._matched.pop(post_id, None)
        if matched is not None and matched.cluster_id == cluster_id:
            # A copy is found through the member it matched: only its own words are indexed,
            # so a story carried by fifty sites does not make its own shingles common. Its
            # lowest shingles, the ones a later copy samples first, are posted again (not
            # counted towards commonness: one story is one carrier), so the story stays
            # among the latest posts of those shingles.
            own = text.difference(matched.text)
            self._post_again(
                position, (s for s in heapq.nsmallest(2 * SAMPLE, text) if s not in own)
            )
            text = own
        # Most shingles are new to the index: those go in at once, in C.
        seen = text & postings.keys()
        postings.update(dict.fromkeys(text - seen, position))
        common = self._common
        for shingle in seen:
            found = postings[shingle]
            if found.__class__ is int:
                postings[shingle] = [found, position]
                continue
            found.append(position)
            size = len(found)
            if size < RARE_BELOW:
                continue
            common.add(shingle)  # postings of copies may have made it this long already
            if size >= 2 * BUCKET:  # keep the latest; amortized, one cut in BUCKET
                del found[:-BUCKET]

    def _post_again(self, position: int, shingles: Iterable[int]) -> None:
        """Add `position` to the postings of `shingles` without making them common."""
        postings = self._postings
        for shingle in shingles:
            found = postings.get(shingle)
            if found is None:
                postings[shingle] = position
            elif found.__class__ is int:
                postings[shingle] = [found, position]
            else:
                found.append(position)
                if len(found) >= 2 * BUCKET:
                    del found[:-BUCKET]

    def join(self, shingles: Fingerprint, when: datetime, own: int) -> int:
        """The cluster a post joins: that of its closest match among its candidates."""
        best: _Member | None = None
        best_text = -1.0
        for member in self._candidates(shingles.text):
            if abs(member.when - when) > WINDOW:
                continue
            shared = len(shingles.text.intersection(member.text))
            smaller = min(len(shingles.text), len(member.text))
            text = shared / smaller if smaller >= MIN_SHINGLES else 0.0
            if text < THRESHOLD:  # below the lower threshold, no title helps
                continue
            title = _containment(shingles.title, member.title, 1)
            if not _alike(text, title, shingles.figures, member.figures):
                continue
            if text > best_text or (text == best_text and best and member.post_id < best.post_id):
                best, best_text = member, text
        if best is None:
            return own
        self._matched[own] = best
        logger.debug("post %s joins cluster %s (%.2f)", own, best.cluster_id, best_text)
        return best.cluster_id

    def _candidates(self, text: frozenset[int]) -> list[_Member]:
        """The at most `COMPARED` indexed posts that share the most of `text`'s sample."""
        postings = self._postings
        present = text & postings.keys()  # shingles some indexed post has too, found in C
        if len(present) > SAMPLE:
            rare = present - self._common
            if len(rare) >= SAMPLE:
                present = heapq.nsmallest(SAMPLE, rare)
            elif len(rare) >= ENOUGH_RARE:  # common shingles would only add noise
                present = list(rare)
            else:
                present = [*rare, *heapq.nsmallest(SAMPLE - len(rare), present - rare)]
        positions: list[int] = []
        for found in map(postings.__getitem__, present):
            if found.__class__ is int:
                positions.append(found)
            else:
                positions.extend(found[-BUCKET:])
        # A post that shares a third of a text shares about a third of its sample; one found
        # through fewer than half of that is not worth comparing.
        fewest = max(1, math.ceil(len(present) * THRESHOLD / 2))
        hits = Counter(positions)
        found = [(count, p) for p, count in hits.items() if count >= fewest]
        members = self._members
        if len(found) <= 1:
            return [members[p] for _, p in found]
        # The copies of one story found together are one candidate: the one found most.
        found.sort(key=lambda pair: (-pair[0], pair[1]))
        chosen: dict[int, _Member] = {}
        for _, position in found:
            member = members[position]
            if member.cluster_id not in chosen:
                chosen[member.cluster_id] = member
                if len(chosen) == COMPARED:
                    break
        return list(chosen.values())

    def memory_bytes(self) -> int:
        """About how much memory the index holds (its containers, not shared objects)."""
        size = sys.getsizeof
        total = size(self._members) + size(self._postings) + size(self._common) + size(self._ids)
        total += sum(size(m) + size(m.text) + size(m.title) for m in self._members)
        total += sum(size(p) for p in self._postings.values() if p.__class__ is list)
        return total


def join(candidates: Sequence[Candidate], shingles: Fingerprint, when: datetime, own: int) -> int:
    """The cluster a post joins: that of its closest match among the candidates, or its own."""
    best, best_text = None, -1.0
    for candidate in candidates:
        if abs(candidate.when - when) > WINDOW or not same_story(shingles, candidate.shingles):
            continue
        text, _ = similarity(shingles, candidate.shingles)
        if text > best_text:
            best, best_text = candidate, text
    if best is None:
        return own
    logger.debug("post %s joins cluster %s (%.2f)", own, best.cluster_id, best_text)
    return best.cluster_id


def _candidates(
    session: Session | Connection, start: datetime, end: datetime, excluded: set[int]
) -> list[Candidate]:
    published = func.coalesce(Post.published_at, Post.first_seen_at)
    rows = session.execute(
        select(
            Post.id,
            func.coalesce(Post.cluster_id, Post.id),
            Post.published_at,
            Post.first_seen_at,
            Post.title,
            func.substr(Post.excerpt, 1, _EXCERPT_CHARS),
        )
        .where(published >= start, published <= end)
        .order_by(published, Post.id)  # postings keep the latest posts of a shingle
    )
    return [
        Candidate(post_id, cluster_id, published_at or seen, fingerprint(title, excerpt or ""))
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
