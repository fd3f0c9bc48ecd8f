"""The root of every error syndicate raises on purpose: `SyndicateError`.

Each part keeps its own error class next to the code that raises it (`ConfigError` in
config, `ChannelError` and its tree in channels/base, `DatabaseError` in db/errors, ...);
all of them derive from `SyndicateError`, so the CLI reports any of them as the one
sentence it carries, never as a traceback. Like `syndicate.types`, this module imports
nothing from syndicate.
"""

from __future__ import annotations

__all__ = ["SyndicateError"]


class SyndicateError(Exception):
    """Something syndicate refuses or cannot do, told in one sentence."""
