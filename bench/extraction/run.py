"""Article text against the article-extraction benchmark: syndicate beside trafilatura alone.

The Scrapinghub (Zyte) article-extraction benchmark (`../shared/corpus/article-extraction-
benchmark/`, or --corpus): 181 English news and blog pages with their true article bodies
and the benchmark's own scorer, `evaluate.py` (token-shingle precision, recall and F1).

syndicate is measured as a newsroom runs it: a local HTTP server serves every page and one
Atom feed whose entries carry only a one-line summary and link the pages; one source reads
the feed with `full_text = "always"`, and the text it stores for each post (after its own
cleaning, credit lifting and template learning) is the answer. trafilatura alone is
`trafilatura.extract(page, url=…, include_comments=False)` on the same bytes, in the same
process. Both answers are scored by the benchmark's `evaluate.py`, run unchanged.

    python -m bench.extraction [--corpus PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["CORPUS", "main", "measure"]

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "article-extraction-benchmark"
TRAFILATURA_F1 = 0.960  # trafilatura alone on these pages, as the issue measured it


class _Pages(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes = routes
        super().__init__(("127.0.0.1", 0), _Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Pages

    def do_GET(self) -> None:
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        kind = "application/atom+xml" if self.path.endswith(".xml") else "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def load(corpus: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The ground truth and each page's bytes, by the benchmark's keys."""
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    folder = corpus / "html"
    pages = {key: gzip.decompress((folder / f"{key}.html.gz").read_bytes()) for key in truth}
    return truth, pages


def trafilatura_alone(truth: dict[str, Any], pages: dict[str, bytes]) -> dict[str, str]:
    import trafilatura

    return {
        key: trafilatura.extract(pages[key], url=truth[key]["url"], include_comments=False) or ""
        for key in truth
    }


def syndicate_stored(
    truth: dict[str, Any], pages: dict[str, bytes], folder: Path
) -> dict[str, str]:
    """What syndicate stores for each page, read from a summary-only feed linking it."""
    from sqlalchemy import select

    from syndicate.config import Source
    from syndicate.db.models import Post
    from syndicate.db.session import open_database
    from syndicate.ingest.poll import poll_sources

    routes = {f"/a/{key}.html": body for key, body in pages.items()}
    server = _Pages(routes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        links = {key: server.url(f"/a/{key}.html") for key in truth}
        routes["/feed.xml"] = _feed(server.url("/"), links, pages)
        db = open_database(f"sqlite:///{folder / 'bench.db'}")
        source = Source("bench", server.url("/feed.xml"), timedelta(hours=1), None, True,
                        full_text="always")  # fmt: skip
        reports = asyncio.run(poll_sources(db, [source]))
        if reports[0].error:
            raise SystemExit(f"the benchmark feed was not read: {reports[0].error}")
        with db.session() as session:
            stored = dict(session.execute(select(Post.url, Post.excerpt)).all())
        db.dispose()
    finally:
        server.shutdown()
        server.server_close()
    return {key: stored.get(link, "") for key, link in links.items()}


def _feed(site: str, links: dict[str, str], pages: dict[str, bytes]) -> bytes:
    now = datetime.now(UTC)
    entries = []
    for number, (key, link) in enumerate(links.items()):
        when = (now - timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries.append(
            f"<entry><id>{html.escape(link)}</id><title>{html.escape(_title(pages[key]))}</title>"
            f"<link rel='alternate' href='{html.escape(link)}'/><published>{when}</published>"
            "<summary type='text'>Read the whole article on its page.</summary></entry>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<id>{site}</id><title>Benchmark pages</title><link rel='alternate' href='{site}'/>"
        f"<updated>{now.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>{''.join(entries)}</feed>"
    ).encode()


def _title(page: bytes) -> str:
    """The headline a feed would give: og:title, else the page's <title>."""
    text = page[:200_000].decode("utf-8", "replace")
    found = re.search(r"<meta[^>]+property=[\"']og:title[\"'][^>]+content=[\"']([^\"']+)", text)
    found = found or re.search(r"<title[^>]*>([^<]+)</title>", text)
    return " ".join(html.unescape(found.group(1)).split()) if found else "Untitled"


def score(corpus: Path, answers: dict[str, dict[str, str]], folder: Path) -> dict[str, Any]:
    """Each answer scored by the benchmark's own evaluate.py, run unchanged."""
    work = folder / "evaluate"
    (work / "output").mkdir(parents=True)
    shutil.copy(corpus / "ground-truth.json", work / "ground-truth.json")
    for name, texts in answers.items():
        output = {key: {"articleBody": text} for key, text in texts.items()}
        (work / "output" / f"{name}.json").write_text(json.dumps(output), encoding="utf-8")
    subprocess.run(
        [sys.executable, str(corpus / "evaluate.py"), "--output", "scores.json"],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    scores = json.loads((work / "scores.json").read_text(encoding="utf-8"))
    keep = ("f1", "precision", "recall", "accuracy", "f1_std", "precision_std", "recall_std")
    return {name: {k: scores[name][k] for k in keep} for name in answers}


def measure(corpus: Path = CORPUS, *, log: Any = print) -> dict[str, Any]:
    import trafilatura

    truth, pages = load(corpus)
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as folder:
        began = time.monotonic()
        alone = trafilatura_alone(truth, pages)
        alone_seconds = time.monotonic() - began
        began = time.monotonic()
        stored = syndicate_stored(truth, pages, Path(folder))
        stored_seconds = time.monotonic() - began
        scores = score(corpus, {"syndicate": stored, "trafilatura": alone}, Path(folder))
    for name, figures in scores.items():
        log(f"  {name}: F1 {figures['f1']:.3f} (precision {figures['precision']:.3f}, "
            f"recall {figures['recall']:.3f})")  # fmt: skip
    return {
        "pages": len(truth),
        "trafilatura_version": trafilatura.__version__,
        "scores": scores,
        "seconds": {"syndicate": stored_seconds, "trafilatura": alone_seconds},
        "empty": {
            "syndicate": sum(not text for text in stored.values()),
            "trafilatura": sum(not text for text in alone.values()),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.extraction", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the benchmark's folder")
    options = parser.parse_args(argv)
    print(json.dumps(measure(options.corpus), indent=1))
    return 0
