"""Polling: fetch each source, parse it, store its new posts, and record its health.

The fetching and parsing are here; the storing is `store.py`'s, done in a thread of the
poll's own. That thread's first work is to open the poll's store: the database layer
loaded, and the database opened too when the poll is given a way to open it rather than an
open one (`syndicate fetch` does), while the first feeds are fetched and handed to the
parsing processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from syndicate.config import IngestSettings
from syndicate.config import Source as SourceConfig
from syndicate.ingest.addresses import Reach, Resolver
from syndicate.ingest.entries import FeedError, ParsedFeed, wants_page
from syndicate.ingest.fetch import FetchError, FetchResult, fetch_feed, make_client
from syndicate.ingest.recheck import PollReport, Validators, look
from syndicate.ingest.request import MAX_CONCURRENT_FETCHES
from syndicate.ingest.workers import FeedParsers
from syndicate.redaction import redact

if TYPE_CHECKING:
    import httpx

    from syndicate.db.session import Database
    from syndicate.ingest.extract import ArticleFetcher
    from syndicate.ingest.store import PollStore

__all__ = ["PollReport", "poll_sources"]

log = logging.getLogger(__name__)

# Sources read (fetched and parsed) and not stored yet, at most: their feeds wait in memory.
_MOST_READ = 64


async def poll_sources(
    db: Database | Callable[[], Database],
    sources: Sequence[SourceConfig],
    *,
    only_due: bool = False,
    progress: Callable[[PollReport], None] | None = None,
    workers: int | None = None,
    look_first: bool = True,
    settings: IngestSettings | None = None,
    resolver: Resolver | None = None,
    validators: Mapping[str, Validators] | None = None,
) -> list[PollReport]:
    """Fetch the given sources (all, or only those whose poll interval has passed).

    A source that fails is recorded as failing and skipped; it never stops the others.
    First the quick look (`syndicate.ingest.recheck`) asks which feeds changed since the
    last fetch and records those that did not; only the rest are fetched here (pass
    `look_first=False` when the caller took the look itself, with the `validators` it
    read). Feeds are parsed in `workers` processes (0: in threads); by default a poll of
    many sources uses one process per core (see `syndicate.ingest.workers`).

    `db` is the database, or a function that opens it (called in the poll's storing
    thread). Feeds are fetched while the store opens when their stored validators are
    known: read by the quick look, or given.

    `settings` ([ingest]) give each feed and each article page its deadline and the hosts
    that may be on private addresses; `resolver` turns host names into addresses (the
    system's by default; see `syndicate.ingest.addresses`).
    """
    reports: list[PollReport] = []
    if look_first:
        assert not callable(db), "the quick look is taken on an open database"
        quick = await look(db.url, sources, only_due=only_due)
        reports += quick.unchanged
        if progress is not None:
            for report in quick.unchanged:
                progress(report)
        sources, validators = quick.rest, quick.validators
        if not sources:
            return reports
    # The sources' posts are stored in a thread of their own, one source at a time: the
    # database's driver lets go of the interpreter while the database works, and the poll
    # goes on fetching feeds and handing them to the parsers meanwhile.
    storing = ThreadPoolExecutor(1, thread_name_prefix="syndicate-store")
    opening = _Opening(storing, db, sources)
    try:
        enabled = [source for source in sources if source.enabled]
        if only_due:
            enabled = (await opening.store()).due(enabled)
        if validators is None:
            validators = (await opening.store()).validators
        reports += await _poll_each(
            opening, enabled, validators, progress, workers, settings, resolver, storing
        )
        store = await opening.store()  # the sources' rows made, even with none to fetch
    finally:
        storing.shutdown(wait=True, cancel_futures=True)  # no store outlives the poll
    store.record_unchanged()
    return reports


class _Opening:
    """The poll's store, opened in the storing thread when first needed: when the first
    feed has been read, unless the poll needs it to begin. The database layer loads there
    (a third of a second for a command, while it holds the interpreter) once the parsing
    processes have feeds to parse, and the poll goes on reading feeds meanwhile."""

    def __init__(
        self,
        storing: Executor,
        db: Database | Callable[[], Database],
        sources: Sequence[SourceConfig],
    ) -> None:
        self._storing, self._db, self._sources = storing, db, sources
        self._future: Future[PollStore] | None = None

    async def store(self) -> PollStore:
        """The store, once open (or the error that kept it shut)."""
        if self._future is None:
            self._future = self._storing.submit(_open_store, self._db, self._sources)
        return await asyncio.wrap_future(self._future)


def _open_store(
    db: Database | Callable[[], Database], sources: Sequence[SourceConfig]
) -> PollStore:
    # Imported here, in the storing thread: see `_Opening`.
    from syndicate.ingest.store import PollStore

    return PollStore(db, sources)


async def _poll_each(
    opening: _Opening,
    sources: list[SourceConfig],
    validators: Mapping[str, Validators],
    progress: Callable[[PollReport], None] | None,
    workers: int | None,
    settings: IngestSettings | None,
    resolver: Resolver | None,
    storing: Executor,
) -> list[PollReport]:
    reports: list[PollReport] = []
    # A source holds a fetch slot while it is read, and a place in the backlog until stored.
    limit = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
    backlog = asyncio.Semaphore(_MOST_READ)
    settings = settings or IngestSettings()
    client = make_client(settings.feed_timeout.total_seconds(), resolver=resolver)
    async with client, FeedParsers(len(sources), workers) as parsers:
        fetcher: ArticleFetcher | None = None

        def pages() -> ArticleFetcher:
            """One fetcher for the poll (its per-site limit spans all sources), made when a
            source first needs article pages: most polls need none, nor trafilatura."""
            nonlocal fetcher
            if fetcher is None:
                from syndicate.ingest.extract import ArticleFetcher

                fetcher = ArticleFetcher(client, deadline=settings.page_timeout.total_seconds())
            return fetcher

        async def one(source: SourceConfig) -> None:
            async with backlog, _Slot(limit) as slot:
                report = await _poll_one(
                    opening,
                    client,
                    source,
                    validators.get(source.name, (None, None)),
                    pages,
                    parsers,
                    settings,
                    storing,
                    slot,
                )
            reports.append(report)
            if progress is not None:
                progress(report)

        await _all_or_none(one(source) for source in sources)
    return reports


async def _all_or_none(polls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run every source's poll; should one raise (the database stopped the poll), the others
    are cancelled before it is raised: none goes on to a storing thread that has stopped."""
    tasks = [asyncio.ensure_future(poll) for poll in polls]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


class _Slot:
    """One of a poll's fetch slots, held while a source's feed and pages are fetched and
    parsed and given up before its posts are stored: this process stores one source at a
    time, and the other feeds are read meanwhile (by the parsing processes)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore, self._held = semaphore, False

    async def __aenter__(self) -> _Slot:
        await self._semaphore.acquire()
        self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.free()

    def free(self) -> None:
        """Give the slot up (once; leaving the `async with` then gives up nothing)."""
        if self._held:
            self._held = False
            self._semaphore.release()


async def _poll_one(
    opening: _Opening,
    client: httpx.AsyncClient,
    source: SourceConfig,
    stored: Validators,
    pages: Callable[[], ArticleFetcher],
    parsers: FeedParsers,
    settings: IngestSettings,
    storing: Executor,
    slot: _Slot | None = None,
) -> PollReport:
    """Fetch, parse and store one source; whatever goes wrong is recorded as its failure,
    never raised: one source never stops the others (the database failing stops the
    poll, as the store that could not be opened does)."""
    reach = Reach.around(source.url, settings.private_hosts)
    problems: list[str] = []  # article pages not fetched
    read = await _read(client, parsers, source, stored, settings, reach)
    feed = read[1] if isinstance(read, tuple) else None
    if slot is not None and (feed is None or not _wants_pages(feed, source)):
        slot.free()  # read: the storing below needs no network, nor a fetch's slot
    store = await opening.store()
    if (kept := store.validators.get(source.name, (None, None))) != stored:
        # The source's row changed after the quick look read it (another poll wrote it, the
        # database file was put back from a copy): the feed is read again, as the row says.
        stored = kept
        read = await _read(client, parsers, source, stored, settings, reach)
    if isinstance(read, Exception):
        return _failure(store, source, read)
    result, feed = read
    try:
        if feed is not None:
            feed = await _with_full_text(store, pages, source, feed, reach, problems)
        if slot is not None:
            slot.free()
        if feed is None:
            store.not_modified(source, result, stored)  # written at the end
            return PollReport(source.name, source.url, not_modified=result.not_modified)
        loop = asyncio.get_running_loop()
        new_posts, refused = await loop.run_in_executor(
            storing, store.settle, source, result, feed, stored, problems
        )
        problems += refused
    except Exception as error:
        return _failure(store, source, error)
    if new_posts:
        log.info("source %s: %d new posts", source.name, new_posts)
    return PollReport(
        source.name,
        source.url,
        new_posts,
        not_modified=result.not_modified,
        problems=tuple(problems),
    )


async def _read(
    client: httpx.AsyncClient,
    parsers: FeedParsers,
    source: SourceConfig,
    stored: Validators,
    settings: IngestSettings,
    reach: Reach,
) -> tuple[FetchResult, ParsedFeed | None] | Exception:
    """The source's feed fetched, and parsed unless the server said it is not modified; or
    what kept it from being read (the feed's fault, or a bug), to be recorded."""
    try:
        return await _fetch_and_parse(client, parsers, source, stored, settings, reach)
    except Exception as error:
        return error


async def _fetch_and_parse(
    client: httpx.AsyncClient,
    parsers: FeedParsers,
    source: SourceConfig,
    stored: Validators,
    settings: IngestSettings,
    reach: Reach,
) -> tuple[FetchResult, ParsedFeed | None]:
    etag, last_modified = stored
    result = await fetch_feed(
        client,
        source.url,
        etag=etag,
        last_modified=last_modified,
        deadline=settings.feed_timeout.total_seconds(),
        reach=reach,
    )
    if result.not_modified:
        return result, None
    feed = await parsers.parse(
        result.body,
        url=result.final_url,
        content_type=result.content_type,
        timezone=source.timezone,
    )
    for reason in feed.dropped:
        log.warning("source %s: %s; it was left out", source.name, redact(reason))
    return result, feed


def _failure(store: PollStore, source: SourceConfig, error: Exception) -> PollReport:
    """A source's failure recorded: its feed's (it could not be read), else a bug's or the
    database's (which stops the poll when the database itself failed)."""
    if isinstance(error, (FetchError, FeedError)):
        return store.failed(source, str(error), getattr(error, "retry_after", None))
    return store.unexpected(source, error)


async def _with_full_text(
    store: PollStore,
    pages: Callable[[], ArticleFetcher],
    source: SourceConfig,
    feed: ParsedFeed,
    reach: Reach,
    problems: list[str],
) -> ParsedFeed:
    """Complete the entries not stored yet from their pages, as the source's full_text says;
    a sentence for each page that could not be fetched goes into `problems`."""
    if not _wants_pages(feed, source):
        return feed  # no page to read: neither the database nor trafilatura is needed
    from syndicate.ingest.extract import complete_entries

    known = store.known(feed.entries)
    fresh = [entry for entry in feed.entries if entry.key not in known]
    completed = await complete_entries(
        fresh, pages(), full_text=source.full_text, zone=source.timezone, reach=reach
    )
    problems += completed.problems
    by_key = {entry.key: entry for entry in completed.entries}
    return replace(feed, entries=tuple(by_key.get(e.key, e) for e in feed.entries))


def _wants_pages(feed: ParsedFeed, source: SourceConfig) -> bool:
    return any(wants_page(entry, source.full_text) for entry in feed.entries)
