"""The quick look every poll takes first: which feeds are unchanged since last time?

Most feeds a newsroom polls have not changed since the last poll, and their servers say so
with 304 Not Modified. Asking through httpx and recording the answers through SQLAlchemy
costs more than the answers take (a command pays the imports too: `syndicate fetch` of 200
unchanged feeds spent 0.6 s, of which the requests took 0.05 s). So a poll first asks with
the standard library alone: one HTTP/1.1 request per feed over asyncio streams, and the
database's own driver (sqlite3 or psycopg) to read the validators and record the 304s.
`syndicate fetch` takes the look before it even imports SQLAlchemy and httpx;
`poll_sources` takes it for the scheduler.

Only a source that has validators from an earlier fetch, and whose stored row matches the
settings, is asked. Whatever else happens (a 200, a redirect, an error, a timeout, a proxy
in the environment, a database that needs a migration), the source goes on to the ordinary
poll, which fetches it again and reports any problem in its own words. The quick look never
records a failure; a feed that did change costs one extra request.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import SplitResult, quote, unquote, urlsplit

from syndicate.ingest import plain
from syndicate.ingest.plain import Validators
from syndicate.ingest.request import (
    MAX_CONCURRENT_FETCHES,
    file_stamp,
    sendable,
)
from syndicate.redaction import redact, redact_url

if TYPE_CHECKING:
    from syndicate.config import Source as SourceConfig

__all__ = ["PollReport", "QuickLook", "Validators", "healthy", "look"]

log = logging.getLogger(__name__)

# Seconds for one whole question: connecting, asking and the answer's head together, so a
# server that drips its answer a byte at a time is given up too (a slow 304 is rare).
TIMEOUT = 5.0


@dataclass(frozen=True)
class PollReport:
    """What polling one source came to."""

    source: str
    url: str
    new_posts: int = 0
    not_modified: bool = False
    error: str | None = None  # why the feed could not be read
    problems: tuple[str, ...] = ()  # the feed was read; one sentence per page that was not


@dataclass(frozen=True)
class QuickLook:
    unchanged: list[PollReport]  # answered 304, and recorded
    rest: list[SourceConfig]  # for the ordinary poll, in the settings' order
    # Each of the rest's stored validators, as its row gave them (none where the row names
    # another address, or there is none): None when the sources could not be read.
    validators: dict[str, Validators] | None = None


def healthy(
    source: SourceConfig, etag: str | None, last_modified: str | None, now: datetime
) -> dict[str, Any]:
    """A source row's columns after a successful fetch ("source" names the row)."""
    return {
        "source": source.name,
        "etag": etag,
        "last_modified": last_modified,
        "last_fetched_at": now,
        "last_success_at": now,
        "last_error": None,
        "consecutive_failures": 0,
        "next_poll_at": now + source.poll,
    }


async def look(
    database_url: str, sources: Sequence[SourceConfig], *, only_due: bool = False
) -> QuickLook:
    """Ask each source that can be asked whether its feed changed, and record the 304s.

    With `only_due`, a source whose next poll is still to come is not asked, nor passed on
    (unless its settings changed, which the ordinary poll records).
    """
    everything = QuickLook([], list(sources))
    store = _Store.open(database_url)
    if store is None:
        return everything
    try:
        rows = store.sources()
        now = datetime.now(UTC)
        waiting = {
            name for name, row in rows.items() if only_due and not store.due(row.next_poll, now)
        }
        askable = [
            (source, (row.etag, row.last_modified))
            for source in sources
            if (row := rows.get(source.name))
            and source.name not in waiting
            and _matches(source, row)
            and _askable(source, row)
        ]
        limit = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
        answers = await asyncio.gather(*(_ask(limit, s, stored) for s, stored in askable))
        now = datetime.now(UTC)  # when the answers came
        confirmed = {
            source.name: healthy(source, *answer, now)
            for (source, _), answer in zip(askable, answers, strict=True)
            if answer is not None
        }
        store.record([(health, rows[name].url) for name, health in confirmed.items()])
    except store.errors as error:  # the ordinary poll will meet it again and say so
        log.debug("quick look given up: %s", error)
        return everything
    except Exception:  # a bug here must cost only the shortcut, never the poll
        log.exception("the quick look at the feeds failed; every source is fetched instead")
        return everything
    finally:
        store.close()
    unchanged = [
        PollReport(source.name, source.url, not_modified=True)
        for source in sources
        if source.name in confirmed
    ]
    rest = [
        source
        for source in sources
        if source.name not in confirmed
        # A disabled source, or one not due, is left alone once its row says what the
        # settings say; the ordinary poll adds or updates the row.
        and not (
            (not source.enabled or source.name in waiting)
            and source.name in rows
            and _matches(source, rows[source.name])
        )
    ]
    return QuickLook(unchanged, rest, {source.name: _stored(source, rows) for source in rest})


def _stored(source: SourceConfig, rows: dict[str, _Row]) -> Validators:
    """What the source's row keeps to send back; a new address is a new feed (as
    `store.sync_sources` says when it updates the row)."""
    row = rows.get(source.name)
    return (
        (row.etag, row.last_modified) if row is not None and row.url == source.url else (None, None)
    )


class _Row(NamedTuple):
    url: str
    site_name: str | None
    etag: str | None
    last_modified: str | None
    next_poll: Any  # datetime, or SQLite's text of one, or None


