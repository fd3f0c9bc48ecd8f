"""`syndicate demo`: the whole flow on a bundled sample site, into an outbox folder.

The demo writes a real, runnable site folder — settings, job files, the sample feed — in
which every channel is an outbox, so nothing leaves the machine. An editor can open the
files, change a job, and run `syndicate --config FOLDER/syndicate.toml run --once` again.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syndicate.channels.registry import build_channels
from syndicate.config import bundled_path, load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from syndicate.report import delivery_table
from syndicate.sample import SAMPLE_FEED
from syndicate.subscribers import add_subscriber

__all__ = ["DemoResult", "run_demo", "write_sample_feed"]

DEMO_SUBSCRIBERS = (
    ("sari@example.org", "Sari Wulandari"),
    ("budi@example.org", "Budi Santoso"),
    ("maya@example.net", None),
)

DEMO_SETTINGS = """\
# The demo site written by `syndicate demo`. Every channel here is an outbox: messages are
# written as files under outbox/ instead of being sent. To send for real, give
# "newsletter" type = "email" with smtp_url and from, and "telegram" type = "telegram"
# with token and chat_id (see config.example.toml).

[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "sqlite:///syndicate.db"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "warta"
url = "{feed_url}"
poll = "15m"
# The sample's articles are short and their pages invented: nothing to read there.
full_text = "never"

[channels.newsletter]
type = "outbox"
medium = "email"
path = "outbox/newsletter"
list = "newsletter"
from = "Kabar Pilihan <redaksi@example.org>"

[channels.telegram]
type = "outbox"
medium = "telegram"
path = "outbox/telegram"
chat_id = "@kabarpilihan"

[channels.preview]
type = "outbox"
path = "outbox/preview"
"""

_DATE = re.compile(r"<(published|updated|pubDate)>([^<]+)</\1>")


@dataclass
class DemoResult:
    folder: Path
    settings: Path
    rows: list[tuple[str, str, str, int]] = field(default_factory=list)  # job, channel, state, n
    files: dict[str, list[Path]] = field(default_factory=dict)  # channel → files written
    sent_now: int = 0  # messages this run delivered (0 when the demo ran before)


def run_demo(folder: Path) -> DemoResult:
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    feed = write_sample_feed(folder / "sample-feed.xml")
    settings = folder / "syndicate.toml"
    if not settings.exists():
        settings.write_text(DEMO_SETTINGS.replace("{feed_url}", feed.as_uri()), encoding="utf-8")
    jobs = folder / "jobs"
    if not jobs.exists():
        shutil.copytree(bundled_path("jobs"), jobs)
    config = load_config(settings)
    channels = build_channels(config)
    db = open_database(config.database_url)
    try:
        for email, name in DEMO_SUBSCRIBERS:
            add_subscriber(db, email, "newsletter", name=name)
        asyncio.run(poll_sources(db, config.sources, settings=config.ingest))
        for job in config.jobs.values():
            run_job(db, config, channels, job)
        sent = asyncio.run(deliver_due(db, config, channels))
        result = DemoResult(folder, settings, delivery_table(db), sent_now=sum(sent.values()))
    finally:
        db.dispose()
    outbox = folder / "outbox"
    for channel in sorted(p for p in outbox.iterdir() if p.is_dir()) if outbox.exists() else []:
        result.files[channel.name] = sorted(channel.iterdir())
    return result


def write_sample_feed(target: Path) -> Path:
    """Copy the sample feed with its dates moved so that its newest post is an hour old.

    The sample's dates are fixed; moved like this, "the past day" and "the past week"
    windows of the example jobs see its posts whenever the demo is run.
    """
    text = SAMPLE_FEED.read_text(encoding="utf-8")
    dates = [_parse(match.group(2)) for match in _DATE.finditer(text)]
    newest = max((d for d in dates if d is not None), default=None)
    if newest is not None:
        shift = datetime.now(UTC) - timedelta(hours=1) - newest

        def moved(match: re.Match[str]) -> str:
            when = _parse(match.group(2))
            if when is None:
                return match.group(0)
            return f"<{match.group(1)}>{_format(when + shift, match.group(2))}</{match.group(1)}>"

        text = _DATE.sub(moved, text)
    target.write_text(text, encoding="utf-8")
    return target


def _parse(value: str) -> datetime | None:
    from email.utils import parsedate_to_datetime

    value = value.strip()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _format(when: datetime, original: str) -> str:
    from email.utils import format_datetime

    if re.match(r"\d{4}-", original.strip()):
        return when.isoformat(timespec="seconds")
    return format_datetime(when)
