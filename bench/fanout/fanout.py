"""One edition to N active subscribers through syndicate, against a bare smtplib loop.

Both send to the same local aiosmtpd sink (its own process; it only counts), in the same
run. syndicate's side runs in child processes so its peak memory (ru_maxrss) is its own:
one process imports the subscribers and fires the job (enqueueing one row each), a second
one delivers them with `deliver_due`. Every delivery must end `sent` in the database.

    python -m bench.fanout                         # 100,000 subscribers, SQLite
    python -m bench.fanout --subscribers 20000 --connections 1
    python -m bench.fanout --database postgresql+psycopg://postgres@127.0.0.1/bench
    python -m bench.fanout --profile profile.txt   # cProfile of the delivery, top 40
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import platform
import pstats
import resource
import smtplib
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "https://kabarpilihan.example.id"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "{database_url}"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "warta"
url = "{feed_url}"
poll = "15m"

[channels.newsletter]
type = "email"
smtp_url = "smtp://127.0.0.1:{port}"
from = "Kabar Pilihan <redaksi@kabarpilihan.example.id>"
list = "newsletter"
connections = {connections}
{extra}
"""
JOB = 'every = "1h"\nchannels = ["newsletter"]\nformat = "digest"\nsubject = "Kabar pagi"\n'


# -- the sink ---------------------------------------------------------------------------


def _sink(port: Any, count: Any, stop: Any) -> None:
    """An aiosmtpd server that accepts everything and only counts it."""
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with count.get_lock():
                count.value += 1
            return "250 2.0.0 OK"

    with socket.socket() as probe:  # aiosmtpd checks its own port, so it needs a number
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    controller = Controller(Counting(), hostname="127.0.0.1", port=free, ready_timeout=10)
    controller.start()
    port.value = free
    stop.wait()
    controller.stop()


# -- the bare loop ----------------------------------------------------------------------


def bare_loop(port: int, messages: int) -> float:
    """Messages per second of one smtplib connection sending one prebuilt digest."""
    data, sender = _one_message()
    smtp = smtplib.SMTP("127.0.0.1", port)
    smtp.ehlo()
    started = time.perf_counter()
    for number in range(messages):
        smtp.sendmail(sender, [f"pembaca{number}@example.org"], data)
    elapsed = time.perf_counter() - started
    smtp.quit()
    return messages / elapsed


def _one_message() -> tuple[bytes, str]:
    from syndicate.demo import write_sample_feed  # noqa: F401 - same package, same cost
    from syndicate.render import Credit, EditionView, PostView
    from syndicate.render.email import Recipient, make_message_id, personalize, render_edition
    from syndicate.render.templates import template_environment

    posts = tuple(
        PostView(
            key=f"p{n}",
            title=f"Berita nomor {n} dari Warta Nusantara",
            url=f"https://warta.example.org/{n}",
            excerpt="Harga cabai rawit merah di Pasar Induk turun. " * 8,
            publisher=Credit("Warta Nusantara", "https://warta.example.org"),
            published_at=datetime(2026, 1, 5, tzinfo=UTC),
        )
        for n in range(8)
    )
    edition = EditionView(
        key="e1",
        job="pagi",
        subject="Kabar pagi",
        site_name="Kabar Pilihan",
        site_url="https://kabarpilihan.example.id",
        locale="id",
        timezone="Asia/Jakarta",
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
        posts=posts,
    )
    sender = "Kabar Pilihan <redaksi@kabarpilihan.example.id>"
    message = personalize(
        render_edition(edition, env=template_environment()),
        recipient=Recipient("pembaca@example.org", "Pembaca"),
        sender=sender,
        list_id="newsletter.kabarpilihan.example.id",
        message_id=make_message_id("e1", "s1", sender),
        date=datetime.now(UTC),
        unsubscribe_url="https://kabarpilihan.example.id/unsubscribe/MTIzOm5ld3M.abcdefghijklmnopqrstuv",
        view_url=None,
    )
    return message.data, message.sender


# -- syndicate's side -------------------------------------------------------------------


def _prepare(settings: str, subscribers: int, results: Any) -> None:
    """Import the subscribers and fire the job: one edition, one queued row each."""
    from syndicate.channels.registry import build_channels
    from syndicate.config import load_config
    from syndicate.db.session import open_database
    from syndicate.ingest.poll import poll_sources
    from syndicate.jobs import run_job
    from syndicate.subscribers import import_csv

    config = load_config(Path(settings))
    db = open_database(config.database_url)
    csv = Path(settings).parent / "readers.csv"
    with csv.open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for number in range(subscribers):
            out.write(f"pembaca{number:06d}@example.org,Pembaca {number}\n")
    started = time.perf_counter()
    report = import_csv(db, csv, "newsletter")
    imported = time.perf_counter() - started
    asyncio.run(poll_sources(db, config.sources))
    started = time.perf_counter()
    outcome = run_job(db, config, build_channels(config), config.job("pagi"))
    enqueued = time.perf_counter() - started
    results.put(
        {
            "imported": report.added,
            "import_seconds": imported,
            "queued": outcome.queued,
            "posts": outcome.posts,
            "enqueue_seconds": enqueued,
            "prepare_maxrss_mb": _maxrss_mb(),
        }
    )


