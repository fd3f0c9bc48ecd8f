"""`python -m bench`: run every benchmark and rewrite BENCHMARKS.md with what was measured.

    python -m bench                 # everything, about 20 minutes on 2 cores
    python -m bench --quick         # smaller sizes and fewer runs, about 4 minutes
    python -m bench --only ingest idle startup
    python -m bench --no-write      # measure and print, leave the files alone

Benchmarks: startup (`syndicate --help`, `syndicate check`), ingest (`syndicate fetch` vs
rss2email 3.14 and reader 3.26 on two feed sets, the news set and the shared-words set of
wire copies and template reports; the ingest curve at 50, 200, 800 feeds; and the
clustering step alone at 1,250 to 20,000 posts in the window), idle (`syndicate run`
between ticks), fanout (bench.fanout at 1k, 10k, 100k subscribers), telegram
(bench.telegram), hostile (bench.hostile: the peak memory of a poll that meets a
400 MB page and a gzip bomb) and logins (bench.logins: the peak memory of `syndicate
serve` under 120 parallel logins) and extraction (bench.extraction: the text syndicate stores
from the article-extraction benchmark's 181 pages, beside trafilatura alone, scored by the
benchmark's own evaluate.py). rss2email, reader and matplotlib are installed from PyPI into a
virtualenv of their own (--venv, default ~/.cache/syndicate-bench/venv) on first use, by
the sections that need them (ingest, and fanout for the curves).

The raw results go to bench/results.json, the curves to bench-scaling.png and the
report to BENCHMARKS.md, all next to each other in the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import load_average, machine
from bench.peers import DEFAULT_VENV, ensure_venv, venv_python

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("startup", "ingest", "idle", "fanout", "telegram", "hostile", "logins", "extraction")
_HEADING = ("machine", "date", "quick", "runs", "command", "load_before", "load_after", "minutes")
NEED_VENV = {"ingest", "fanout"}  # rss2email, and matplotlib for the curves they redraw
DELAY = 0.1  # seconds the server waits before each answer in the "distant" ingest run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the peers' virtualenv")
    parser.add_argument("--runs", type=int, help="runs per figure (default 3, quick 1)")
    parser.add_argument(
        "--no-write", action="store_true", help="print the results; leave the files alone"
    )
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    sections = options.only or SECTIONS
    runs = options.runs or (1 if options.quick else 3)
    venv = ensure_venv(options.venv) if NEED_VENV & set(sections) else options.venv
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": options.quick,
        "runs": runs,
        "command": "python -m bench" + (" --quick" if options.quick else ""),
        "load_before": load_average(),
    }
    stored = ROOT / "bench" / "results.json"
    earlier: dict[str, Any] = {}
    if options.only and stored.exists():  # the sections not run keep their last figures
        earlier = json.loads(stored.read_text(encoding="utf-8"))
        results.update({name: earlier[name] for name in SECTIONS if name in earlier})
    for section in sections:
        say(f"{section} (load average {load_average():.1f})")
        began = time.monotonic()
        results[section] = RUNNERS[section](options, runs, venv)
        results[section]["measured"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        results[section]["section_minutes"] = (time.monotonic() - began) / 60
        results[section]["section_load"] = load_average()
        results[section]["machine"] = machine()
    minutes = (time.monotonic() - started) / 60
    results["minutes"] = minutes
    results["load_after"] = load_average()
    if earlier:  # the heading goes on describing the whole run; each section says its own
        results.update({key: earlier[key] for key in _HEADING if key in earlier})
    text = json.dumps(results, indent=1, default=str) + "\n"
    if options.no_write:
        print(text)
    else:
        stored.write_text(text, encoding="utf-8")
        _write(results, venv, redraw=bool(NEED_VENV & set(sections)))
    from bench.report import targets

    failed = [row for row in targets(results) if row[-1] == "missed"]
    for row in targets(results):
        say(" | ".join(str(cell) for cell in row))
    say(f"done in {minutes:.1f} minutes; {len(failed)} targets missed")
    return 0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _startup(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.startup.run import measure

    return measure(5 if options.quick else 10, log=say)


def _ingest(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.ingest.run import compare, in_process
    from bench.scaling.run import ingest_curve, verdict
    from bench.shared.clusters import curve as cluster_curve

    sizes = [50, 200] if options.quick else [50, 200, 800]
    comparison = compare(200, runs, venv, log=say)
    shared = compare(200, runs, venv, feed_set="shared", log=say)
    posts = [1250, 5000, 20_000] if options.quick else [1250, 2500, 5000, 10_000, 20_000]
    clustering = cluster_curve(posts, 1 if options.quick else max(1, runs - 1), log=say)
    known = {200: comparison}
    # The largest size costs the most: it gets one run fewer, at least one.
    curve = [
        ingest_curve([size], max(1, runs - 1) if size > 200 else runs, known, log=say)[0]
        for size in sizes
    ]
    distant = None
    if not options.quick:  # one more pair, with a network's round trip on every answer
        distant = compare(200, 1, venv, delay=DELAY, log=say)
    running = in_process(200, runs, log=say)  # both polls inside one process, as `run` has
    return {
        "comparison": comparison,
        "shared": shared,
        "clustering": {
            "curve": clustering,
            "verdict": verdict(clustering, "posts", "seconds", "index_mb"),
        },
        "distant": distant,
        "in_process": running,
        "curve": curve,
        "verdict": verdict(curve, "feeds", "first_seconds", "maxrss_mb"),
    }


def _idle(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.idle.run import measure

    return measure(20 if options.quick else 60, 10 if options.quick else 15, log=say)


def _fanout(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.scaling.run import fanout_curve, verdict

    sizes = [1000, 10_000] if options.quick else [1000, 10_000, 100_000]
    per_size = {size: (1 if size >= 100_000 else runs) for size in sizes}
    curve = fanout_curve(sizes, per_size, bare=5000 if options.quick else 10_000, log=say)
    return {
        "curve": curve,
        "verdict": verdict(curve, "subscribers", "deliver_seconds", "deliver_maxrss_mb"),
    }


def _telegram(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.telegram.run import one_run

    chats, posts = (10, 10) if options.quick else (50, 20)
    clean = one_run(chats, posts, 0.0, 1)
    say(f"  telegram {chats}x{posts}: {clean['seconds']} s (floor {clean['floor_seconds']} s)")
    noisy = one_run(chats, posts, 0.1, 1)
    say(f"  telegram with 10% random 429s: {noisy['seconds']} s")
    return {"runs": [clean, noisy]}


def _hostile(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.hostile.run import measure

    return measure(runs, log=say)


def _logins(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.logins.run import measure

    return measure(runs, log=say)


def _extraction(options: argparse.Namespace, runs: int, venv: Path) -> dict[str, Any]:
    from bench.extraction.run import measure

    return measure(log=say)


RUNNERS = {
    "startup": _startup,
    "ingest": _ingest,
    "idle": _idle,
    "fanout": _fanout,
    "telegram": _telegram,
    "hostile": _hostile,
    "logins": _logins,
    "extraction": _extraction,
}


def _write(results: dict[str, Any], venv: Path, *, redraw: bool = True) -> None:
    from bench.report import render

    plot = ROOT / "bench-scaling.png"
    if redraw and "ingest" in results and "fanout" in results:
        data = {
            "fanout": results["fanout"]["curve"],
            "ingest": results["ingest"]["curve"],
            "clustering": results["ingest"].get("clustering", {}).get("curve", []),
            "title": f"syndicate scaling, {results['date']}, {results['machine']['cpu']}, "
            f"{results['machine']['cores']} cores",
        }
        source = ROOT / "bench" / "scaling-points.json"
        source.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        subprocess.run(
            [str(venv_python(venv)), "-m", "bench.scaling.plot", str(source), str(plot)],
            cwd=ROOT,
            check=True,
        )
    (ROOT / "BENCHMARKS.md").write_text(render(results), encoding="utf-8")
    say(f"wrote BENCHMARKS.md, {plot.name} and bench/results.json")


if __name__ == "__main__":
    raise SystemExit(main())
