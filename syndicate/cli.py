"""The `syndicate` command: thin commands over the functions that do the work.

Heavy libraries are imported inside the commands that use them, so `syndicate --help`
answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicate.console import (
    LogFormatter,
    counted,
    counts_sentence,
    deliver_showing_progress,
    echo,
    print_table,
    show_progress,
    shown_path,
)
from syndicate.errors import SyndicateError
from syndicate.redaction import redact
from syndicate.site import Site, command_scope, dispose_when_done
from syndicate.types import SUBSCRIBER_STATUSES

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.db.session import Database

__all__ = ["main"]

log = logging.getLogger("syndicate")

EXIT_USAGE = 2
EXIT_FAILURE = 1
_ERROR_CHARS = 160  # of a source's last error, in a table

DESCRIPTION = """\
syndicate reads your news sources, picks new posts, and sends them out: as an email
digest to your subscribers and as short posts to your Telegram channel, each one
credited to the site that wrote it. Every message to every recipient is recorded, so
nothing is sent twice.

Start with `syndicate demo` to see it work on a sample news site, then
`syndicate init mysite` to start your own: describe your sources and channels in
mysite/syndicate.toml, your schedules in mysite/jobs/, and run `syndicate check`.
"""

SETTINGS_HELP = """\
The settings file is found in this order: --config PATH, then the SYNDICATE_CONFIG
environment variable, then syndicate.toml in the current folder."""


class UserError(SyndicateError):
    """A problem the editor can fix; printed as one sentence, exit code 2."""


def run() -> None:
    """The `syndicate` command: `main`, then exit without the interpreter's last sweep.

    Python's final garbage collection walks every object SQLAlchemy and the rest built,
    about a quarter of a second each run; frozen, they are freed without that walk (the
    atexit handlers, log flushing and the rest of shutdown happen as usual).
    """
    code = main()
    import gc

    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        with command_scope(args):
            code = args.handler(args) or 0
        sys.stdout.flush()  # here, where a closed pipe can still be told from a failure
        return code
    except BrokenPipeError:
        return _reader_left()
    except KeyboardInterrupt:
        echo("Stopped.", file=sys.stderr)
        return 130
    except Exception as error:
        return _report(error, args)


def _reader_left() -> int:
    """`syndicate check | head -1`: the reader closed the pipe; stop quietly.

    Python would otherwise complain when it flushes standard output on the way out.
    """
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _report(error: Exception, args: argparse.Namespace) -> int:
    # Every error syndicate raises on purpose (a mistake in a file, a database that cannot
    # be opened, an unknown subscriber or edition...) carries its own sentence.
    if isinstance(error, SyndicateError):
        echo(f"syndicate: {error}", file=sys.stderr)
        return EXIT_USAGE
    if _is_database_problem(error):
        echo(f"syndicate: {_database_problem(error, args)}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, OSError) and error.errno == errno.EROFS:
        where = Path(error.filename).parent if error.filename else None
        echo(f"syndicate: {_read_only_disk(where)}", file=sys.stderr)
        return EXIT_USAGE
    if args.verbose:
        raise error
    echo(
        f"syndicate: something went wrong that is not your fault: {_first_line(error)} "
        "(run again with --verbose for details, and report it).",
        file=sys.stderr,
    )
    return 1


def _is_database_problem(error: Exception) -> bool:
    """The database's own state (gone, locked, read-only, not a database at all), not a
    statement of syndicate's it refused."""
    from sqlalchemy.exc import DatabaseError

    from syndicate.db.session import database_itself

    return database_itself(error) or type(error) is DatabaseError


def _database_problem(error: Exception, args: argparse.Namespace) -> str:
    """The database error as a sentence; one that cannot be written names the file and fix."""
    detail = _first_line(error)
    lowered = detail.lower()
    if "file is not a database" in lowered:
        path = _database_file(args)
        named = f"the file {path}" if path is not None else "the database file"
        return (
            f"{named} is not a SQLite database (another file, or a damaged one): check "
            "[database] url in the settings, or put back a copy of the database."
        )
    if "readonly" not in lowered and "read-only" not in lowered and "unable to open" not in lowered:
        return f"the database cannot be used ({detail})."
    path = _database_file(args)
    if path is None:
        return f"the database cannot be written ({detail}); let this user write to it."
    if _on_read_only_disk(path.parent):
        return _read_only_disk(path.parent, path)
    return (
        f"the database {path} cannot be written ({detail}): the user running syndicate needs "
        f"write access to that file and to its folder {path.parent} (SQLite keeps its journal "
        f"there), e.g. `sudo chown -R $(whoami) {path.parent}`."
    )