def _deliver(settings: str, profile: str | None, results: Any) -> None:
    """Send everything queued with deliver_due; count the rows that ended `sent`."""
    from sqlalchemy import func, select

    from syndicate.channels.registry import build_channels
    from syndicate.config import load_config
    from syndicate.db.models import Delivery, DeliveryState
    from syndicate.db.session import open_database
    from syndicate.delivery import deliver_due

    config = load_config(Path(settings))
    db = open_database(config.database_url)
    channels = build_channels(config)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    outcomes = asyncio.run(deliver_due(db, config, channels))
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    with db.session() as session:
        states = dict(
            session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
        )
    if profiler is not None:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        Path(profile).write_text(text.getvalue(), encoding="utf-8")
    results.put(
        {
            "outcomes": dict(outcomes),
            "rows": states,
            "deliver_seconds": elapsed,
            "sent_rows": states.get(DeliveryState.SENT, 0),
            "deliver_maxrss_mb": _maxrss_mb(),
        }
    )


def _maxrss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries the parent's
    size at fork into the ru_maxrss of the child it execs, so a child spawned by a large
    parent (`python -m bench` after the ingest benchmark) would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return kilobytes / 1024


def _in_child(target: Any, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=target, args=(*args, results))
    process.start()
    result = results.get()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed with exit code {process.exitcode}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--bare", type=int, default=20_000, help="messages for the bare loop")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--database", help="a database URL (default: SQLite in a temp dir)")
    parser.add_argument("--dkim", action="store_true", help="sign every message (2048-bit RSA)")
    parser.add_argument("--profile", help="write a cProfile of the delivery to this file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args(argv)
    result = _measure(options)
    _report(result, options)
    return 0 if result["sent_rows"] == options.subscribers else 1


def measure(subscribers: int, *, bare: int = 20_000, connections: int = 4) -> dict[str, Any]:
    """One fan-out run as data, for `python -m bench` (SQLite, no DKIM, no profile)."""
    options = argparse.Namespace(
        subscribers=subscribers,
        bare=bare,
        connections=connections,
        database=None,
        dkim=False,
        profile=None,
    )
    return _measure(options)


def _measure(options: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    port, count, stop = context.Value("i", 0), context.Value("l", 0), context.Event()
    sink = context.Process(target=_sink, args=(port, count, stop), daemon=True)
    sink.start()
    deadline = time.monotonic() + 30
    while port.value == 0:
        if not sink.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the SMTP sink did not start")
        time.sleep(0.05)
    try:
        with tempfile.TemporaryDirectory(prefix="fanout-") as folder:
            return _run(Path(folder), port.value, options, count)
    finally:
        stop.set()
        sink.join(10)


def _run(folder: Path, port: int, options: argparse.Namespace, count: Any) -> dict[str, Any]:
    from syndicate.demo import write_sample_feed

    feed = write_sample_feed(folder / "feed.xml")
    (folder / "jobs").mkdir()
    (folder / "jobs" / "pagi.toml").write_text(JOB, encoding="utf-8")
    extra = ""
    if options.dkim:
        _write_dkim_key(folder / "dkim.pem")
        extra = 'dkim_private_key = "dkim.pem"\ndkim_selector = "bench"'
    settings = folder / "syndicate.toml"
    settings.write_text(
        SETTINGS.format(
            database_url=options.database or f"sqlite:///{folder / 'bench.db'}",
            feed_url=feed.as_uri(),
            port=port,
            connections=options.connections,
            extra=extra,
        ),
        encoding="utf-8",
    )
    bare_rate = bare_loop(port, options.bare)
    before = count.value
    prepared = _in_child(_prepare, str(settings), options.subscribers)
    delivered = _in_child(_deliver, str(settings), options.profile)
    received = count.value - before
    rate = delivered["sent_rows"] / delivered["deliver_seconds"]
    return {
        **prepared,
        **delivered,
        "bare_rate": bare_rate,
        "rate": rate,
        "ratio": rate / bare_rate,
        "sink_received": received,
        "database": "PostgreSQL" if options.database else "SQLite",
    }


def _write_dkim_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def _report(result: dict[str, Any], options: argparse.Namespace) -> None:
    if options.json:
        print(json.dumps(result, indent=2, default=str))
        return
    print(f"machine: {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}")
    print(f"database: {result['database']}, connections: {options.connections}")
    print(f"import {result['imported']} subscribers: {result['import_seconds']:.1f} s")
    print(f"fire the job ({result['queued']} rows): {result['enqueue_seconds']:.1f} s")
    print(f"bare smtplib loop: {result['bare_rate']:.0f} msg/s ({options.bare} messages)")
    print(
        f"syndicate deliver_due: {result['rate']:.0f} msg/s "
        f"({result['sent_rows']} in {result['deliver_seconds']:.1f} s)"
    )
    print(f"ratio: {result['ratio']:.2f} (target >= 0.8)")
    print(f"rows by state: {result['rows']}; the sink received {result['sink_received']}")
    print(
        f"peak memory: deliver {result['deliver_maxrss_mb']:.0f} MB, "
        f"prepare {result['prepare_maxrss_mb']:.0f} MB (target <= 300 MB)"
    )
