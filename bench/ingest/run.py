"""Ingest: `syndicate fetch` against rss2email 3.14's `r2e run --no-send` and `reader`'s
`update_feeds`, same feeds, same run.

Both poll the same N feeds (bench/ingest/feeds.py) from the same local server, one after
the other, alternating which goes first; each run starts from nothing (a new database, a
new rss2email data file). A run is a first poll (every feed answered 200) and then a
second one (every feed answered 304, checked from the server's own count). Wall time,
CPU time and peak memory (``ru_maxrss``) are those of the program's process.

syndicate's database is created (``syndicate db upgrade``) before the timed first poll:
that is set-up a site does once. rss2email is told to fetch with no pause between
feeds of one server (``same-server-fetch-interval = 0``, its default). reader 3.26 (the
feed library, SQLite storage) updates every feed with `READER_WORKERS` worker threads, as
many as the feeds syndicate fetches at a time (`bench/reader_peer.py`).

Two feed sets: "news" (`bench.ingest.feeds`, every text its own words) and "shared"
(`bench.shared.feeds`: stock phrases, wire copies on dozens of sites, template reports).
On the shared set, the clusters syndicate formed are checked against the stories the
entries were made from (`cluster_check`).

    python -m bench.ingest --feeds 200 --runs 3 --venv ~/.cache/syndicate-bench/venv
    python -m bench.ingest --set shared
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.ingest.feeds import ENTRIES, SiteFeed, make_site
from bench.ingest.server import FeedsServer
from bench.measure import Run, load_average, median, run_program
from bench.peers import has_reader, r2e_command, reader_command, syndicate_command
from bench.site import SiteSource, write_site

__all__ = ["FEED_SETS", "compare", "in_process", "main"]

READER_WORKERS = 16  # syndicate fetches 16 feeds at a time

R2E_CONFIG = """\
[DEFAULT]
to = redaksi@kabarpilihan.example.id
from = bench@kabarpilihan.example.id
same-server-fetch-interval = 0
feed-timeout = 60
"""

_FETCHED = re.compile(r"(\d+) sources fetched: (\d+) new posts, (\d+) failed")


def _shared_site(number: int) -> SiteFeed:
    from bench.shared.feeds import make_shared_site

    return make_shared_site(number)


FEED_SETS: dict[str, Callable[[int], SiteFeed]] = {"news": make_site, "shared": _shared_site}


def serve(server: FeedsServer, feeds: int, feed_set: str = "news") -> list[SiteSource]:
    """Add `feeds` sites' feeds of `feed_set` to the server; the sources pointing at them."""
    sources = []
    for number in range(feeds):
        site = FEED_SETS[feed_set](number)
        path = f"/feeds/{number:04d}.xml"
        server.add(path, site.body, site.content_type)
        # No article pages are served: a summary-only feed keeps its own text, and so does
        # every feed of the shared set, whose template reports are as short as a summary.
        full_text = "never" if site.summary_only or feed_set == "shared" else "auto"
        sources.append(SiteSource(f"kabar{number:04d}", server.url(path), full_text))
    return sources


