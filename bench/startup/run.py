"""How fast syndicate's command answers: `syndicate --help` and `syndicate check`.

Both run as the console script users run, as new processes, several times; the figure is
the median wall time. `check` reads a real settings file with 200 sources, three channels
(email, Telegram, outbox) and 50 jobs. `python -X importtime` then shows which modules
each command imports and which of them cost the most, and whether the heavy libraries
(trafilatura, premailer, SQLAlchemy, feedparser, ...) stay out of commands that do not
use them.

    python -m bench.startup --runs 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import load_average, median, run_program
from bench.peers import syndicate_command
from bench.site import SiteSource, quiet_jobs, write_site

__all__ = ["HEAVY", "main", "measure"]

# Libraries that cost tens of milliseconds or more to import, and the command needing them.
HEAVY = (
    "trafilatura",
    "premailer",
    "telegram",
    "sqlalchemy",
    "alembic",
    "feedparser",
    "httpx",
    "lxml",
    "apscheduler",
    "jinja2",
    "babel",
    "starlette",
)
TARGETS = {"help": 0.3, "check": 1.0}


def measure(runs: int, *, log: Any = print) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        sources = [
            SiteSource(f"kabar{n:04d}", f"http://127.0.0.1:9/feeds/{n:04d}.xml") for n in range(200)
        ]
        settings = write_site(Path(folder), sources, quiet_jobs(50))
        commands = {
            "help": [*syndicate_command(), "--help"],
            "check": [*syndicate_command(), "--config", str(settings), "check"],
        }
        results: dict[str, Any] = {}
        loads = []
        for name, argv in commands.items():
            run_program(argv)  # warm the file cache and the .pyc files
            times = []
            for _ in range(runs):
                result = run_program(argv)
                if result.returncode != 0:
                    raise RuntimeError(f"{argv} exited {result.returncode}: {result.stderr}")
                times.append(result.seconds)
            loads.append(load_average())
            results[name] = {
                "seconds": times,
                "median": median(times),
                "target": TARGETS[name],
                "maxrss_mb": result.maxrss_mb,
                **_imports(argv[1:]),
            }
            log(f"  syndicate {name}: median {results[name]['median']:.3f} s over {runs} runs")
        results["load_average"] = median(loads)
        return results


def _imports(args: list[str]) -> dict[str, Any]:
    """What a command imports (from `-X importtime`): how many modules, which heavy ones."""
    code = f"import sys; from syndicate.cli import main; sys.exit(main({args!r}))"
    result = run_program([sys.executable, "-X", "importtime", "-c", code])
    cumulative: dict[str, float] = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in line:
            continue
        cumulative.setdefault(parts[2].strip(), int(parts[1]) / 1000)
    return {
        "modules": len(cumulative),
        "heavy_ms": {lib: round(cumulative[lib], 1) for lib in HEAVY if lib in cumulative},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args(argv)
    result = measure(options.runs, log=lambda text: print(text, file=sys.stderr))
    print(json.dumps(result, indent=2))
    return 0
