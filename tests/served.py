"""A real `syndicate serve` process on a free loopback port, for the web's abuse tests.

The settings are `tests.browser.live`'s (real SMTP, the sample feed polled in), with
`base_url` at http://localhost:PORT while the server listens on 127.0.0.1, as the README
sets it up, and whatever `[web]` keys a test adds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from syndicate.config import load_config
from syndicate.db.session import open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.web.security import hash_password
from tests.botapi import TEST_TOKEN
from tests.browser.live import ADMIN_PASSWORD, ADMIN_USER, JOBS, SETTINGS, _run
from tests.smtpserver import SmtpServer

__all__ = ["ServedSite"]


class ServedSite:
    """`syndicate serve` in a process of its own; a context manager."""

    def __init__(
        self,
        folder: Path,
        smtp: SmtpServer,
        web_settings: str = "",
        command: list[str] | None = None,
        base_path: str = "",
    ) -> None:
        """`command`: what to run instead of `python -m syndicate --config FILE serve`
        (the settings file's path is added at its end); `base_path`: base_url's path."""
        self.folder, self.smtp = folder, smtp
        self.command = command
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base_url = f"http://localhost:{self.port}{base_path}"
        self.address = f"http://127.0.0.1:{self.port}"
        self.settings = folder / "syndicate.toml"
        text = SETTINGS.format(
            base_url=self.base_url,
            database_url=f"sqlite:///{folder}/site.db",
            port=self.port,
            admin_user=ADMIN_USER,
            admin_password=hash_password(ADMIN_PASSWORD),
            feed_url=write_sample_feed(folder / "feed.xml").as_uri(),
            smtp_url=smtp.url,
            token=TEST_TOKEN,
            locale="en",
        )
        self.settings.write_text(
            text.replace("[web]\n", f"[web]\n{web_settings}\n", 1), encoding="utf-8"
        )
        (folder / "jobs").mkdir(exist_ok=True)
        for name, job in JOBS.items():
            (folder / "jobs" / f"{name}.toml").write_text(job, encoding="utf-8")
        self.process: subprocess.Popen[str] | None = None
        # What tests opened against the site (HTTP clients), closed when it stops.
        self.closing: list[Callable[[], object]] = []

    def __enter__(self) -> ServedSite:
        config = load_config(self.settings)
        self.db = open_database(config.database_url)
        _run(lambda: poll_sources(self.db, config.sources))
        self.config = config
        default = [sys.executable, "-m", "syndicate", "--config", str(self.settings), "serve"]
        argv = [*self.command, str(self.settings)] if self.command else default
        with (self.folder / "serve.log").open("w") as log:  # the server has its own copy
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"syndicate serve stopped: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"syndicate serve did not listen: {self.log()}")

    def __exit__(self, *exc: object) -> None:
        for close in self.closing:
            close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.db.dispose()

    def log(self) -> str:
        return (self.folder / "serve.log").read_text(encoding="utf-8", errors="replace")

    def url(self, path: str) -> str:
        return f"{self.address}{path}"