def compare(
    feeds: int,
    runs: int,
    venv: Path | None,
    *,
    delay: float = 0.0,
    feed_set: str = "news",
    log: Any = print,
) -> dict[str, Any]:
    """Polls of `feeds` feeds by syndicate and (with a `venv`) rss2email and reader, `runs`
    times each.

    `delay` holds every answer of the server back that many seconds (a network's round trip).
    """
    results: dict[str, Any] = {
        "feeds": feeds,
        "entries_per_feed": ENTRIES,
        "runs": runs,
        "delay": delay,
        "feed_set": feed_set,
    }
    tools = ["syndicate"] + (["rss2email"] if venv else [])
    if venv and has_reader(venv):
        tools.append("reader")
    polls: dict[str, dict[str, list[Run]]] = {t: {"first": [], "second": []} for t in tools}
    loads = []
    with FeedsServer(delay) as server, tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        sources = serve(server, feeds, feed_set)
        results["feed_bytes"] = sum(len(d[0]) for d in server.documents.values())
        for number in range(runs):
            order = tools if number % 2 == 0 else tools[::-1]
            for tool in order:
                folder = Path(tmp) / f"{tool}-{number}"
                first, second = _one_run(tool, folder, sources, server, venv)
                if tool == "syndicate" and feed_set == "shared":
                    results.setdefault("clusters", cluster_check(folder / "syndicate.db"))
                polls[tool]["first"].append(first)
                polls[tool]["second"].append(second)
                loads.append(load_average())
                log(
                    f"  ingest {feeds} feeds (delay {delay:g} s), {tool} run {number + 1}/{runs}: "
                    f"first {first.seconds:.2f} s, second {second.seconds:.2f} s, "
                    f"{first.maxrss_mb:.0f} MB, all processes {first.tree_rss_mb:.0f} MB, "
                    f"CPU {first.cpu_seconds:.1f} s (load {loads[-1]:.1f})"
                )
    for tool, both in polls.items():
        results[tool] = {
            "first_seconds": [r.seconds for r in both["first"]],
            "second_seconds": [r.seconds for r in both["second"]],
            "first_cpu_seconds": [r.cpu_seconds for r in both["first"]],
            "second_cpu_seconds": [r.cpu_seconds for r in both["second"]],
            "first_maxrss_mb": [r.maxrss_mb for r in both["first"]],
            "second_maxrss_mb": [r.maxrss_mb for r in both["second"]],
            "first_tree_rss_mb": [r.tree_rss_mb for r in both["first"]],
        }
        summary = results[tool]
        summary["first"] = median(summary["first_seconds"])
        summary["second"] = median(summary["second_seconds"])
        summary["second_share"] = summary["second"] / summary["first"]
        summary["maxrss_mb"] = median(summary["first_maxrss_mb"])
        summary["tree_rss_mb"] = median(summary["first_tree_rss_mb"])
        summary["cpu"] = median(summary["first_cpu_seconds"])
    for tool, key in (("rss2email", "speedup"), ("reader", "speedup_reader")):
        if tool in results:
            # Ratios of runs taken side by side, then their median.
            peer, ours = results[tool], results["syndicate"]
            pairs = zip(peer["first_seconds"], ours["first_seconds"], strict=True)
            ratios = [peer / ours for peer, ours in pairs]
            results[f"{key}_runs"] = ratios
            results[key] = median(ratios)
    results["load_average"] = median(loads)
    return results


def _one_run(
    tool: str, folder: Path, sources: list[SiteSource], server: FeedsServer, venv: Path | None
) -> tuple[Run, Run]:
    if tool == "syndicate":
        settings = write_site(folder, sources, {})
        argv = [*syndicate_command(), "--config", str(settings)]
        _checked(run_program([*argv, "db", "upgrade"]), "syndicate db upgrade")
        command = [*argv, "fetch"]
    elif tool == "reader":
        assert venv is not None
        folder.mkdir(parents=True)
        listed = folder / "feeds.txt"
        listed.write_text("".join(f"{s.url}\n" for s in sources), encoding="utf-8")
        command = [*reader_command(venv), str(folder / "reader.sqlite"), str(listed)]
        command.append(str(READER_WORKERS))
    else:
        assert venv is not None
        folder.mkdir(parents=True)
        config = folder / "r2e.cfg"
        blocks = [f"[feed.{s.name}]\nurl = {s.url}\n" for s in sources]
        config.write_text(R2E_CONFIG + "\n" + "\n".join(blocks), encoding="utf-8")
        command = [*r2e_command(venv), "-c", str(config), "-d", str(folder / "r2e.json")]
        command += ["run", "--no-send"]
    server.take_answers()
    polls = []
    for which, expected in (("first", 200), ("second", 304)):
        result = _checked(run_program(command, cwd=folder, env=_env()), f"{tool} {which} poll")
        answers = server.take_answers()
        if answers != {expected: len(sources)}:
            raise RuntimeError(f"{tool} {which} poll: the server answered {answers}")
        polls.append(result)
    _check_stored(tool, folder, len(sources) * ENTRIES, polls[0])
    return polls[0], polls[1]


