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
import re
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
    """An answer's status and reason, its headers (names in lower case), and a success's
    body unpacked."""

    status: int
    reason: str
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
    connect_wait: float | None = None,
    resolve: Resolve | None = None,
    target: str | None = None,
    limit: int = 0,
) -> Reply:
    """Send a GET for `url` (conditional on `stored`) and read the answer's head; with a
    `limit`, a success's (2xx) body too, unpacked, or `BodyTooLarge` past `limit` bytes. All of it
    (the host's name resolved by `resolve` when given, connecting, the answer) within
    `deadline` seconds, connecting to an address within `connect_wait` and each read within
    `wait` seconds if given (as httpx's timeouts), else `TooSlow`. `target`: the path and
    query as the request names them (httpx's encoding of them), else as in `url`.

    Raises OSError, ValueError or `asyncio.IncompleteReadError` for an answer that is not
    plain HTTP/1.1, as h11 (httpx's parser) reads it.
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
            writer = await stream.connect(parts.hostname, addresses, port, secure, connect_wait)
            try:
                writer.write(_request(parts, target, stored))
                status, reason, headers = await _read_head(stream)
                stream.heard, body = True, b""
                if 200 <= status < 300 and limit:
                    body = await _read_body(stream, headers, limit)
            finally:
                if secure:
                    writer.transport.abort()  # no TLS goodbye to wait for: the answer is in
                else:
                    writer.close()
    except TimeoutError as error:
        raise TooSlow(body=stream.heard, silent=False) from error
    return Reply(status, reason, headers, body)


class _Stream:
    """An answer's reader, each step of which must come within `wait` seconds."""

    def __init__(self, wait: float | None) -> None:
        self.wait, self.heard = wait, False
        self.reader = asyncio.StreamReader()

    async def connect(
        self, host: str, addresses: list[str], port: int, secure: bool, wait: float | None
    ) -> asyncio.StreamWriter:
        """Connect to the first of `addresses` that takes a connection within `wait`
        seconds, as httpx tries them; the answer is read from this stream, the request
        written to what is returned."""
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
                self.reader, writer = await self.within(connecting, wait)
            except (OSError, TooSlow) as error:
                failed = error
                continue
            return writer
        raise failed

    async def within(self, step: Awaitable[_T], wait: float | None = None) -> _T:
        wait = wait or self.wait
        if wait is None:
            return await step
        try:
            async with asyncio.timeout(wait) as waiting:
                return await step
        except TimeoutError as error:
            if waiting.expired():
                raise TooSlow(body=self.heard, silent=True) from error
            raise

    async def line(self) -> bytes:
        """The next line, its end (CRLF, or LF alone, as h11 reads it) cut off."""
        line = await self.within(self.reader.readuntil(b"\n"))
        return line[:-2] if line.endswith(b"\r\n") else line[:-1]

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


def _request(parts: SplitResult, target: str | None, stored: Validators) -> bytes:
    if target is None:
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


_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a token, as RFC 9110 writes names
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # in a value: all but the tab


async def _read_head(stream: _Stream) -> tuple[int, str, dict[str, str]]:
    """The status, reason and headers of the final answer: interim ones (100 Continue, 103
    Early Hints) are passed over, as httpx does. A head h11 would not read (a header
    folded over lines, a name that is no token, a control character in a value, more than
    64 KB) is a ValueError."""
    while True:
        status, reason, headers = await _one_head(stream)
        if not 100 <= status < 200 or status == 101:
            return status, reason, headers


async def _one_head(stream: _Stream) -> tuple[int, str, dict[str, str]]:
    line = await stream.line()
    found = _STATUS.fullmatch(line)
    if found is None:
        raise ValueError(f"not an HTTP/1 answer: {line[:40]!r}")
    status, reason = int(found.group(1)), (found.group(2) or b"").decode("ascii", "ignore")
    headers: dict[str, str] = {}
    size = len(line)
    while line := await stream.line():
        size += len(line)
        name, colon, value = line.partition(b":")
        if size > _MOST_HEAD or not colon or not _NAME.fullmatch(name):
            raise ValueError(f"a header h11 would not read: {line[:40]!r}")
        value = value.strip(b" \t")
        if _CONTROL.search(value):
            raise ValueError(f"a control character in the header {name[:40]!r}")
        key, text = name.decode("ascii").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return status, reason, headers


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
        trailers = 0
        while line := await stream.line():  # trailer fields, if any: a head's worth at most
            trailers += len(line)
            if trailers > _MOST_HEAD:
                raise ValueError("the trailer fields go on and on")
    elif coding:
        raise ValueError(f"the body comes as {coding!r}")
    elif declared:
        lengths = {length.strip() for length in declared.split(",")}  # "48, 48": sent twice
        if len(lengths) > 1 or not declared.partition(",")[0].strip().isdigit():
            raise ValueError(f"the length {declared[:20]!r} is no number")
        await stream.exactly(int(lengths.pop()), body)
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
