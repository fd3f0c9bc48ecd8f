"""The Mastodon channel: posts a status, with the post's picture, through Mastodon's REST API.

Settings (`[channels.NAME]`): `type = "mastodon"`, `instance_url` ("https://mastodon.social"),
`access_token` (an application's token with the `write:statuses` and `write:media`
scopes), `visibility` ("public", "unlisted", "private" or "direct"; "public" unless
said), `timeout` (seconds, 10). The target of every delivery is the instance's host.

The budget is the instance's: `configuration.statuses.max_characters` of
`/api/v2/instance` (500 when the instance does not say), read once per channel, when
the first post is fitted or at `open()`, whichever comes first; see
`syndicate.render.mastodon` for how Mastodon counts.

A status with a picture: the picture is fetched from the post's image address and
uploaded (`POST /api/v2/media`, its description the post's title, for screen readers);
a picture that cannot be fetched or that Mastodon refuses is left out, and the status
goes without it (the result's detail says so). Then `POST /api/v1/statuses`.

Every status carries an `Idempotency-Key`: the SHA-256 of the target, text, link and
picture address. Mastodon remembers a key for an hour and answers a request that repeats
it with the status it already made, so sending the same delivery again cannot post a
second copy. That is why this channel, unlike Telegram, treats a timeout after the
request left as a `TransientError`: the retry (asked for within a minute) either finds
the status made the first time or makes it once. A retry later than an hour could post
again; `after_crash` stays "unknown" for that reason, since a crashed worker's rows may
be picked up much later.

How Mastodon's answers map onto the channel error tree::

    200                                  sent; the external id is the status id
    422 (validation: too long, ...)      PermanentError with Mastodon's "error"
    401 (token invalid or revoked)       PermanentError
    403 (account suspended or disabled)  TargetGone: the channel stops posting there
    404, other 4xx                       PermanentError
    429, 503                             TransientError(retry_after from Retry-After or
                                         X-RateLimit-Reset)
    other 5xx, timeouts, dropped links   TransientError (safe: Idempotency-Key)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any, ClassVar
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
)
from syndicate.channels.http import fetch_picture, retry_after
from syndicate.config import ConfigTable
from syndicate.render.mastodon import (
    DEFAULT_MAX_CHARACTERS,
    render_mastodon_digest,
    render_mastodon_post,
)

if TYPE_CHECKING:
    from jinja2 import Environment

    from syndicate.types import EditionView, PostView

__all__ = ["VISIBILITIES", "MastodonChannel", "fetch_picture", "idempotency_key", "retry_after"]

log = logging.getLogger(__name__)

VISIBILITIES = ("public", "unlisted", "private", "direct")
DEFAULT_TIMEOUT = 10.0
MAX_PICTURE_BYTES = 16 * 1024 * 1024  # Mastodon's limit for an image
# A retry after a timeout comes this soon, well inside Mastodon's one-hour memory of keys.
RETRY_AFTER_TIMEOUT = 30.0
MEDIA_POLLS = 10  # how often to ask whether an uploaded picture is processed
MEDIA_POLL_INTERVAL = 0.5


def idempotency_key(post: SocialPost) -> str:
    """The same key for the same delivery, every time it is sent."""
    parts = (post.target, post.text, post.link or "", post.photo or "")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class MastodonChannel(Channel):
    """Posts each post as a status of one Mastodon account."""

    type: ClassVar[str] = "mastodon"
    medium: ClassVar[str] = "mastodon"
    after_crash: ClassVar[AfterCrash] = "unknown"

    def __init__(
        self,
        name: str,
        instance_url: str,
        access_token: str,
        *,
        visibility: str = "public",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(name)
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}")
        self.instance_url = instance_url.rstrip("/")
        self._token = access_token
        self.visibility = visibility
        self.timeout = timeout
        self.max_characters: int | None = None
        self._budget_asked = False  # whether fitting asked the instance already
        self._client: httpx.AsyncClient | None = None
        # Pictures come from other hosts: fetched without the account's token.
        self._pictures: httpx.AsyncClient | None = None
        self.media_poll_interval = MEDIA_POLL_INTERVAL

    def __repr__(self) -> str:  # never show the token
        return f"MastodonChannel(name={self.name!r}, instance_url={self.instance_url!r})"

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> MastodonChannel:
        instance_url = table.url("instance_url", ("https", "http"))
        if not urlsplit(instance_url).hostname:
            table.fail("instance_url", f'"{instance_url}" names no host')
        channel = cls(
            name,
            instance_url,
            table.text("access_token"),
            visibility=table.choice("visibility", VISIBILITIES, "public"),
            timeout=float(table.integer("timeout", int(DEFAULT_TIMEOUT), minimum=1)),
        )
        table.done()
        return channel

    def targets(self) -> tuple[str, ...]:
        return (urlsplit(self.instance_url).netloc,)

    # -- fitting ---------------------------------------------------------------------

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost:
        return render_mastodon_post(post, env=env, locale=locale, limit=self._budget())

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost]:
        return render_mastodon_digest(edition, env=env, limit=self._budget())

    def _budget(self) -> int:
        """The instance's limit; asked once, synchronously, when fitting comes before open().

        An ask that failed is not repeated (each would block a job run for the timeout):
        the default holds until `open()`, which asks again, learns the limit.
        """
        if self.max_characters is None and not self._budget_asked:
            self._budget_asked = True
            url = f"{self.instance_url}/api/v2/instance"
            try:
                response = httpx.get(url, timeout=self.timeout)
                response.raise_for_status()
            except httpx.HTTPError as error:
                log.warning(
                    "channel %s: cannot ask %s for its limit (%s); fitting to %d",
                    self.name,
                    url,
                    error,
                    DEFAULT_MAX_CHARACTERS,
                )
                return DEFAULT_MAX_CHARACTERS
            self.max_characters = _max_characters(response)
        return self.max_characters or DEFAULT_MAX_CHARACTERS

    # -- sending ---------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        client = httpx.AsyncClient(
            base_url=self.instance_url,
            headers={"Authorization": f"Bearer {self._token}", "User-Agent": "syndicate"},
            timeout=self.timeout,
        )
        try:
            account = await client.get("/api/v1/accounts/verify_credentials")
            if account.status_code == 401:
                raise PermanentError(
                    f'channel "{self.name}": {self.instance_url} refused the access token '
                    f"({_error_text(account)})."
                )
            if account.status_code == 403:
                raise PermanentError(
                    f'channel "{self.name}": the account is not allowed to post '
                    f"({_error_text(account)})."
                )
            if self.max_characters is None:
                self.max_characters = _max_characters(await client.get("/api/v2/instance"))
        except httpx.HTTPError as error:
            await client.aclose()
            raise ChannelDown(
                f'channel "{self.name}": cannot reach {self.instance_url} ({error!r}).'
            ) from error
        except PermanentError:
            await client.aclose()
            raise
        self._client = client
        self._pictures = httpx.AsyncClient(
            headers={"User-Agent": "syndicate"}, timeout=self.timeout
        )
        log.debug("channel %s: posting as @%s", self.name, account.json().get("acct"))

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
        if self._pictures is not None:
            pictures, self._pictures = self._pictures, None
            await pictures.aclose()

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, SocialPost):
            raise PermanentError(
                f'channel "{self.name}": a Mastodon channel sends posts, not email.'
            )
        await self.open()
        assert self._client is not None
        extras = _extras(message)
        media_ids: list[str] = []
        notes: list[str] = []
        if message.photo:
            media_id, problem = await self._upload(message.photo, extras.get("alt", ""))
            if media_id is None:
                notes.append(f"sent without the picture: {problem}")
            else:
                media_ids.append(media_id)
        body: dict[str, Any] = {"status": message.text, "visibility": self.visibility}
        if media_ids:
            body["media_ids"] = media_ids
        if extras.get("language"):
            body["language"] = extras["language"]
        headers = {"Idempotency-Key": idempotency_key(message)}
        response = await self._request("POST", "/api/v1/statuses", json=body, headers=headers)
        status = response.json()
        detail = "; ".join([status.get("url") or "sent", *notes])
        return SendResult(external_id=str(status["id"]), detail=detail)

    async def _upload(self, url: str, description: str) -> tuple[str | None, str]:
        """(the media id of the uploaded picture, "") or (None, why there is none)."""
        assert self._pictures is not None
        picture = await fetch_picture(self._pictures, url, MAX_PICTURE_BYTES)
        if isinstance(picture, str):
            log.warning("channel %s: %s (%s)", self.name, picture, url)
            return None, picture
        data, kind = picture
        name = urlsplit(url).path.rsplit("/", 1)[-1] or "picture"
        try:
            response = await self._request(
                "POST",
                "/api/v2/media",
                files={"file": (name, data, kind)},
                data={"description": description},
            )
        except PermanentError as error:  # the picture refused, not the status
            log.warning("channel %s: picture refused: %s", self.name, error)
            return None, f"Mastodon refused the picture ({error})"
        media = response.json()
        polls = 0
        while response.status_code != 200 or not media.get("url"):
            # 202: still being processed; a status cannot take it until it is done.
            polls += 1
            if polls > MEDIA_POLLS:
                return None, "Mastodon did not finish processing the picture"
            await asyncio.sleep(self.media_poll_interval)
            response = await self._request("GET", f"/api/v1/media/{media['id']}")
            media = response.json() if response.status_code == 200 else media
        return str(media["id"]), ""

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self._client is not None
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            # Whether or not the request reached Mastodon, asking again is safe: a status
            # carries its Idempotency-Key, and an orphan upload is harmless.
            raise TransientError(
                f'channel "{self.name}": {method} {path} failed ({error!r}); will retry.',
                retry_after=RETRY_AFTER_TIMEOUT,
            ) from error
        code = response.status_code
        if code < 300:
            return response
        problem = f'channel "{self.name}": Mastodon answered {code}: {_error_text(response)}'
        if code in (429, 503) or code >= 500:
            raise TransientError(problem, retry_after=retry_after(response))
        if code == 403:
            raise TargetGone(problem)
        raise PermanentError(problem)


def _extras(message: SocialPost) -> dict[str, Any]:
    try:
        extras = json.loads(message.fallback_text or "{}")
    except ValueError:
        return {}
    return extras if isinstance(extras, dict) else {}


def _max_characters(response: httpx.Response) -> int:
    try:
        value = response.json()["configuration"]["statuses"]["max_characters"]
    except (ValueError, KeyError, TypeError):
        return DEFAULT_MAX_CHARACTERS
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_CHARACTERS


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.reason_phrase)
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
