"""1,000 posts to 50 Telegram channels through the real pipeline, against flood control.

A local Bot API server (tests/botapi.py) enforces Telegram's limits — 30 messages a second
for the bot, 20 a minute per channel — and answers 429 when they are exceeded. syndicate
runs as it does in production: settings with one Telegram channel posting to 50 chats, a
job with ``format = "each"`` over a feed of 20 posts, `run_job` to queue the 1,000
deliveries and `deliver_due` to send them. The floor is 1,000 / 30 ≈ 33 s.

Two runs: the first counts the 429s we provoke (target 0) and the time against the floor
(target within 15%); the second has the server answer 10% of send requests 429 at random,
and checks that every post reached every chat exactly once (from the server's record).

    python -m bench.telegram                  # 50 chats x 20 posts, both runs
    python bench/telegram/run.py --chats 10 --posts 5 --random-429 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, select

from syndicate.channels.registry import build_channels
from syndicate.config import load_config
from syndicate.db.models import Delivery
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from tests.botapi import TEST_TOKEN, BotApiServer, RateLimits

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "https://kabarpilihan.example.id"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "sqlite:///bench.db"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "warta"
url = "{feed_url}"
poll = "15m"

[channels.telegram]
type = "telegram"
token = "{token}"
chat_id = [{chats}]
api_base_url = "{bot_url}"
timeout = 10
"""

JOB = """\
every = "10m"
channels = ["telegram"]
format = "each"

[select]
new = {posts}
window = "7d"
"""


def write_feed(path: Path, posts: int) -> None:
    """An Atom feed of `posts` recent entries; every other one has a photo."""
    now = datetime.now(UTC)
    entries = []
    for n in range(posts):
        moment = (now - timedelta(minutes=5 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        photo = (
            f'<link rel="enclosure" type="image/jpeg" href="https://warta.example.id/{n}.jpg"/>'
            if n % 2
            else ""
        )
        excerpt = escape(f"Berita nomor {n}: harga cabai rawit di Pasar Induk turun. " * 6)
        entries.append(
            f"<entry><id>tag:warta.example.id,2026:{n}</id>"
            f"<title>Berita {n}: Harga Cabai Turun &amp; Stok &lt;Aman&gt; 🌶️</title>"
            f'<link rel="alternate" href="https://warta.example.id/berita/{n}"/>{photo}'
            f"<updated>{moment}</updated><published>{moment}</published>"
            f"<summary>{excerpt}</summary></entry>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Warta Nusantara</title>'
        '<id>tag:warta.example.id,2026:feed</id><link href="https://warta.example.id/"/>'
        f"<updated>{now:%Y-%m-%dT%H:%M:%SZ}</updated>{''.join(entries)}</feed>",
        encoding="utf-8",
    )


def one_run(chats: int, posts: int, random_429: float, seed: int) -> dict[str, Any]:
    """Queue posts x chats deliveries, send them all, and report what the server saw."""
    limits = RateLimits(per_second=30, per_minute_per_group=20)
    names = [f"@bench_kanal_{n:03d}" for n in range(chats)]
    with (
        tempfile.TemporaryDirectory(prefix="bench-telegram-") as folder,
        BotApiServer(TEST_TOKEN, limits=limits, random_429=random_429, seed=seed) as server,
    ):
        root = Path(folder)
        write_feed(root / "feed.xml", posts)
        (root / "jobs").mkdir()
        (root / "jobs" / "kilat.toml").write_text(JOB.format(posts=posts), encoding="utf-8")
        settings = root / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                feed_url=(root / "feed.xml").as_uri(),
                token=TEST_TOKEN,
                chats=", ".join(f'"{name}"' for name in names),
                bot_url=server.base_url,
            ),
            encoding="utf-8",
        )
        config = load_config(settings)
        channels = build_channels(config)
        db = open_database(config.database_url)
        try:
            [report] = asyncio.run(poll_sources(db, config.sources))
            assert report.error is None, report.error
            queued = run_job(db, config, channels, config.job("kilat")).queued
            started = time.monotonic()
            outcomes = asyncio.run(
                deliver_due(db, config, channels, wait_for_retries=timedelta(minutes=15))
            )
            elapsed = time.monotonic() - started
            with db.session() as session:
                states = dict(
                    session.execute(
                        select(Delivery.state, func.count()).group_by(Delivery.state)
                    ).all()
                )
        finally:
            db.dispose()
        messages = server.messages
        copies = Counter((m.chat_id, m.text) for m in messages)
        span = messages[-1].at - messages[0].at if len(messages) > 1 else 0.0
        # The bot's 30/s, or a chat's 20 a minute when one chat gets more than 20 posts.
        minutes = (posts - 1) // limits.per_minute_per_group
        floor = max(queued / limits.per_second, minutes * 60.0)
        return {
            "chats": chats,
            "posts_per_chat": posts,
            "deliveries": queued,
            "random_429": random_429,
            "seconds": round(elapsed, 2),
            "server_span_seconds": round(span, 2),
            "floor_seconds": round(floor, 2),
            "over_floor_percent": round(100 * (elapsed / floor - 1), 1),
            "provoked_429": len(server.throttled),
            "random_429_answered": server.random_refusals,
            "messages_received": len(messages),
            "distinct_messages": len(copies),
            "duplicates": sum(count - 1 for count in copies.values()),
            "missing": queued - len(copies),
            "outcomes": dict(outcomes),
            "rows_by_state": states,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram", description=__doc__)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20, help="posts per chat")
    parser.add_argument("--random-429", type=float, default=0.1, help="for the second run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # each 429 of the second run logs a warning

    runs = [
        one_run(args.chats, args.posts, 0.0, args.seed),
        one_run(args.chats, args.posts, args.random_429, args.seed),
    ]
    if args.json:
        print(json.dumps({"machine": machine(), "runs": runs}, indent=2))
    else:
        print(f"machine: {machine()}")
        for run in runs:
            print(summary(run))
    clean, noisy = runs
    ok = (
        clean["provoked_429"] == 0
        and clean["over_floor_percent"] <= 15
        and all(r["duplicates"] == 0 and r["missing"] == 0 for r in runs)
        and all(r["rows_by_state"] == {"sent": r["deliveries"]} for r in runs)
        and noisy["provoked_429"] == 0
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def summary(run: dict[str, Any]) -> str:
    return (
        f"{run['deliveries']} posts to {run['chats']} chats, {run['random_429']:.0%} random 429: "
        f"{run['seconds']} s (floor {run['floor_seconds']} s, {run['over_floor_percent']:+}%; "
        f"server saw first to last in {run['server_span_seconds']} s), "
        f"429s provoked {run['provoked_429']}, random 429s {run['random_429_answered']}, "
        f"received {run['messages_received']} = {run['distinct_messages']} distinct, "
        f"{run['duplicates']} duplicates, {run['missing']} missing; rows {run['rows_by_state']}"
    )


def machine() -> str:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{python}, {platform.machine()}, {os.cpu_count()} CPUs"


if __name__ == "__main__":
    raise SystemExit(main())
