"""Fetching a feed over HTTP (or from a local file) with a conditional GET.

`download` is the one way syndicate GETs a feed or an article page: within a total
deadline (connecting, redirects, the head and the whole body together: a server that
sends a byte now and then cannot hold a poll), the body read within a cap
(`syndicate.ingest.body`), every connection checked (`syndicate.ingest.addresses`).

Every failure a feed's owner or the network can cause becomes a `FetchError` whose message
is one sentence naming the URL; `status` and `retry_after` tell the poller how to back off.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import httpx
from httpx._utils import get_environment_proxies  # httpx's own reading, not public

from syndicate.errors import SyndicateError
from syndicate.ingest import plain
from syndicate.ingest.addresses import (
    REACH,
    AddressRefused,
    GuardedTransport,
    Reach,
    Resolver,
    SystemResolver,
)
from syndicate.ingest.body import BodyTooLarge, read_body
from syndicate.ingest.request import ACCEPT, ACCEPT_ENCODING, USER_AGENT, file_stamp, sendable
from syndicate.redaction import redact_url

__all__ = [
    "FEED_DEADLINE",
    "MAX_BODY_BYTES",
    "USER_AGENT",
    "Answer",
    "FeedClient",
    "FetchError",
    "FetchResult",
    "download",
    "fetch_feed",
    "http_error",
    "make_client",
]

logger = logging.getLogger(__name__)

_REDIRECTS = (301, 302, 303, 307, 308)

MAX_BODY_BYTES = 20 * 1024 * 1024  # a feed, on the wire and unpacked
FEED_DEADLINE = 30.0  # seconds for a whole fetch: [ingest] feed_timeout


@dataclass(frozen=True)
class FetchResult:
    """What one fetch brought back."""

    not_modified: bool  # the server answered 304
    body: bytes  # b"" when not_modified
    etag: str | None  # as received: store it and send it back verbatim
    last_modified: str | None  # as received
    final_url: str  # after redirects
    content_type: str | None


class FetchError(SyndicateError):
    """A feed could not be fetched; `str(error)` is one sentence naming the URL."""

    def __init__(
        self, url: str, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason  # the sentence's end, after the URL
        self.status = status  # the HTTP status, when the server answered
        self.retry_after = retry_after  # seconds the server asked us to wait, when it did


class FeedClient(httpx.AsyncClient):
    """httpx's client, knowing the resolver its connections are made by: a feed asked the
    plain way (`syndicate.ingest.plain`) is reached by the same."""

    def __init__(self, resolver: Resolver, **options: Any) -> None:
        super().__init__(**options)
        self.resolver = resolver


def make_client(
    timeout: float = FEED_DEADLINE, *, resolver: Resolver | None = None
) -> httpx.AsyncClient:
    """Return the HTTP client feeds and pages are fetched with: redirects followed, bounded
    waits, and every connection checked by `syndicate.ingest.addresses`."""
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
    resolver = resolver or SystemResolver()
    try:
        environment = get_environment_proxies()
        # A transport of our own turns off httpx's proxies from the environment: they are
        # mounted here as httpx would (None: that host is reached directly).
        proxies = {
            pattern: GuardedTransport(resolver, limits=limits, proxy=proxy) if proxy else None
            for pattern, proxy in environment.items()
        }
        return FeedClient(
            resolver,
            follow_redirects=True,
            max_redirects=10,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=GuardedTransport(resolver, limits=limits),
            mounts=proxies,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )
    except ImportError as error:  # httpx's SOCKS support is a package of its own
        socks = [proxy for proxy in _proxies() if proxy.startswith("socks")]
        named = redact_url(socks[0]) if socks else "a SOCKS proxy"
        raise SyndicateError(
            f"No feed can be fetched: the environment sends them through {named} "
            "(ALL_PROXY, HTTPS_PROXY or HTTP_PROXY), and a SOCKS proxy needs one more "
            "package: pip install 'httpx[socks]'."
        ) from error
    except (ValueError, httpx.InvalidURL) as error:  # a proxy httpx cannot use, or read
        if not _proxies():
            raise
        named = ", ".join(redact_url(proxy) for proxy in _proxies())
        raise SyndicateError(
            f"No feed can be fetched: the proxy the environment names ({named}) cannot be "
            "used: it must be an http://, https:// or socks5:// address with a host and a "
            "port (ALL_PROXY, HTTPS_PROXY, HTTP_PROXY)."
        ) from error
    except OSError as error:  # the certificates the environment names cannot be read
        raise SyndicateError(_unreadable_certificates(error)) from error


def _proxies() -> list[str]:
    """The proxies the environment names, as httpx reads them (any case of the names)."""
    names = ("all_proxy", "https_proxy", "http_proxy")
    return [value for key, value in os.environ.items() if key.lower() in names and value]


def _unreadable_certificates(error: OSError) -> str:
    # The first of these that is set is the one read (by httpx, and by `plain.tls_context`).
    named = next(
        (
            f" ({name}={os.environ[name]})"
            for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")
            if os.environ.get(name)
        ),
        "",
    )
    reason = error.strerror or str(error) or type(error).__name__
    return (
        f"No feed can be fetched: the certificates to check secure sites with{named} "
        f"cannot be read ({reason})."
    )


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    deadline: float = FEED_DEADLINE,
    reach: Reach | None = None,
) -> FetchResult:
    """Fetch `url`, sending back the validators from the last fetch so an unchanged feed is 304.

    The whole fetch (connecting, redirects, the answer and all its body) ends within
    `deadline` seconds. `url` is a feed the editor configured: its own host may be on any
    address; redirects elsewhere reach only public addresses, or the hosts `reach` allows.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return await asyncio.to_thread(_read_file, url, last_modified)
    if scheme not in {"http", "https"}:
        raise FetchError(url, "only http, https and file URLs can be fetched.")
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    reach = reach or Reach.around(url)
    began = asyncio.get_running_loop().time()
    read = await _plainly(client, url, (etag, last_modified), deadline, reach)
    if isinstance(read, FetchResult):
        return read
    # httpx asks within what is left of the deadline, which stays the one its errors name;
    # a redirect the plain way met is followed from where it points, not asked for again.
    left = deadline - (asyncio.get_running_loop().time() - began)
    if left <= 0:
        raise _no_answer(url, deadline)
    target = read.to if read is not None else url
    answer = await download(
        client, target, headers, left, reach, MAX_BODY_BYTES, "the feed", stated=deadline, asked=url
    )
    return _result(url, answer)


