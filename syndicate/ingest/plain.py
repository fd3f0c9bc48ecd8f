"""A plain GET over asyncio streams: the standard library's HTTP/1.1, for the common case.

Most feeds a poll reads answer the plainest way there is: 304 Not Modified, or 200 with
the feed, its length or chunks, perhaps gzip. Asking through httpx costs several times the
answer (its connection pool, its streams, its models: about 3 ms a feed on a fast network,
against 0.5 ms here, a third of a poll's own process on 200 local feeds). So a poll asks
this way first, and only for what a plain exchange can ask: an http or https URL of
plain ASCII without credentials, sent to no proxy. Its answer is taken only when it is
plain too (a 304; a 200 whose body is read whole within the cap, `syndicate.ingest.body`);
anything else (a redirect, an error status, a connection that fails, an answer that breaks
the rules) is left to httpx (`syndicate.ingest.fetch`), which asks again and says what
went wrong in its own words.

The request is the one httpx sends (`syndicate.ingest.request`), with "Connection: close":
the answer ends with the connection, none is kept, and nothing here can be reused wrongly.
The configured feed's own host may be on any address (as `Reach` allows), and it is
reached at the address the caller resolved, so the same resolver decides both ways.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar
from urllib.parse import SplitResult, urlsplit

from syndicate.ingest.body import Body
from syndicate.ingest.request import ACCEPT, ACCEPT_ENCODING, USER_AGENT

if TYPE_CHECKING:
    import ssl

__all__ = ["Reply", "TooSlow", "Validators", "ask", "askable", "tls_context"]

Validators = tuple[str | None, str | None]  # the ETag and Last-Modified last received

_MOST_HEAD = 64 * 1024  # bytes of an answer's head; a longer one is no plain answer
_PIECE = 256 * 1024  # bytes read at a time
_T = TypeVar("_T")


class Reply(NamedTuple):
    """An answer's status, its headers (names in lower case), and a 200's body unpacked."""

    status: int
    headers: dict[str, str]
    body: bytes


def askable(url: str) -> bool:
    """Whether a plain exchange can ask for `url`: http or https, plain ASCII, no
    credentials (an "@" further on, as in medium.com/feed/@newsroom, is part of the path),
    and no proxy in the environment for its scheme (httpx would use it)."""
    host = url.partition("://")[2].partition("/")[0]
    if not all(32 < ord(c) < 127 for c in url) or "@" in host:
        return False
    scheme = url.partition(":")[0].lower()
    return scheme in ("http", "https") and not _proxied(scheme)


def _proxied(scheme: str) -> bool:
    names = (f"{scheme}_proxy", "all_proxy")
    return any(os.environ.get(n) or os.environ.get(n.upper()) for n in names)


class TooSlow(Exception):
    """No whole answer within the deadline (`silent`: the server said nothing for longer
    than one wait); `body`: the head had come."""

    def __init__(self, *, body: bool, silent: bool) -> None:
        super().__init__("silent" if silent else "the body" if body else "the answer")
        self.body, self.silent = body, silent


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def ask(
    url: str,
    stored: Validators,
    *,
    deadline: float,
    wait: float | None = None,
    resolve: Resolve | None = None,
    limit: int = 0,
) -> Reply:
    """Send a GET for `url` (conditional on `stored`) and read the answer's head; with a
    `limit`, a 200's body too, unpacked, or `BodyTooLarge` past `limit` bytes. All of it
    (the host's name resolved by `resolve` when given, connecting, the answer) within
    `deadline` seconds, and connecting and each read within `wait` seconds if given (as
    httpx's timeouts), else `TooSlow`.

    Raises OSError, ValueError or `asyncio.IncompleteReadError` for an answer that is not
    plain HTTP/1.1.
    """
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "https"
    if not parts.hostname:
        raise ValueError("no host")
    port = parts.port or (443 if secure else 80)
    stream = _Stream(wait)
    try:
        async with asyncio.timeout(deadline):
            addresses = await resolve(parts.hostname, port) if resolve else [parts.hostname]
            writer = await stream.connect(parts.hostname, addresses, port, secure)
            try:
                writer.write(_request(parts, stored))
                status, headers = _parse_head(await stream.line(b"\r\n\r\n"))
                stream.heard, body = True, b""
                if status == 200 and limit:
                    body = await _read_body(stream, headers, limit)
            finally:
                if secure:
                    writer.transport.abort()  # no TLS goodbye to wait for: the answer is in
                else:
                    writer.close()
    except TimeoutError as error:
        raise TooSlow(body=stream.heard, silent=False) from error
    return Reply(status, headers, body)


class _Stream:
    """An answer's reader, each step of which must come within `wait` seconds."""

    def __init__(self, wait: float | None) -> None:
        self.wait, self.heard = wait, False
        self.reader = asyncio.StreamReader()

    async def connect(
        self, host: str, addresses: list[str], port: int, secure: bool
    ) -> asyncio.StreamWriter:
        """Connect to the first of `addresses` that takes a connection, as httpx tries them;
        the answer is read from this stream, the request written to what is returned."""
        failed: Exception = OSError(f"{host} has no address")
        for address in addresses:
            connecting = asyncio.open_connection(
                address,
                port,
                ssl=tls_context() if secure else None,
                server_hostname=host if secure else None,
                limit=_MOST_HEAD,
            )
            try:
                self.reader, writer = await self.within(connecting)
            except (OSError, TooSlow) as error:
                failed = error
                continue
            return writer
        raise failed

    async def within(self, step: Awaitable[_T]) -> _T:
        if self.wait is None:
            return await step
        try:
            async with asyncio.timeout(self.wait) as waiting:
                return await step
        except TimeoutError as error:
            if waiting.expired():
                raise TooSlow(body=self.heard, silent=True) from error
            raise

    async def line(self, end: bytes = b"\r\n") -> bytes:
        return await self.within(self.reader.readuntil(end))

    async def some(self, most: int = _PIECE) -> bytes:
        return await self.within(self.reader.read(most))

    async def exactly(self, size: int, body: Body | None = None) -> bytes:
        """`size` bytes, read a piece at a time (each its own wait), given to `body` as
        they come (then b"" is returned) or else joined."""
        pieces: list[bytes] = []
        while size:
            piece = await self.some(min(size, _PIECE))
            if not piece:
                raise asyncio.IncompleteReadError(b"".join(pieces), size)
            size -= len(piece)
            if body is not None:
                body.take(piece)
            else:
                pieces.append(piece)
        return b"".join(pieces)


def _request(parts: SplitResult, stored: Validators) -> bytes:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"User-Agent: {USER_AGENT}",
        f"Accept: {ACCEPT}",
        f"Accept-Encoding: {ACCEPT_ENCODING}",
        "Connection: close",
    ]
    etag, last_modified = stored
    if any("\r" in value or "\n" in value for value in stored if value):
        raise ValueError("a stored validator holds a line break")
    if etag:
        lines.append(f"If-None-Match: {etag}")
    if last_modified:
        lines.append(f"If-Modified-Since: {last_modified}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status = status_line.split(" ", 2)[:2]
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 answer: {status_line[:40]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(status), headers


async def _read_body(stream: _Stream, headers: dict[str, str], limit: int) -> bytes:
    """The body as the head frames it: in chunks, by its length, or up to the end of the
    connection (the request asked it closed); a frame it cannot read is a ValueError."""
    coding = headers.get("transfer-encoding", "").lower()
    declared = headers.get("content-length", "")
    body = Body(limit, declared="" if coding else declared, packed=headers.get("content-encoding"))
    if coding == "chunked":
        while size := _chunk_size(await stream.line()):
            body.coming(size)  # a chunk past the cap is not read, nor held
            await stream.exactly(size, body)
            if await stream.exactly(2) != b"\r\n":
                raise ValueError("a chunk does not end where its size says")
        while await stream.line() != b"\r\n":  # trailer fields, if any
            pass
    elif coding:
        raise ValueError(f"the body comes as {coding!r}")
    elif declared:
        if not declared.isdigit():
            raise ValueError(f"the length {declared[:20]!r} is no number")
        await stream.exactly(int(declared), body)
    else:
        while piece := await stream.some():
            body.take(piece)
    return body.whole()


def _chunk_size(line: bytes) -> int:
    size = line.partition(b";")[0].strip()  # a chunk's extensions mean nothing here
    if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
        raise ValueError(f"a chunk's size {size[:20]!r} is no number")
    return int(size, 16)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificates httpx trusts: SSL_CERT_FILE or SSL_CERT_DIR if set, else certifi's."""
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
