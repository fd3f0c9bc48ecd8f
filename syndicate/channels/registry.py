"""Finding channel classes by their `type`: the built-in ones and installed adapters.

A third-party package adds a network by declaring an entry point in the group
`syndicate.channels`, named by the `type` editors write::

    [project.entry-points."syndicate.channels"]
    matrix = "syndicate_matrix:MatrixChannel"
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points

from syndicate.channels.base import Channel
from syndicate.config import ChannelConfig, Config, ConfigError, Job
from syndicate.errors import SyndicateError
from syndicate.types import JobFormat

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterFailed",
    "NoRenderer",
    "build_channels",
    "channel_class",
    "channel_types",
    "no_renderer",
    "renderer_problems",
    "renders",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "syndicate.channels"
BUILTIN = {
    "email": "syndicate.channels.email:EmailChannel",
    "telegram": "syndicate.channels.telegram:TelegramChannel",
    "outbox": "syndicate.channels.outbox:OutboxChannel",
    "mastodon": "syndicate.channels.mastodon:MastodonChannel",
    "bluesky": "syndicate.channels.bluesky:BlueskyChannel",
    "webhook": "syndicate.channels.webhook:WebhookChannel",
}


def channel_types() -> list[str]:
    """Every type an editor may write: built in first, then installed adapters."""
    installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return [*BUILTIN, *(name for name in installed if name not in BUILTIN)]


def channel_class(config: ChannelConfig) -> type[Channel]:
    if config.type in BUILTIN:
        module_name, _, class_name = BUILTIN[config.type].partition(":")
        return getattr(importlib.import_module(module_name), class_name)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=config.type):
        try:
            loaded = entry_point.load()
        except Exception as error:
            config.table.fail("type", f'the adapter for "{config.type}" failed to load ({error})')
        if not (isinstance(loaded, type) and issubclass(loaded, Channel)):
            config.table.fail("type", f'the adapter for "{config.type}" is not a Channel class')
        return loaded
    known = ", ".join(f'"{name}"' for name in channel_types())
    config.table.fail("type", f'"{config.type}" is not a channel type (known: {known})')
    raise AssertionError  # unreachable: fail() raises


class AdapterFailed(SyndicateError):
    """An adapter's own code raised where it should have answered: a bug in the adapter,
    not a mistake in the settings, said in one line naming the channel and its type."""

    def __init__(self, channel: str, type: str, doing: str, error: BaseException) -> None:
        # One line, its own full stop dropped: the class name and ours close the sentence.
        what = " ".join(str(error).split()).removesuffix(".") or "no reason given"
        super().__init__(
            f'channel "{channel}" (adapter "{type}") failed {doing}: '
            f"{what} ({error.__class__.__name__})."
        )


class NoRenderer(SyndicateError):
    """A job sends to a channel that cannot render what the job sends; said in one sentence."""


def build_channels(config: Config, *, sending: bool = True) -> dict[str, Channel]:
    """Every channel of the settings file, each having checked its own keys.

    For a command that sends (`sending`), settings in which a job sends to a channel that
    cannot render the job's format are refused (`NoRenderer`), as any other mistake in a
    file is: nothing would go out. A command that only reads (deliveries, editions...)
    passes `sending=False`, so an operator can still look while the job file is wrong.

    A mistake in a channel's keys is the settings' own (`ConfigError`, naming the key);
    anything else an adapter raises while reading them, syndicate's own errors included,
    is `AdapterFailed`: one line naming the channel and its adapter.
    """
    channels: dict[str, Channel] = {}
    for name, channel_config in config.channels.items():
        cls = channel_class(channel_config)
        try:
            channel = cls.from_config(name, channel_config.table)
        except ConfigError:
            raise
        except Exception as error:
            raise AdapterFailed(name, channel_config.type, "reading its settings", error) from error
        channels[name] = channel
    problems = renderer_problems(config, channels) if sending else []
    if problems:
        raise NoRenderer(problems[0])
    return channels


def renders(channel: Channel, format: JobFormat) -> bool:
    """Whether `channel` renders `format`, asked of its adapter; an adapter whose
    `renders` raises fails as `AdapterFailed`, in one line naming it."""
    try:
        return channel.renders(format)
    except Exception as error:
        doing = f'answering whether it renders format "{format}"'
        raise AdapterFailed(channel.name, channel.type, doing, error) from error


def renderer_problems(config: Config, channels: Mapping[str, Channel]) -> list[str]:
    """One sentence for each (job, channel) whose channel has no renderer for the job's
    format (`Channel.renders`); nothing is rendered and the network is never asked.

    Every network renders its own messages (`Channel.fit_post` / `fit_digest`); there is
    no fallback to another network's renderer.
    """
    problems = []
    for job in config.jobs.values():
        for name in job.channels:
            channel = channels.get(name)
            if channel is None or channel.medium == "email":
                continue
            if not renders(channel, job.format):
                problems.append(no_renderer(channel, job))
    return problems


def no_renderer(channel: Channel, job: Job) -> str:
    """The sentence for a job whose channel cannot render it, saying what would work."""
    what = "each post on its own" if job.format == "each" else "digests"
    other: JobFormat = "digest" if job.format == "each" else "each"
    said = f'Job "{job.name}" sends {what} to channel "{channel.name}", whose type "{channel.type}"'
    if renders(channel, other):
        return (
            f'{said} cannot render them: set format = "{other}" in {job.file.name} '
            "or send this job to another channel."
        )
    return (
        f"{said} renders no messages at all: its adapter needs its own fit_post and "
        "fit_digest, or to derive from PlainTextFallback (syndicate.channels.plain); "
        "until then, send this job to another channel."
    )
