"""The Bluesky channel: posts through an atproto PDS's XRPC API, with a link card.

Settings (`[channels.NAME]`): `type = "bluesky"`, `handle` ("kabarpilihan.bsky.social"),
`app_password` (an app password from Settings → App passwords, never the account's
own), `pds_url` ("https://bsky.social" unless said), `timeout` (seconds, 10). The target
of every delivery is the handle.

The session: `com.atproto.server.createSession` at `open()` gives an access token and a
refresh token. When the PDS answers that the access token has expired, the channel
calls `com.atproto.server.refreshSession` with the refresh token, and makes a new
session when that one has expired too, then asks again — those refusals come before
anything is written, so asking again cannot post twice.

A post: the text, its link facets and language come fitted (`syndicate.render.bluesky`);
the post's picture, when it can be fetched and is at most 1,000,000 bytes (the
lexicon's limit for a card thumbnail), is uploaded with `com.atproto.repo.uploadBlob`
and shown on the external embed card; a picture that cannot be had leaves the card
without a thumbnail. Then `com.atproto.repo.createRecord` in `app.bsky.feed.post`.

How the PDS's answers map onto the channel error tree::

    200                                     sent; the external id is the record's at:// URI
    400 InvalidRequest and other 400s       PermanentError with the PDS's message (text
                                            too long, a bad facet, ...)
    400/401 ExpiredToken                    the session is refreshed and the call repeated
    401 AuthenticationRequired at open()    PermanentError: handle or app password wrong
    403, 400 AccountTakedown/Deactivated    TargetGone: the channel stops posting there
    429, 503                                TransientError(retry_after from Retry-After or
                                            ratelimit-reset)
    connection refused                      ChannelDown (the channel waits)
    a timeout or dropped connection after   UnknownOutcome: the post may exist; atproto has
    the request left, other 5xx             no idempotency key, so it is not sent again
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

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
from syndicate.channels.http import NEVER_LEFT, fetch_picture, retry_after
from syndicate.config import ConfigTable
from syndicate.render.bluesky import render_bluesky_digest, render_bluesky_post

if TYPE_CHECKING:
    from jinja2 import Environment

    from syndicate.types import EditionView, PostView

__all__ = ["DEFAULT_PDS_URL", "BlueskyChannel"]

log = logging.getLogger(__name__)

DEFAULT_PDS_URL = "https://bsky.social"
DEFAULT_TIMEOUT = 10.0
MAX_THUMB_BYTES = 1_000_000
_GONE = ("AccountTakedown", "AccountDeactivated", "AccountSuspended", "RepoTakendown")


class _Expired(Exception):
    """The access (or refresh) token has expired."""


class BlueskyChannel(Channel):
    """Posts each post to one Bluesky account."""

    type: ClassVar[str] = "bluesky"
    medium: ClassVar[str] = "bluesky"
    after_crash: ClassVar[AfterCrash] = "unknown"

    def __init__(
        self,
        name: str,
        handle: str,
        app_password: str,
        *,
        pds_url: str = DEFAULT_PDS_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(name)
        self.handle = handle.removeprefix("@")
        self._password = app_password
        self.pds_url = pds_url.rstrip("/")
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._pictures: httpx.AsyncClient | None = None
        self._session: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the password
        return f"BlueskyChannel(name={self.name!r}, handle={self.handle!r})"

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> BlueskyChannel:
        handle = table.text("handle").removeprefix("@")
        if "." not in handle or " " in handle:
            table.fail("handle", f'"{handle}" is not a handle such as "name.bsky.social"')
        channel = cls(
            name,
            handle,
            table.text("app_password"),
            pds_url=table.url("pds_url", ("https", "http"), DEFAULT_PDS_URL),
            timeout=float(table.integer("timeout", int(DEFAULT_TIMEOUT), minimum=1)),
        )
        table.done()
        return channel

    def targets(self) -> tuple[str, ...]:
        return (self.handle,)

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost:
        return render_bluesky_post(post, env=env, locale=locale)

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost]:
        return render_bluesky_digest(edition, env=env)

    # -- the session -----------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        self._client = httpx.AsyncClient(
            base_url=self.pds_url, headers={"User-Agent": "syndicate"}, timeout=self.timeout
        )
        self._pictures = httpx.AsyncClient(
            headers={"User-Agent": "syndicate"}, timeout=self.timeout
        )
        try:
            await self._create_session()
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        for client in (self._client, self._pictures):
            if client is not None:
                await client.aclose()
        self._client = self._pictures = None
        self._session = {}

    async def _create_session(self) -> None:
        body = {"identifier": self.handle, "password": self._password}
        response = await self._post("com.atproto.server.createSession", json=body, token=None)
        if response.status_code in (400, 401):
            raise PermanentError(
                f'channel "{self.name}": Bluesky refused the handle or app password '
                f"({_error_text(response)})."
            )
        self._raise_for(response, "createSession", before=True)
        self._session = response.json()

    async def _refresh_session(self) -> None:
        response = await self._post(
            "com.atproto.server.refreshSession", token=self._session.get("refreshJwt")
        )
        if response.status_code >= 400:
            log.info("channel %s: refreshing the session failed; logging in again", self.name)
            await self._create_session()
            return
        self._session = {**self._session, **response.json()}

    # -- calls -----------------------------------------------------------------------

    async def _post(self, method: str, *, token: str | None = "", **kwargs: Any) -> httpx.Response:
        """One XRPC procedure call; a connection that never opened is a TransientError."""
        assert self._client is not None
        token = self._session.get("accessJwt") if token == "" else token
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self._client.post(f"/xrpc/{method}", headers=headers, **kwargs)
        except NEVER_LEFT as error:
            raise ChannelDown(
                f'channel "{self.name}": cannot reach {self.pds_url} ({error!r}).'
            ) from error
        except httpx.HTTPError as error:
            raise UnknownOutcome(
                f'channel "{self.name}": {method} got no answer ({error!r}); the post may exist.'
            ) from error

    async def _call(self, method: str, **kwargs: Any) -> httpx.Response:
        """A call with the session, refreshed once when its access token has expired."""
        for attempt in (1, 2):
            response = await self._post(method, **kwargs)
            if _error_name(response) != "ExpiredToken" or attempt == 2:
                break
            await self._refresh_session()
        self._raise_for(response, method, before=method != "com.atproto.repo.createRecord")
        return response

    def _raise_for(self, response: httpx.Response, method: str, *, before: bool) -> None:
        """Map a refusal onto the error tree; `before`: no post can have been made."""
        code = response.status_code
        if code < 300:
            return
        name = _error_name(response)
        problem = f'channel "{self.name}": {method}: {code} {_error_text(response)}'
        if code in (429, 503):
            raise TransientError(problem, retry_after=_retry_after(response))
        if code == 403 or name in _GONE:
            raise TargetGone(problem)
        if code >= 500 and not before:
            raise UnknownOutcome(problem)
        if code >= 500:
            raise TransientError(problem)
        raise PermanentError(problem)

    # -- sending ---------------------------------------------------------------------

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, SocialPost):
            raise PermanentError(
                f'channel "{self.name}": a Bluesky channel sends posts, not email.'
            )
        await self.open()
        extras = _extras(message)
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": message.text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        if extras.get("facets"):
            record["facets"] = extras["facets"]
        if extras.get("langs"):
            record["langs"] = extras["langs"]
        notes: list[str] = []
        card = extras.get("card")
        if isinstance(card, dict) and card.get("uri"):
            external = {
                "uri": card["uri"],
                "title": card.get("title", ""),
                "description": card.get("description", ""),
            }
            if message.photo:
                thumb, problem = await self._thumb(message.photo)
                if thumb is not None:
                    external["thumb"] = thumb
                else:
                    notes.append(f"card without a picture: {problem}")
            record["embed"] = {"$type": "app.bsky.embed.external", "external": external}
        body = {"repo": self._session["did"], "collection": "app.bsky.feed.post", "record": record}
        response = await self._call("com.atproto.repo.createRecord", json=body)
        uri = response.json().get("uri")
        return SendResult(external_id=uri, detail="; ".join([uri or "sent", *notes]))

    async def _thumb(self, url: str) -> tuple[dict[str, Any] | None, str]:
        """(the uploaded blob, "") or (None, why there is none)."""
        assert self._pictures is not None
        picture = await fetch_picture(self._pictures, url, MAX_THUMB_BYTES)
        if isinstance(picture, str):
            log.warning("channel %s: %s (%s)", self.name, picture, url)
            return None, picture
        data, kind = picture
        try:
            response = await self._call(
                "com.atproto.repo.uploadBlob", content=data, headers={"Content-Type": kind}
            )
        except PermanentError as error:
            return None, f"the PDS refused the picture ({error})"
        except UnknownOutcome as error:  # an upload that went astray harms nobody
            return None, f"the picture upload got no answer ({error})"
        return response.json()["blob"], ""


def _retry_after(response: httpx.Response) -> float | None:
    wait = retry_after(response)
    reset = response.headers.get("ratelimit-reset")
    if wait is None and reset and reset.isdigit():
        wait = max(0.0, int(reset) - time.time())
    return wait


def _extras(message: SocialPost) -> dict[str, Any]:
    try:
        extras = json.loads(message.fallback_text or "{}")
    except ValueError:
        return {}
    return extras if isinstance(extras, dict) else {}


def _error_name(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or "")
    except (ValueError, AttributeError):
        return ""


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        return f"{data.get('error', '')}: {data.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
