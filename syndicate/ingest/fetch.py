"""Fetching a feed over HTTP (or from a local file) with a conditional GET.

Every failure a feed's owner or the network can cause becomes a `FetchError` whose message
is one sentence naming the URL; `status` and `retry_after` tell the poller how to back off.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from syndicate.ingest.request import ACCEPT, ACCEPT_ENCODING, USER_AGENT, file_stamp

__all__ = ["MAX_BODY_BYTES", "USER_AGENT", "FetchError", "FetchResult", "fetch_feed", "make_client"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class FetchResult:
    """What one fetch brought back."""

    not_modified: bool  # the server answered 304
    body: bytes  # b"" when not_modified
    etag: str | None  # as received: store it and send it back verbatim
    last_modified: str | None  # as received
    final_url: str  # after redirects
    content_type: str | None


class FetchError(Exception):
    """A feed could not be fetched; `str(error)` is one sentence naming the URL."""

    def __init__(
        self, url: str, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.status = status  # the HTTP status, when the server answered
        self.retry_after = retry_after  # seconds the server asked us to wait, when it did


def make_client(timeout: float = 20.0) -> httpx.AsyncClient:
    """Return the HTTP client feeds are fetched with: redirects followed, bounded waits."""
    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=10,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
    )


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """Fetch `url`, sending back the validators from the last fetch so an unchanged feed is 304."""
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
    try:
        async with client.stream("GET", url, headers=headers) as response:
            return await _read_response(url, response)
    except httpx.TimeoutException as error:
        timeout = client.timeout.read or client.timeout.connect
        within = f" within {timeout:g} seconds" if timeout else ""
        raise FetchError(url, f"the server did not answer{within}.") from error
    except httpx.TooManyRedirects as error:
        raise FetchError(url, "the server redirected too many times.") from error
    except httpx.ConnectError as error:
        raise FetchError(url, f"could not connect to the server ({_reason(error)}).") from error
    except httpx.InvalidURL as error:
        raise FetchError(url, f"this is not a valid URL ({_reason(error)}).") from error
    except httpx.HTTPError as error:
        raise FetchError(url, f"the download failed ({_reason(error)}).") from error


async def _read_response(url: str, response: httpx.Response) -> FetchResult:
    final_url = str(response.url)
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    content_type = response.headers.get("Content-Type")
    if response.status_code == 304:
        return FetchResult(True, b"", etag, last_modified, final_url, content_type)
    if response.status_code >= 400:
        phrase = f"{response.status_code} {response.reason_phrase}".strip()
        raise FetchError(
            url,
            f"the server answered {phrase}.",
            status=response.status_code,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise FetchError(url, f"the feed is larger than {MAX_BODY_BYTES // 2**20} MB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise FetchError(url, f"the feed is larger than {MAX_BODY_BYTES // 2**20} MB.")
        chunks.append(chunk)
    logger.debug("fetched %s: %d bytes from %s", url, size, final_url)
    return FetchResult(False, b"".join(chunks), etag, last_modified, final_url, content_type)


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
