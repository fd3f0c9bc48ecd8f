"""Reading an answer's body within a cap, on the wire and once unpacked.

A feed or a page may be far larger than anything worth reading (a 400 MB "article"), or
small on the wire and enormous unpacked (1 MB of gzip that inflates to 1 GB). The body is
read as it arrives and unpacked here, a bounded piece at a time, and reading stops as soon
as either count passes the cap: no more than the cap is ever held.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from syndicate.errors import SyndicateError

if TYPE_CHECKING:
    import httpx

__all__ = ["Body", "BodyTooLarge", "BodyUnreadable", "read_body"]


class BodyTooLarge(SyndicateError):
    """The body passed the cap; `str(error)` is a sentence's verb ("is larger than 5 MB")."""


class BodyUnreadable(ValueError):
    """The body came packed in a way syndicate did not ask for, or its packing is broken."""


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed `response`, unpacked, or BodyTooLarge past `limit` bytes."""
    headers = response.headers
    try:
        body = Body(limit, headers.get("Content-Length", ""), headers.get("Content-Encoding"))
        async for raw in response.aiter_raw():
            body.take(raw)
    except BodyUnreadable as error:
        import httpx

        raise httpx.DecodingError(str(error)) from error
    return body.whole()


class Body:
    """A body taken as it arrives (httpx's stream, or `syndicate.ingest.plain`'s), unpacked
    a bounded piece at a time; BodyTooLarge as soon as it passes `limit` bytes on the wire
    or unpacked, BodyUnreadable when it cannot be unpacked."""

    def __init__(self, limit: int, declared: str = "", packed: str | None = None) -> None:
        self._limit, self._megabytes = limit, f"{limit / 2**20:g} MB"
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"is larger than {self._megabytes}")
        self._unpack = _unpacker(packed or "")
        self._chunks: list[bytes] = []
        self._wire = self._size = 0

    def coming(self, size: int) -> None:
        """`size` more bytes are about to come on the wire: too many is BodyTooLarge now."""
        if self._wire + size > self._limit:
            raise BodyTooLarge(f"is larger than {self._megabytes}")

    def take(self, raw: bytes) -> None:
        self._wire += len(raw)
        if self._wire > self._limit:
            raise BodyTooLarge(f"is larger than {self._megabytes}")
        for piece in self._unpack(raw, self._limit - self._size + 1):
            self._size += len(piece)
            if self._size > self._limit:
                raise BodyTooLarge(f"unpacks to more than {self._megabytes}")
            self._chunks.append(piece)

    def whole(self) -> bytes:
        return b"".join(self._chunks)


Unpacker = Callable[[bytes, int], list[bytes]]


def _unpacker(encoding: str) -> Unpacker:
    """How to unpack the body: gzip and deflate (the encodings syndicate asks for)."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return lambda data, room: [data]
    if codings in (["gzip"], ["x-gzip"], ["deflate"]):
        return _Inflater(raw_fallback=codings == ["deflate"]).unpack
    raise BodyUnreadable(f"it came packed as {encoding!r}, which syndicate did not ask for")


_HEADER = 2  # bytes of a zlib header


class _Inflater:
    """zlib, never asked for more than `room` bytes at a time."""

    def __init__(self, *, raw_fallback: bool) -> None:
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        self._raw_fallback = raw_fallback  # some servers send deflate without its header
        # The body's first bytes, until they show whether a header opens it: zlib checks
        # its two bytes once both have come, and a first piece may be one byte long.
        self._opening = b""

    def unpack(self, data: bytes, room: int) -> list[bytes]:
        deciding = self._raw_fallback
        if deciding:
            self._opening += data
        try:
            pieces = self._unpack(data, room)
        except zlib.error as error:
            if not deciding:
                raise BodyUnreadable(f"the packed body is broken ({error})") from error
            self._zlib, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
            opening, self._opening = self._opening, b""
            return self._unpack(opening, room)
        if deciding and len(self._opening) >= _HEADER:  # a header opened it
            self._raw_fallback, self._opening = False, b""
        return pieces

    def _unpack(self, data: bytes, room: int) -> list[bytes]:
        pieces = [self._zlib.decompress(data, room)]
        taken = len(pieces[0])
        while self._zlib.unconsumed_tail and taken < room:
            pieces.append(self._zlib.decompress(self._zlib.unconsumed_tail, room - taken))
            taken += len(pieces[-1])
        return pieces
