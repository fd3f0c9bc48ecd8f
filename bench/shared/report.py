"""BENCHMARKS.md's rows and section for the shared-words feeds and the clustering curve.

`bench.report` calls `target_rows` for the targets table and `section` for the text; both
read what `python -m bench` stored under ``results["ingest"]``: ``shared`` (the ingest
comparison on the shared-words set) and ``clustering`` (the curve of `bench.shared.clusters`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RATIO_READER", "RATIO_RSS2EMAIL", "section", "target_rows"]

RATIO_RSS2EMAIL = 5.0  # first poll, ≥ this many times rss2email's speed, on both sets
RATIO_READER = 2.0  # and ≥ this many times reader's
LINEAR_WITHIN = 1.5  # as bench.scaling: one more post may cost this much more and be linear


def marginal_growth(curve: list[dict[str, Any]]) -> float:
    """What one more post costs at the largest window against the smallest (the last
    1,000 posts placed, timed alone): 1.0 is linear, a quadratic cost grows with the size."""
    return curve[-1]["batch_us_per_post"] / curve[0]["batch_us_per_post"]


def _ratios(comparison: dict[str, Any], key: str) -> str:
    runs = ", ".join(f"{r:.2f}" for r in comparison[f"{key}_runs"])
    return f"{comparison[key]:.2f}× (runs {runs})"


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the first poll on both sets and the clustering curve."""
    ingest = results["ingest"]
    rows = []
    for name, comparison in (
        ("news", ingest["comparison"]),
        ("shared-words", ingest.get("shared")),
    ):
        if not comparison:
            continue
        feeds = comparison["feeds"]
        if "speedup" in comparison:
            rows.append((
                f"ingest, {name} set, first poll of {feeds} feeds ≥ {RATIO_RSS2EMAIL:g}× rss2email",
                _ratios(comparison, "speedup"),
                comparison["speedup"] >= RATIO_RSS2EMAIL,
            ))  # fmt: skip
        if "speedup_reader" in comparison:
            rows.append((
                f"ingest, {name} set, first poll of {feeds} feeds ≥ {RATIO_READER:g}× reader",
                _ratios(comparison, "speedup_reader"),
                comparison["speedup_reader"] >= RATIO_READER,
            ))  # fmt: skip
    clustering = ingest.get("clustering")
    if clustering:
        curve = clustering["curve"]
        growth = marginal_growth(curve)
        rows.append((
            f"clustering step linear in posts, to {curve[-1]['posts']:,} in the window",
            f"cost of one more post ×{growth:.2f} from {curve[0]['posts']:,} to "
            f"{curve[-1]['posts']:,} posts; {curve[-1]['comparisons_per_post']:.1f} "
            "comparisons a post",
            growth <= LINEAR_WITHIN,
        ))  # fmt: skip
    return rows


def section(results: dict[str, Any]) -> str:
    ingest = results["ingest"]
    shared, clustering = ingest.get("shared"), ingest.get("clustering")
    if not shared and not clustering:
        return ""
    lines = ["## Ingest when sources share their words (`python -m bench.ingest --set shared`)"]
    if shared:
        lines += ["", SHARED_ABOUT.format(feeds=shared["feeds"]), "", *_table(shared)]
        lines += ["", _verdicts(shared)]
        found = shared.get("clusters")
        if found:
            lines += [
                "",
                f"The clusters the first poll stored, against the stories the entries were made "
                f"from: pairwise precision **{found['precision']:.4f}**, recall "
                f"**{found['recall']:.4f}**; the {found['wire_stories']} wire stories form "
                f"{found['wire_clusters']} clusters; {found['merged_clusters']} clusters hold "
                "more than one story.",
            ]
    if clustering:
        lines += ["", *_clustering(clustering)]
    lines += ["", CLUSTER_NOTES]
    return "\n".join(lines)


SHARED_ABOUT = """\
{feeds} sites in the same four feed shapes as above (`bench/shared/feeds.py`), written the
way news is: every own story is a string of stock phrases from one bank of 40 (made of 40
words) with its own names and figures between them, so every two texts share word triples;
one entry in four is a wire copy, one of 30 ANTARA-style stories carried by about 40 sites
each, half under a headline of the site's own, some with a dateline or a "Sumber:" line;
one in eight is a template report ("Harga emas hari ini …" of a city on a day), each its
own story. Every source is set to `full_text = "never"` (no pages are served; the template
reports are as short as a summary). Each entry's link names its story, so the run checks
the clusters syndicate stored. The three programs run side by side, alternating which goes
first, as above; reader 3.26 (PyPI: fetches with worker threads, stores into SQLite; run as
`update_feeds(workers=16, scheduled=False)` by `bench/reader_peer.py`) is the second peer."""


