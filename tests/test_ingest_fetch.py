"""Fetching feeds from a real local HTTP server: conditional GET, failures, file URLs."""

from __future__ import annotations

import asyncio
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syndicate.ingest import fetch
from syndicate.ingest.fetch import USER_AGENT, FetchError, FetchResult, fetch_feed, make_client
from tests.feedserver import FeedServer

FEED = b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title></channel></rss>"


def _fetch(url: str, *, timeout: float = 5.0, **validators: str | None) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(timeout=timeout) as client:
            return await fetch_feed(client, url, **validators)

    return asyncio.run(run())


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


def test_second_fetch_with_stored_validators_is_not_modified(server: FeedServer) -> None:
    route = server.add("/feed.xml", FEED, "application/rss+xml", etag='W/"abc-1"')
    first = _fetch(server.url("/feed.xml"))
    assert not first.not_modified
    assert first.body == FEED
    assert first.etag == 'W/"abc-1"'
    assert first.last_modified == route.last_modified
    assert first.content_type == "application/rss+xml"

    second = _fetch(server.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified
    assert second.body == b""
    sent = server.requests[-1].headers
    assert sent["if-none-match"] == 'W/"abc-1"'
    assert sent["if-modified-since"] == route.last_modified
    assert server.hits("/feed.xml") == 2


def test_changed_feed_is_fetched_again_despite_old_etag(server: FeedServer) -> None:
    server.add("/feed.xml", FEED)
    first = _fetch(server.url("/feed.xml"))
    server.add("/feed.xml", FEED + b"\n<!-- new -->")
    again = _fetch(server.url("/feed.xml"), etag=first.etag)
    assert not again.not_modified
    assert again.body.endswith(b"<!-- new -->")
    assert again.etag != first.etag


def test_fetch_sends_our_user_agent(server: FeedServer) -> None:
    server.add("/feed.xml", FEED)
    _fetch(server.url("/feed.xml"))
    assert server.requests[0].headers["user-agent"] == USER_AGENT


def test_redirect_is_followed_and_final_url_reported(server: FeedServer) -> None:
    server.add("/new.xml", FEED)
    server.add_redirect("/old.xml", "/new.xml")
    result = _fetch(server.url("/old.xml"))
    assert result.body == FEED
    assert result.final_url == server.url("/new.xml")


@pytest.mark.parametrize(("status", "phrase"), [(404, "404 Not Found"), (500, "500 Internal")])
def test_http_error_is_one_sentence_naming_the_url(
    server: FeedServer, status: int, phrase: str
) -> None:
    server.add_status("/feed.xml", status)
    url = server.url("/feed.xml")
    with pytest.raises(FetchError) as caught:
        _fetch(url)
    assert str(caught.value).startswith(f"{url}: the server answered {phrase}")
    assert str(caught.value).endswith(".")
    assert caught.value.status == status


def test_retry_after_is_reported_with_429(server: FeedServer) -> None:
    server.add_status("/feed.xml", 429, {"Retry-After": "120"})
    with pytest.raises(FetchError) as caught:
        _fetch(server.url("/feed.xml"))
    assert caught.value.retry_after == 120.0


def test_slow_server_times_out_with_a_sentence(server: FeedServer) -> None:
    server.add("/slow.xml", FEED, delay=1.0)
    url = server.url("/slow.xml")
    with pytest.raises(FetchError, match=r"did not answer within 0\.3 seconds\.$") as caught:
        _fetch(url, timeout=0.3)
    assert str(caught.value).startswith(url)


def test_unreachable_host_is_a_fetch_error_naming_the_url() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed.xml"
    with pytest.raises(FetchError, match="could not connect") as caught:
        _fetch(url)
    assert str(caught.value).startswith(f"{url}: ")


def test_body_over_the_cap_is_refused(server: FeedServer, monkeypatch) -> None:
    monkeypatch.setattr(fetch, "MAX_BODY_BYTES", 1024)
    server.add("/big.xml", b"x" * 4096)
    with pytest.raises(FetchError, match="larger than"):
        _fetch(server.url("/big.xml"))


def test_unsupported_scheme_is_refused() -> None:
    with pytest.raises(FetchError, match=r"^ftp://x/feed: only http, https and file"):
        _fetch("ftp://x/feed")


def test_file_url_reads_the_file_and_answers_not_modified_by_mtime(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = _fetch(path.as_uri())
    assert first.body == FEED
    assert first.final_url == path.as_uri()
    assert first.last_modified
    again = _fetch(path.as_uri(), last_modified=first.last_modified)
    assert again.not_modified


def test_missing_file_is_a_fetch_error(tmp_path: Path) -> None:
    url = (tmp_path / "nope.xml").as_uri()
    with pytest.raises(FetchError, match=r"there is no such file\.$") as caught:
        _fetch(url)
    assert str(caught.value).startswith(url)


def test_make_client_follows_redirects_with_timeouts() -> None:
    client = make_client(timeout=7)
    try:
        assert client.follow_redirects
        assert client.timeout.read == 7
        assert isinstance(client, httpx.AsyncClient)
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_a_deflated_feed_is_unpacked_with_or_without_its_zlib_header(
    server: FeedServer, wbits: int
) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(FEED) + packer.flush()
    server.add_stream("/feed.xml", lambda: [packed], headers={"Content-Encoding": "deflate"})
    assert _fetch(server.url("/feed.xml")).body == FEED


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_a_deflated_feed_whose_first_piece_is_one_byte_is_unpacked(
    server: FeedServer, wbits: int
) -> None:
    """Whether deflate came with its zlib header shows only from its second byte: one byte
    alone on the wire decides nothing (raw deflate was called broken when it came so)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(FEED) + packer.flush()

    def dribbled() -> Iterator[bytes]:
        yield packed[:1]
        time.sleep(0.2)  # the first byte leaves alone
        yield packed[1:]

    server.add_stream("/feed.xml", dribbled, headers={"Content-Encoding": "deflate"})
    assert _fetch(server.url("/feed.xml")).body == FEED


def test_a_feed_packed_in_an_encoding_not_asked_for_is_one_sentence(server: FeedServer) -> None:
    server.add_stream("/feed.xml", lambda: [b"\x1b\x00"], headers={"Content-Encoding": "br"})
    url = server.url("/feed.xml")
    with pytest.raises(FetchError) as caught:
        _fetch(url)
    assert str(caught.value) == (
        f"{url}: the download failed (it came packed as 'br', which syndicate did not ask for)."
    )


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "MAX_BODY_BYTES", 2 * 2**20)
    server.add("/big.xml", b"x" * (3 * 2**20))
    with pytest.raises(FetchError, match=r": the feed is larger than 2 MB\.$"):
        _fetch(server.url("/big.xml"))


def test_the_deadline_covers_a_slow_redirect_chain(server: FeedServer) -> None:
    """Each hop answers within the per-read timeout; together they pass the deadline."""
    server.add("/feed.xml", FEED)
    for hop in range(4):
        server.add_redirect(f"/hop{hop}", f"/hop{hop + 1}" if hop < 3 else "/feed.xml")
        server.routes[f"/hop{hop}"].delay = 0.4
    url = server.url("/hop0")

    async def run() -> FetchResult:
        async with make_client(timeout=1.0) as client:
            return await fetch_feed(client, url, deadline=1.0)

    with pytest.raises(FetchError, match=r"did not answer within 1 second\.$"):
        asyncio.run(run())