def _matches(source: SourceConfig, row: _Row) -> bool:
    """Whether the stored row says what the settings say (else the ordinary poll updates it)."""
    return row.url == source.url and (not source.site_name or row.site_name == source.site_name)


def _askable(source: SourceConfig, row: _Row) -> bool:
    url = source.url
    if not source.enabled or not (row.etag or row.last_modified):
        return False
    # Only plain ASCII URLs without credentials: anything else is for httpx to encode.
    # (An "@" further on, as in medium.com/feed/@newsroom, is part of the path.)
    if url.partition(":")[0].lower() == "file":
        return all(32 < ord(c) < 127 for c in url)
    return plain.askable(url)


async def _ask(
    limit: asyncio.Semaphore, source: SourceConfig, stored: Validators
) -> Validators | None:
    """The validators to keep after a 304 (a 304 without them keeps the stored ones), or
    None when the feed is to be fetched the ordinary way."""
    parts = urlsplit(source.url)
    try:
        if parts.scheme.lower() == "file":
            return _ask_file(parts, stored)
        async with limit:
            status, _, headers, _ = await plain.ask(source.url, stored, deadline=TIMEOUT)
    except Exception as error:  # whatever it was, the ordinary poll will say it properly
        log.debug("quick look at %s: %s", redact_url(source.url), redact(repr(error)))
        return None
    if status != 304:
        return None
    etag, last_modified = sendable(headers.get("etag")), sendable(headers.get("last-modified"))
    return etag or stored[0], last_modified or stored[1]


def _ask_file(parts: SplitResult, stored: Validators) -> Validators | None:
    from pathlib import Path
    from urllib.request import url2pathname

    stamp = file_stamp(Path(url2pathname(unquote(parts.path))).stat().st_mtime)
    return (stored[0], stamp) if stamp == stored[1] else None


_SQLITE = re.compile(r"^sqlite(?:\+\w+)?:///([^?]+)")
_POSTGRES = re.compile(r"^postgresql(?:\+\w+)?://")


class _Store:
    """The sources table through the database's own driver, SQLite's or psycopg."""

    def __init__(self, connection: Any, errors: tuple[type[Exception], ...], sqlite: bool) -> None:
        self.connection, self.errors, self.sqlite = connection, errors, sqlite

    @classmethod
    def open(cls, url: str) -> _Store | None:
        """The store, or None when the quick look cannot be taken: the database does not
        exist yet, cannot be reached, or awaits a migration (all for the ordinary poll)."""
        try:
            store = cls._connect(url)
        except Exception as error:
            log.debug("quick look: the database cannot be opened (%s)", error)
            return None
        if store is not None and not store._current():
            store.close()
            return None
        return store

    @classmethod
    def _connect(cls, url: str) -> _Store | None:
        if found := _SQLITE.match(url):
            import sqlite3

            path = found.group(1)
            if path == ":memory:":
                return None
            # mode=rw: a database that does not exist is not created here.
            uri = f"file:{quote(path)}?mode=rw"
            return cls(sqlite3.connect(uri, uri=True, timeout=30), (sqlite3.Error,), True)
        if _POSTGRES.match(url):
            import psycopg

            conninfo = _POSTGRES.sub("postgresql://", url)
            connection = psycopg.connect(conninfo, connect_timeout=10, autocommit=True)
            return cls(connection, (psycopg.Error,), False)
        return None

    def _current(self) -> bool:
        from syndicate.db.migrate import head_revision

        try:
            rows = self.connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except self.errors:
            return False
        return rows == [(head_revision(),)]

    def sources(self) -> dict[str, _Row]:
        query = "SELECT name, url, site_name, etag, last_modified, next_poll_at FROM sources"
        return {name: _Row(*rest) for name, *rest in self.connection.execute(query)}

    def record(self, healths: list[tuple[dict[str, Any], str]]) -> None:
        """Write each source's health, where its row still has the URL it was asked at."""
        if not healths:
            return
        mark = "?" if self.sqlite else "%s"
        statement = (
            f"UPDATE sources SET etag = {mark}, last_modified = {mark}, "
            f"last_fetched_at = {mark}, last_success_at = {mark}, last_error = NULL, "
            f"consecutive_failures = 0, next_poll_at = {mark} "
            f"WHERE name = {mark} AND url = {mark}"
        )
        rows = [
            (
                health["etag"],
                health["last_modified"],
                self._stamp(health["last_fetched_at"]),
                self._stamp(health["last_success_at"]),
                self._stamp(health["next_poll_at"]),
                health["source"],
                url,
            )
            for health, url in healths
        ]
        if self.sqlite:
            with self.connection:
                self.connection.executemany(statement, rows)
        else:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.executemany(statement, rows)

    def due(self, next_poll: datetime | str | None, now: datetime) -> bool:
        if next_poll is None:
            return True
        if isinstance(next_poll, str):  # SQLite: the text SQLAlchemy wrote, in UTC
            next_poll = datetime.fromisoformat(next_poll).replace(tzinfo=UTC)
        return next_poll <= now

    def _stamp(self, moment: datetime) -> datetime | str:
        # On SQLite, a timestamp is the text SQLAlchemy writes: UTC, without a zone.
        if self.sqlite:
            return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return moment

    def close(self) -> None:
        self.connection.close()
