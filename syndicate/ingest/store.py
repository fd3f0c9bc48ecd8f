"""Storing what a poll read: the sources' rows, each source's new posts placed in their
clusters, and each source's health.

The database's part of a poll (`poll.py` fetches and parses). A poll makes one `PollStore`
in its storing thread as it begins, and this module is first imported there: a command's
poll reads its first feeds while SQLAlchemy loads and the database opens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Dialect, Select, bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from syndicate.config import Source as SourceConfig
from syndicate.db.fit import fit_row, fit_value
from syndicate.db.models import Post, Source, utcnow
from syndicate.db.session import Database, DatabaseError, database_itself
from syndicate.ingest.cluster import ClusterIndex, NewPost, place_posts
from syndicate.ingest.entries import FeedEntry, ParsedFeed
from syndicate.ingest.recheck import PollReport, Validators, healthy
from syndicate.redaction import redact

if TYPE_CHECKING:
    from syndicate.ingest.fetch import FetchResult

__all__ = ["LATEST_POSTS", "MAX_BACKOFF", "PollStore", "first_line", "sync_sources"]

log = logging.getLogger(__name__)

# A failing source waits longer each time, up to this, so a dead site costs little.
MAX_BACKOFF = timedelta(hours=6)
# Article pages not fetched, told one by one on the source's last error (the rest counted).
MAX_PROBLEMS_SHOWN = 3
_ERROR_CHARS = 300  # of a database's or a bug's message, in a source's error
_KEY_CHARS = 200  # of an entry's key, naming an entry that was left out
# What the database (or its driver, binding a value) answers a row it cannot take.
_REFUSED = (SQLAlchemyError, ValueError, OverflowError)


class PollStore:
    """A poll's side of the database, made in the poll's storing thread as it begins: the
    database (opened there when the poll was given a way to open it), the sources' rows
    made to match the settings (`validators`: what each sends back on its fetch), and the
    poll's one cluster index (each stored post is fingerprinted once, not per source)."""

    def __init__(
        self, db: Database | Callable[[], Database], sources: Sequence[SourceConfig]
    ) -> None:
        self.db = db() if callable(db) else db
        try:
            self.validators = sync_sources(self.db, sources)
        except Exception as error:
            _stop_if_the_database_failed(error)
            raise
        self.clusters = ClusterIndex()
        # Sources that answered 304 are recorded together at the end (a poll of 200
        # unchanged feeds is then one transaction, not 200); lost with a killed poll, they
        # cost only one more conditional request next time.
        self._unchanged: list[dict[str, Any]] = []

    def due(self, sources: list[SourceConfig]) -> list[SourceConfig]:
        """The sources whose next poll has come."""
        return _due(self.db, sources)

    def known(self, entries: Sequence[FeedEntry]) -> set[str]:
        """The keys of those `entries` that are stored already."""
        # Each key as it will be stored: a hostile one is cleaned (PostgreSQL refuses a NUL).
        stored_key = {entry.key: fit_value(_POSTS.c.key, entry.key) for entry in entries}
        with self.db.session() as session:
            known = _known_keys(session, list(set(stored_key.values())))
        return {key for key, stored in stored_key.items() if stored in known}

    def settle(
        self,
        source: SourceConfig,
        result: FetchResult,
        feed: ParsedFeed,
        stored: Validators,
        problems: list[str],
    ) -> tuple[int, list[str]]:
        """Take the theme's furniture out of a source's entries, then store the new ones and
        its health: done in the poll's storing thread. How many were stored, and a sentence
        for each entry the database refused."""
        feed, furniture = _without_furniture(self.db, source, feed)
        health = _health(source, result, feed, stored)
        if furniture is not None:
            health["furniture"] = furniture
        if problems:  # the feed was read: the source is healthy, and says what it missed
            health["last_error"] = redact(
                _first_few(
                    problems, "article page was not fetched.", "article pages were not fetched."
                )
            )
        return _store(self.db, source, feed, self.clusters, health)

    def not_modified(self, source: SourceConfig, result: FetchResult, stored: Validators) -> None:
        """The source answered "not modified": its health is written with the others'."""
        self._unchanged.append(_health(source, result, None, stored))

    def record_unchanged(self) -> None:
        """The sources answered "not modified", all in one statement: no row loaded.
        `DatabaseError` when the database itself failed (the poll then said nothing of
        them: they are asked again next time)."""
        healths, self._unchanged = self._unchanged, []
        _record_unchanged(self.db, healths)

    def failed(
        self,
        source: SourceConfig,
        message: str,
        retry_after: float | None = None,
        *,
        logged: bool = False,
    ) -> PollReport:
        """Record and report a source's failure; its message never shows a secret of its URL."""
        message = redact(message)
        if not logged:
            log.warning("source %s: %s", source.name, message)
        try:
            _record_failure(self.db, source, message, retry_after)
        except Exception as error:
            _stop_if_the_database_failed(error)
            log.exception("source %s: its failure could not be recorded", source.name)
        return PollReport(source.name, source.url, error=message)

    def unexpected(self, source: SourceConfig, error: Exception) -> PollReport:
        """A bug, or a database that refused the source's row: recorded as the source's
        failure. The database itself failing (read-only, full, gone) stops the poll instead:
        `DatabaseError` is raised, no feed being to blame."""
        _stop_if_the_database_failed(error)
        message = f"{source.url}: unexpected error while reading or storing the feed "
        message += f"({first_line(error)})."
        log.error("source %s: %s", source.name, redact(message), exc_info=error)
        return self.failed(source, message, logged=True)


