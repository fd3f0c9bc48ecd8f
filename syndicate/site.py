"""The site a command works on: its settings, its database and its channels, loaded once.

A command runs inside `command_scope(args)`; what it opens through `Site.load` (the
database's engine and its pooled connections) is closed when the command ends, so a
command run in-process (a test calling `main()`) leaves no connection behind.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syndicate.channels.base import Channel
    from syndicate.config import Config
    from syndicate.db.session import Database

__all__ = ["Site", "command_scope", "dispose_when_done"]


class Site:
    """What most commands need: the settings, the database and the channels."""

    def __init__(self, config: Config, db: Database, channels: dict[str, Channel]) -> None:
        self.config, self.db, self.channels = config, db, channels

    @classmethod
    def load(cls, args: argparse.Namespace, *, channels: bool = True, sending: bool = True) -> Site:
        """Load the site; `channels=False` for a command that needs no channel (and so need
        not import the channels' libraries, python-telegram-bot among them).

        `sending=False` for a command that only reads (deliveries, bounces, subscribers
        list...): it runs even while a job sends to a channel that cannot render it, which
        a command that renders or sends refuses (`build_channels`).
        """
        from syndicate.config import find_config_path, load_config
        from syndicate.db.session import open_database

        config = load_config(find_config_path(args.config))
        built: dict[str, Channel] = {}
        if channels:
            from syndicate.channels.registry import build_channels

            built = build_channels(config, sending=sending)
        db = open_database(config.database_url)
        dispose_when_done(args, db)
        return cls(config, db, built)


@contextlib.contextmanager
def command_scope(args: argparse.Namespace) -> Iterator[None]:
    """Run one command: the databases opened for it are disposed when it ends."""
    with contextlib.ExitStack() as closing:
        args.closing = closing
        try:
            yield
        finally:
            del args.closing


def dispose_when_done(args: argparse.Namespace, db: Database) -> None:
    """Dispose `db` when the command of `args` ends; outside `command_scope`, the caller does."""
    closing: contextlib.ExitStack | None = getattr(args, "closing", None)
    if closing is not None:
        closing.callback(db.dispose)
