"""Draw the scaling curves into a PNG; run with the bench virtualenv's Python (matplotlib).

    python -m bench.scaling.plot results.json bench-scaling.png

`results.json` holds the "fanout" and "ingest" points written by `python -m bench`, and
the "clustering" points (the clustering step alone, by posts in the window) when measured. This
module imports nothing from syndicate, so it runs where only matplotlib is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def draw(results: dict, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fanout, ingest = results["fanout"], results["ingest"]
    clustering = results.get("clustering") or []
    rows = 3 if clustering else 2
    figure, axes = plt.subplots(rows, 2, figsize=(11, 4 * rows), constrained_layout=True)
    subscribers = [p["subscribers"] for p in fanout]
    feeds = [p["feeds"] for p in ingest]

    _curve(
        axes[0][0],
        subscribers,
        [p["deliver_seconds"] for p in fanout],
        "Fan-out: time to deliver one edition",
        "subscribers",
        "seconds",
        log=True,
    )
    _curve(
        axes[0][1],
        subscribers,
        [p["deliver_maxrss_mb"] for p in fanout],
        "Fan-out: peak memory of the delivering process",
        "subscribers",
        "MB",
        log=True,
        memory=True,
    )
    _curve(
        axes[1][0],
        feeds,
        [p["first_seconds"] for p in ingest],
        "Ingest: first poll (syndicate fetch)",
        "feeds (25 entries each)",
        "seconds",
    )
    _curve(
        axes[1][1],
        feeds,
        [p["maxrss_mb"] for p in ingest],
        "Ingest: peak memory of syndicate fetch",
        "feeds (25 entries each)",
        "MB",
        memory=True,
    )
    if clustering:
        posts = [p["posts"] for p in clustering]
        _curve(
            axes[2][0],
            posts,
            [p["seconds"] for p in clustering],
            "Clustering step: placing N shared-words posts (ClusterIndex)",
            "posts in the 72-hour window",
            "seconds",
        )
        _curve(
            axes[2][1],
            posts,
            [p["index_mb"] for p in clustering],
            "Clustering step: memory of the window's index",
            "posts in the 72-hour window",
            "MB",
        )
    figure.suptitle(results.get("title", "syndicate scaling"), fontsize=11)
    figure.savefig(target, dpi=90)


def _curve(axis, xs, ys, title, xlabel, ylabel, *, log=False, memory=False) -> None:
    axis.plot(xs, ys, "o-", color="#1f6f8b", label="measured (median)")
    if memory:
        axis.axhline(ys[0], color="#999999", linestyle="--", label="flat (smallest size)")
        axis.set_ylim(0, max(ys) * 1.3)
    else:
        linear = [ys[0] * x / xs[0] for x in xs]
        axis.plot(xs, linear, "--", color="#999999", label="linear from the smallest size")
    if log:
        axis.set_xscale("log")
        if not memory:
            axis.set_yscale("log")
    for x, y in zip(xs, ys, strict=True):
        axis.annotate(f"{y:.3g}", (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
    axis.set_title(title, fontsize=10)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")), Path(sys.argv[2]))
