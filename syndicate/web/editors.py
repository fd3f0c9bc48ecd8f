"""The editors' session generations: logging out ends every session of that editor.

A session cookie names the generation it was made in; logging out moves the editor's
generation on in the database, so every cookie made before (in this browser or any other,
served by this process or another) stops working at once.
"""

from __future__ import annotations

from sqlalchemy import update

from syndicate.db.insert import insert_new
from syndicate.db.models import Editor, utcnow
from syndicate.db.session import Database

__all__ = ["end_sessions", "session_generation"]


def session_generation(db: Database, user: str) -> int:
    """The generation a session of `user` must carry to be valid (0 before any logout)."""
    with db.session() as session:
        editor = session.get(Editor, user)
        return editor.session_generation if editor is not None else 0


def end_sessions(db: Database, user: str) -> int:
    """End every session of `user`; returns the new generation."""
    with db.session() as session:
        insert_new(session, Editor, [{"name": user, "session_generation": 0}], ("name",))
        session.execute(
            update(Editor)
            .where(Editor.name == user)
            .values(session_generation=Editor.session_generation + 1, sessions_ended_at=utcnow())
        )
    return session_generation(db, user)
