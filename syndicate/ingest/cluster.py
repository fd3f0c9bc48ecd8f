"""Clusters: the same story carried by several sources, sent once and credited to its original.

Two posts tell the same story when they share enough of their words in order. A post's
fingerprint is the set of word 3-shingles of its first `LEAD_WORDS` words (its lead) and of
its first `BODY_WORDS` words (its body), the word pairs of its title, and the figures and
days its lead and body name. Similarity is containment (how much of the smaller set the
larger holds, not Jaccard), so a feed's short summary still matches the full copy another
site printed. Two posts published within `WINDOW` of each other are the same story when

- their leads match at least `THRESHOLD`, their titles at least `TITLE_THRESHOLD`, and the
  figures of their leads agree (at least half of the fewer are in both), or
- one's lead lies at least `COPY_THRESHOLD` inside the other's body (a copy under a new
  headline, perhaps after an opening paragraph of the publisher's own), sharing at least
  `MIN_COPY_SHARED` shingles that are not common in the window's index (a source's fixed
  feed description, a template's sentences, stock phrases prove nothing), or
  `SAME_SOURCE_SHARED` in all; two posts of one source, besides, must be near-identical in
  full (`SAME_SOURCE_ALIKE`) and a whole article long,

and under either rule, neither names a day the other lacks while the other names one it
lacks, nor a good share (`FIGURES_APART`) of figures: daily reports written from one
template ("Harga emas hari ini …", "Rupiah ditutup …", the day's weather) differ in their
day and their figures, while the template's fixed numbers (0,5 gram, PPh 22) are in both
and count for nothing. The thresholds were chosen on the labelled set in
`tests/data/clusters.json`; `tests/test_clusters.py` prints precision and recall for a
sweep of them. Independent rewrites of one event share too few words to be found this way.

A cluster is named by the id of its first stored post (`Post.cluster_id`); a post alone is
its own cluster. Its original is the member the others credit, else the earliest. Copies
that each open with words of their own match their original and not each other: stored
before it, they form a cluster each, and the original, when it comes, bridges them into
one (the stored posts' `cluster_id` rewritten to the first cluster's).

A poll places the new posts of all its sources with one `ClusterIndex`: the posts of the
window are fingerprinted once per poll (not once per source), and a new post is compared
only with a bounded few earlier posts (see `ClusterIndex`): those sharing the most LSH
bands of its lead's min-hashes, at least `MIN_BANDS` of them (copies: a pair whose leads
have Jaccard similarity 0.8 or more, as two copies under the copy rule have, shares two
with 99.9%; two posts written from one stock of words share one by chance, rarely two),
then those found through an inverted index of a sample of its shingles, rare first
(summaries, edits). The closest come first, and a candidate holding nearly all of the
post's lead (`SURE`) ends the search: a copy of a story a hundred sites carry is compared
once. At most `COMPARED` (24) comparisons, and `BANDS` x `BAND_BUCKET` + `SAMPLE` x
`BUCKET` (2,048) postings read per post, however many posts the window holds, so a poll's
clustering costs time linear in its posts even when the sources share their phrasing (a
wire service's copy on dozens of sites, template reports, one shared stock of words). On the
labelled set it forms the clusters `join` forms.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import sys
from array import array
from collections import Counter
from collections.abc import Collection, Container, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, case, func, select, update
from sqlalchemy.orm import Session

from syndicate.db.models import Post, Source
from syndicate.ingest.identity import host_of
from syndicate.ingest.shingles import (
    EXCERPT_CHARS,
    LEAD_WORDS,
    MIN_SHINGLES,
    Fingerprint,
    fingerprint,
    made_from,
    pack,
    unpack,
)
from syndicate.types import Credit

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
THRESHOLD = 0.3
TITLE_THRESHOLD = 0.7
COPY_THRESHOLD = 0.9
# Candidate search (`ClusterIndex`): a new post reads at most SAMPLE x BUCKET postings and is
# compared with at most COMPARED earlier posts, whatever the size of the window.
SAMPLE = 16  # shingles of a new post whose postings are read
BUCKET = 64  # latest posts a shingle's postings remember
BAND_BUCKET = 64  # latest posts an LSH band key remembers
COMPARED = 24  # earlier posts a new post is compared with, at most
RARE_BELOW = 8  # a shingle fewer indexed posts than this carry is rare
ENOUGH_RARE = 4  # a post with this many rare shingles in the index is found through them
MIN_COPY_SHARED = 20  # distinctive shingles a copy must share: more than a one-line blurb
SAME_SOURCE_SHARED = 60  # and a source's own repost, near-identical in full: a whole article
SAME_SOURCE_ALIKE = 0.9  # Jaccard of the two bodies for a source's own repost
TEMPLATE_CARRIERS = 3  # a shingle this many unrelated indexed posts carry proves no copy
# LSH banding (`ClusterIndex`): BANDS bands of ROWS min-hashes each. With p = J**ROWS for a
# pair whose leads have Jaccard similarity J, it shares at least MIN_BANDS (2) bands with
# probability 1 - (1 - p)**16 - 16 p (1 - p)**15: J = 0.82: 0.9991 (two copies of a lead
# under the copy rule have J >= 0.82), J = 0.69: 0.907 (a copy after a 22-word opening of
# its own; the sample finds the rest), J = 0.5: 0.26; and by chance J = 0.3: 0.008,
# J = 0.2: 0.0003 (posts written from one stock of words; one band: 0.12 and 0.025).
PER_STORY = 8  # closest copies of one story a new post is compared with
BRIDGE = 4  # candidates of other clusters compared once a post's story is found
MIN_BANDS = 2  # bands a candidate shares: one is chance among posts of one stock of words
SURE = 0.95  # a candidate holding this much of a post's lead ends its search
MIN_FIGURES = 2  # fewer figures than this in either lead and figures prove nothing
FIGURES_APART = 0.2  # share of a lead's figures the other text lacks that sets them apart


class _Compared(Protocol):
    """What a post is compared by: a `Fingerprint`, or an indexed post's packed one whose
    shingles are arrays of distinct values (read without being made sets again)."""

    @property
    def text(self) -> Collection[int]: ...
    @property
    def title(self) -> Collection[int]: ...
    @property
    def figures(self) -> Collection[str]: ...
    @property
    def body(self) -> Collection[int]: ...
    @property
    def body_figures(self) -> Collection[str]: ...


def _common(first: Collection[int], second: Collection[int]) -> AbstractSet[int]:
    """The shingles in both (at least one of the two is a set)."""
    if isinstance(first, (set, frozenset)):
        return first.intersection(second)
    assert isinstance(second, (set, frozenset))
    return second.intersection(first)


def similarity(first: Fingerprint, second: _Compared) -> tuple[float, float]:
    """How alike two posts' texts and titles are, each from 0 to 1 (containment)."""
    return (
        _containment(first.text, second.text, MIN_SHINGLES),
        _containment(first.title, second.title, 1),
    )


