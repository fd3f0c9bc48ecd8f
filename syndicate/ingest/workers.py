"""Parsing feeds in worker processes, so that a poll of many feeds uses every core.

Reading a feed (XML, then cleaning every entry's HTML) is Python work that holds the GIL:
threads cannot share it out. A poll of many sources hands each fetched document to a
pool of processes while the main process goes on fetching and storing; a poll of a few
parses in a thread, where starting processes would cost more than it saves.

The workers come from a fork server that has imported the parser once, never from a fork
of the scheduler itself (its threads may hold locks at the moment of the fork). A worker
that dies (out of memory on a monstrous feed, say) costs nothing: the pool is given up and
the rest of the poll parses in threads, as a small poll would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import select
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from datetime import tzinfo
from types import TracebackType

from syndicate.ingest.entries import ParsedFeed
from syndicate.ingest.shingles import EXCERPT_CHARS, fingerprint, made_from, pack

__all__ = ["PARALLEL_FROM", "FeedParsers", "start_early"]

log = logging.getLogger(__name__)

# Feeds in one poll from which worker processes pay for their start (about half a second).
PARALLEL_FROM = 8
# How much lower the parsing processes' priority is than the poll's (os.nice: 0 to 19).
# At 3, two parsing processes weigh about what the poll's own process weighs, so Linux gives
# it a core of its own; more would starve them behind any other work on the machine.
PARSER_NICENESS = 3


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _default_workers(feeds: int) -> int:
    """One process per core for a poll of `PARALLEL_FROM` feeds or more, else none."""
    cores = _usable_cores()
    return cores if feeds >= PARALLEL_FROM and cores > 1 else 0


class FeedParsers:
    """Where a poll's feeds are parsed: `workers` processes, or a thread when 0.

    By default a poll of `PARALLEL_FROM` feeds or more gets one process per core.
    Use as an async context manager around the poll.
    """

    def __init__(self, feeds: int, workers: int | None = None) -> None:
        self.workers = _default_workers(feeds) if workers is None else workers
        self._pool: Executor | None = None
        self._broken = False

    async def __aenter__(self) -> FeedParsers:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(_stop, pool)

    @property
    def parallel(self) -> bool:
        """Whether feeds go to worker processes (false once a worker has died)."""
        return bool(self.workers) and not self._broken

    async def parse(
        self, body: bytes, *, url: str, content_type: str | None, timezone: tzinfo | None
    ) -> ParsedFeed:
        """`parse_feed` in a worker process (or a thread); its FeedError comes back as is.

        The processes start with the first feed to parse: a poll answered only by
        "not modified" starts none.
        """
        if self._pool is None and self.parallel:
            self._pool = _start_pool(self.workers)
        pool = self._pool
        if pool is not None:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(pool, _parse, body, url, content_type, timezone)
            except (BrokenProcessPool, OSError) as error:  # died, or could not be started
                if self._pool is pool:
                    log.warning(
                        "a feed-parsing process stopped unexpectedly (%s); "
                        "the rest of this poll parses feeds one at a time",
                        error or type(error).__name__,
                    )
                    self._pool, self._broken = None, True
                    pool.shutdown(wait=False, cancel_futures=True)
        return await asyncio.to_thread(_parse, body, url, content_type, timezone)


def _parse(body: bytes, url: str, content_type: str | None, timezone: tzinfo | None) -> ParsedFeed:
    """The feed read, each entry fingerprinted for clustering here too (packed, as stored
    and as cheap to send as bytes are): in a worker process that work is spread over the
    cores, not left to the main process storing the posts."""
    from syndicate.ingest.parse import parse_feed  # imported once, where feeds are parsed

    feed = parse_feed(body, url=url, content_type=content_type, timezone=timezone)
    entries = tuple(
        replace(
            entry,
            fingerprint=(
                made_from(entry.title, entry.excerpt),
                pack(fingerprint(entry.title, entry.excerpt[:EXCERPT_CHARS])),
            ),
        )
        for entry in feed.entries
    )
    return replace(feed, entries=entries)


def _stop(pool: Executor) -> None:
    """Stop the workers and their fork server: between polls no process is left waiting
    (and the processes' CPU time and memory count as the poll's, where one measures it)."""
    pool.shutdown(wait=True, cancel_futures=True)
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if callable(stop):
        try:
            stop()
        except OSError:
            log.debug("the fork server had already stopped")


def start_early(feeds: int) -> None:
    """Start the fork server now, for a poll of `feeds` feeds about to begin: it imports
    the parser on another core while the caller loads the rest (a command's database
    layer). A poll too small for worker processes starts nothing."""
    if _default_workers(feeds) and _forkserver() is not None:
        if threading.current_thread() is threading.main_thread():
            _start_deaf_to_ctrl_c()
        else:  # signals are the main thread's to set
            multiprocessing.forkserver.ensure_running()


def _start_deaf_to_ctrl_c() -> None:
    """Start the fork server ignoring Ctrl-C. A terminal's Ctrl-C reaches every process
    of the command, and the server, importing the parser for a second, would print a
    traceback of its own. An ignored signal stays ignored in a new program (and in the
    workers forked from it); the poll's process holds a Ctrl-C pressed meanwhile back
    (blocked, not lost) until its own handler is in place again."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if handler is not None:  # None: not set from Python, and left as it was
            signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _forkserver() -> multiprocessing.context.ForkServerContext | None:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None  # macOS and Windows
    context = multiprocessing.get_context("forkserver")
    # The server imports the parser once; each worker is a fork of it, ready at once.
    context.set_forkserver_preload([__name__, "syndicate.ingest.parse"])
    return context


def _start_pool(workers: int) -> Executor:
    context = _forkserver() or multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )


def _start_worker(poll: int) -> None:
    """A parsing process starts: it gives way to the poll's process, and ends with it.

    A terminal's Ctrl-C reaches every process of the command: the poll's process stops
    the poll (and says so) and ends this one; here it is not heard, nor told in a
    traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _give_way()
    _end_with(poll)


def _give_way() -> None:
    """A parsing process yields the core to the poll's own process when both want it.

    The poll's process stores and clusters one source after another: the others wait for
    it, so it must never wait for a core behind the feeds it is handed (with one process
    per core and it beside them, it got two thirds of one). The parsing processes take
    whatever it leaves; on a machine doing other work they are as polite to that."""
    with contextlib.suppress(OSError):  # a platform or a sandbox without priorities
        os.nice(PARSER_NICENESS)


def _end_with(poll: int) -> None:
    """End this parsing process as soon as the poll's process `poll` is gone.

    A poll killed outright (`kill -9`, a cron job's timeout) cannot stop its workers, and
    nothing else would: each holds both ends of its queues' pipes, so it never reads an end
    of file, and the fork server waits for them. A watching thread ends the process, and
    with the workers gone the fork server and the resource tracker end too."""
    threading.Thread(target=_watch, args=(poll,), name="syndicate-poll-watch", daemon=True).start()


def _watch(poll: int) -> None:
    try:
        handle = os.pidfd_open(poll)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
    else:
        while _alive(poll):
            time.sleep(1)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True