@dataclass(frozen=True)
class _Moved:
    """A redirect the plain way met: httpx follows it from `to`."""

    to: str


async def _plainly(
    client: httpx.AsyncClient,
    url: str,
    stored: tuple[str | None, str | None],
    deadline: float,
    reach: Reach,
) -> FetchResult | _Moved | None:
    """The feed asked for the plain way (`syndicate.ingest.plain`), when it can be, with
    the request httpx would send; None leaves it to httpx, which asks again.

    Only the feed's own host is asked, which its reach allows on any address. A 200 or a
    304 is taken; an error status, a deadline passed or a body past the cap fail the fetch
    here, in the words httpx's fetch uses. A redirect is httpx's to follow, from where it
    points (through the checks of `syndicate.ingest.addresses`); what fails otherwise (a
    refused connection, an answer h11 would not read) costs a second request, httpx's,
    which says what it was.
    """
    resolver = getattr(client, "resolver", None)
    host = urlsplit(url).hostname
    if resolver is None or not host or not reach.allows(host) or not plain.askable(url):
        return None
    try:
        request = client.build_request("GET", url)  # the URL and the target as httpx has them
        reply = await plain.ask(
            str(request.url),
            stored,
            deadline=deadline,
            wait=client.timeout.read,
            connect_wait=client.timeout.connect,
            resolve=resolver.resolve,
            target=request.url.raw_path.decode("ascii"),
            limit=MAX_BODY_BYTES,
        )
    except plain.TooSlow as slow:
        raise _too_slow(url, client, deadline, slow) from slow
    except BodyTooLarge as error:
        raise FetchError(url, f"the feed {error}.") from error
    except Exception as error:  # whatever it was, httpx asks again and says it
        logger.debug("asking %s plainly: %s", url, repr(error)[:200])
        return None
    headers = reply.headers
    if reply.status >= 400:
        raise _status_error(url, reply.status, reply.reason, headers.get("retry-after"))
    if reply.status in _REDIRECTS and headers.get("location"):
        return _Moved(urljoin(str(request.url), headers["location"]))
    if not (200 <= reply.status < 300 or reply.status == 304):
        return None
    return _fetched(url, reply.status, reply.body, headers, str(request.url))


@dataclass(frozen=True)
class Answer:
    """An answer, its body read when it was a success (2xx)."""

    response: httpx.Response  # closed: its head only
    body: bytes