def same_story(first: Fingerprint, second: Fingerprint, *, same_source: bool = False) -> bool:
    """Whether two posts (published within `WINDOW` of each other) tell the same story.

    `same_source`: both come from one source, whose own texts (a fixed description, a feed
    summary kept when the page failed) make a copy only when near-identical in full.
    """
    return _match(first, second, same_source) is not None


def _match(
    first: Fingerprint,
    second: _Compared,
    same_source: bool = False,
    template: Container[int] = frozenset(),
) -> float | None:
    """How alike two posts' texts are when they tell the same story, else None.

    Figures that each lead names and the other text lacks (another day, another rate) keep
    two posts apart under every rule; the figures both share are no evidence (a template's
    fixed "0,5 gram", "PPh 22"). `template`: shingles too common in the index to prove a copy.
    """
    if _figures_differ(first, second):
        return None
    text, title = similarity(first, second)
    if (
        text >= THRESHOLD
        and title >= TITLE_THRESHOLD
        and _figures_agree(first.figures, second.figures)
    ):
        return text
    copied = _copied(first, second, same_source, template)
    return max(text, copied) if copied else None


def _figures_differ(first: Fingerprint, second: _Compared) -> bool:
    """Whether each lead names a day the other's text lacks, or a good share of figures
    (`FIGURES_APART`) the other lacks: another day's report, not a copy with a typo fixed."""
    mine = first.figures.difference(second.body_figures or second.figures)
    if not mine:
        return False
    own = first.body_figures or first.figures
    theirs = [figure for figure in second.figures if figure not in own]
    if not theirs:
        return False
    if any(m[0] == "@" for m in mine) and any(t[0] == "@" for t in theirs):
        return True
    return max(len(mine) / len(first.figures), len(theirs) / len(second.figures)) >= FIGURES_APART