def sync_sources(db: Database, sources: Iterable[SourceConfig]) -> dict[str, Validators]:
    """Make the sources table match the settings file (by name; rows are never deleted).

    Returns each source's stored validators, to be sent back on its next fetch. Another
    poll adding the same new sources at the same moment (two `syndicate fetch` on a new
    database, a source just added while `run` polls) is no error: its rows are read again.
    """
    sources = list(sources)
    try:
        return _sync_sources(db, sources)
    except IntegrityError:
        return _sync_sources(db, sources)


def _sync_sources(db: Database, sources: list[SourceConfig]) -> dict[str, Validators]:
    validators: dict[str, Validators] = {}
    with db.session() as session:
        rows = {row.name: row for row in session.scalars(select(Source))}
        for source in sources:
            row = rows.get(source.name)
            if row is None:
                session.add(Source(name=source.name, url=source.url, site_name=source.site_name))
                validators[source.name] = (None, None)
                continue
            if row.url != source.url:
                # A new address is a new feed: its validators mean nothing there.
                row.url, row.etag, row.last_modified = source.url, None, None
            if source.site_name:
                row.site_name = source.site_name
            validators[source.name] = (row.etag, row.last_modified)
    return validators


def _due(db: Database, sources: list[SourceConfig]) -> list[SourceConfig]:
    now = utcnow()
    with db.session() as session:
        next_poll = dict(session.execute(select(Source.name, Source.next_poll_at)).all())
    return [s for s in sources if (due := next_poll.get(s.name)) is None or due <= now]


def _stop_if_the_database_failed(error: Exception) -> None:
    """Raise `DatabaseError` when `error` is the database's own (gone, read-only, full)."""
    if database_itself(error):
        raise DatabaseError(_database_stopped(error)) from error


def _database_stopped(error: DBAPIError) -> str:
    """One sentence for a poll the database stopped: no feed is to blame, none is marked
    failing, and the sources not stored yet are read again at the next poll."""
    text = str(error.orig or error).strip()
    first = text.splitlines()[0][:_ERROR_CHARS] if text else type(error).__name__
    return (
        f"The poll stopped: the database could not store what was read ({first}); "
        "the feeds not stored are read again at the next poll."
    )


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(error).__name__}: {text[:_ERROR_CHARS]}" if text else type(error).__name__


