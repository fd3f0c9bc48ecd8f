"""The site a command works on: its settings, its database and its channels, loaded once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syndicate.channels.base import Channel
    from syndicate.config import Config
    from syndicate.db.session import Database

__all__ = ["Site"]


class Site:
    """What most commands need: the settings, the database and the channels."""

    def __init__(self, config: Config, db: Database, channels: dict[str, Channel]) -> None:
        self.config, self.db, self.channels = config, db, channels

    @classmethod
    def load(cls, args: argparse.Namespace, *, channels: bool = True) -> Site:
        """Load the site; `channels=False` for a command that sends nothing (and so need
        not import the channels' libraries, python-telegram-bot among them)."""
        from syndicate.config import find_config_path, load_config
        from syndicate.db.session import open_database

        config = load_config(find_config_path(args.config))
        built: dict[str, Channel] = {}
        if channels:
            from syndicate.channels.registry import build_channels

            built = build_channels(config)
        return cls(config, open_database(config.database_url), built)
