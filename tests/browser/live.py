"""A live site for the web tests: settings, a database, real SMTP, and uvicorn on a free port.

`LiveSite` writes a settings file whose `base_url` is the server's own address, so links in
the confirmation mail lead back to it; the server runs in a thread until `stop`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from sqlalchemy import select

from syndicate.channels.base import Channel
from syndicate.channels.registry import build_channels
from syndicate.config import Config, load_config
from syndicate.db.models import Delivery, Subscriber
from syndicate.db.session import Database, open_database
from syndicate.delivery import deliver_due
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import JobOutcome, run_job
from syndicate.tokens import site_secret
from syndicate.web.app import create_app
from syndicate.web.security import hash_password
from tests.botapi import TEST_TOKEN
from tests.smtpserver import SmtpServer

__all__ = ["ADMIN_PASSWORD", "ADMIN_USER", "LiveSite"]

T = TypeVar("T")
ADMIN_USER = "redaksi"
ADMIN_PASSWORD = "kata-sandi-rahasia"

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "{base_url}"
locale = "{locale}"
timezone = "Asia/Jakarta"

[database]
url = "{database_url}"

[web]
host = "127.0.0.1"
port = {port}
admin_user = "{admin_user}"
admin_password = "{admin_password}"

[[sources]]
name = "warta"
url = "{feed_url}"

[channels.newsletter]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"
timeout = 5

[channels.mingguan]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "mingguan"
timeout = 5

[channels.telegram]
type = "telegram"
token = "{token}"
chat_id = "@kabarpilihan"
api_base_url = "http://127.0.0.1:9/bot"
"""

JOBS = {
    "pagi": 'schedule = "0 7 * * *"\nchannels = ["newsletter"]\nsubject = "Kabar pagi"\n'
    'track_clicks = true\n[select]\nnew = 3\nwindow = "3650d"\n',
    "kilat": 'every = "10m"\nchannels = ["telegram"]\nformat = "each"\n'
    '[select]\nnew = 2\nwindow = "3650d"\n',
}


class LiveSite:
    """A site served for real on 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        folder: Path,
        database_url: str,
        smtp: SmtpServer,
        *,
        more_sources: str = "",
        locale: str = "en",
        fetch_sns: Callable[[str], bytes] | None = None,
        jobs: dict[str, str] | None = None,
    ) -> None:
        """`more_sources`: [[sources]] (or other) tables after the settings (they may fail);
        `locale`: the site's language (the pages are in it);
        `fetch_sns`: how the app fetches SNS certificates (see `create_app`);
        `jobs`: more job files (name: TOML) beside the standard ones."""
        self.folder, self.database_url, self.smtp = folder, database_url, smtp
        self.more_sources, self.locale, self.fetch_sns = more_sources, locale, fetch_sns
        self.jobs = {**JOBS, **(jobs or {})}
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.config: Config
        self.db: Database
        self.channels: dict[str, Channel]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        # What tests opened against the site (HTTP clients), closed when it stops.
        self.closing: list[Callable[[], object]] = []

    def __enter__(self) -> LiveSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        feed = write_sample_feed(self.folder / "feed.xml")
        (self.folder / "jobs").mkdir(exist_ok=True)
        for name, text in self.jobs.items():
            (self.folder / "jobs" / f"{name}.toml").write_text(text, encoding="utf-8")
        settings = self.folder / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                base_url=self.base_url,
                database_url=self.database_url,
                port=self.port,
                admin_user=ADMIN_USER,
                admin_password=hash_password(ADMIN_PASSWORD),
                feed_url=feed.as_uri(),
                smtp_url=self.smtp.url,
                token=TEST_TOKEN,
                locale=self.locale,
            )
            + self.more_sources,
            encoding="utf-8",
        )
        self.config = load_config(settings)
        self.channels = build_channels(self.config)
        self.db = open_database(self.config.database_url)
        reports = _run(lambda: poll_sources(self.db, self.config.sources))
        assert [report.error for report in reports if report.source == "warta"] == [None]
        app = create_app(self.config, self.db, self.channels, fetch_sns=self.fetch_sns)
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, log_level="warning", lifespan="off", access_log=False, proxy_headers=False
            )
        )
        self._socket.listen(64)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the web server did not start")
            threading.Event().wait(0.02)

    def stop(self) -> None:
        for close in self.closing:
            close()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()
        if hasattr(self, "db"):
            self.db.dispose()

    def links_secret(self) -> bytes:
        return site_secret(self.db, self.config.site.secret_key)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    # --- what tests look at ------------------------------------------------------------

    def run(self, job: str) -> JobOutcome:
        return run_job(self.db, self.config, self.channels, self.config.job(job))

    def deliver(self) -> dict[str, int]:
        channels = {name: self.channels[name] for name in ("newsletter", "mingguan")}
        return dict(_run(lambda: deliver_due(self.db, self.config, channels)))

    def subscriber(self, email: str) -> Subscriber | None:
        with self.db.session() as session:
            return session.scalar(select(Subscriber).where(Subscriber.email == email))

    def statuses(self, email: str) -> dict[str, str]:
        from tests.sites import subscription_statuses

        return subscription_statuses(self.db, email)

    def lists_of(self, email: str) -> set[str]:
        from syndicate.optin import subscriber_lists

        subscriber = self.subscriber(email)
        assert subscriber is not None
        found = subscriber_lists(self.db, subscriber.id)
        return set(found[1]) if found else set()

    def deliveries(self) -> list[Delivery]:
        with self.db.session() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def wait_for_mail(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the SMTP server holds `count` messages (the mail is sent after the page)."""
        done = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if len(self.smtp.messages) >= count:
                return
            done.wait(0.05)
        raise AssertionError(
            f"expected {count} messages, the SMTP server has {len(self.smtp.messages)}"
        )


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run in a thread of its own: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
