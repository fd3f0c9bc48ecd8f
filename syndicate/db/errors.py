"""`DatabaseError`: the database cannot be opened, upgraded or written, in one sentence.

Below both the session (`session.py`, which re-exports it) and the migrations
(`migrate.py`), which each raise it; like `syndicate.errors`, it imports no database layer.
"""

from __future__ import annotations

from syndicate.errors import SyndicateError

__all__ = ["DatabaseError"]


class DatabaseError(SyndicateError):
    """The database cannot be opened or upgraded; the message says why in one sentence."""
