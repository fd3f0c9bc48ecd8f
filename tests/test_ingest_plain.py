"""A feed asked the plain way (`syndicate.ingest.plain`) and, when its answer is not plain,
through httpx: the same result either way, each feed asked once when it can be.

The answers come from a raw socket server that sends exactly the bytes a test gives it, as
servers in the wild frame them: by length, in chunks (with extensions and trailers), up to
the end of the connection, packed with gzip or deflate (with and without its header).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from syndicate.config import Source
from syndicate.db.session import open_database
from syndicate.ingest import fetch
from syndicate.ingest.fetch import FetchError, FetchResult, fetch_feed, make_client
from syndicate.ingest.poll import poll_sources
from tests.feedserver import FeedServer

FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Warta</title>'
    + b"".join(
        b"<item><title>Berita %d</title><link>https://warta.example.id/%d</link></item>" % (n, n)
        for n in range(300)
    )
    + b"</channel></rss>"
)


class RawServer:
    """Answers every connection with the bytes of `answers` in turn (the last one again),
    then closes it; keeps each request's head."""

    def __init__(
        self, *answers: bytes | list[bytes], pause: float = 0.0, hold: bool = False
    ) -> None:
        self.answers = list(answers)
        self.pause = pause  # seconds before each piece of a list answer
        self.hold = hold  # keep the connection open after the answer, as some servers do
        self.requests: list[bytes] = []
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def url(self, path: str = "/feed.xml", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = connection.recv(65536)
                if not piece:
                    return
                head += piece
            self.requests.append(head)
            answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
            try:
                for piece in answer if isinstance(answer, list) else [answer]:
                    if self.pause and isinstance(answer, list):
                        threading.Event().wait(self.pause)
                    connection.sendall(piece)
                while self.hold and connection.recv(65536):
                    pass
            except OSError:
                return

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def raw() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for server in servers:
        server.close()


def serve(
    raw: list[RawServer], *answers: bytes | list[bytes], pause: float = 0.0, hold: bool = False
) -> RawServer:
    server = RawServer(*answers, pause=pause, hold=hold)
    raw.append(server)
    return server


def fetched(url: str, *, timeout: float = 5.0, deadline: float = 30.0) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(timeout=timeout) as client:
            return await fetch_feed(client, url, deadline=deadline)

    return asyncio.run(run())


def head(*lines: str, version: str = "HTTP/1.1 200 OK") -> bytes:
    return ("\r\n".join((version, *lines)) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes, size: int = 1000) -> bytes:
    pieces = [body[at : at + size] for at in range(0, len(body), size)]
    framed = b"".join(b"%x;name=value\r\n%s\r\n" % (len(p), p) for p in pieces)
    return framed + b"0\r\nX-Checksum: none\r\n\r\n"


def _raw_deflate(body: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(body) + packer.flush()


FRAMINGS = {
    "by length": head(f"Content-Length: {len(FEED)}") + FEED,
    "in chunks": head("Transfer-Encoding: chunked") + chunked(FEED),
    "up to the end": head() + FEED,
    "HTTP/1.0": head(version="HTTP/1.0 200 OK") + FEED,
    "gzip by length": head("Content-Encoding: gzip", f"Content-Length: {len(gzip.compress(FEED))}")
    + gzip.compress(FEED),
    "gzip in chunks": head("Content-Encoding: gzip", "Transfer-Encoding: chunked")
    + chunked(gzip.compress(FEED), 333),
    "deflate": head("Content-Encoding: deflate") + zlib.compress(FEED),
    "deflate without its header": head("Content-Encoding: deflate") + _raw_deflate(FEED),
}


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_a_plain_answer_is_read_in_one_request_whatever_its_framing(
    raw: list[RawServer], framing: str
) -> None:
    answer = FRAMINGS[framing].replace(
        b"\r\n\r\n", b'\r\nETag: "v1"\r\nContent-Type: application/rss+xml\r\n\r\n', 1
    )
    server = serve(raw, answer)
    result = fetched(server.url())
    assert result.body == FEED
    assert (result.etag, result.content_type) == ('"v1"', "application/rss+xml")
    assert not result.not_modified and result.final_url == server.url()
    (request,) = server.requests  # asked once, the plain way: no connection kept
    assert b"\r\nConnection: close\r\n" in request


def test_a_plain_304_keeps_what_it_says(raw: list[RawServer]) -> None:
    server = serve(raw, head('ETag: "v2"', version="HTTP/1.1 304 Not Modified"))

    async def run() -> FetchResult:
        async with make_client() as client:
            return await fetch_feed(client, server.url(), etag='"v1"')

    result = asyncio.run(run())
    assert result.not_modified and result.body == b"" and result.etag == '"v2"'
    assert b'\r\nIf-None-Match: "v1"\r\n' in server.requests[0]


@pytest.mark.parametrize(
    "broken",
    [
        head("Transfer-Encoding: chunked") + b"zz\r\nnonsense\r\n0\r\n\r\n",  # no size
        head("Content-Length: 99999") + FEED[:500],  # ends before its length
        head("Transfer-Encoding: gzip") + gzip.compress(FEED),  # no framing httpx reads
        head("Content-Encoding: br") + FEED,  # packed as nobody asked
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",  # not HTTP at all
    ],
    ids=["chunk size", "short body", "transfer coding", "content coding", "not http"],
)
def test_an_answer_that_is_not_plain_is_asked_again_and_told_in_httpxs_words(
    raw: list[RawServer], broken: bytes
) -> None:
    server = serve(raw, broken)
    with pytest.raises(FetchError) as caught:
        fetched(server.url())
    assert str(caught.value).startswith(f"{server.url()}: ")
    assert len(server.requests) == 2  # the plain way, then httpx's
    assert b"\r\nConnection: close\r\n" not in server.requests[1]


def test_an_error_status_is_told_and_a_redirect_followed_by_httpx(
    raw: list[RawServer],
) -> None:
    target = serve(raw, head(f"Content-Length: {len(FEED)}") + FEED)
    moved = serve(raw, head(f"Location: {target.url()}", version="HTTP/1.1 301 Moved"))
    result = fetched(moved.url())
    assert result.body == FEED and result.final_url == target.url()
    # Followed by httpx from where it points: the redirect is not asked for a second time
    # (a slow one would spend the deadline twice; an http-to-https one, every poll).
    assert len(moved.requests) == 1 and len(target.requests) == 1

    failing = serve(raw, head("Retry-After: 120", version="HTTP/1.1 503 Busy"))
    with pytest.raises(FetchError, match=r"answered 503 Busy\.$") as caught:
        fetched(failing.url())
    assert caught.value.retry_after == 120 and caught.value.status == 503


def test_a_chunked_body_past_the_cap_is_refused_without_being_held(
    raw: list[RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "MAX_BODY_BYTES", 4096)
    declared = head("Transfer-Encoding: chunked") + b"40000000\r\n" + b"x" * 8192
    many = head("Transfer-Encoding: chunked") + chunked(b"x" * 20000, 1000)
    bomb = head("Content-Encoding: gzip") + gzip.compress(b"\0" * 1_000_000)
    for answer, said in ((declared, "is larger"), (many, "is larger"), (bomb, "unpacks to more")):
        server = serve(raw, answer)
        with pytest.raises(FetchError, match=f"the feed {said} than 0.00390625 MB"):
            fetched(server.url())
        assert len(server.requests) == 1  # said at once: httpx is not asked again


def test_waits_are_kept_as_httpx_keeps_them(raw: list[RawServer]) -> None:
    silent = serve(raw, [b"", head(f"Content-Length: {len(FEED)}") + FEED], pause=1.0)
    with pytest.raises(FetchError, match=r"did not answer within 0\.3 seconds\.$"):
        fetched(silent.url(), timeout=0.3)

    pieces = [head(f"Content-Length: {len(FEED)}")] + [
        FEED[n : n + 2000] for n in range(0, 20000, 2000)
    ]
    dripping = serve(raw, pieces, pause=0.2)  # each piece in time, the whole too late
    with pytest.raises(FetchError, match=r"did not send the whole answer within 1 second\.$"):
        fetched(dripping.url(), timeout=0.5, deadline=1.0)
    assert len(dripping.requests) == 1


def test_the_host_is_reached_where_the_polls_resolver_says(raw: list[RawServer]) -> None:
    class Resolver:
        async def resolve(self, host: str, port: int) -> list[str]:
            # The first address takes no connection: the next one is tried, as httpx does.
            return ["127.0.0.9", "127.0.0.1"] if host == "warta.example.id" else []

    server = serve(raw, head(f"Content-Length: {len(FEED)}") + FEED)
    url = server.url(host="WARTA.example.id")

    async def run() -> FetchResult:
        async with make_client(resolver=Resolver()) as client:
            return await fetch_feed(client, url)

    result = asyncio.run(run())
    assert result.body == FEED
    assert result.final_url == f"http://warta.example.id:{server.port}/feed.xml"  # as httpx
    (request,) = server.requests
    assert f"\r\nHost: warta.example.id:{server.port}\r\n".encode() in request  # as httpx
    assert b"\r\nConnection: close\r\n" in request  # asked the plain way


def test_a_poll_asks_each_changed_feed_once(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.add("/a.xml", FEED, "application/rss+xml")
        server.add("/b.xml", FEED.replace(b"warta.", b"kabar."), "application/rss+xml")
        sources = [
            Source(
                name=n,
                url=server.url(f"/{n}.xml"),
                poll=timedelta(minutes=15),
                site_name=None,
                enabled=True,
                full_text="never",
            )
            for n in ("a", "b")
        ]
        db = open_database(f"sqlite:///{tmp_path / 'syndicate.db'}")
        reports = asyncio.run(poll_sources(db, sources))
        assert sorted(r.new_posts for r in reports) == [300, 300]
        assert [r.headers.get("connection") for r in server.requests] == ["close", "close"]


def test_a_head_whose_lines_end_in_a_bare_line_feed_is_read_as_httpx_reads_it(
    raw: list[RawServer],
) -> None:
    """A PHP site's header written with "\\n" alone: the ETag is the ETag, not the next
    header glued to it (which, stored, would fail every later request for the feed)."""
    glued = serve(
        raw, head(f"Content-Length: {len(FEED)}", 'ETag: "abc"\nX-Powered-By: PHP') + FEED
    )
    result = fetched(glued.url())
    assert (result.etag, result.body, len(glued.requests)) == ('"abc"', FEED, 1)

    # Bare line feeds throughout, a body that holds a blank CRLF line, no length: all of it.
    body = FEED.replace(b"<item>", b"\r\n\r\n<item>", 1)
    bare = serve(raw, b'HTTP/1.0 200 OK\nContent-Type: application/rss+xml\nETag: "x"\n\n' + body)
    result = fetched(bare.url())
    assert (result.body, result.etag, result.content_type) == (body, '"x"', "application/rss+xml")

    # Framed by its length by a server that keeps the connection open: read, not waited for.
    kept = serve(
        raw, f"HTTP/1.1 200 OK\nContent-Length: {len(FEED)}\n\n".encode() + FEED, hold=True
    )
    assert fetched(kept.url(), timeout=2.0).body == FEED


def test_a_head_h11_would_not_read_is_left_to_httpx(raw: list[RawServer]) -> None:
    folded = serve(raw, head(f"Content-Length: {len(FEED)}", 'ETag: "part1', ' part2"') + FEED)
    assert fetched(folded.url()).etag == '"part1 part2"'  # as h11 joins a folded line
    assert len(folded.requests) == 2
    for odd in (
        head('ETag: "n\0l"') + FEED,
        head('ETag : "x"') + FEED,
        b"HTTP/1.1 0200 OK\r\n\r\n",
    ):
        server = serve(raw, odd)
        with contextlib.suppress(FetchError):
            fetched(server.url())
        assert len(server.requests) == 2


def test_an_error_status_is_told_from_the_first_answer(raw: list[RawServer]) -> None:
    """A 429 asked twice in a moment is what gets a poller's address blocked."""
    busy = serve(raw, head("Retry-After: 3600", version="HTTP/1.1 429 Too Many Requests"))
    with pytest.raises(FetchError, match=r"answered 429 Too Many Requests\.$") as caught:
        fetched(busy.url())
    assert caught.value.retry_after == 3600 and len(busy.requests) == 1
    bare = serve(raw, head(version="HTTP/1.1 503"))
    with pytest.raises(FetchError, match=r"answered 503\.$"):
        fetched(bare.url())


def test_an_interim_answer_is_passed_over(raw: list[RawServer]) -> None:
    early = head("Link: </style.css>; rel=preload", version="HTTP/1.1 103 Early Hints")
    server = serve(raw, early + head(f"Content-Length: {len(FEED)}", 'ETag: "v3"') + FEED)
    result = fetched(server.url())
    assert (result.body, result.etag, len(server.requests)) == (FEED, '"v3"', 1)


def test_the_request_names_the_feed_as_httpx_writes_it(raw: list[RawServer]) -> None:
    server = serve(raw, head(f"Content-Length: {len(FEED)}") + FEED)
    url = f"http://LOCALHOST:0{server.port}/kabar/./terkini/../feed{{id}}.xml?"
    result = fetched(url)
    assert result.final_url == f"http://localhost:{server.port}/kabar/feed%7Bid%7D.xml?"
    (request,) = server.requests
    assert request.startswith(b"GET /kabar/feed%7Bid%7D.xml? HTTP/1.1\r\n")
    assert f"\r\nHost: localhost:{server.port}\r\n".encode() in request


def test_a_validator_that_cannot_be_sent_back_is_not_kept(raw: list[RawServer]) -> None:
    """Stored, an ETag of other than printable ASCII failed every later request for the
    feed before it was sent, through httpx as through the plain way."""
    latin = head(f"Content-Length: {len(FEED)}", "Last-Modified: x").replace(b"x", b"caf\xe9", 1)
    plain_way = serve(raw, latin.replace(b"Last-Modified", b"ETag") + FEED)
    assert fetched(plain_way.url()).etag is None
    target = serve(raw, latin + FEED)
    moved = serve(raw, head(f"Location: {target.url()}", version="HTTP/1.1 302 Found"))
    result = fetched(moved.url())  # followed by httpx
    assert result.body == FEED and result.last_modified is None


def test_what_httpx_asks_again_is_asked_within_what_is_left_of_the_deadline(
    raw: list[RawServer],
) -> None:
    """An answer that breaks off after a while is asked again within the rest of the
    deadline, and the error names the whole deadline: the fetch ends when it said it would
    (httpx's answer, in time for a fresh deadline, is not in time for what is left)."""
    broken_off = [head("Content-Length: 99999"), FEED[:300]]  # 0.6 s, then it closes
    whole = [head(f"Content-Length: {len(FEED)}"), FEED]  # 0.6 s
    server = serve(raw, broken_off, whole, pause=0.3)
    with pytest.raises(FetchError, match=r"did not send the whole answer within 1 second\.$"):
        fetched(server.url(), timeout=5.0, deadline=1.0)
    assert len(server.requests) == 2


def test_answers_httpx_reads_are_read_in_one_request_too(raw: list[RawServer]) -> None:
    """Each asked twice a poll, a rate-limited server would refuse the second time."""
    for status in ("203 Non-Authoritative Information", "206 Partial Content"):
        server = serve(
            raw, head(f"Content-Length: {len(FEED)}", version=f"HTTP/1.1 {status}") + FEED
        )
        assert fetched(server.url()).body == FEED and len(server.requests) == 1
    twice = serve(raw, head(f"Content-Length: {len(FEED)}", f"Content-Length: {len(FEED)}") + FEED)
    assert fetched(twice.url()).body == FEED and len(twice.requests) == 1
    tab = serve(raw, head(f"Content-Length: {len(FEED)}", 'ETag: W/"a\tb"') + FEED)
    assert fetched(tab.url()).etag == 'W/"a\tb"'  # sent back as it came, as before


def test_trailer_fields_that_never_end_are_given_up_at_once(raw: list[RawServer]) -> None:
    """A hostile server's endless trailers held a poll's core for the whole deadline."""
    padding = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    endless = head("Transfer-Encoding: chunked") + chunked(FEED)[: -len(b"\r\n")] + padding * 200
    server = serve(raw, endless, hold=True)  # and more to come, as far as the reader knows
    with pytest.raises(FetchError, match="the download failed"):
        fetched(server.url(), timeout=2.0, deadline=2.0)  # told by httpx, not the deadline
