"""One poll in a process of its own, whose peak memory `bench.hostile.run` measures.

    python -m bench.hostile.poll --database sqlite:///x.db NAME=URL ...

Prints each source's report as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile.poll")
    parser.add_argument("--database", required=True)
    parser.add_argument("sources", nargs="+", help="NAME=URL")
    options = parser.parse_args()
    from syndicate.config import Source
    from syndicate.db.session import open_database
    from syndicate.ingest.poll import poll_sources

    sources = [
        Source(name, url, timedelta(minutes=15), None, True)
        for name, url in (item.split("=", 1) for item in options.sources)
    ]
    db = open_database(options.database)
    reports = asyncio.run(poll_sources(db, sources))
    db.dispose()
    print(
        json.dumps(
            [
                {
                    "source": report.source,
                    "new_posts": report.new_posts,
                    "error": report.error,
                    "problems": list(report.problems),
                }
                for report in reports
            ]
        )
    )


if __name__ == "__main__":
    main()
