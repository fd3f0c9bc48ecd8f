"""Engines and sessions: SQLite in WAL mode by default, PostgreSQL with the same code."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeGuard, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from syndicate.db.errors import DatabaseError

__all__ = [
    "Database",
    "DatabaseError",
    "database_itself",
    "describe_outage",
    "is_connection_problem",
    "open_database",
]

T = TypeVar("T")
# A lost connection is tried again this many times, waiting about thirty seconds in all.
RECONNECT_TRIES = 10
# While the database stays away, the patient callers say so this often.
OUTAGE_REPORT_EVERY = 30.0
# How SQLite and PostgreSQL say their disk is full.
_DISK_FULL = ("database or disk is full", "no space left on device", "disk full")

log = logging.getLogger(__name__)


# PostgreSQL's classes of errors that are the database's own state, not a statement's: the
# connection (08), a read-only transaction (25), resources such as the disk (53), an
# operator's intervention (57).
_DATABASE_ITSELF = ("08", "25", "53", "57")


def database_itself(error: BaseException) -> TypeGuard[DBAPIError]:
    """Whether `error` is the database itself failing (gone, read-only, full), not a row
    or a statement it refuses."""
    if not isinstance(error, DBAPIError):
        return False
    state = str(getattr(error.orig, "sqlstate", "") or "")
    return isinstance(error, OperationalError) or state[:2] in _DATABASE_ITSELF


class Database:
    """An engine and its session factory, with the schema brought up to date."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        # As the settings gave it: the quick look of a poll opens its own connection.
        self.url = engine.url.render_as_string(hide_password=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on an error."""
        with self.sessions() as session, session.begin():
            yield session

    def run(self, work: Callable[[Session], T], *, doing: str) -> T:
        """Run `work` in a transaction, again from the start if the connection is lost.

        A dropped connection (a restarted database, `pg_terminate_backend`, a busy SQLite
        file) is waited out for about thirty seconds before the error is let through.
        `work` must be safe to run twice: it runs again only when its transaction did not
        commit, or when its commit's answer was lost.
        """
        for attempt in range(RECONNECT_TRIES):
            try:
                with self.session() as session:
                    return work(session)
            except (OperationalError, DBAPIError) as error:
                if not is_connection_problem(error) or attempt == RECONNECT_TRIES - 1:
                    raise
                log.warning("%s while %s; trying again", describe_outage(error), doing)
                time.sleep(min(0.1 * 2**attempt, 5.0))
        raise AssertionError  # unreachable

    async def run_patiently(
        self,
        work: Callable[[Session], T],
        *,
        doing: str,
        on_outage: Callable[[], None] | None = None,
    ) -> T:
        """`run`, in a thread, waiting out an outage of any length without blocking the loop.

        The sending side uses it: an outcome it cannot record yet is kept and written
        once the database is back, however long that takes. `on_outage` is called when
        the first try fails.
        """
        return await self.call_patiently(
            lambda: self._run_once(work), doing=doing, on_outage=on_outage
        )

    async def call_patiently(
        self, call: Callable[[], T], *, doing: str, on_outage: Callable[[], None] | None = None
    ) -> T:
        """`call()` (which uses this database) in a thread, retried while the database is away."""
        waited, since = 0.5, time.monotonic()
        warned_at: float | None = None
        while True:
            try:
                result = await asyncio.to_thread(call)
            except (OperationalError, DBAPIError) as error:
                if not is_connection_problem(error):
                    raise
                now = time.monotonic()
                if warned_at is None and on_outage is not None:
                    on_outage()
                if warned_at is None or now - warned_at >= OUTAGE_REPORT_EVERY:
                    log.warning(
                        "%s while %s; waiting for it (%.0f s so far)",
                        describe_outage(error),
                        doing,
                        now - since,
                    )
                    warned_at = now
                await asyncio.sleep(waited)
                waited = min(waited * 2, 5.0)
                continue
            if warned_at is not None:
                back_after = time.monotonic() - since
                log.warning("the database is back after %.0f s (%s)", back_after, doing)
            return result

    def _run_once(self, work: Callable[[Session], T]) -> T:
        with self.session() as session:
            return work(session)

    @contextmanager
    def sending_lock(self) -> Iterator[None]:
        """On SQLite, one process at a time may deliver; PostgreSQL takes any number.

        The lock is the operating system's, on a file beside the database, so it is gone
        the moment the process holding it dies.
        """
        database = self.engine.url.database
        if not self.is_sqlite or not database or database == ":memory:":
            yield
            return
        import fcntl

        database = database.removeprefix("file:").split("?", 1)[0]  # a read-only disk's URI
        path = Path(f"{database}.sending.lock")
        with path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise DatabaseError(
                    f"{holder} is already sending from the SQLite database {database}; "
                    "SQLite allows one sending process (use PostgreSQL to run several "
                    "workers)."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"syndicate (process {os.getpid()})")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

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
            if _read_only_disk(folder):
                # A disk mounted read-only: nothing can write there, so the file is opened as
                # unchanging, which needs no journal files beside it. Commands that only read
                # work; one that writes gets SQLite's "readonly database", said as a sentence.
                path = Path(parsed.database).resolve()
                engine = create_engine(
                    f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true",
                    connect_args={"timeout": 30},
                )
                event.listen(engine, "connect", _sqlite_read_only_pragmas)
                return engine
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


def is_connection_problem(error: DBAPIError) -> bool:
    """Whether the database is away (or its disk full): waiting may help, the work is fine."""
    if error.connection_invalidated or isinstance(error, OperationalError):
        return True
    text = str(error.orig or error).lower()
    return "closed" in text or "terminat" in text or "connection" in text or _disk_full(text)


def describe_outage(error: DBAPIError) -> str:
    """One clause for the log: a full disk is called that, not a lost connection."""
    text = str(error.orig or error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if _disk_full(text.lower()):
        return f"the database's disk is full ({first})"
    return f"the database connection was lost ({first})"


def _disk_full(text: str) -> bool:
    return any(sign in text for sign in _DISK_FULL)


def _read_only_disk(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _sqlite_read_only_pragmas(connection: DBAPIConnection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_pragmas(connection: DBAPIConnection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