def _table(comparison: dict[str, Any]) -> list[str]:
    names = {
        "syndicate": "`syndicate fetch`",
        "rss2email": "`r2e run --no-send`",
        "reader": "reader `update_feeds`",
    }
    lines = [
        "| | first poll | CPU | second poll (304s) | peak memory | all processes |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in names.items():
        tool = comparison.get(name)
        if not tool:
            continue
        runs = ", ".join(f"{s:.2f}" for s in tool["first_seconds"])
        lines.append(
            f"| {label} | {tool['first']:.2f} s ({len(tool['first_seconds'])} runs: {runs}) "
            f"| {tool['cpu']:.1f} s | {tool['second']:.2f} s | {tool['maxrss_mb']:.0f} MB "
            f"| {tool['tree_rss_mb']:.0f} MB |"
        )
    return lines


def _verdicts(comparison: dict[str, Any]) -> str:
    said = []
    if "speedup" in comparison:
        said.append(f"**{_ratios(comparison, 'speedup')}** as fast as rss2email")
    if "speedup_reader" in comparison:
        said.append(f"**{_ratios(comparison, 'speedup_reader')}** as fast as reader")
    return (
        "First poll: syndicate is "
        + " and ".join(said)
        + f" (medians of side-by-side ratios; targets ≥ {RATIO_RSS2EMAIL:g}× and "
        f"≥ {RATIO_READER:g}×). Load average during these runs: "
        f"{comparison['load_average']:.1f}."
    )


def _clustering(clustering: dict[str, Any]) -> list[str]:
    verdict = clustering["verdict"]
    lines = [
        "The clustering step alone (`python -m bench.shared.clusters`): N posts of these "
        "sites placed one after another in one `ClusterIndex`, as a poll places its new "
        "posts, each size in a process of its own. *Index* is the growth of that process's "
        "resident memory while placing (the texts are made before); the index holds each "
        "post's shingles packed, its title pairs and figures, and each shingle's and LSH "
        "band's latest 64 posts.",
        "",
        "| posts in the window | placing them | per post | the last 1,000, per post "
        "| comparisons per post | index memory | precision | recall | wire stories → clusters |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for point in clustering["curve"]:
        lines.append(
            f"| {point['posts']:,} | {point['seconds']:.2f} s | {point['us_per_post']:.0f} µs "
            f"| {point['batch_us_per_post']:.0f} µs "
            f"| {point['comparisons_per_post']:.1f} | {point['index_mb']:.0f} MB "
            f"| {point['precision']:.4f} | {point['recall']:.4f} "
            f"| {point['wire_stories']} → {point['wire_clusters']} |"
        )
    curve = clustering["curve"]
    growth = marginal_growth(curve)
    shape = "grows linearly" if growth <= LINEAR_WITHIN else "grows faster than linearly"
    lines += [
        "",
        f"Clustering time {shape} in the posts of the window: one more post (the last "
        f"1,000 placed, timed alone) costs ×{growth:.2f} as much with {curve[-1]['posts']:,} "
        f"posts in the window as with {curve[0]['posts']:,}, where a cost growing with the "
        f"square of the window would give ×{curve[-1]['posts'] / curve[0]['posts']:.0f}. "
        "From the totals (the marginal cost of the last step against the first, which "
        "also holds the index filling up from empty, and the machine's noise): "
        f"×{verdict['per_unit_growth']:.2f}. Index "
        f"memory grows ×{verdict['memory_growth']:.2f} from the smallest size to the largest, "
        "about in step with the posts. The curve is in the PNG below.",
    ]
    return lines


CLUSTER_NOTES = """\
What bounds the clustering (`ClusterIndex` in `syndicate/ingest/cluster.py`): a new post's
candidates are first the posts sharing at least 2 of the 16 LSH bands of its lead's
min-hashes (4 rows each; two copies of a lead share two with 99.9%, two posts of one stock
of words rarely), closest first, at most 8 of one story, each band remembering its latest
64 posts; then posts found through at most 16 of its shingles (rare ones first: a shingle
fewer than 8 indexed posts carry; among them, the lowest hash values, a min-hash sample
that two copies of one text draw alike), each shingle remembering its latest 64 posts. At
most 2,048 postings read and 24 exact comparisons per post, whatever the window holds, and
the search ends at a candidate holding 95% of the post's lead: a copy of a story a
hundred sites carry is compared once. A copy that joins a story indexes only its own new
words, and posts its 32 lowest shingles again without counting them towards commonness, so
a wire story on fifty sites does not make its own words common. The index keeps each
post's shingles packed (4 bytes each, unpacked only for a comparison) and its positions in
arrays, which the cycle collector does not walk. The feed-parsing processes fingerprint
each entry where they read it, and each stored post keeps its fingerprint
(`posts.shingles`), so a later poll reads the window's fingerprints back rather than
making them again from every text. Before this issue, a post was compared with every
earlier post that shared any shingle with it: the issue measured 12.5 million comparisons
for 5,000 such posts and 0.23–0.42× rss2email's speed on this kind of feed."""