def _copied(
    first: Fingerprint, second: _Compared, same_source: bool, template: Container[int]
) -> float:
    """How much of one lead the other's body holds, when that makes a copy under a new
    headline (at least `COPY_THRESHOLD`, and `MIN_COPY_SHARED` shingles outside `template`
    or `SAME_SOURCE_SHARED` in all); else 0. A source's own two posts must be near-identical
    in full, and a whole article."""
    best = 0.0
    pairs: tuple[tuple[_Compared, _Compared], ...] = ((first, second), (second, first))
    for lead, other in pairs:
        text = lead.text
        if len(text) < MIN_SHINGLES:
            continue
        shared = _common(text, other.body or other.text)
        if len(shared) < COPY_THRESHOLD * len(text):
            continue
        # Shared words common in the index prove a copy only in a whole article's length.
        if len(shared) >= SAME_SOURCE_SHARED or (
            sum(1 for shingle in shared if shingle not in template) >= MIN_COPY_SHARED
        ):
            best = max(best, len(shared) / len(text))
    if best and same_source:
        mine, theirs = first.body or first.text, second.body or second.text
        in_both = len(_common(mine, theirs))
        either = len(mine) + len(theirs) - in_both  # each holds distinct shingles
        if in_both < SAME_SOURCE_SHARED or in_both < SAME_SOURCE_ALIKE * either:
            return 0.0
    return best


def _holds(first: _Compared, second: _Compared) -> bool:
    """Whether `first`'s body holds `second`'s lead, as a copy's holds its original's."""
    lead = second.text
    if len(lead) < MIN_SHINGLES:
        return False
    return len(_common(first.body or first.text, lead)) >= COPY_THRESHOLD * len(lead)


def _figures_agree(first: frozenset[str], second: Collection[str]) -> bool:
    """Whether two leads' numbers could be one report's: a template report of another day
    ("Harga emas hari ini …") shares the words and the headline, not the figures."""
    smaller = min(len(first), len(second))
    return smaller < MIN_FIGURES or len(first.intersection(second)) >= smaller / 2


def _containment(first: frozenset[int], second: Collection[int], minimum: int) -> float:
    smaller = min(len(first), len(second))
    if smaller < minimum:
        return 0.0
    return len(first.intersection(second)) / smaller


@dataclass
class Candidate:
    """A post already placed in a cluster, as new posts are compared with it."""

    post_id: int
    cluster_id: int
    when: datetime
    shingles: Fingerprint
    source: int | None = None  # the source's id, when known


@dataclass(frozen=True)
class NewPost:
    """A stored post not placed in a cluster yet: what placing it needs."""

    id: int
    title: str
    excerpt: str
    when: datetime  # published, else first seen
    source: int | None = None  # the source's id, when known
    # Made where the feed was read: (`made_from` of its title and text, the fingerprint
    # packed).
    fingerprint: tuple[int, bytes] | None = None


def assign_clusters(
    session: Session, posts: Sequence[Post], index: ClusterIndex | None = None
) -> None:
    """Give each new (flushed) post the cluster of its closest earlier match, or its own,
    and its packed fingerprint.

    Pass the poll's `index` when several sources' posts are placed one batch after another.
    """
    new = [
        NewPost(post.id, post.title, post.excerpt, _when(post), post.source_id) for post in posts
    ]
    for post, (cluster_id, packed) in zip(posts, place_posts(session, new, index), strict=True):
        post.cluster_id, post.shingles = cluster_id, packed


