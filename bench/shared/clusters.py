"""The clustering step alone, on posts whose sources share their words: time, quality, memory.

Posts of the shared-words sites (`bench.shared.feeds`) are placed one after another in one
`ClusterIndex`, as a poll places its new posts (fingerprint, `join`, `add`), with 1,250 to
20,000 posts in the window; the last 1,000 placed are also timed alone (what one more post
costs with that many in the window: a linear cost keeps this flat). Each size runs in a
process of its own, so its memory is its own: the index's size is the growth of the
process's resident memory while placing (the posts' texts are made before), and
`ClusterIndex.memory_bytes` (its containers).
The clusters formed are scored against the stories the posts were made from: pairwise
precision and recall, wire stories split, and different stories merged.

    python -m bench.shared.clusters --posts 1250 2500 5000 10000 20000
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from math import comb
from pathlib import Path
from typing import Any

from bench.measure import median

__all__ = ["curve", "measure_one", "score"]

ROOT = Path(__file__).resolve().parents[2]
BATCH = 1000  # the last posts placed, timed alone: what one more post costs at this size
START = datetime(2026, 12, 1, tzinfo=UTC)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_one(posts: int) -> dict[str, Any]:
    """Place `posts` shared-words posts in one index; time, memory and cluster quality."""
    from bench.shared.feeds import articles
    from syndicate.ingest import cluster

    made = [
        (a.story, a.title, " ".join(a.paragraphs), START + timedelta(hours=h))
        for a, h in articles(posts)
    ]
    made.sort(key=lambda item: item[3])
    gc.collect()
    before = _rss_mb()
    index = cluster.ClusterIndex()
    counted = _count_comparisons(cluster)
    began = time.perf_counter()
    placed = []
    last = len(made) - BATCH  # the last BATCH posts: a poll's worth, timed on their own
    for number, (_, title, text, when) in enumerate(made):
        if number == last:
            batch_began = time.perf_counter()
        shingles = cluster.fingerprint(title, text[:2000])
        joined = index.join(shingles, when, number)
        index.add(number, joined, when, shingles)
        placed.append(joined)
    ended = time.perf_counter()
    seconds = ended - began
    placed = [index.named(cluster_id) for cluster_id in placed]  # as later merges left them
    gc.collect()
    return {
        "posts": posts,
        "seconds": seconds,
        "us_per_post": seconds / posts * 1e6,
        "batch_us_per_post": (ended - batch_began) / BATCH * 1e6,
        "comparisons_per_post": counted() / posts,
        "index_mb": _rss_mb() - before,
        "index_containers_mb": getattr(index, "memory_bytes", lambda: 0)() / 2**20,
        **score([story for story, *_ in made], placed),
    }


def _count_comparisons(cluster: Any) -> Any:
    """Count the candidates `join` compares exactly (wrapping the comparison itself)."""
    seen = [0]
    original = cluster._match

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        return original(*args, **kwargs)

    cluster._match = counting
    return lambda: seen[0]


def score(stories: list[str], clusters: list[int]) -> dict[str, Any]:
    """Pairwise precision and recall of the clusters against the stories, and the damage."""
    both = Counter(zip(clusters, stories, strict=True))
    right = sum(comb(n, 2) for n in both.values())
    said = sum(comb(n, 2) for n in Counter(clusters).values())
    true = sum(comb(n, 2) for n in Counter(stories).values())
    per_story: dict[str, set[int]] = {}
    per_cluster: dict[int, set[str]] = {}
    for cluster_id, story in both:
        per_story.setdefault(story, set()).add(cluster_id)
        per_cluster.setdefault(cluster_id, set()).add(story)
    wires = [s for s in per_story if s.startswith("wire-")]
    return {
        "precision": right / said if said else 1.0,
        "recall": right / true if true else 1.0,
        "wire_stories": len(wires),
        "wire_clusters": sum(len(per_story[s]) for s in wires),
        "merged_clusters": sum(1 for found in per_cluster.values() if len(found) > 1),
    }


def curve(sizes: list[int], runs: int, *, log: Any = print) -> list[dict[str, Any]]:
    """`measure_one` for each size, in a process of its own, `runs` times; medians."""
    points = []
    for size in sizes:
        found = []
        for _ in range(runs):
            command = [sys.executable, "-m", "bench.shared.clusters", "--one", str(size)]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            found.append(json.loads(done.stdout))
        point = dict(found[0])
        for key in ("seconds", "us_per_post", "batch_us_per_post", "index_mb"):
            point[key] = median([f[key] for f in found])
        point["runs"] = runs
        point["seconds_runs"] = [f["seconds"] for f in found]
        log(
            f"  clustering {size:,} shared-words posts: {point['seconds']:.2f} s "
            f"({point['us_per_post']:.0f} µs a post, the last {BATCH:,} "
            f"{point['batch_us_per_post']:.0f} µs a post, {point['comparisons_per_post']:.1f} "
            f"comparisons a post), index {point['index_mb']:.0f} MB, precision "
            f"{point['precision']:.3f}, recall {point['recall']:.3f}"
        )
        points.append(point)
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shared.clusters", description=__doc__)
    parser.add_argument("--posts", type=int, nargs="+", default=[1250, 2500, 5000, 10000, 20000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.one:
        print(json.dumps(measure_one(options.one)))
        return 0
    print(json.dumps(curve(options.posts, options.runs), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
