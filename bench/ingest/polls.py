"""Two polls in one process, as `syndicate run` makes them: what each costs once started.

    python -m bench.ingest.polls --config syndicate.toml

Prints the seconds of the first poll (every feed new) and of the second (every feed
answered 304) as JSON. The process imports syndicate and opens the database before the
first clock starts, as a running scheduler has long done by the time it polls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest.polls")
    parser.add_argument("--config", type=Path, required=True)
    options = parser.parse_args()
    from syndicate.config import load_config
    from syndicate.db.session import open_database
    from syndicate.ingest.poll import poll_sources

    config = load_config(options.config)
    db = open_database(config.database_url)
    seconds, reports = [], []
    for _ in range(2):
        started = time.perf_counter()
        reports.append(asyncio.run(poll_sources(db, config.sources)))
        seconds.append(time.perf_counter() - started)
    db.dispose()
    print(
        json.dumps(
            {
                "first": seconds[0],
                "second": seconds[1],
                "new_posts": sum(report.new_posts for report in reports[0]),
                "not_modified": sum(report.not_modified for report in reports[1]),
            }
        )
    )


if __name__ == "__main__":
    main()
