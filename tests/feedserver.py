"""A local HTTP server that serves feeds to tests, the way a real publisher's server would.

    with FeedServer() as server:
        server.add("/feed.xml", body, "application/atom+xml")
        url = server.url("/feed.xml")
        ...
        assert server.hits("/feed.xml") == 2

Every added feed gets an ETag and a Last-Modified and answers a matching conditional GET
with 304. Paths can also fail on purpose: `add_status` (404, 500, 429 with Retry-After),
`add_redirect`, `add(..., delay=...)` for a slow server, and `add_stream` for a body made
as it is sent (a drip, a body too large to hold: see tests/hostile.py). Each request is
recorded in `requests` (method, path, headers) so tests can check what the client sent.
`FeedServer("127.0.0.2")` listens on another loopback address: another host.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["FeedServer", "RecordedRequest", "Route"]


@dataclass
class Route:
    """What the server answers at one path."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds to wait before answering
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    # A body made as it is sent, without a Content-Length (the connection closes after it).
    stream: Callable[[], Iterable[bytes]] | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # header names lowercased


class _Server(ThreadingHTTPServer):
    # Python's default backlog of 5 drops SYNs when 16 fetches connect at once (each then
    # waits a second for the retransmission); a publisher's server has a real backlog.
    request_queue_size = 128


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 (or `host`) and a free port; use it as a context
    manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a slow route must not hold up the test's end
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return self.base_url + path

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str | None = "application/xml; charset=utf-8",
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        delay: float = 0.0,
    ) -> Route:
        """Serve `body` at `path`, with an ETag (default: a hash of the body) and a date."""
        route = Route(
            body=body,
            content_type=content_type,
            etag=etag or f'"{hashlib.sha1(body).hexdigest()[:16]}"',
            last_modified=last_modified or formatdate(usegmt=True),
            delay=delay,
        )
        self.routes[path] = route
        return route

    def add_status(self, path: str, status: int, headers: dict[str, str] | None = None) -> Route:
        """Answer `path` with a bare status, e.g. 404, 500, or 429 with a Retry-After."""
        route = Route(status, b"error\n", "text/plain", headers=headers or {})
        self.routes[path] = route
        return route

    def add_stream(
        self,
        path: str,
        stream: Callable[[], Iterable[bytes]],
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> Route:
        """Serve what `stream()` yields, chunk by chunk, as it is made (no Content-Length)."""
        route = Route(content_type=content_type, headers=headers or {}, stream=stream)
        self.routes[path] = route
        return route

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def add_redirect(self, path: str, target: str, status: int = 301) -> Route:
        """Redirect `path` to `target` (a path on this server or an absolute URL)."""
        location = target if "://" in target else self.url(target)
        route = Route(status=status, headers={"Location": location})
        self.routes[path] = route
        return route

    def hits(self, path: str) -> int:
        """How many requests asked for `path` (query string ignored)."""
        with self._lock:
            return sum(1 for r in self.requests if r.path.split("?")[0] == path)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def _answer(self, *, with_body: bool) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            server._record(RecordedRequest(self.command, self.path, headers))
            route = server.routes.get(self.path.split("?")[0])
            if route is None:
                route = Route(status=404, body=b"not found\n", content_type="text/plain")
            if route.delay:
                time.sleep(route.delay)
            if route.status == 200 and _not_modified(route, headers):
                self.send_response(304)
                self._validators(route)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(route.status)
            if route.content_type:
                self.send_header("Content-Type", route.content_type)
            self._validators(route)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.stream is not None:
                self._stream(route.stream() if with_body else [])
                return
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if with_body:
                # The client may have given up already (a timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(route.body)

        def _stream(self, chunks: Iterable[bytes]) -> None:
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            # The client stops reading when it has had enough: that ends the stream.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for chunk in chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()

        def _validators(self, route: Route) -> None:
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Handler


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since when both are sent."""
    if "if-none-match" in headers:
        tags = [tag.strip() for tag in headers["if-none-match"].split(",")]
        return route.etag is not None and (route.etag in tags or "*" in tags)
    if "if-modified-since" in headers:
        return headers["if-modified-since"] == route.last_modified
    return False
