"""The peak memory of a poll that meets a 400 MB page and a gzip bomb, against 150 MB.

A local server (tests/feedserver.py, in this process) serves four sources: a feed of
summaries whose article pages are a 400 MB page, a gzip bomb (1 MB that unpacks to 1 GB)
and an ordinary article; a 400 MB feed; a gzip-bomb feed; and an ordinary feed. The big
bodies are made as they are sent (tests/hostile.py), never held. The poll runs in a
process of its own (`bench.hostile.poll`, started through bench.measure's launcher), whose
``ru_maxrss`` is the figure. Beside it, side by side, the same poll of the ordinary
sources alone: what the hostile answers add is the difference.

    python -m bench.hostile --runs 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import median, run_program
from tests.feedserver import FeedServer
from tests.hostile import gzip_bomb, huge_page, summary_feed

TARGET_MB = 150
ROOT = Path(__file__).resolve().parents[2]
_STORY = (
    "<html><head><title>Banjir surut</title></head><body><article>"
    + "<p>Air di jalan utama kota sudah surut sejak pagi, kata petugas di lapangan.</p>" * 20
    + "</article></body></html>"
).encode()


def serve(server: FeedServer) -> tuple[list[str], list[str]]:
    """The hostile sources and the ordinary ones, as NAME=URL."""
    bomb = {"Content-Encoding": "gzip"}
    server.add_stream("/besar.html", huge_page())
    server.add_stream("/bom.html", gzip_bomb(), headers=bomb)
    server.add("/cerita.html", _STORY, "text/html; charset=utf-8")
    server.add("/kabar.html", _STORY.replace(b"Banjir", b"Hujan"), "text/html; charset=utf-8")
    pages = [server.url(path) for path in ("/besar.html", "/bom.html", "/cerita.html")]
    server.add("/berat.xml", summary_feed("Berat", server.url("/"), pages))
    server.add_stream("/besar.xml", huge_page(), "application/rss+xml")
    server.add_stream("/bom.xml", gzip_bomb(), "application/rss+xml", bomb)
    server.add("/biasa.xml", summary_feed("Biasa", server.url("/"), [server.url("/kabar.html")]))
    ordinary = [f"biasa={server.url('/biasa.xml')}"]
    hostile = [
        f"berat={server.url('/berat.xml')}",
        f"besar={server.url('/besar.xml')}",
        f"bom={server.url('/bom.xml')}",
    ]
    return hostile + ordinary, ordinary


def measure(runs: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    with FeedServer() as server, tempfile.TemporaryDirectory() as folder:
        hostile, ordinary = serve(server)
        peaks: dict[str, list[float]] = {"hostile": [], "ordinary": []}
        reports: list[dict[str, Any]] = []
        for run in range(runs):
            order = ["hostile", "ordinary"] if run % 2 == 0 else ["ordinary", "hostile"]
            for kind in order:
                database = f"sqlite:///{Path(folder) / f'{kind}-{run}.db'}"
                sources = hostile if kind == "hostile" else ordinary
                argv = [sys.executable, "-m", "bench.hostile.poll", "--database", database]
                finished = run_program([*argv, *sources], cwd=ROOT)
                if finished.returncode != 0:
                    raise RuntimeError(f"the {kind} poll failed: {finished.stderr[-2000:]}")
                peaks[kind].append(round(finished.maxrss_mb, 1))
                if kind == "hostile":
                    reports = json.loads(finished.stdout)
                log(f"  hostile poll, run {run + 1}, {kind}: {finished.maxrss_mb:.0f} MB")
    hostile_mb, ordinary_mb = median(peaks["hostile"]), median(peaks["ordinary"])
    return {
        "hostile_mb": hostile_mb,
        "ordinary_mb": ordinary_mb,
        "runs": peaks,
        "target_mb": TARGET_MB,
        "reports": reports,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args(argv)
    result = measure(options.runs, log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(result, indent=1))
    return 0 if result["hostile_mb"] < TARGET_MB else 1