def place_posts(
    session: Session | Connection, posts: Sequence[NewPost], index: ClusterIndex | None = None
) -> list[tuple[int, bytes]]:
    """The cluster of each new (stored) post, in order: its closest earlier match's, or its
    own id; and its fingerprint packed, to store with it (`Post.shingles`). The caller
    stores both (`assign_clusters` does, on ORM objects).
    """
    if not posts:
        return []
    index = index if index is not None else ClusterIndex()
    times = [post.when for post in posts]
    index.cover(session, min(times) - WINDOW, max(times) + WINDOW, {post.id for post in posts})
    placed = []
    for post in posts:
        shingles, packed = _fingerprint_of(post)
        cluster_id = index.join(shingles, post.when, post.id, post.source)
        index.add(post.id, cluster_id, post.when, shingles, post.source)
        placed.append((cluster_id, packed))
    merged = index.take_merges()
    for old, new in merged.items():  # stored posts of a cluster merged into another
        session.execute(update(Post).where(Post.cluster_id == old).values(cluster_id=new))
    return [(merged.get(cluster_id, cluster_id), packed) for cluster_id, packed in placed]


def _fingerprint_of(post: NewPost) -> tuple[Fingerprint, bytes]:
    """The post's fingerprint, and packed: the one made where its feed was read, if made
    from the very title and text stored, else made now."""
    text = post.excerpt[:EXCERPT_CHARS]
    if post.fingerprint is not None:
        made, packed = post.fingerprint
        shingles = unpack(packed) if made == made_from(post.title, text) else None
        if shingles is not None:
            return shingles, packed
    shingles = fingerprint(post.title, text)
    return shingles, pack(shingles)


class _Member:
    """An indexed post. Its shingles are kept packed, four bytes each (as a frozenset of
    ints they took about 18 KB a post), and compared as they are (`_Compared`): a new post's
    sets are intersected with them, and no set is made of them again. Plain attributes, not
    properties: a poll reads them tens of thousands of times."""

    __slots__ = (
        "body",
        "body_figures",
        "cluster_id",
        "figures",
        "post_id",
        "source",
        "text",
        "title",
        "when",
    )

    def __init__(
        self,
        post_id: int,
        cluster_id: int,
        when: datetime,
        shingles: Fingerprint,
        source: int | None,
    ) -> None:
        self.post_id, self.cluster_id, self.when, self.source = post_id, cluster_id, when, source
        self.text = array("I", shingles.text)  # the shingles of its lead
        # Those of its first `BODY_WORDS` words: a lead that is the whole text is its body.
        same = shingles.body is shingles.text or shingles.body == shingles.text
        self.body = self.text if same else array("I", shingles.body)
        # Tuples, not the fingerprint's sets: a tuple of strings and ints is left alone by
        # the garbage collector, whose full passes walk every set the index holds (three a
        # post made a pass over a window of 20,000 posts cost 0.1 s, several times a poll).
        self.title, self.figures = tuple(shingles.title), tuple(shingles.figures)
        self.body_figures = tuple(shingles.body_figures)

    def packed_bytes(self) -> int:
        size = sys.getsizeof
        body = size(self.body) if self.body is not self.text else 0
        figures = size(self.title) + size(self.figures) + size(self.body_figures)
        return size(self) + size(self.text) + body + figures