async def download(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    deadline: float,
    reach: Reach,
    limit: int,
    what: str = "it",
    *,
    stated: float | None = None,
    asked: str | None = None,
) -> Answer:
    """GET `url` within `deadline` seconds, reaching only what `reach` allows, and read a
    successful answer's body up to `limit` bytes; any failure is a `FetchError` (a body
    past the cap: "{what} is larger than 5 MB."). `stated`: the deadline an error names,
    when `deadline` is what was left of it; `asked`: the URL an error names, when `url` is
    where it redirected."""
    phase = "answer"
    named = asked or url
    try:
        async with asyncio.timeout(deadline):
            request = client.build_request("GET", url, headers=headers, extensions={REACH: reach})
            response = await client.send(request, stream=True)
            try:
                body = b""
                if response.is_success:
                    phase = "body"
                    body = await read_body(response, limit)
            finally:
                await response.aclose()
    except TimeoutError as error:
        waited = "send the whole answer" if phase == "body" else "answer"
        raise _no_answer(named, stated or deadline, waited) from error
    except BodyTooLarge as error:
        raise FetchError(named, f"{what} {error}.") from error
    except AddressRefused as refused:
        raise FetchError(named, refused.reason(named)) from refused
    except httpx.TimeoutException as error:
        raise _no_answer(named, client.timeout.read or client.timeout.connect) from error
    except httpx.TooManyRedirects as error:
        raise FetchError(named, "the server redirected too many times.") from error
    except httpx.ConnectError as error:
        raise FetchError(named, f"could not connect to the server ({_reason(error)}).") from error
    except httpx.InvalidURL as error:
        raise FetchError(named, f"this is not a valid URL ({_reason(error)}).") from error
    except httpx.HTTPError as error:
        raise FetchError(named, f"the download failed ({_reason(error)}).") from error
    return Answer(response, body)


def _result(url: str, answer: Answer) -> FetchResult:
    response = answer.response
    if response.status_code >= 400:
        raise http_error(url, response)
    return _fetched(url, response.status_code, answer.body, response.headers, str(response.url))


def _fetched(
    url: str, status: int, body: bytes, headers: Mapping[str, str], final_url: str
) -> FetchResult:
    """What a fetch answered, by httpx or the plain way (`headers` read by lower-case
    names: httpx's are case-insensitive): a 304, or the body and its validators."""
    etag, last_modified = sendable(headers.get("etag")), sendable(headers.get("last-modified"))
    content_type = headers.get("content-type")
    if status == 304:
        return FetchResult(True, b"", etag, last_modified, final_url, content_type)
    logger.debug("fetched %s: %d bytes from %s", url, len(body), final_url)
    return FetchResult(False, body, etag, last_modified, final_url, content_type)


def http_error(url: str, response: httpx.Response) -> FetchError:
    """The FetchError of an answer with an error status."""
    return _status_error(
        url, response.status_code, response.reason_phrase, response.headers.get("Retry-After")
    )


def _status_error(url: str, status: int, reason: str, retry_after: str | None) -> FetchError:
    phrase = f"{status} {reason}".strip()
    return FetchError(
        url,
        f"the server answered {phrase}.",
        status=status,
        retry_after=_retry_after(retry_after),
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _too_slow(
    url: str, client: httpx.AsyncClient, deadline: float, slow: plain.TooSlow
) -> FetchError:
    """What `download` says of the same wait passed (a plain exchange's, here)."""
    if slow.silent:
        return _no_answer(url, client.timeout.read or client.timeout.connect)
    return _no_answer(url, deadline, "send the whole answer" if slow.body else "answer")


def _no_answer(url: str, seconds: float | None, what: str = "answer") -> FetchError:
    within = f" within {_seconds(seconds)}" if seconds else ""
    return FetchError(url, f"the server did not {what}{within}.")


def _seconds(amount: float) -> str:
    return f"{amount:g} second" + ("" if amount == 1 else "s")


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.rstrip(".")


def _read_file(url: str, last_modified: str | None) -> FetchResult:
    parts = urlsplit(url)
    path = Path(url2pathname(unquote(parts.path)))
    try:
        stat = path.stat()
        if stat.st_size > MAX_BODY_BYTES:
            raise FetchError(url, f"the feed is larger than {MAX_BODY_BYTES // 2**20} MB.")
        stamp = file_stamp(stat.st_mtime)
        if last_modified == stamp:
            return FetchResult(True, b"", None, stamp, url, None)
        body = path.read_bytes()
    except FileNotFoundError as error:
        raise FetchError(url, "there is no such file.") from error
    except IsADirectoryError as error:
        raise FetchError(url, "this is a folder, not a feed file.") from error
    except OSError as error:
        raise FetchError(url, f"the file could not be read ({error.strerror}).") from error
    return FetchResult(False, body, None, stamp, url, _guess_type(path))


def _guess_type(path: Path) -> str | None:
    return {
        ".json": "application/feed+json",
        ".xml": "application/xml",
        ".atom": "application/atom+xml",
        ".rss": "application/rss+xml",
    }.get(path.suffix.lower())
