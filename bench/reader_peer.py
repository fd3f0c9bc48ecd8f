"""One poll by `reader` (PyPI), the ingest benchmark's second peer; run with the bench venv.

    python bench/reader_peer.py DATABASE FEEDS_FILE WORKERS

reader keeps its feeds and entries in SQLite and fetches with worker threads
(`update_feeds(workers=...)`), sending a conditional GET with the validators it stored.
The first run adds the feeds listed one per line in FEEDS_FILE; every run updates them all
(due or not, as `r2e run` does) and prints one line of JSON: the entries stored and the
feeds whose update failed. This
file imports nothing from syndicate or the benchmark: it runs where only reader is.
"""

import contextlib
import json
import sys

from reader import FeedExistsError, make_reader


def main(database: str, feeds_file: str, workers: int) -> int:
    reader = make_reader(database)
    with open(feeds_file, encoding="utf-8") as listed:
        for url in filter(None, map(str.strip, listed)):
            with contextlib.suppress(FeedExistsError):
                reader.add_feed(url)
    reader.update_feeds(workers=workers, scheduled=False)  # every feed, as `r2e run` does
    failed = sum(1 for feed in reader.get_feeds() if feed.last_exception)
    print(json.dumps({"entries": reader.get_entry_counts().total, "failed": failed}))
    reader.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