class ClusterIndex:
    """Placed posts of a time span, of which a new post is compared with a bounded few.

    It reads the posts published in the span it is asked to `cover` from the database once
    (a later, wider span reads only what is missing) and keeps, per post, its cluster, its
    source, its time and its fingerprint; an index from each LSH band key to the latest
    `BUCKET` posts that have it; an inverted index from each text shingle to the latest
    `BUCKET` posts that have it; and how many unrelated posts carry each shingle (a shingle
    `TEMPLATE_CARRIERS` of them carry proves no copy).

    A new post's first candidates are the posts sharing `MIN_BANDS` or more of its `BANDS`
    band keys (each `ROWS` min-hashes of its lead), most bands first, at most `PER_STORY` of
    one story and `COMPARED` in all: the copy rule holds between two close copies, not
    between a copy and every copy of a copy, so the closest few of a story are compared
    until one holds `SURE` of the post's lead. With 4 rows and 16 bands a pair with Jaccard
    similarity J shares two bands with probability 0.9991 at 0.82 (two copies of a lead
    under the copy rule have at least that), 0.907 at 0.69, and only 0.0003 at 0.2 (posts
    of one stock of words).

    The rest come from at most `SAMPLE` of its shingles, rare ones first: a
    shingle fewer than `RARE_BELOW` indexed posts carry is rare (a name, a figure, a turn of
    phrase of this story); common ones ("harga emas hari ini", a wire service's boilerplate,
    the stock phrases of a shared vocabulary) are read only when a post has fewer than
    `ENOUGH_RARE` rare ones. Among the posts found through enough of the sample, the one
    found most often of each story, for at most `COMPARED` stories, is compared with it
    exactly (`same_story`). So a post reads at most (`BANDS` + `SAMPLE`) × `BUCKET` postings
    and makes at most `COMPARED` comparisons, however many posts the window holds. The sample is
    chosen by the shingles' hash values (a min-hash sample), so two copies of one text pick
    the same shingles; a post that shares a third of its text with an earlier one shares,
    in expectation, a third of its sample with it. A copy that joins a story indexes only
    its own words, and posts its lowest shingles again without making them common, so a
    story carried by fifty sites keeps its words rare and stays among the latest posts of
    the shingles its next copy samples first.
    """

    def __init__(self) -> None:
        self._span: tuple[datetime, datetime] | None = None
        self._ids: dict[int, int] = {}  # post id -> its position
        self._forgotten: set[int] = set()  # positions of posts that were not stored
        self._members: list[_Member] = []
        # Positions as an int (one post, no object of its own) or an array (several: eight
        # bytes a position, where a list holds a pointer to an int object).
        self._postings: dict[int, int | array[int]] = {}
        self._common: set[int] = set()
        self._bands: dict[int, int | array[int]] = {}  # LSH band key -> latest positions
        # How many unrelated posts carry a shingle: the post that put it in the postings,
        # and one more for each later one (counted only for shingles already posted: most
        # of a new post's shingles are new, and counting them all cost most of `add`).
        self._more_carriers: Counter[int] = Counter()
        # The last `_sampled` text and which of its shingles the postings held: `add`, right
        # after `join` of the same post, needs the same (reading a big dict is slow).
        self._looked_up: tuple[frozenset[int], frozenset[int]] | None = None
        self._matched: dict[int, _Member] = {}  # post id -> the member its `join` matched
        self._firsts: dict[int, int] = {}  # cluster id -> its first member `cover` read
        self._clusters: dict[int, list[int]] = {}  # cluster id -> its members' positions
        self._merged: dict[int, int] = {}  # a cluster merged into another -> that one

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
            missing, span = [(start, end)], (start, end)
        else:
            low, high = self._span
            missing = [(a, b) for a, b in ((start, low), (high, end)) if a < b]
            span = (min(start, low), max(end, high))
        skip = set(exclude) | self._ids.keys()
        # All read before the span counts as covered: a read that fails leaves it to be read
        # by the next source's placing, not an empty stretch every later post is placed in.
        read = [_candidates(session, first, last, skip) for first, last in missing]
        self._span = span
        for found in itertools.chain.from_iterable(read):
            # A copy read back is indexed as `join` had it: by its own words.
            earlier = self._firsts.setdefault(found.cluster_id, len(self._members))
            if earlier < len(self._members):
                self._matched[found.post_id] = self._members[earlier]
            self.add(found.post_id, found.cluster_id, found.when, found.shingles, found.source)

    def add(
        self,
        post_id: int,
        cluster_id: int,
        when: datetime,
        shingles: Fingerprint,
        source: int | None = None,
    ) -> None:
        """Make a placed post a candidate for the posts placed after it."""
        position = len(self._members)
        cluster_id = self.named(cluster_id)
        self._members.append(_Member(post_id, cluster_id, when, shingles, source))
        self._ids[post_id] = position
        self._clusters.setdefault(cluster_id, []).append(position)
        _append_each(self._bands, shingles.bands, position, BAND_BUCKET)
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
        seen = self._posted(shingles.text) & text
        self._looked_up = None
        self._more_carriers.update(seen)  # a lead's: the copy rule counts shingles of leads
        postings.update(dict.fromkeys(text - seen, position))
        # Postings of copies may have made a shingle that long already.
        self._common.update(_append_each(postings, seen, position, BUCKET, RARE_BELOW))

    def _post_again(self, position: int, shingles: Iterable[int]) -> None:
        """Add `position` to the postings of `shingles` without making them common."""
        _append_each(self._postings, shingles, position, BUCKET)

    def forget(self, post_ids: Iterable[int]) -> None:
        """Posts placed but then not stored (the database refused them): no candidates."""
        self._forgotten.update(self._ids[post] for post in post_ids if post in self._ids)

    def rename(self, post_id: int, cluster_id: int) -> None:
        """A placed post's cluster is named `cluster_id` now (its first one was forgotten)."""
        if post_id in self._ids:
            position = self._ids[post_id]
            member = self._members[position]
            if position in self._clusters.get(member.cluster_id, []):
                self._clusters[member.cluster_id].remove(position)
            member.cluster_id = cluster_id
            self._clusters.setdefault(cluster_id, []).append(position)

    def join(
        self, shingles: Fingerprint, when: datetime, own: int, source: int | None = None
    ) -> int:
        """The cluster a post joins: that of its closest match among its candidates.

        The candidates come closest first; one holding nearly all of the post's lead
        (`SURE`) cannot be bettered, and the rest are neither searched for nor compared: a
        copy of a story carried by a hundred sites costs what a copy of one carried by two
        does."""
        best: _Member | None = None
        best_text = -1.0
        matched: set[int] = set()  # the clusters of every member it matches
        copied_in: set[int] = set()  # the clusters of the members that hold its lead
        looked_further = 0
        template = _Template(self._more_carriers)
        for member in self._candidates(shingles):
            if abs(member.when - when) > WINDOW:
                continue
            if best is not None and best_text >= SURE:
                # Its story is found. Only when the match opens with words of its own may
                # this post be the original its copies match, each with an opening of its
                # own, and they not each other: a few candidates of other clusters are
                # then compared, in case the post bridges clusters of one story.
                if looked_further == 0 and _holds(shingles, best):
                    break
                if member.cluster_id in matched:
                    continue
                if looked_further == BRIDGE:
                    break
                looked_further += 1
            same_source = source is not None and member.source == source
            text = _match(shingles, member, same_source, template)
            if text is None:
                continue
            matched.add(member.cluster_id)
            if _holds(member, shingles):
                copied_in.add(member.cluster_id)
            if text > best_text or (text == best_text and best and member.post_id < best.post_id):
                best, best_text = member, text
        if best is None:
            return own
        self._matched[own] = best
        logger.debug("post %s joins cluster %s (%.2f)", own, best.cluster_id, best_text)
        # Clusters whose copies each hold this post's lead are one story, this post's: they
        # merge. A cluster it matches otherwise (a round-up naming two stories in its
        # headline, and told in its text) is left as it is: it joins one story, not two.
        bridged = {best.cluster_id} | copied_in
        return self._merge(bridged) if len(bridged) > 1 else best.cluster_id

    def _merge(self, clusters: set[int]) -> int:
        """Make clusters of one story one, named by the first of them (the smallest id):
        copies with openings of their own match their original, not each other, and when
        the original comes after them it bridges the clusters they formed."""
        target = min(clusters)
        for old in clusters - {target}:
            positions = self._clusters.pop(old, [])
            for position in positions:
                self._members[position].cluster_id = target
            self._clusters.setdefault(target, []).extend(positions)
            self._merged = {k: (target if v == old else v) for k, v in self._merged.items()}
            self._merged[old] = target
            if old in self._firsts:
                self._firsts.setdefault(target, self._firsts.pop(old))
        logger.debug("clusters %s are one story: %s", sorted(clusters), target)
        return target

    def named(self, cluster_id: int) -> int:
        """What a cluster is called now: the cluster it was merged into, if it was."""
        return self._merged.get(cluster_id, cluster_id)

    def take_merges(self) -> dict[int, int]:
        """The clusters merged since last asked, each with the cluster it is part of now."""
        merged, self._merged = self._merged, {}
        return merged

    def _candidates(self, shingles: Fingerprint) -> Iterator[_Member]:
        """The at most `COMPARED` indexed posts most likely to tell the story of `shingles`:
        those sharing the most LSH bands with it first, then (searched for only when the
        caller asks for more) those sharing most of its sample of shingles."""
        members, forgotten = self._members, self._forgotten
        # Posts sharing bands are close copies: each is compared, best first, as the copy
        # rule holds between two copies, not between a copy and every copy of a copy.
        given: set[int] = set()
        per_story: Counter[int] = Counter()
        for _, position in self._banded(shingles.bands):
            if position in forgotten:
                continue
            member = members[position]
            if per_story[member.cluster_id] < PER_STORY:
                per_story[member.cluster_id] += 1
                given.add(position)
                yield member
                if len(given) == COMPARED:
                    return
        chosen: set[int] = set()
        for position in (p for _, p in self._sampled(shingles.text)):
            # The copies of one story found together are one candidate: the one found most.
            if position in forgotten:
                continue
            member = members[position]
            if member.cluster_id in chosen:
                continue
            chosen.add(member.cluster_id)
            if position in given:
                continue
            given.add(position)
            yield member
            if len(given) == COMPARED:
                return

    def _banded(self, bands: tuple[int, ...]) -> list[tuple[int, int]]:
        """(-bands shared, position) of the posts sharing `MIN_BANDS` of `bands`, best first."""
        buckets = self._bands
        hits = Counter(_latest(buckets, (key for key in bands if key in buckets), BAND_BUCKET))
        return sorted((-count, p) for p, count in hits.items() if count >= MIN_BANDS)

    def _sampled(self, text: frozenset[int]) -> list[tuple[int, int]]:
        """(-shingles shared, position) of the posts sharing enough of `text`'s sample."""
        postings = self._postings
        indexed = self._posted(text)  # shingles some indexed post has too
        present: Collection[int] = indexed
        if len(indexed) > SAMPLE:
            rare = indexed - self._common
            if len(rare) >= SAMPLE:
                present = heapq.nsmallest(SAMPLE, rare)
            elif len(rare) >= ENOUGH_RARE:  # common shingles would only add noise
                present = list(rare)
            else:
                present = [*rare, *heapq.nsmallest(SAMPLE - len(rare), indexed - rare)]
        # A post that shares a third of a text shares about a third of its sample; one found
        # through fewer than half of that is not worth comparing.
        fewest = max(1, math.ceil(len(present) * THRESHOLD / 2))
        hits = Counter(_latest(postings, present, BUCKET))
        return sorted((-count, p) for p, count in hits.items() if count >= fewest)

    def _posted(self, text: frozenset[int]) -> frozenset[int]:
        """The shingles of `text` that the postings hold, found in C; looked up once for a
        post that `join` searched for and `add` then indexes."""
        if self._looked_up is not None and self._looked_up[0] is text:
            return self._looked_up[1]
        found = frozenset(text & self._postings.keys())
        self._looked_up = (text, found)
        return found

    def memory_bytes(self) -> int:
        """About how much memory the index holds (its containers, not shared objects)."""
        size = sys.getsizeof
        total = size(self._members) + size(self._postings) + size(self._common) + size(self._ids)
        total += size(self._bands) + size(self._more_carriers)
        total += sum(m.packed_bytes() for m in self._members)
        total += sum(size(p) for p in self._postings.values() if not isinstance(p, int))
        total += sum(size(p) for p in self._bands.values() if not isinstance(p, int))
        return total


