"""The channel interface: what an adapter receives, what it returns, and how it fails.

A channel makes its network's messages at the job run (`fit_post`, `fit_digest`) and hands
one finished `Message` addressed to one target to the network (`send`). It does not choose
recipients or touch the database: `syndicate.jobs` and `syndicate.delivery` do that, and
record what the channel reports.

Errors a channel raises, and what the delivery does with them::

    ChannelError                 base class (a SyndicateError); never raised itself
    ├── TransientError           nothing was delivered; try again later (retry_after hint;
    │   │                        scope: what else waits — the channel, the target, or
    │   │                        just this message); the message counts an attempt
    │   └── ChannelDown          the network cannot be reached now (connection refused or
    │                            timed out, SMTP 421, a server that stopped answering):
    │                            nothing is known of this message, so it costs no attempt;
    │                            the whole channel waits with its own backoff.
    │                            `maybe_sent`: the line died after the request left
    ├── PermanentError           the network refused this message for good: failed
    │   ├── TargetGone           the target left (bot removed, address bounced): failed,
    │   │                        and the channel stops sending to it
    │   └── ChannelRefused       the network refuses the channel itself (a wrong password
    │                            or token, an untrusted certificate): no message is at
    │                            fault; the channel waits until an editor fixes it
    └── UnknownOutcome           the request may or may not have been delivered (a timeout
                                 after it left); never re-sent without an editor's say

A channel whose requests may be held back before they leave (its own pacing) calls
`request_starts()` just before each request, so the delivery records the moment a message
is really in flight; for any other channel the delivery records it just before `send`.

Any other exception from `send` is treated like `UnknownOutcome` when it escapes after the
request may have left, so a bug in an adapter cannot make syndicate post twice.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, ClassVar

from syndicate.errors import SyndicateError
from syndicate.render.social import DoesNotFit
from syndicate.types import (
    AfterCrash,
    Credit,
    EditionView,
    EmailMessage,
    JobFormat,
    Message,
    PostView,
    RetryScope,
    SendResult,
    SocialPost,
)

if TYPE_CHECKING:
    from jinja2 import Environment

    from syndicate.config import ConfigTable

# The value types are defined in syndicate.types and named here too, so an adapter finds
# everything it uses in this one module.
__all__ = [
    "AfterCrash",
    "Channel",
    "ChannelDown",
    "ChannelError",
    "ChannelRefused",
    "Credit",
    "DoesNotFit",
    "EditionView",
    "EmailMessage",
    "Message",
    "PermanentError",
    "PostView",
    "RecipientRefused",
    "RetryScope",
    "SendResult",
    "SocialPost",
    "TargetGone",
    "TransientError",
    "UnknownOutcome",
    "request_starts",
]


class ChannelError(SyndicateError):
    """Base class of everything a channel raises on purpose."""


class TransientError(ChannelError):
    """Nothing was delivered, and trying again later may work.

    `scope` says what else should wait: "channel" (the server is down or throttles the
    whole account: every message of the channel waits), "target" (one chat is throttled:
    only messages to the same target wait) or "message" (only this one).
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        scope: RetryScope = "channel",
        attempted: bool = True,
    ) -> None:
        super().__init__(message)
        if scope not in ("channel", "target", "message"):
            raise ValueError(f"unknown scope {scope!r}")
        self.retry_after = retry_after
        self.scope = scope
        # False when the channel held the message back itself (its own rate limit, a
        # pause it remembers) without asking the network: that costs no attempt.
        self.attempted = attempted