def _without_furniture(
    db: Database, source: SourceConfig, feed: ParsedFeed
) -> tuple[ParsedFeed, str | None]:
    """The feed's entries without the lines the source's theme repeats, and the template
    learned (to keep on the source), from these entries and the source's latest posts."""
    if not feed.entries:
        return feed, None
    from syndicate.ingest.furniture import Template, learn, without_template

    with db.engine.connect() as connection:  # Core: a session's bookkeeping costs more
        kept = connection.scalar(_FURNITURE, {"source": source.name})
        recent = connection.execute(LATEST_POSTS, {"source": source.name}).all()
    in_feed = {entry.key for entry in feed.entries}  # a post is counted once
    texts = [entry.excerpt for entry in feed.entries]
    texts += [excerpt for key, excerpt in recent if key not in in_feed]
    template = learn(Template.loads(kept), texts)
    entries = without_template(feed.entries, template)
    return replace(feed, entries=tuple(entries)), template.dumps()


_POSTS = Post.__table__
_SOURCES = Source.__table__
_SOURCE_ID = select(_SOURCES.c.id).where(_SOURCES.c.name == bindparam("source"))
_FURNITURE = select(_SOURCES.c.furniture).where(_SOURCES.c.name == bindparam("source"))
_TEMPLATE_POSTS = 50  # a source's latest stored posts, read with a feed to learn its theme
# The key and text of a source's latest `_TEMPLATE_POSTS` posts: read through the posts'
# index on (source, id), never by a scan of every post stored.
LATEST_POSTS: Select[str, str] = (
    select(_POSTS.c.key, _POSTS.c.excerpt)
    .where(_POSTS.c.source_id == _SOURCE_ID.scalar_subquery())
    .order_by(_POSTS.c.id.desc())
    .limit(_TEMPLATE_POSTS)
)
_KNOWN_KEYS = select(_POSTS.c.key).where(_POSTS.c.key.in_(bindparam("keys", expanding=True)))
_GUID_OWNERS = select(_POSTS.c.key, _POSTS.c.source_id, _POSTS.c.content_hash).where(
    _POSTS.c.key.in_(bindparam("keys", expanding=True))
)
_SCOPED_GUIDS = select(_POSTS.c.key, _POSTS.c.content_hash).where(
    _POSTS.c.key >= bindparam("low"), _POSTS.c.key < bindparam("high")
)
# Every row comes with its id, its cluster and its fingerprint: placed before it is stored,
# a post is written once (an UPDATE afterwards rewrote every new row, a whole article each).
_INSERT_POSTS = insert(_POSTS)
_LAST_POST = select(func.coalesce(func.max(_POSTS.c.id), 0))
# PostgreSQL: ids taken from the posts' own sequence, so a concurrent poll never takes them.
_NEXT_POSTS = select(
    func.nextval(func.pg_get_serial_sequence("posts", "id")).label("id")
).select_from(func.generate_series(1, bindparam("count")).alias("n"))
# These set the columns named in the parameters they are given.
_UPDATE_POST = update(_POSTS).where(_POSTS.c.id == bindparam("post"))
_UPDATE_SOURCE = update(_SOURCES).where(_SOURCES.c.name == bindparam("source"))


