"""Hostile answers for the test servers: a drip, a page too large to hold, a gzip bomb;
and `HostsResolver`, which gives test host names their (loopback) addresses.

Each answer is made as it is sent (`FeedServer.add_stream`), so a 400 MB page is never stored on
disk or in memory; the bomb is 1 MB of gzip, compressed once per test session from a
stream of zeros.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Callable, Iterator

__all__ = [
    "BOMB_UNPACKED",
    "HUGE",
    "HostsResolver",
    "drip",
    "gzip_bomb",
    "huge_page",
    "summary_feed",
]

HUGE = 400 * 2**20  # bytes of the huge page
BOMB_UNPACKED = 2**30  # bytes the gzip bomb unpacks to
_CHUNK = 64 * 1024


def drip(body: bytes, every: float = 1.0) -> Callable[[], Iterator[bytes]]:
    """`body`, one byte every `every` seconds (all of it arrives, in the end)."""

    def stream() -> Iterator[bytes]:
        for index in range(len(body)):
            yield body[index : index + 1]
            time.sleep(every)

    return stream


def huge_page(size: int = HUGE) -> Callable[[], Iterator[bytes]]:
    """An article page of `size` bytes of paragraphs, made 64 KiB at a time."""
    paragraph = b"<p>" + b"Kabar panjang sekali tentang banjir di kota. " * 20 + b"</p>\n"
    chunk = paragraph * (_CHUNK // len(paragraph))

    def stream() -> Iterator[bytes]:
        yield b"<html><head><title>Panjang</title></head><body><article>\n"
        sent = 0
        while sent < size:
            yield chunk
            sent += len(chunk)
        yield b"</article></body></html>\n"

    return stream


def gzip_bomb() -> Callable[[], Iterator[bytes]]:
    """About 1 MB of gzip that unpacks to `BOMB_UNPACKED` bytes of zeros."""
    packed = _bomb()

    def stream() -> Iterator[bytes]:
        for start in range(0, len(packed), _CHUNK):
            yield packed[start : start + _CHUNK]

    return stream


@functools.cache
def _bomb() -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(2**20)
    parts = [packer.compress(zeros) for _ in range(BOMB_UNPACKED // len(zeros))]
    return b"".join(parts) + packer.flush()


def summary_feed(title: str, site: str, links: list[str]) -> bytes:
    """An RSS feed whose items carry only a one-line summary: their pages are read."""
    items = "".join(
        f"<item><title>{title} {n}</title><link>{link}</link><guid>{link}</guid>"
        f"<description>Ringkasan {n}.</description></item>"
        for n, link in enumerate(links, start=1)
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>{site}</link>{items}</channel></rss>"
    ).encode()


class HostsResolver:
    """A resolver (syndicate.ingest.addresses) that knows only the names it is given."""

    def __init__(self, hosts: dict[str, list[str]]) -> None:
        self.hosts = hosts
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.hosts:
            return self.hosts[host]
        if host.replace(".", "").isdigit():
            return [host]
        raise OSError(f"no such host in this test: {host}")