class ChannelDown(TransientError):
    """The network cannot be reached now; this message is not at fault.

    The delivery pauses the whole channel (growing waits while the outage lasts) and
    gives its messages back to the queue without counting an attempt. `maybe_sent` says
    the connection died after the request left: a channel that re-sends after a crash
    (email) sends it again, any other records it as an unknown outcome.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message, scope="channel", attempted=False)
        self.maybe_sent = maybe_sent


class PermanentError(ChannelError):
    """The network refused this message; sending it again would fail the same way."""


class TargetGone(PermanentError):
    """The target is gone for good: the bot was removed, the address does not exist."""


class RecipientRefused(PermanentError):
    """The recipient's server refused this message for now-and-again reasons (a full
    mailbox, a policy or content block): a soft bounce, counted toward `bounce_after`."""


class ChannelRefused(PermanentError):
    """The network refuses the channel itself (login, token, certificate), not a message.

    No message counts an attempt: the channel waits until the settings are fixed.
    """


class UnknownOutcome(ChannelError):
    """The request may have been delivered; sending again could make a copy."""


# Set by the delivery around each `send`: called when the message's request is let go.
request_started: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "request_started", default=None
)


async def request_starts() -> None:
    """Say that the request for the message being sent leaves now (after any pacing).

    Only channels with `announces_requests = True` call it; calling it twice for one
    message (a photo refused, then the text) is harmless.
    """
    hook = request_started.get()
    if hook is not None:
        await hook()


class Channel(abc.ABC):
    """A way out to a network, configured by one `[channels.NAME]` table.

    Subclasses set `type` (the `type = "..."` value that selects them) and `medium`
    (which renderer makes their messages: "email", or a social network such as
    "telegram"), read their settings in `from_config`, and implement `send`.
    """

    type: ClassVar[str]
    medium: ClassVar[str]
    # What happens to a message whose sender crashed mid-send: "requeue" sends it again
    # (right for email, where the Message-ID lets the receiver drop a copy); "unknown"
    # leaves it for an editor (right for public posts, where a copy is worse than a gap).
    after_crash: ClassVar[AfterCrash] = "unknown"
    # True when `send` calls `request_starts()` itself, after its own pacing: messages
    # waiting for their turn then never count as in flight.
    announces_requests: ClassVar[bool] = False
    # How many messages of this channel may be in flight at once (e.g. an SMTP pool).
    concurrency: int = 1
    # Hard bounces before an email address is marked bounced; None: the delivery default.
    bounce_limit: int | None = None

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    @abc.abstractmethod
    def from_config(cls, name: str, table: ConfigTable) -> Channel:
        """Build the channel from its table; call `table.done()` to reject unknown keys."""

    def targets(self) -> tuple[str, ...]:
        """The chats or accounts a social channel posts to; email channels mail a list."""
        return ()

    @property
    def list_name(self) -> str | None:
        """The subscriber list an email channel mails, or None."""
        return None

    @property
    def sender(self) -> str | None:
        """The From header of an email channel, or None."""
        return None

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra headers every email of this channel carries (e.g. Reply-To)."""
        return {}

    def fit_post(
        self, post: PostView, *, env: Environment, locale: str, timezone: str
    ) -> SocialPost | None:
        """This network's blurb for one post, fitted to its limits.

        Every network renders its own (Telegram, Mastodon, Bluesky, the webhook); None (the
        default) says the channel cannot render single posts, and `syndicate check` refuses
        a job with `format = "each"` that sends to it. An adapter with no format of its own
        can opt into the neutral plain-text renderer (`channels.plain.PlainTextFallback`).
        The frame — title, credit, link — must never be cut; only the excerpt shortens.
        `target` of the returned post is ignored: the delivery fills it in.
        """
        return None

    def fit_digest(
        self, edition: EditionView, *, env: Environment, locale: str, timezone: str
    ) -> list[SocialPost] | None:
        """This network's messages for a whole edition (`format = "digest"`), or None
        when it cannot render digests (see `fit_post`)."""
        return None

    def renders(self, format: JobFormat) -> bool:
        """Whether this channel makes messages for jobs of `format` ("each": `fit_post`,
        "digest": `fit_digest`), answered without rendering anything, so without asking
        the network: `syndicate check` and `syndicate run` refuse a job it cannot render.

        By default, whether the class has a fitting method of its own for it; an adapter
        whose method returns None for a whole format says so here instead.
        """
        method = "fit_post" if format == "each" else "fit_digest"
        return getattr(type(self), method) is not getattr(Channel, method)

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect, log in, or check credentials before the first send."""

    @abc.abstractmethod
    async def send(self, message: Message) -> SendResult:
        """Hand one message to the network, or raise one of the errors above."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
