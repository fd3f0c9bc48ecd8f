"""A threaded HTTP server for the ingest benchmark: many feeds, conditional GETs, counts.

Like a publisher's server, every feed has an ETag and a Last-Modified, and a request that
sends back either one (If-None-Match wins, RFC 9110) is answered 304 with no body. The
server counts its answers by status, so a benchmark can check that a second poll was
really answered by 304s. `delay` holds each answer back, as a distant server would. It
serves prebuilt bytes only: its own cost stays small and is the same for every client.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["FeedsServer"]


class _Listener(ThreadingHTTPServer):
    # The listen backlog is set when the socket is made: the default of 5 drops the SYNs of
    # a client opening 16 connections at once, and each dropped one waits a second.
    request_queue_size = 128
    daemon_threads = True


class FeedsServer:
    """Serves `add`ed documents on 127.0.0.1 and a free port; use it as a context manager."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds before each answer, as a network round trip would add
        self.documents: dict[str, tuple[bytes, str, str, str]] = {}
        self.answers: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._server = _Listener(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FeedsServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def add(self, path: str, body: bytes, content_type: str) -> None:
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        self.documents[path] = (body, content_type, etag, formatdate(usegmt=True))

    def count(self, status: int) -> None:
        with self._lock:
            self.answers[status] += 1

    def take_answers(self) -> dict[int, int]:
        """The answers given since the last call, by status."""
        with self._lock:
            answers = dict(self.answers)
            self.answers.clear()
        return answers


def _handler_for(server: FeedsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_GET(self) -> None:
            if server.delay:
                time.sleep(server.delay)
            document = server.documents.get(self.path.split("?")[0])
            if document is None:
                self._send(404, b"not found\n", "text/plain", ())
                return
            body, content_type, etag, modified = document
            validators = (("ETag", etag), ("Last-Modified", modified))
            match = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if (match is not None and etag in match) or (match is None and since == modified):
                self._send(304, b"", None, validators)
            else:
                self._send(200, body, content_type, validators)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str | None,
            headers: tuple[tuple[str, str], ...],
        ) -> None:
            server.count(status)
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
