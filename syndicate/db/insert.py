"""INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_new"]


def insert_new(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]], unique: Sequence[str]
) -> int:
    """Insert the rows whose unique key is not taken yet; return how many went in."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = next(iter(model.__table__.primary_key.columns))
    statement = insert(model).on_conflict_do_nothing(index_elements=list(unique)).returning(key)
    # RETURNING counts what went in, on both databases and in executemany batches.
    result = session.connection().execute(statement, list(rows))
    return len(result.all())
