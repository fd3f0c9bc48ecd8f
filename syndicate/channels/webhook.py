"""The webhook channel: POSTs each post (or edition) as JSON, signed, to one address.

Settings (`[channels.NAME]`): `type = "webhook"`, `url` (where to POST), `format`
("json" for your own receiver, "slack" for a Slack incoming webhook, "discord" for a
Discord webhook; "json" unless said), `secret` (required for "json", optional for the
others, whose address is their secret), `timeout` (seconds, 10). The target of every
delivery is the address's host.

The body is rendered once per edition (`syndicate.render.webhook`). Every request
carries:

    Content-Type: application/json
    X-Syndicate-Delivery: <hex>           the same for every try of one delivery (the
                                          SHA-256 of the target and body): a receiver
                                          that keeps them can drop a repeat
    X-Syndicate-Timestamp: <unix seconds> when this try was sent
    X-Syndicate-Signature: sha256=<hex>   with a secret: HMAC-SHA256 under the secret of
                                          the bytes  <timestamp> "." <body>

A receiver checks the signature by computing the same HMAC over the timestamp header, a
full stop and the raw body, comparing in constant time, and refusing timestamps more
than a few minutes old (so a captured request cannot be replayed later).

How the receiver's answers map onto the channel error tree::

    2xx                          sent (Discord's message id, or the body's "id", as the
                                 external id)
    429, 503                     TransientError(retry_after from Retry-After or Discord's
                                 "retry_after")
    404, 410                     TargetGone: the webhook was deleted (Discord "Unknown
                                 Webhook", Slack "channel_is_archived")
    other 4xx                    PermanentError with the receiver's answer
    500, 502, 504, timeouts      UnknownOutcome: the receiver may have acted on it
    connection refused           ChannelDown (the channel waits)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import httpx

from syndicate.channels.base import (
    AfterCrash,
    Channel,
    ChannelDown,
    Message,
    PermanentError,
    SendResult,
    SocialPost,
    TargetGone,
    TransientError,
    UnknownOutcome,
)
from syndicate.channels.http import NEVER_LEFT, retry_after
from syndicate.config import ConfigTable
from syndicate.render.webhook import FORMATS, render_webhook_digest, render_webhook_post

if TYPE_CHECKING:
    from jinja2 import Environment

    from syndicate.types import EditionView, PostView

__all__ = ["WebhookChannel", "sign"]

DEFAULT_TIMEOUT = 10.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Syndicate-Signature value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookChannel(Channel):
    """POSTs posts to one webhook address in one format."""

    type: ClassVar[str] = "webhook"
    medium: ClassVar[str] = "webhook"
    after_crash: ClassVar[AfterCrash] = "unknown"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        fmt: str = "json",
        secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(name)
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self._url = url
        self.format = fmt
        self._secret = secret
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # the address may itself be a secret (Slack, Discord)
        return f"WebhookChannel(name={self.name!r}, host={self.targets()[0]!r})"

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> WebhookChannel:
        url = table.url("url", ("https", "http"))
        if not urlsplit(url).hostname:
            table.fail("url", f'"{url}" names no host')
        fmt = table.choice("format", FORMATS, "json")
        secret = table.text("secret", None)
        if fmt == "json" and secret is None:
            table.fail("secret", 'this key is required with format = "json" (to sign requests)')
        channel = cls(
            name,
            url,
            fmt=fmt,
            secret=secret,
            timeout=float(table.integer("timeout", int(DEFAULT_TIMEOUT), minimum=1)),
        )
        table.done()
        return channel

    def targets(self) -> tuple[str, ...]:
        return (urlsplit(self._url).netloc,)

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost:
        return render_webhook_post(post, fmt=self.format)

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost]:
        return render_webhook_digest(edition, fmt=self.format)

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers={"User-Agent": "syndicate"}, timeout=self.timeout
            )

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, SocialPost):
            raise PermanentError(
                f'channel "{self.name}": a webhook channel sends posts, not email.'
            )
        await self.open()
        assert self._client is not None
        body = message.text.encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Syndicate-Delivery": hashlib.sha256(
                message.target.encode() + b"\n" + body
            ).hexdigest(),
            "X-Syndicate-Timestamp": timestamp,
        }
        if self._secret:
            headers["X-Syndicate-Signature"] = sign(self._secret, timestamp, body)
        url = self._url
        if self.format == "discord":  # wait=true: Discord answers with the message and its id
            url += ("&" if "?" in url else "?") + "wait=true"
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except NEVER_LEFT as error:
            raise ChannelDown(
                f'channel "{self.name}": cannot reach {self.targets()[0]} ({error!r}).'
            ) from error
        except httpx.HTTPError as error:
            raise UnknownOutcome(
                f'channel "{self.name}": no answer from {self.targets()[0]} ({error!r}); '
                "the receiver may have it."
            ) from error
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> SendResult:
        code = response.status_code
        answer = response.text[:300].strip()
        if code < 300:
            return SendResult(external_id=_message_id(response), detail=f"{code} {answer}".strip())
        problem = f'channel "{self.name}": {self.targets()[0]} answered {code}: {answer}'
        if code in (429, 503):
            raise TransientError(problem, retry_after=_retry_after(response))
        if code in (404, 410):
            raise TargetGone(problem)
        if code < 500:
            raise PermanentError(problem)
        raise UnknownOutcome(problem)


def _json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message_id(response: httpx.Response) -> str | None:
    value = _json(response).get("id")
    return None if value is None else str(value)


def _retry_after(response: httpx.Response) -> float | None:
    wait = retry_after(response)
    if wait is None:
        value = _json(response).get("retry_after")  # Discord: seconds, in the body
        wait = float(value) if isinstance(value, int | float) else None
    return wait
