"""The site the benchmarks run syndicate on: a real settings file and real job files.

One email channel, one Telegram channel and an outbox, as a site of some size has; the
sources are whatever the benchmark serves, and the jobs are digests spread over the day.
`quiet_jobs` schedules every job at least two hours from now, so a process measured while
idle is really between ticks (its poll and delivery ticks still run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["SiteSource", "quiet_jobs", "write_site"]

TIMEZONE = "Asia/Jakarta"

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "https://kabarpilihan.example.id"
locale = "id"
timezone = "{timezone}"
secret_key = "bench-secret-key-0123456789abcdef"

[database]
url = "sqlite:///syndicate.db"

[scheduler]
jobs_dir = "jobs"

[channels.newsletter]
type = "email"
smtp_url = "smtp://127.0.0.1:2525"
from = "Kabar Pilihan <redaksi@kabarpilihan.example.id>"
list = "newsletter"

[channels.telegram]
type = "telegram"
token = "123456:bench-token"
chat_id = "@kabarpilihan"
api_base_url = "http://127.0.0.1:9/bot"

[channels.preview]
type = "outbox"
path = "outbox"
"""


@dataclass(frozen=True)
class SiteSource:
    name: str
    url: str
    full_text: str = "auto"
    poll: str = "15m"


def write_site(folder: Path, sources: Sequence[SiteSource], jobs: dict[str, str]) -> Path:
    """Write syndicate.toml and jobs/*.toml into `folder`; return the settings file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jobs").mkdir(exist_ok=True)
    for name, text in jobs.items():
        (folder / "jobs" / f"{name}.toml").write_text(text, encoding="utf-8")
    blocks = [
        f'[[sources]]\nname = "{s.name}"\nurl = "{s.url}"\npoll = "{s.poll}"\n'
        + (f'full_text = "{s.full_text}"\n' if s.full_text != "auto" else "")
        for s in sources
    ]
    settings = folder / "syndicate.toml"
    settings.write_text(
        SETTINGS.format(timezone=TIMEZONE) + "\n" + "\n".join(blocks), encoding="utf-8"
    )
    return settings


def quiet_jobs(count: int, now: datetime | None = None) -> dict[str, str]:
    """`count` daily jobs, emails and Telegram digests, none due within two hours of `now`."""
    local = (now or datetime.now(ZoneInfo(TIMEZONE))).astimezone(ZoneInfo(TIMEZONE))
    jobs = {}
    for number in range(count):
        hour = (local.hour + 2 + number % 20) % 24
        channel = ("newsletter", "telegram")[number % 2]
        jobs[f"edisi{number:02d}"] = (
            f'schedule = "{(7 * number) % 60} {hour} * * *"\n'
            f'channels = ["{channel}"]\nformat = "digest"\nsubject = "Edisi {number}"\n\n'
            f'[select]\nnew = 10\nwindow = "1d"\n'
        )
    return jobs
