"""`python -m bench.faults`: run the fault tests and print their figures as a Markdown table.

    python -m bench.faults                  # every fault, about 8 minutes on 2 cores
    python -m bench.faults -k "smtp"        # only some (pytest's -k)
    python -m bench.faults -k down_then --smtp-outage 600   # the SMTP server down 10 min

Each test in tests/test_outages.py makes one fault for real against `syndicate worker`
processes (the SMTP server down or answering 421 or hanging, PostgreSQL stopped or its
connections terminated, SQLite's disk full, a Telegram worker killed) and writes what it
measured; this prints them in the form the README's production section shows. It needs
what the test suite needs (PostgreSQL on 127.0.0.1:5432, root for the tmpfs and the
private PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("-k", default=None, help="only the fault tests matching this")
    parser.add_argument(
        "--smtp-outage", type=float, default=20, help="seconds the SMTP server is down"
    )
    parser.add_argument("--db-outage", type=float, default=60, help="seconds the database is away")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        figures = Path(folder) / "figures.jsonl"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["tests/test_outages.py", *(["-k", args.k] if args.k else [])]
        env = {
            **os.environ,
            "SYNDICATE_FAULT_REPORT": str(figures),
            "SYNDICATE_SMTP_OUTAGE": str(args.smtp_outage),
            "SYNDICATE_DB_OUTAGE": str(args.db_outage),
        }
        finished = subprocess.run(command, cwd=ROOT, env=env)
        rows = (
            [json.loads(line) for line in figures.read_text().splitlines()]
            if figures.exists()
            else []
        )
    print(table(rows))
    return finished.returncode


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| fault | lost | duplicates (bound) | sending again after the fault ended |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['fault']} | {row['lost']} | {row['duplicates']} ({row['duplicate_bound']}) "
            f"| {row['recovered_in']} s |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