def _store(
    db: Database,
    source: SourceConfig,
    feed: ParsedFeed,
    clusters: ClusterIndex,
    health: dict[str, Any],
) -> tuple[int, list[str]]:
    """Insert the entries not seen before (a post seen twice is stored once) and record the
    source's health, in one transaction: the source with one statement, the posts with one
    more (unless the database refuses one of them). How many were stored, and a sentence
    for each entry the database refused: the source's feed is then asked for whole next
    time (no validators), so that those entries are read and offered to it again.
    """
    # A connection, not an ORM session: these are Core statements, and a session's
    # bookkeeping would cost more than they do.
    with db.engine.begin() as connection:
        # The source's row first: on SQLite that write opens the transaction (pysqlite
        # begins one only at a write), so the savepoints below nest inside it.
        connection.execute(_UPDATE_SOURCE, fit_row(_SOURCES, health))
        stored, refused = _insert_posts(connection, source, feed, clusters)
        if refused:
            left_out = _first_few(refused, "entry was left out.", "entries were left out.")
            said = " ".join(filter(None, (health.get("last_error"), left_out)))
            again = {"source": source.name, "etag": None, "last_modified": None}
            connection.execute(_UPDATE_SOURCE, fit_row(_SOURCES, again | {"last_error": said}))
        return stored, refused


def _insert_posts(
    connection: Connection, source: SourceConfig, feed: ParsedFeed, clusters: ClusterIndex
) -> tuple[int, list[str]]:
    # Each key as it will be stored: a hostile one is cleaned, and must be found again.
    entries = _unique((fit_value(_POSTS.c.key, entry.key), entry) for entry in feed.entries)
    if not entries:
        return 0, []
    source_id = connection.scalars(_SOURCE_ID, {"source": source.name}).one()
    entries = _own_guids(connection, source, source_id, entries)
    known = _known_keys(connection, list(entries))
    rows = [
        fit_row(_POSTS, _post(source_id, key, entry))
        for key, entry in entries.items()
        if key not in known
    ]
    if not rows:
        return 0, []
    new = [
        NewPost(
            post_id,
            row["title"],
            row["excerpt"],
            _when(row),
            source_id,
            entries[row["key"]].fingerprint,
        )
        for post_id, row in zip(_new_ids(connection, len(rows)), rows, strict=True)
    ]
    placed = place_posts(connection, new, clusters)
    for row, post, (cluster_id, packed) in zip(rows, new, placed, strict=True):
        row.update(id=post.id, cluster_id=cluster_id, shingles=packed)
    stored, refused = _insert(connection, source, rows)
    if len(stored) < len(rows):
        _without_refused(connection, clusters, rows, stored)
    return len(stored), refused


def _own_guids(
    connection: Connection, source: SourceConfig, source_id: int, entries: dict[str, FeedEntry]
) -> dict[str, FeedEntry]:
    """The entries by key, where an entry known by its GUID alone (it has no link) whose
    GUID another source's different post already has is keyed by its GUID and its source:
    feeds number their items "1", "2", …, and one source's item 1 is not another's, though
    the same post carried by two sources (the same text) is still stored once."""
    guids = [key for key in entries if key.startswith("guid:")]
    if not guids:
        return entries
    owners = {
        key: (owner, digest)
        for key, owner, digest in connection.execute(_GUID_OWNERS, {"keys": guids})
    }
    keyed: dict[str, FeedEntry] = {}
    for key, entry in entries.items():
        owner, digest = owners.get(key, (source_id, entry.content_hash))
        if owner != source_id and digest != entry.content_hash:
            key = _scoped_guid(connection, key, source, entry.content_hash)
        keyed.setdefault(key, entry)
    return keyed


def _scoped_guid(connection: Connection, key: str, source: SourceConfig, digest: str) -> str:
    """`key` (a GUID another source's different post has) with its source: or, when the
    same text is stored under the GUID with another source (the same feed under two names),
    that post's key, so that it is not stored twice."""
    # Keys that begin with the GUID and "@", read through the keys' unique index.
    twins = connection.execute(_SCOPED_GUIDS, {"low": f"{key}@", "high": f"{key}A"})
    same = next((twin for twin, twin_digest in twins if twin_digest == digest), None)
    return same or fit_value(_POSTS.c.key, f"{key}@{source.name}")


