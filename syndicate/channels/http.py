"""What the channels that speak HTTP share: which errors mean the request never left, how
long a server asks to wait, and fetching a post's picture.

`NEVER_LEFT` is the one list of httpx errors raised before a byte of the request reached
the server (connecting, waiting for a pooled connection, the proxy refusing): after one of
them nothing can have been posted, so the channel raises `ChannelDown` and sends again
later; after any other `httpx.HTTPError` the post may exist (`UnknownOutcome`), unless
the network drops copies itself (Mastodon's Idempotency-Key). Adapters use it too.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import httpx

__all__ = ["NEVER_LEFT", "fetch_picture", "never_left", "retry_after"]

# httpx errors raised before a single byte of the request reached the server.
NEVER_LEFT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)


def never_left(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the request never left."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, NEVER_LEFT):
            return True
        cause = cause.__cause__
    return False


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from Retry-After (seconds or a date) or X-RateLimit-Reset (a date)."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            moment = email.utils.parsedate_to_datetime(value)
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    return None


async def fetch_picture(
    client: httpx.AsyncClient, url: str, max_bytes: int
) -> tuple[bytes, str] | str:
    """(bytes, content type) of the image at `url`, or why it cannot be had."""
    try:
        async with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != 200:
                return f"the picture answered {response.status_code}"
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not kind.startswith("image/"):
                return f"the picture is {kind or 'of no stated type'}, not an image"
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    return f"the picture is larger than {max_bytes} bytes"
            return bytes(data), kind
    except httpx.HTTPError as error:
        return f"the picture could not be fetched ({type(error).__name__})"