def _append_each(
    table: dict[int, int | array[int]],
    keys: Iterable[int],
    position: int,
    keep: int,
    often: int = 0,
) -> list[int]:
    """Add `position` to each of `keys`' postings in `table` (an int for one post, an array
    for more), keeping the latest `keep` (cut once in `keep` appends); the keys that then
    held `often` positions or more. One loop for all keys: a poll makes hundreds of
    thousands of these appends."""
    held = []
    found_in = table.get
    for key in keys:
        found = found_in(key)
        if found is None:
            table[key] = position
            size = 1
        elif isinstance(found, int):
            table[key] = array("q", (found, position))
            size = 2
        else:
            found.append(position)
            size = len(found)
            if size >= 2 * keep:
                del found[:-keep]
        if often and size >= often:
            held.append(key)
    return held


def _latest(table: dict[int, int | array[int]], keys: Iterable[int], keep: int) -> list[int]:
    """The latest `keep` positions of each of `keys` in `table` (all of them present)."""
    positions: list[int] = []
    for found in map(table.__getitem__, keys):
        if isinstance(found, int):
            positions.append(found)
        else:
            positions.extend(found[-keep:])
    return positions


class _Template:
    """The shingles too common in an index to prove a copy: carried by `TEMPLATE_CARRIERS`
    or more posts that are not copies of each other (a source's fixed description, a daily
    report's template, stock phrases)."""

    def __init__(self, more_carriers: Counter[int]) -> None:
        self._more = more_carriers.get

    def __contains__(self, shingle: object) -> bool:
        # Every shingle counted is posted, and was counted once when first posted (one
        # posted again for a copy, by `_post_again`, is one a member of its story was
        # counted for): the first carrier is not in the count.
        return self._more(shingle, 0) >= TEMPLATE_CARRIERS - 1  # type: ignore[call-overload]