def _on_read_only_disk(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _read_only_disk(folder: Path | None, database: Path | None = None) -> str:
    """A read-only mount, said so: no chown can help there."""
    what = f"the database {database}" if database is not None else "syndicate's files"
    where = f" {folder}" if folder is not None else ""
    return (
        f"{what} cannot be written: the folder{where} is on a read-only file system (a disk "
        "or mount opened read-only, so changing owners cannot help); remount it read-write "
        "or move [database] url to a writable disk. Commands that only read (subscribers "
        "list, deliveries, check) work as it is."
    )


def _database_file(args: argparse.Namespace) -> Path | None:
    from sqlalchemy.engine import make_url

    from syndicate.config import find_config_path, load_config

    try:
        url = make_url(load_config(find_config_path(args.config)).database_url)
    except Exception:  # the error being reported matters more than this one
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# --- the parser ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syndicate",
        description=DESCRIPTION,
        epilog=SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="the settings file to use")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more about what happens")
    parser.add_argument("-q", "--quiet", action="store_true", help="only report problems")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    # The same options after the command (`syndicate deliveries --config site.toml`); when
    # not given there, the values before the command stand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="the settings file to use"
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS)

    def command(
        name: str, handler: Any, summary: str, details: str = ""
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=f"{summary}\n\n{details}".strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        sub.set_defaults(handler=handler)
        return sub

    demo = command(
        "demo",
        _demo,
        "Try syndicate on a bundled sample news site, without sending anything.",
        "Reads the sample feed, runs every example job once, and writes what would have\n"
        "been sent into an outbox folder: emails as .eml files (open them with any mail\n"
        "program) and Telegram posts as .json files.",
    )
    demo.add_argument(
        "--folder",
        default="syndicate-demo",
        help="where to put the demo (default: ./syndicate-demo)",
    )

    init = command(
        "init",
        _init,
        "Start a new site: write the example settings and jobs into a folder.",
        "Writes syndicate.toml (every setting, commented) and jobs/ with the example jobs.\n"
        "Existing files are left alone.",
    )
    init.add_argument("folder", nargs="?", default=".", help="where (default: here)")

    run = command(
        "run",
        _run,
        "Run the scheduler: poll sources, fire jobs on their schedules, deliver.",
        "Keeps running until stopped (Ctrl+C, or SIGTERM from a service manager).\n"
        "With --once: poll every source, fire every job now, deliver, and exit.",
    )
    run.add_argument("--once", action="store_true", help="do one round now and exit")

    command(
        "worker",
        _worker,
        "Deliver queued messages, and nothing else, until stopped.",
        "For larger sites on PostgreSQL: run one `syndicate scheduler` and as many\n"
        "workers as you like; they share the queue without sending anything twice.\n"
        "On SQLite, only one process may deliver: use `syndicate run` there.",
    )
    command(
        "scheduler",
        _scheduler,
        "Poll sources and fire jobs on their schedules, without delivering.",
        "Pair it with one or more `syndicate worker` processes. Several schedulers may\n"
        "run for safety: each job's slot still runs once.",
    )

    command("fetch", _fetch, "Poll every source now and store new posts; send nothing.")

    preview = command(
        "preview",
        _preview,
        "Show what a job would send now, as files; send and record nothing.",
    )
    preview.add_argument("job", help="the job's name (its file name in the jobs folder)")
    preview.add_argument(
        "--out", default="preview", help="folder for the files (default: ./preview)"
    )

    send = command(
        "send",
        _send,
        "Fire a job now, outside its schedule, and deliver what it queues.",
        "Posts the job already sent are not sent again. With --to, only one test copy\n"
        "of the job's email goes to that address (the latest edition when nothing is new).",
    )
    send.add_argument("job", help="the job's name (its file name in the jobs folder)")
    send.add_argument(
        "--to",
        metavar="ADDRESS",
        help="send one test copy of the job's email to this address instead; "
        "its subject says [TEST] and nothing is recorded",
    )

    command(
        "sources",
        _sources,
        "Show each source's health: its last success, failures in a row, last error.",
        "A failing source is polled less and less often (up to every six hours) until it\n"
        "answers again; its error says what went wrong.",
    )

    deliveries = command(
        "deliveries",
        _deliveries,
        "Show deliveries by job, channel and state, and the latest problems.",
    )
    deliveries.add_argument("--job", help="only this job")
    deliveries.add_argument("--channel", help="only this channel")

    trending = command(
        "trending",
        _trending,
        "Rank the stories of the last days by their trending score, with the reasons.",
        "The score counts the sources carrying a story, the comments their feeds report\n"
        "and the clicks on tracked links, divided by the story's age (see the README).",
    )
    trending.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    trending.add_argument("--window", help='how far back, e.g. "24h" (default: 72h)')

    retry = command(
        "retry",
        _retry,
        "Queue failed or unknown deliveries again.",
        "An 'unknown' delivery may have arrived already: requeue those only when you\n"
        "know they did not (a second copy in a public channel is worse than a gap).",
    )
    retry.add_argument("--state", choices=("failed", "unknown"), required=True)
    retry.add_argument("--job", help="only this job")
    retry.add_argument("--channel", help="only this channel")

    resume = command(
        "resume",
        _resume,
        "Send to a paused chat again, once the problem is fixed.",
        "A Telegram channel stops posting to a chat the bot was removed from (or blocked\n"
        "in); `syndicate deliveries` lists those. Add the bot back, then resume the chat.\n"
        "Deliveries that failed meanwhile can be queued again with `syndicate retry`.",
    )
    resume.add_argument("channel", help="the channel's name in the settings")
    resume.add_argument("target", nargs="?", help="only this chat, e.g. @kabarpilihan")

    serve = command(
        "serve",
        _serve,
        "Serve the web pages: subscribe, unsubscribe, archive, clicks, the dashboard.",
        "Listens on [web] host and port until stopped, and prints the address to open:\n"
        "[site] base_url, where every link points. Keep it running while email is sent:\n"
        "every email's unsubscribe link leads here.\n"
        "For [web] admin_password, --hash-password prints a hash of a password you type\n"
        "(twice), or of the first line read from a pipe.",
    )
    serve.add_argument(
        "--hash-password",
        action="store_true",
        help="print a hash for admin_password of a password typed in, and exit",
    )

    _subscriber_commands(
        command("subscribers", None, "Add, import, list or remove subscribers."), common
    )

    from syndicate.review_cli import add_review_commands

    add_review_commands(command, common)

    bounces = command(
        "bounces",
        _bounces,
        "List recent bounces, complaints and mailed unsubscribes.",
        "Each line: when, what (hard, soft, complaint, unsubscribe), where it was seen\n"
        "(smtp, mailbox, ses, sendgrid, postmark, mailgun), the address, the list, why.",
    )
    bounces.add_argument(
        "--days", type=_days, default=30, help="how far back, in days (default 30)"
    )
    bounces.add_argument(
        "--kind", choices=("hard", "soft", "complaint", "unsubscribe"), help="only this kind"
    )

    command(
        "check",
        _check,
        "Check the settings and job files, and list the jobs with their next run.",
    )

    db = command("db", None, "Database maintenance.")
    db_commands = db.add_subparsers(title="commands", metavar="COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade", help="Apply database migrations (also done at every start).", parents=[common]
    )
    upgrade.set_defaults(handler=_db_upgrade)
    return parser


RESUBSCRIBE_HELP = (
    "also bring back addresses that unsubscribed, bounced, complained or were forgotten "
    "(recorded as your act: do it only with their consent)"
)


def _subscriber_commands(parent: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:

    def show_help(args: argparse.Namespace) -> int:
        parent.print_help()
        return EXIT_USAGE

    parent.set_defaults(handler=show_help)
    sub = parent.add_subparsers(title="commands", metavar="COMMAND")
    add = sub.add_parser(
        "add", help="Add one subscriber to a list (active at once).", parents=[common]
    )
    add.add_argument("email")
    add.add_argument("--list", required=True, dest="list_name", help="the list, e.g. newsletter")
    add.add_argument("--new-list", action="store_true", help=_NEW_LIST_HELP)
    add.add_argument("--name", help="the subscriber's name, used in the greeting")
    add.add_argument("--timezone", help='e.g. "Asia/Jakarta"')
    add.add_argument("--resubscribe", action="store_true", help=RESUBSCRIBE_HELP)
    add.set_defaults(handler=_subscribers_add)
    imp = sub.add_parser(
        "import",
        help="Import subscribers from a CSV file.",
        description="Import subscribers from a CSV file whose first line names the columns:\n"
        "email (required), name and timezone (optional). Bad addresses are listed\n"
        "with their line numbers and skipped; an address already known is not added twice.\n"
        "Addresses that unsubscribed, bounced, complained or were forgotten are skipped\n"
        "and counted, unless --resubscribe.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    imp.add_argument("csv", type=Path)
    imp.add_argument("--list", required=True, dest="list_name")
    imp.add_argument("--new-list", action="store_true", help=_NEW_LIST_HELP)
    imp.add_argument("--resubscribe", action="store_true", help=RESUBSCRIBE_HELP)
    imp.set_defaults(handler=_subscribers_import)
    lst = sub.add_parser(
        "list",
        help="List subscribers: address, lists, and each list's status.",
        description="One line per subscriber, tab-separated: the address, their lists\n"
        "(comma-separated), and the status on each of those lists in the same order\n"
        '(one word when all lists agree): "budi@example.org  newsletter,pagi  '
        'active,unsubscribed".',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    lst.add_argument("--list", dest="list_name", help="only this list")
    lst.add_argument(
        "--status",
        choices=[str(status) for status in SUBSCRIBER_STATUSES],
        help="only those with this status (on --list, when given)",
    )
    lst.set_defaults(handler=_subscribers_list)
    rem = sub.add_parser(
        "remove",
        help="Take a subscriber off a list, or unsubscribe them from everything.",
        description="Take a subscriber off one list (--list), or without --list mark them\n"
        "unsubscribed from everything. Their history is kept.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    rem.add_argument("email")
    rem.add_argument("--list", dest="list_name")
    rem.set_defaults(handler=_subscribers_remove)
    forget = sub.add_parser(
        "forget",
        help="Erase one person's data; keep only a hash so they are never mailed again.",
        description="Erase a subscriber (a request under data-protection law): their row,\n"
        "name, lists, history, and their address in past deliveries. A hash of the\n"
        "address stays in the suppression list, so imports and the subscribe form\n"
        "never add them again (only `subscribers add --resubscribe` does).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    forget.add_argument("email")
    forget.set_defaults(handler=_subscribers_forget)


_NEW_LIST_HELP = "the list is new: no channel mails it yet (without this, a typo is refused)"


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING
    if getattr(args, "handler", None) in (_run, _worker, _scheduler) or args.verbose:
        level = logging.INFO
    if args.verbose:
        level = logging.DEBUG
    if args.quiet:
        level = logging.WARNING
    handler = logging.StreamHandler()
    handler.setFormatter(
        LogFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"
            if level <= logging.INFO
            else "%(levelname)s: %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S",
        )
    )
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram", "aiosmtpd", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# --- loading ---------------------------------------------------------------------------


# --- commands --------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from syndicate.demo import run_demo

    result = run_demo(Path(args.folder))
    if args.quiet:
        return 0
    echo(f"The demo site is in {shown_path(result.folder)}. What each job delivered:\n")
    if not result.sent_now:
        echo("(This run sent nothing new: every sample post was already delivered.)\n")
    print_table(("job", "channel", "state", "count"), result.rows)
    echo("\nNothing left this machine: every channel of the demo is an outbox. Open these:")
    for channel, files in result.files.items():
        shown = ", ".join(path.name for path in files[:3]) + (" …" if len(files) > 3 else "")
        echo(f"  {shown_path(result.folder / 'outbox' / channel)}/  ({len(files)} files: {shown})")
    echo(
        f"\nEmails (.eml) open in any mail program; Telegram posts (.json) hold the exact text."
        f"\nTo explore further: syndicate --config {shown_path(result.settings)} deliveries"
    )
    return 0


def _init(args: argparse.Namespace) -> int:
    from syndicate.config import bundled_path
    from syndicate.starter import starter_job, starter_settings

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    settings, jobs = folder / "syndicate.toml", folder / "jobs"
    if settings.exists():
        echo(f"{shown_path(settings)} already exists; left as it is.")
    else:
        example = bundled_path("config.example.toml").read_text(encoding="utf-8")
        settings.write_text(starter_settings(example), encoding="utf-8")
        echo(f"Wrote {shown_path(settings)}: describe your site, sources and channels there.")
    if jobs.exists():
        echo(f"{shown_path(jobs)} already exists; left as it is.")
    else:
        jobs.mkdir()
        for job in sorted(bundled_path("jobs").glob("*.toml")):
            (jobs / job.name).write_text(starter_job(job.read_text("utf-8")), encoding="utf-8")
        echo(f"Wrote {shown_path(jobs)}/ with the example jobs: one file per job.")
    echo("Then run: syndicate check")
    return 0


def _run(args: argparse.Namespace) -> int:
    site = Site.load(args)
    with site.db.sending_lock():
        if args.once:
            return _run_once(site, args)
        return _clock(site, fire=True, deliver=True, what="syndicate is running")


def _worker(args: argparse.Namespace) -> int:
    site = Site.load(args)
    with site.db.sending_lock():
        return _clock(site, fire=False, deliver=True, what="worker is delivering")


def _scheduler(args: argparse.Namespace) -> int:
    return _clock(Site.load(args), fire=True, deliver=False, what="scheduler is running")


def _clock(site: Site, *, fire: bool, deliver: bool, what: str) -> int:
    from syndicate.scheduler import Clock

    clock = Clock(site.db, site.config, site.channels, fire=fire, deliver=deliver)
    jobs = sum(job.enabled for job in site.config.jobs.values())
    asyncio.run(
        clock.run(
            on_start=lambda: log.info(
                "%s: %s, %s, %s (Ctrl+C to stop)",
                what,
                counted(len(site.config.sources), "source"),
                counted(jobs, "job"),
                counted(len(site.channels), "channel"),
            )
        )
    )
    log.info("stopped")
    return 0


def _run_once(site: Site, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from syndicate.delivery import deliver_due
    from syndicate.jobs import run_job

    _poll(site.config, args, site.db)
    outcomes, failed = [], 0
    for job in _enabled_jobs(site):
        try:
            outcomes.append(run_job(site.db, site.config, site.channels, job))
        except SyndicateError as error:  # one job's problem: the other jobs still run
            echo(f"syndicate: {error}", file=sys.stderr)
            failed += 1
    for outcome in outcomes:
        if outcome.held:
            _tell_editors(site, outcome)
    counts = asyncio.run(
        deliver_showing_progress(site, args, wait=timedelta(seconds=30), deliver=deliver_due)
    )
    counts = _with_waiting(site, counts)
    if not args.quiet:
        for outcome in outcomes:
            what = (
                f"{counted(outcome.posts, 'post')}, {counted(outcome.queued, 'delivery')}"
                if outcome.queued
                else f"edition {outcome.edition_id} held for review"
                if outcome.held
                else outcome.note
            )
            echo(f"job {outcome.job}: {what or 'nothing to deliver'}")
        echo(counts_sentence(counts))
    # A source that could not be read was said above; the exit code is about deliveries.
    failure = _failure_sentence(counts)
    if failure:
        echo(f"syndicate: {failure}", file=sys.stderr)
    return 1 if failure or failed else 0


_UNDONE = ("failed", "unknown", "queued", "waiting for their server")
PLANNED = "waiting as planned"  # held by spacing, quiet hours or local time: not a failure


def _with_waiting(site: Site, counts: Any) -> Any:
    """The pass's counts, plus the queued deliveries it did not try: those held on purpose
    (spacing, quiet hours, a subscriber's local hour) as "waiting as planned", and those
    left from earlier runs waiting for a retry or their server as "queued"."""
    from collections import Counter

    from syndicate.report import waiting_deliveries

    waiting = waiting_deliveries(site.db, site.config)
    counts = Counter(counts)
    planned = sum(group.count for group in waiting if group.planned)
    if planned:
        counts[PLANNED] += planned
    unplanned = sum(group.count for group in waiting if not group.planned)
    told = counts.get("queued", 0) + counts.get("waiting for their server", 0)
    if unplanned > told:
        counts["queued"] += unplanned - told
    return counts


def _failure_sentence(counts: Any) -> str:
    """One line saying which deliveries of a run did not go out, or "" when all did."""
    total = sum(counts.values())
    parts = [
        f"{number} of {counted(total, 'delivery')} {state}"
        for state in _UNDONE
        if (number := counts.get(state, 0))
    ]
    if not parts:
        return ""
    return "; ".join(parts) + " (see `syndicate deliveries`)."


def _enabled_jobs(site: Site) -> list[Any]:
    return [job for job in site.config.jobs.values() if job.enabled]


def _poll(config: Config, args: argparse.Namespace, db: Database | None = None) -> list[Any]:
    """Poll every source once: first the quick look (which answers for the feeds whose
    servers say "not modified"), then the ordinary poll of the rest, in `db` or in the
    database the settings name (opened only when something is left to fetch)."""
    # Each source's problem is printed below, once; the poll's own warning would repeat it.
    logs = [logging.getLogger(f"syndicate.ingest.{name}") for name in ("poll", "store")]
    levels = [log.level for log in logs]
    if not args.verbose:
        for log in logs:
            log.setLevel(logging.ERROR)
    try:
        return _poll_and_tell(config, args, db)
    finally:
        for log, level in zip(logs, levels, strict=True):
            log.setLevel(level)


def _poll_and_tell(config: Config, args: argparse.Namespace, db: Database | None) -> list[Any]:
    from syndicate.ingest.recheck import look

    progress = show_progress("Fetching sources", len(config.sources)) if not args.quiet else None
    quick = asyncio.run(look(config.database_url, config.sources))
    reports = list(quick.unchanged)
    if progress:
        progress.update(len(reports))
    if quick.rest:
        from syndicate.ingest.workers import start_early

        start_early(len(quick.rest))
        from syndicate.ingest.poll import poll_sources

        step = progress.step if progress else None
        reports += asyncio.run(
            poll_sources(
                db or _opener(config, args),
                quick.rest,
                progress=step,
                look_first=False,
                settings=config.ingest,
                validators=quick.validators,
            )
        )
    if progress:
        progress.done()
    for report in reports:
        for problem in dict.fromkeys((report.error, *report.problems)):
            if problem:
                echo(f"  {report.source}: {problem}", file=sys.stderr)
    return reports


def _opener(config: Config, args: argparse.Namespace) -> Callable[[], Database]:
    """How the poll opens the database: in its storing thread, while it reads the first
    feeds (the database layer takes a third of a second to load)."""

    def open_() -> Database:
        from syndicate.db.session import open_database

        db = open_database(config.database_url)
        dispose_when_done(args, db)
        # What the imports and the settings made lives as long as the command: frozen, the
        # collector walks only what the poll makes (5% of a big poll's own time otherwise).
        gc.freeze()
        return db

    return open_


def _fetch(args: argparse.Namespace) -> int:
    from syndicate.config import find_config_path, load_config

    reports = _poll(load_config(find_config_path(args.config)), args)
    if not args.quiet:
        new = sum(report.new_posts for report in reports)
        failed = sum(1 for report in reports if report.error)
        fetched, posts = counted(len(reports), "source"), counted(new, "new post")
        echo(f"{fetched} fetched: {posts}, {failed} failed.")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from datetime import datetime

    from syndicate.jobs import preview_job

    site = Site.load(args)
    job = site.config.job(args.job)
    folder = Path(args.out) / job.name / datetime.now().strftime("%Y%m%d-%H%M%S")
    paths = preview_job(site.db, site.config, site.channels, job, folder.resolve())
    if not paths:
        echo(f"Job {job.name} has nothing new to send now (run `syndicate fetch` first?).")
        return 0
    echo(f"What job {job.name} would send now (nothing was sent):")
    for path in paths:
        echo(f"  {shown_path(path)}")
    return 0


def _send(args: argparse.Namespace) -> int:
    site = Site.load(args)
    job = site.config.job(args.job)
    if args.to:
        return _test_send(site, job, args.to)
    with site.db.sending_lock():
        return _send_now(site, job, args)


def _held(site: Site, outcome: Any) -> int:
    """A job with review made its edition: say so, and tell the editors."""
    _tell_editors(site, outcome)
    echo(
        f"Job {outcome.job}: edition {outcome.edition_id} ({counted(outcome.posts, 'post')}) "
        f"is held for review: see `syndicate edition show {outcome.edition_id}`, then "
        f"`syndicate approve {outcome.edition_id}`."
    )
    return 0


def _tell_editors(site: Site, outcome: Any) -> None:
    from syndicate.review_notice import notify_editors

    asyncio.run(notify_editors(site.db, site.config, site.channels, outcome.edition_id))


def _send_now(site: Site, job: Any, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from syndicate.delivery import deliver_due
    from syndicate.jobs import run_job

    outcome = run_job(site.db, site.config, site.channels, job)
    if outcome.held:
        return _held(site, outcome)
    if not outcome.queued:
        echo(f"Job {job.name}: {outcome.note or 'nothing to deliver'}.")
    counts = asyncio.run(
        deliver_showing_progress(site, args, wait=timedelta(seconds=30), deliver=deliver_due)
    )
    if not args.quiet:
        if outcome.queued:
            posts, queued = counted(outcome.posts, "post"), counted(outcome.queued, "delivery")
            echo(f"Job {job.name}: {posts}, {queued} queued.")
        echo(counts_sentence(counts))
    return 0


def _test_send(site: Site, job: Any, address: str) -> int:
    from syndicate.channels.base import ChannelError
    from syndicate.jobs import NothingToSend, test_send
    from syndicate.subscribers import normalize_address

    try:
        normalize_address(address)
    except ValueError as error:
        raise UserError(f'"{address}" is not a valid email address: {error}') from None
    try:
        answers = asyncio.run(test_send(site.db, site.config, site.channels, job, address))
    except NothingToSend as error:
        raise UserError(str(error)) from None
    except ChannelError as error:
        raise UserError(f"The test copy was not sent: {error}") from None
    for answer in answers:
        echo(f"Test copy of {job.name} sent to {address} ({answer}). Nothing was recorded.")
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    from syndicate.report import (
        delivery_table,
        paused_targets,
        recent_problems,
        waiting_deliveries,
    )

    site = Site.load(args, sending=False)
    rows = delivery_table(site.db, job=args.job, channel=args.channel)
    if not rows:
        echo("No deliveries yet.")
        return 0
    print_table(("job", "channel", "state", "count"), rows)
    waiting = waiting_deliveries(site.db, site.config, job=args.job, channel=args.channel)
    if waiting:
        zone = site.config.site.timezone
        echo(f"\nWaiting (times in {zone.key}):")
        print_table(
            ("job", "channel", "count", "next try", "why"),
            [(w.job, w.channel, w.count, _next_try(w.next_try, zone), w.why) for w in waiting],
        )
    paused = paused_targets(site.db, channel=args.channel)
    if paused:
        echo("\nPAUSED — nothing is sent to these until you run `syndicate resume CHANNEL`:")
        print_table(("channel", "target", "since", "why"), paused)
    problems = recent_problems(site.db, job=args.job, channel=args.channel)
    if problems:
        echo("\nLatest problems:")
        print_table(("id", "job", "channel", "target", "state", "error"), problems)
    return 0


def _sources(args: argparse.Namespace) -> int:
    from syndicate.report import source_health

    site = Site.load(args, channels=False)
    sources = source_health(site.db, site.config)
    if not sources:
        echo("No sources in the settings.")
        return 0
    zone = site.config.site.timezone
    rows = [
        (
            source.name,
            "FAILING" if source.failing else "ok" if source.last_success_at else "not yet read",
            _when(source.last_success_at, zone),
            source.failures_in_a_row,
            (source.last_error or "-")[:_ERROR_CHARS],
        )
        for source in sources
    ]
    print_table(("source", "state", "last success", "failures", "last error"), rows)
    failing = sum(source.failing for source in sources)
    if failing:
        echo(f"\n{failing} of {len(sources)} sources failing: their last errors say why.")
    return 0


def _next_try(moment: Any, zone: Any) -> str:
    """ "now" when due, "in 40 s" or "in 12 min" when soon, else the local date and time."""
    from syndicate.db.models import utcnow

    seconds = (moment - utcnow()).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 90:
        return f"in {math.ceil(seconds)} s"
    if seconds < 3600:
        return f"in {math.ceil(seconds / 60)} min"
    return _when(moment, zone)


def _when(moment: Any, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _trending(args: argparse.Namespace) -> int:
    from syndicate.config import parse_duration
    from syndicate.db.models import utcnow
    from syndicate.trending import trending_table

    site = Site.load(args, sending=False)
    try:
        window = parse_duration(args.window) if args.window else None
    except ValueError:
        message = f'--window "{args.window}" is not a duration such as "24h" or "3d"'
        raise UserError(message) from None
    rows = trending_table(site.db, utcnow(), limit=args.limit, window=window)
    if not rows:
        echo("No stories in the window yet: run `syndicate fetch` first.")
        return 0
    print_table(("score", "title", "source", "why"), rows)
    return 0


def _retry(args: argparse.Namespace) -> int:
    from syndicate.delivery import requeue

    site = Site.load(args)
    if args.job is not None:
        site.config.job(args.job)  # refuses an unknown job, naming the known ones
    if args.channel is not None and args.channel not in site.channels:
        raise UserError(f'There is no channel named "{args.channel}" in the settings.')
    count = requeue(site.db, args.state, job=args.job, channel=args.channel)
    shown = counted(count, f"{args.state} delivery", f"{args.state} deliveries")
    echo(f"{shown} queued again; `syndicate run` will send them.")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from syndicate.delivery import resume

    site = Site.load(args)
    if args.channel not in site.channels:
        raise UserError(f'There is no channel named "{args.channel}" in the settings.')
    targets = resume(site.db, args.channel, args.target)
    if not targets:
        echo(f"Nothing was paused on {args.channel}.")
        return 0
    echo(f"{args.channel} sends to {', '.join(targets)} again.")
    echo(f"To send what failed meanwhile: syndicate retry --state failed --channel {args.channel}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.hash_password:
        from getpass import getpass

        from syndicate.web.security import hash_password

        if sys.stdin.isatty():
            password = getpass("Password: ")
            if password != getpass("The same again: "):
                raise UserError("The two passwords differ; nothing was printed.")
        else:  # from a pipe: its first line, asked once
            password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UserError("The password is empty; nothing was printed.")
        echo(hash_password(password))
        return 0
    from syndicate.web.server import serve

    site = Site.load(args)
    for warning in _proxy_warnings(site.config):
        echo(f"Warning: {warning}", file=sys.stderr)
    serve(site.config, site.db, site.channels)
    return 0


def _subscribers_add(args: argparse.Namespace) -> int:
    from syndicate.subscribers import add_subscriber

    site = Site.load(args, sending=False)
    _check_list(site, args.list_name, args.new_list)
    outcome = add_subscriber(
        site.db,
        args.email,
        args.list_name,
        name=args.name,
        timezone=args.timezone,
        resubscribe=args.resubscribe,
    )
    if outcome in ("added", "unchanged"):
        state = "added to" if outcome == "added" else "already on"
        echo(f"{args.email} {state} the list {args.list_name}.")
        return 0
    why = {"forgotten": "was forgotten at their request"}.get(outcome, f"{outcome} earlier")
    echo(
        f"{args.email} {why}, so it was not added to {args.list_name}; with their consent, "
        "add --resubscribe.",
        file=sys.stderr,
    )
    return EXIT_FAILURE


def _subscribers_import(args: argparse.Namespace) -> int:
    from syndicate.subscribers import import_csv

    site = Site.load(args, sending=False)
    _check_list(site, args.list_name, args.new_list)
    progress = show_progress("Importing") if not args.quiet else None
    report = import_csv(
        site.db,
        args.csv,
        args.list_name,
        progress=progress.update if progress else None,
        resubscribe=args.resubscribe,
    )
    if progress:
        progress.done()
    if report.notice:
        echo(report.notice, file=sys.stderr)
    for bad in report.invalid:
        echo(f"  line {bad.line}: {bad.value!r}: {bad.reason}", file=sys.stderr)
    echo(
        f"{counted(report.added, 'new subscriber')}, "
        f"{counted(report.subscribed, 'existing one')} added to "
        f"{args.list_name}, {report.unchanged} already there, {len(report.invalid)} rejected."
    )
    for line in report.skipped_lines():
        echo(f"{line} (--resubscribe brings them back).")
    if report.resubscribed:
        verb = "was" if report.resubscribed == 1 else "were"
        echo(f"{report.resubscribed} who had left {verb} subscribed again, as you asked.")
    return 0


def _check_list(site: Site, list_name: str, new_list: bool) -> None:
    """A list no email channel mails (and so no form offers) is a typo, unless --new-list."""
    known = sorted(
        {
            channel.list_name
            for channel in site.channels.values()
            if channel.medium == "email" and channel.list_name
        }
    )
    if list_name in known or new_list:
        return
    shown = ", ".join(known) or "none yet"
    raise UserError(
        f'No channel mails a list named "{list_name}" (lists: {shown}); check the name, '
        "or add --new-list to start a list that a channel will mail later."
    )


def _subscribers_list(args: argparse.Namespace) -> int:
    from syndicate.subscribers import list_subscribers

    site = Site.load(args, sending=False)
    for line in list_subscribers(site.db, list_name=args.list_name, status=args.status):
        lists = ",".join(name for name, _ in line.lists) or "-"
        echo(f"{line.email}\t{lists}\t{line.status}")
    return 0


def _subscribers_remove(args: argparse.Namespace) -> int:
    from syndicate.subscribers import remove_subscriber

    site = Site.load(args, sending=False)
    remove_subscriber(site.db, args.email, list_name=args.list_name)
    where = f"unsubscribed from {args.list_name}" if args.list_name else "unsubscribed"
    echo(f"{args.email} {where}; their history is kept.")
    return 0


def _subscribers_forget(args: argparse.Namespace) -> int:
    from syndicate.subscribers import forget_subscriber

    site = Site.load(args, sending=False)
    found = forget_subscriber(site.db, args.email)
    what = "erased" if found else "was not a subscriber"
    echo(f"{args.email} {what}; only a hash of the address is kept, so it is never mailed again.")
    return 0


def _bounces(args: argparse.Namespace) -> int:
    from syndicate.bounces.report import recent_bounces

    site = Site.load(args, sending=False)
    lines = recent_bounces(site.db, days=args.days, kind=args.kind)
    for line in lines:
        echo(
            f"{line.at:%Y-%m-%d %H:%M}\t{line.kind}\t{line.source}\t{line.email or '-'}\t"
            f"{line.list_name or '-'}\t{line.detail or ''}"
        )
    if not lines:
        echo(f"No bounces or complaints in the last {args.days} days.")
    return 0


def _check(args: argparse.Namespace) -> int:
    from syndicate.advice import warnings
    from syndicate.channels.registry import build_channels
    from syndicate.config import find_config_path, load_config
    from syndicate.slots import next_fire_times

    config = load_config(find_config_path(args.config))
    channels = build_channels(config)  # refuses a job its channel cannot render
    zone = config.site.timezone.key
    echo(f"Settings OK: {shown_path(config.file)}")
    echo(
        f"  {counted(len(config.sources), 'source')}, {counted(len(channels), 'channel')}: "
        f"{', '.join(channels) or '-'}"
    )
    for warning in _unsubscribe_warnings(config, channels) + _proxy_warnings(config):
        echo(f"Warning: {warning}", file=sys.stderr)
    _print_bounces(config)
    now = datetime.now(UTC)
    times = next_fire_times(config, now)
    rows = []
    for job in config.jobs.values():
        when = times[job.name]
        rows.append(
            (
                job.name,
                job.schedule_text,
                ",".join(job.channels),
                job.format,
                f"{_weekday(when)} {when:%Y-%m-%d %H:%M %Z}" if when else "disabled",
            )
        )
    if rows:
        echo(f"\nJobs (times in {zone}):")
        print_table(("job", "schedule", "channels", "format", "next run"), rows)
        _print_next_runs(config, now)
    else:
        echo(f"\nNo jobs in {shown_path(config.jobs_dir)}/ yet: add one file per job there.")
    advice = warnings(config, channels)
    if advice:
        echo(f"\n{counted(len(advice), 'warning')}:")
        for line in advice:
            echo(f"  - {line}")
    return 0


def _unsubscribe_warnings(config: Config, channels: dict[str, Any]) -> list[str]:
    """What keeps the unsubscribe link in every email from working, in sentences."""
    mailing = sorted(name for name, channel in channels.items() if channel.medium == "email")
    if not mailing:
        return []
    base_url = config.site.base_url
    warnings = []
    if config.web is None:
        warnings.append(
            f"the email channel {mailing[0]} puts an unsubscribe link to {base_url} in every "
            "mail, but there is no [web] table, so nothing answers it: add [web] and keep "
            "`syndicate serve` running."
        )
    if not base_url.startswith("https://"):
        warnings.append(
            f"base_url {base_url} is not https, so emails carry no one-click unsubscribe "
            "(List-Unsubscribe-Post needs an https link; an unsubscribe_mailto goes alone): "
            "serve the pages over https and set base_url to that address."
        )
    return warnings


def _print_bounces(config: Config) -> None:
    """Where bounces are read, so an editor sees the mailbox and webhooks are on."""
    from syndicate.config import format_duration

    bounces = config.bounces
    if bounces.address:
        echo(f"  digests are sent from {bounces.address} (bounces come back to it, signed)")
    if bounces.mailbox_url:
        every = format_duration(bounces.interval)
        echo(f"  bounce mailbox: {redact(bounces.mailbox_url)}, read every {every}")
    if bounces.webhooks:
        echo(f"  bounce webhooks at /hooks/: {', '.join(bounces.webhooks)}")


def _proxy_warnings(config: Config) -> list[str]:
    """A `trusted_proxies` entry so wide that nearly anyone may say whom they forward for
    (wider than a /8, or an IPv6 /32, beyond the private ranges)."""
    wide = [
        str(network)
        for network in (config.web.trusted_proxies if config.web else ())
        if network.prefixlen < (8 if network.version == 4 else 32) and not network.is_private
    ]
    return [
        f"trusted_proxies {network} takes in a large part of the internet: everyone in it "
        "may make up the client address limits count, with X-Forwarded-For. List only your "
        "proxy's addresses."
        for network in wide
    ]


def _print_next_runs(config: Config, now: datetime, count: int = 5) -> None:
    """The next runs of each cron job, with their weekdays and years: "1-5" can be seen to
    mean Mon-Fri, and a leap day's run to be years away."""
    from syndicate.slots import upcoming_fires

    jobs = [job for job in config.jobs.values() if job.enabled and job.schedule is not None]
    if not jobs:
        return
    echo(f"\nNext {count} runs:")
    width = max(len(job.name) for job in jobs)
    for job in jobs:
        times = upcoming_fires(job.trigger(config.site.timezone), now, count)
        shown = ", ".join(f"{_weekday(when)} {when:%Y-%m-%d %H:%M}" for when in times)
        echo(f"  {job.name.ljust(width)}  {shown}")


def _weekday(when: datetime) -> str:
    from syndicate.cron import WEEKDAY_NAMES

    return WEEKDAY_NAMES[when.isoweekday() % 7]


def _db_upgrade(args: argparse.Namespace) -> int:
    from syndicate.config import find_config_path, load_config
    from syndicate.db.session import open_database

    config = load_config(find_config_path(args.config))
    open_database(config.database_url).dispose()
    echo("The database schema is up to date.")
    return 0


# --- output ----------------------------------------------------------------------------


if __name__ == "__main__":
    sys.exit(main())


def _days(text: str) -> int:
    """A number of days for --days: a whole number above zero."""
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days above zero")
    return days