def _new_ids(connection: Connection, count: int) -> list[int]:
    """Ids for `count` new posts, known before they are stored so that each is placed in
    its cluster first and written once. SQLite: after the largest stored (the transaction
    already holds the database's one write lock, so no other writer can take them);
    PostgreSQL: from the posts' sequence."""
    if connection.dialect.name == "postgresql":
        return list(connection.scalars(_NEXT_POSTS, {"count": count}))
    last = connection.scalar(_LAST_POST) or 0
    return list(range(last + 1, last + 1 + count))


def _without_refused(
    connection: Connection,
    clusters: ClusterIndex,
    rows: list[dict[str, Any]],
    stored: set[int],
) -> None:
    """Posts the database refused are no candidates, and the stored posts placed in a
    cluster one of them began take the first of themselves as their cluster's name."""
    refused = {row["id"] for row in rows if row["id"] not in stored}
    clusters.forget(refused)
    renamed: dict[int, int] = {}  # refused cluster id -> its first stored member
    for row in rows:  # in id order: the first stored member of a cluster comes first
        if row["id"] in stored and row["cluster_id"] in refused:
            renamed.setdefault(row["cluster_id"], row["id"])
            row["cluster_id"] = renamed[row["cluster_id"]]
            clusters.rename(row["id"], row["cluster_id"])
            connection.execute(_UPDATE_POST, {"post": row["id"], "cluster_id": row["cluster_id"]})


def _insert(
    connection: Connection, source: SourceConfig, rows: list[dict[str, Any]]
) -> tuple[set[int], list[str]]:
    """Insert the rows with one statement; the ids stored, and a sentence for each row the
    database refused. Should it refuse the batch, each row is inserted on its own, and a
    row it still refuses is left out (and said so): one entry never costs the others."""
    statement = _driver_insert(connection.dialect)
    try:
        with connection.begin_nested():
            statement.execute(connection, rows)
            return {row["id"] for row in rows}, []
    except _REFUSED as error:
        if database_itself(error):
            raise  # the database itself (read-only, full, gone), not a row it refuses
        if len(rows) > 1:
            log.info(
                "source %s: the database refused %d new posts together (%s); "
                "storing them one by one",
                source.name,
                len(rows),
                first_line(error),
            )
    stored: set[int] = set()
    refused: list[str] = []
    for row in rows:
        try:
            with connection.begin_nested():
                statement.execute(connection, [row])
            stored.add(row["id"])
        except _REFUSED as error:
            if database_itself(error):
                raise  # the database itself, not this row: the poll stops
            entry, problem = redact(row["key"])[:_KEY_CHARS], first_line(error)
            log.warning(
                "source %s: entry %r was left out: the database refused it (%s)",
                source.name,
                entry,
                problem,
            )
            refused.append(
                f"The entry {entry!r} was left out: the database refused it ({problem}); "
                "it is read again at the next poll."
            )
    return stored, refused


