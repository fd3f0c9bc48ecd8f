"""A feed asked the plain way (`syndicate.ingest.plain`) and, when its answer is not plain,
through httpx: the same result either way, each feed asked once when it can be.

The answers come from a raw socket server that sends exactly the bytes a test gives it, as
servers in the wild frame them: by length, in chunks (with extensions and trailers), up to
the end of the connection, packed with gzip or deflate (with and without its header).
"""

from __future__ import annotations

import asyncio
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

    def __init__(self, *answers: bytes | list[bytes], pause: float = 0.0) -> None:
        self.answers = list(answers)
        self.pause = pause  # seconds between the pieces of a list answer
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
                    connection.sendall(piece)
                    if self.pause:
                        threading.Event().wait(self.pause)
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


def serve(raw: list[RawServer], *answers: bytes | list[bytes], pause: float = 0.0) -> RawServer:
    server = RawServer(*answers, pause=pause)
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


def test_an_error_status_and_a_redirect_are_httpxs_to_tell_and_follow(
    raw: list[RawServer],
) -> None:
    target = serve(raw, head(f"Content-Length: {len(FEED)}") + FEED)
    moved = serve(raw, head(f"Location: {target.url()}", version="HTTP/1.1 301 Moved"))
    result = fetched(moved.url())
    assert result.body == FEED and result.final_url == target.url()
    assert len(moved.requests) == 2 and len(target.requests) == 1

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
    assert f"\r\nHost: WARTA.example.id:{server.port}\r\n".encode() in request
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
