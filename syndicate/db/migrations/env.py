"""Alembic's environment: the engine comes from syndicate, never from alembic.ini."""

from __future__ import annotations

from alembic import context

from syndicate.db.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite's batch mode copies a table and drops the old one; with foreign keys
            # on, dropping a parent table would first delete (or null) its children's rows.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if sqlite:
                    # SQLite's Python driver opens a transaction only before it writes a row:
                    # each table a migration made was kept at once, and an upgrade killed
                    # halfway left tables without the revision that says they are there
                    # (every later upgrade failing on "table ... already exists"). The whole
                    # upgrade is one transaction: it is all there, or none of it.
                    connection.exec_driver_sql("BEGIN")
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                context.run_migrations()
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


run_migrations()