class _DriverInsert:
    """The INSERT of whole post rows, compiled once and run by the database's driver: each
    value goes through its column's own bind processor (a date becomes what SQLAlchemy
    itself would store), without the per-row bookkeeping of a Core execute, which cost a
    first poll more than the insert did."""

    def __init__(self, dialect: Dialect) -> None:
        compiled = _INSERT_POSTS.compile(dialect=dialect, column_keys=_ALL_COLUMNS)
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._names = list(compiled.positiontup or []) if self._positional else _ALL_COLUMNS
        self._processors = [
            (name, _POSTS.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in self._names
        ]

    def execute(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        values = [
            [(process(row[name]) if process else row[name]) for name, process in self._processors]
            for row in rows
        ]
        if self._positional:
            connection.exec_driver_sql(self._sql, [tuple(row) for row in values])
        else:
            connection.exec_driver_sql(
                self._sql, [dict(zip(self._names, row, strict=True)) for row in values]
            )


_ALL_COLUMNS = [column.key for column in _POSTS.columns]  # every row gives every column
_DRIVER_INSERTS: dict[str, _DriverInsert] = {}


def _driver_insert(dialect: Dialect) -> _DriverInsert:
    key = f"{dialect.name}+{dialect.driver}"
    if key not in _DRIVER_INSERTS:
        _DRIVER_INSERTS[key] = _DriverInsert(dialect)
    return _DRIVER_INSERTS[key]


def _known_keys(session: Session | Connection, keys: list[str]) -> set[str]:
    return set(session.scalars(_KNOWN_KEYS, {"keys": keys}))


def _unique(keyed: Iterable[tuple[str, FeedEntry]]) -> dict[str, FeedEntry]:
    seen: dict[str, FeedEntry] = {}
    for key, entry in keyed:
        seen.setdefault(key, entry)
    return seen


def _post(source_id: int, key: str, entry: FeedEntry) -> dict[str, Any]:
    """The row of a new post (every column given, so the batch is one INSERT)."""
    return {
        "source_id": source_id,
        "key": key,
        "guid": entry.guid,
        "url": entry.url,
        "title": entry.title,
        "content_html": entry.content_html,
        "excerpt": entry.excerpt,
        "summary_only": entry.summary_only,
        "author": entry.author,
        "image_url": entry.image_url,
        "origin_name": entry.origin.name if entry.origin else None,
        "origin_url": entry.origin.url if entry.origin else None,
        "comments": entry.comments,
        "content_hash": entry.content_hash,
        "published_at": entry.published_at,
        "updated_at": entry.updated_at,
        "first_seen_at": utcnow(),
    }


def _when(row: dict[str, Any]) -> datetime:
    return row["published_at"] or row["first_seen_at"]


def _health(
    source: SourceConfig, result: FetchResult, feed: ParsedFeed | None, stored: Validators
) -> dict[str, Any]:
    """The source row's new health after a successful fetch (the UPDATE's parameters)."""
    etag, last_modified = result.etag, result.last_modified
    if result.not_modified:  # a 304 without validators leaves the stored ones valid
        etag, last_modified = etag or stored[0], last_modified or stored[1]
    health = healthy(source, etag, last_modified, utcnow())
    if feed is not None:  # what the feed says of its site; a missing part keeps the stored one
        if feed.site_url:
            health["site_url"] = feed.site_url
        if not source.site_name and feed.title:
            health["site_name"] = feed.title
    return health


def _first_few(sentences: list[str], one: str, many: str) -> str:
    """The first few sentences, and how many more (a source's last error stays readable):
    "{n} more {many}" after them, "1 more {one}" for one."""
    shown, more = sentences[:MAX_PROBLEMS_SHOWN], len(sentences) - MAX_PROBLEMS_SHOWN
    if more > 0:
        shown.append(f"{more} more {many if more > 1 else one}")
    return " ".join(shown)


def _record_unchanged(db: Database, healths: list[dict[str, Any]]) -> None:
    """The sources answered "not modified", all in one statement: no row loaded."""
    if not healths:
        return
    try:
        with db.session() as session:
            session.execute(_UPDATE_SOURCE, [fit_row(_SOURCES, health) for health in healths])
    except Exception as error:  # they are polled again next time, as if they had changed
        _stop_if_the_database_failed(error)
        log.exception("the health of %d unchanged sources could not be recorded", len(healths))


def _record_failure(
    db: Database, source: SourceConfig, message: str, retry_after: float | None = None
) -> None:
    now = utcnow()
    with db.session() as session:
        row = session.scalars(select(Source).where(Source.name == source.name)).one()
        row.last_fetched_at = now
        row.last_error = fit_value(_SOURCES.c.last_error, message)
        row.consecutive_failures += 1
        wait = _backoff(source.poll, row.consecutive_failures)
        if retry_after is not None:  # the server said when to come back: do not come sooner
            wait = max(wait, timedelta(seconds=retry_after))
        row.next_poll_at = now + wait


def _backoff(poll: timedelta, failures: int) -> timedelta:
    return min(poll * (2 ** min(failures - 1, 10)), max(MAX_BACKOFF, poll))
