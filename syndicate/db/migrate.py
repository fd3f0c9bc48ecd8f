"""Alembic, run from inside the package: the migrations ship with the code.

Every command opens the database through `upgrade_schema`; when the database already
stands at the newest migration (one query says so) Alembic is not even imported, which
saves a quarter of a second on each command. `head_revision` imports nothing heavy: the
quick look of `syndicate fetch` (ingest/recheck.py) checks the schema with it too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from syndicate.db.errors import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import Engine

__all__ = ["alembic_config", "head_revision", "upgrade_schema"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(
    r"^(down_revision|revision)\s*(?::[^=]+)?=\s*['\"]?([\w-]+|None)['\"]?", re.MULTILINE
)


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    # Alembic's default stdout is the one of the moment alembic.config was first imported
    # (a default argument): name the current one, or a replaced and closed stream is used.
    config = AlembicConfig(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest migration, read from the migration files (None if they branch); read
    once per process (every poll's quick look asks)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(engine: Engine) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no table yet: a new database
        return None
    return rows[0][0] if len(rows) == 1 else None


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration; quiet unless something is applied.

    Processes started together on a new database (two workers under systemd) would race
    to create the same tables: on PostgreSQL one migrates under an advisory lock while
    the others wait, then find the schema current; on SQLite the same under a lock file
    beside the database (`site.db.migrating`).
    """
    head = head_revision()
    if head is not None and _current_revision(engine) == head:
        return
    from alembic import command

    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(logging.WARNING)
    try:
        with _migration_lock(engine):
            current = _current_revision(engine)
            if current is not None and not _known_revision(current):
                raise DatabaseError(
                    f"The database was last upgraded by a newer syndicate (its schema is at "
                    f"revision {current!r}, which this version does not know): run that "
                    "version, or a copy of the database made for this one."
                )
            if head is None or current != head:
                command.upgrade(alembic_config(engine), "head")
    finally:
        alembic_logger.setLevel(level)


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:  # alembic's word for a revision it cannot find
        return False


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One process at a time migrates: on PostgreSQL under a session-level advisory lock,
    on a SQLite file under an exclusive lock on a file beside it."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        import fcntl

        database = database.removeprefix("file:").split("?", 1)[0]  # a read-only disk's URI
        with open(f"{database}.migrating", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
            connection.commit()


# Any fixed number: the advisory lock's name for "migrating syndicate's schema".
_MIGRATION_LOCK = 0x5359_4E44


def new_revision(message: str) -> Path:
    """Write the migration from the newest revision to the current models (for developers).

    Run it after changing `models.py`:
    ``python -c "from syndicate.db.migrate import new_revision; new_revision('what changed')"``
    then read the file it prints and commit it with the model change.
    """
    import tempfile

    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads {heads}: chain them first")
    number = len(list(script.walk_revisions())) + 1
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/revision.db")
        upgrade_schema(engine)
        command.revision(
            alembic_config(engine), message=message, autogenerate=True, rev_id=f"{number:04d}"
        )
        engine.dispose()
    written = max((MIGRATIONS / "versions").glob(f"{number:04d}_*.py"))
    text = written.read_text(encoding="utf-8")
    # Migrations stay plain SQLAlchemy: they must not break when a model type changes.
    text = text.replace(
        "syndicate.db.models.UTCDateTime(timezone=True)", "sa.DateTime(timezone=True)"
    ).replace("import syndicate.db.models\n", "")
    written.write_text(text, encoding="utf-8")
    print(written)
    return written