def in_process(feeds: int, runs: int, *, log: Any = print) -> dict[str, Any]:
    """Both polls inside one running process (`bench.ingest.polls`), as the scheduler
    makes them: no start-up in either figure."""
    firsts, seconds = [], []
    with FeedsServer() as server, tempfile.TemporaryDirectory(prefix="bench-polls-") as tmp:
        sources = serve(server, feeds)
        for number in range(runs):
            folder = Path(tmp) / f"run-{number}"
            settings = write_site(folder, sources, {})
            argv = [*syndicate_command(), "--config", str(settings)]
            _checked(run_program([*argv, "db", "upgrade"]), "syndicate db upgrade")
            program = [sys.executable, "-m", "bench.ingest.polls", "--config", str(settings)]
            run = _checked(run_program(program, cwd=folder, env=_env()), "two polls")
            polls = json.loads(run.stdout.strip().splitlines()[-1])
            if polls["new_posts"] != feeds * ENTRIES or polls["not_modified"] != feeds:
                raise RuntimeError(f"two polls in one process: {polls}")
            firsts.append(polls["first"])
            seconds.append(polls["second"])
            log(
                f"  two polls of {feeds} feeds in one process, run {number + 1}/{runs}: "
                f"first {polls['first']:.2f} s, second {polls['second']:.2f} s"
            )
    return {
        "feeds": feeds,
        "first_seconds": firsts,
        "second_seconds": seconds,
        "first": median(firsts),
        "second": median(seconds),
        "second_share": median(seconds) / median(firsts),
    }


def _check_stored(tool: str, folder: Path, expected: int, first: Run) -> None:
    """Both programs must really have taken every entry in, not just downloaded the feeds."""
    if tool == "syndicate":
        found = _FETCHED.search(first.stdout)
        stored = int(found.group(2)) if found else -1
        failed = int(found.group(3)) if found else -1
    elif tool == "reader":
        counted = json.loads(first.stdout.strip().splitlines()[-1])
        stored, failed = counted["entries"], counted["failed"]
    else:
        data = json.loads((folder / "r2e.json").read_text(encoding="utf-8"))
        stored = sum(len(feed.get("seen", {})) for feed in data["feeds"])
        failed = 0
    if stored != expected or failed:
        raise RuntimeError(f"{tool} stored {stored} entries of {expected} ({failed} failed)")


def cluster_check(database: Path) -> dict[str, Any]:
    """The clusters a syndicate poll of the shared set formed, against the entries' stories."""
    from bench.shared.clusters import score
    from bench.shared.feeds import story_of

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT url, coalesce(cluster_id, id) FROM posts").fetchall()
    return score([story_of(url) for url, _ in rows], [cluster for _, cluster in rows])


def _checked(result: Run, what: str) -> Run:
    if result.returncode != 0:
        raise RuntimeError(f"{what} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--venv", type=Path, help="the bench virtualenv with rss2email")
    parser.add_argument("--no-peer", action="store_true", help="syndicate alone")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--set", choices=sorted(FEED_SETS), default="news", help="feed set")
    options = parser.parse_args(argv)
    venv = None
    if not options.no_peer:
        from bench.peers import ensure_venv

        venv = ensure_venv(options.venv)
    log = lambda text: print(text, file=sys.stderr)  # noqa: E731
    result = compare(
        options.feeds, options.runs, venv, delay=options.delay, feed_set=options.set, log=log
    )
    print(json.dumps(result, indent=2))
    return 0
