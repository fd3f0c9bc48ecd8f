"""Finding channel classes by their `type`: the built-in ones and installed adapters.

A third-party package adds a network by declaring an entry point in the group
`syndicate.channels`, named by the `type` editors write::

    [project.entry-points."syndicate.channels"]
    matrix = "syndicate_matrix:MatrixChannel"
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from syndicate.channels.base import Channel
from syndicate.config import ChannelConfig, Config, ConfigError

__all__ = ["ENTRY_POINT_GROUP", "build_channels", "channel_class", "channel_types"]

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


def build_channels(config: Config) -> dict[str, Channel]:
    """Every channel of the settings file, each having checked its own keys."""
    channels: dict[str, Channel] = {}
    for name, channel_config in config.channels.items():
        cls = channel_class(channel_config)
        try:
            channel = cls.from_config(name, channel_config.table)
        except ConfigError:
            raise
        except Exception as error:
            channel_config.table.fail("type", f"the {channel_config.type} adapter failed ({error})")
        channels[name] = channel
    return channels