def join(
    candidates: Sequence[Candidate],
    shingles: Fingerprint,
    when: datetime,
    own: int,
    source: int | None = None,
) -> int:
    """The cluster a post joins: that of its closest match among the candidates, or its own."""
    best, best_text = None, -1.0
    for candidate in candidates:
        if abs(candidate.when - when) > WINDOW:
            continue
        same_source = source is not None and candidate.source == source
        text = _match(shingles, candidate.shingles, same_source)
        if text is not None and text > best_text:
            best, best_text = candidate, text
    if best is None:
        return own
    logger.debug("post %s joins cluster %s (%.2f)", own, best.cluster_id, best_text)
    return best.cluster_id


def _candidates(
    session: Session | Connection, start: datetime, end: datetime, excluded: set[int]
) -> list[Candidate]:
    """The posts published between `start` and `end`, with their fingerprints: read back as
    stored, else (a post stored before fingerprints were kept) made from the text."""
    published = func.coalesce(Post.published_at, Post.first_seen_at)
    unprinted = Post.shingles.is_(None)
    rows = session.execute(
        select(
            Post.id,
            func.coalesce(Post.cluster_id, Post.id),
            Post.source_id,
            Post.published_at,
            Post.first_seen_at,
            Post.shingles,
            case((unprinted, Post.title), else_=None),
            case((unprinted, func.substr(Post.excerpt, 1, EXCERPT_CHARS)), else_=None),
        )
        .where(published >= start, published <= end)
        .order_by(published, Post.id)  # postings keep the latest posts of a shingle
    )
    found = []
    for post_id, cluster_id, source, published_at, seen, packed, title, excerpt in rows:
        if post_id in excluded:
            continue
        shingles = unpack(packed)
        if shingles is None:
            if title is None:  # a stored fingerprint that cannot be read: the text is needed
                title, excerpt = _text_of(session, post_id)
            shingles = fingerprint(title, excerpt or "")
        found.append(Candidate(post_id, cluster_id, published_at or seen, shingles, source))
    return found


def _text_of(session: Session | Connection, post_id: int) -> tuple[str, str]:
    title, excerpt = session.execute(
        select(Post.title, func.substr(Post.excerpt, 1, EXCERPT_CHARS)).where(Post.id == post_id)
    ).one()
    return title, excerpt or ""


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
