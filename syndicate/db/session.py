"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL with the same code."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "DatabaseError", "open_database"]

log = logging.getLogger(__name__)


class DatabaseError(Exception):
    """The database cannot be opened or upgraded; the message says why in one sentence."""


class Database:
    """An engine and its session factory, with the schema brought up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on an error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Connect, and apply any migration the database has not seen yet."""
    engine = _make_engine(url)
    database = Database(engine)
    if upgrade:
        from syndicate.db.migrate import upgrade_schema

        upgrade_schema(engine)
    return database


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            if not folder.is_dir():
                raise DatabaseError(
                    f"The database folder {folder} does not exist ([database] url = {url!r})."
                )
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise DatabaseError(
                "PostgreSQL needs the psycopg driver: pip install 'syndicate[postgres]'."
            ) from None
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise DatabaseError(f"{url!r} is neither a SQLite nor a PostgreSQL database URL.")


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
