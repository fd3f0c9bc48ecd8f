"""The whole flow with real peers: a feed server, an SMTP server and a Bot API server.

`syndicate run --once` with the issue's settings delivers the digest to every active
subscriber and one Telegram post per new entry; running it again sends nothing new.
Each test runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.cli import main
from syndicate.db.models import Source
from syndicate.db.session import open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest.parse import parse_feed
from tests.botapi import TEST_TOKEN, BotApiServer
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer

FEED_PATH = "/feeds/posts/default"
NOISE = ("Breaking Posts", "Hot Widget", "Posting Komentar", "Top Post Ad", "Copyright ©")

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
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

[[sources]]
name = "hilang"
url = "{broken_url}"
poll = "15m"

[channels.newsletter]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"

[channels.telegram]
type = "telegram"
token = "${{TELEGRAM_BOT_TOKEN}}"
chat_id = "@kabarpilihan"
api_base_url = "{bot_url}"

[channels.preview]
type = "outbox"
path = "outbox"
"""

PAGI = """\
schedule = "0 7 * * *"
channels = ["newsletter"]
format = "digest"
subject = "Kabar pagi"
[select]
new = 10
window = "7d"
"""

KILAT = """\
every = "10m"
channels = ["telegram"]
format = "each"
[select]
new = 10
window = "7d"
"""


@dataclass
class Site:
    settings: Path
    feeds: FeedServer
    smtp: SmtpServer
    bot: BotApiServer
    feed_text: str
    database_url: str

    def syndicate(self, *command: str) -> int:
        return main(["--config", str(self.settings), *command])


@pytest.fixture
def site(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TEST_TOKEN)
    feed_text = write_sample_feed(tmp_path / "feed.xml").read_text(encoding="utf-8")
    with FeedServer() as feeds, SmtpServer() as smtp, BotApiServer(token=TEST_TOKEN) as bot:
        feeds.add(FEED_PATH, feed_text.encode(), "application/atom+xml")
        feeds.add_status("/gone.xml", 404)
        (tmp_path / "jobs").mkdir()
        (tmp_path / "jobs" / "pagi.toml").write_text(PAGI, encoding="utf-8")
        (tmp_path / "jobs" / "kilat.toml").write_text(KILAT, encoding="utf-8")
        settings = tmp_path / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                database_url=database_url,
                feed_url=feeds.url(FEED_PATH),
                broken_url=feeds.url("/gone.xml"),
                smtp_url=smtp.url,
                bot_url=bot.base_url,
            ),
            encoding="utf-8",
        )
        yield Site(settings, feeds, smtp, bot, feed_text, database_url)


def entries_within_a_week(feed_text: str) -> list[str]:
    feed = parse_feed(feed_text.encode(), url="http://feeds.example/feed.xml")
    since = datetime.now(UTC) - timedelta(days=7)
    return [e.title for e in feed.entries if e.published_at and e.published_at >= since]


def subscribe(site: Site) -> None:
    assert (
        site.syndicate(
            "subscribers",
            "add",
            "sari@example.org",
            "--list",
            "newsletter",
            "--name",
            "Sari Wulandari",
        )
        == 0
    )
    assert site.syndicate("subscribers", "add", "budi@example.org", "--list", "newsletter") == 0
    assert site.syndicate("subscribers", "add", "lena@example.org", "--list", "newsletter") == 0
    assert site.syndicate("subscribers", "remove", "lena@example.org") == 0


def test_run_once_delivers_digest_and_posts_then_nothing_twice(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    subscribe(site)
    capsys.readouterr()
    assert site.syndicate("run", "--once") == 0

    # The digest reached every active subscriber, and only them.
    recipients = sorted(r for message in site.smtp.messages for r in message.envelope_to)
    assert recipients == ["budi@example.org", "sari@example.org"]
    for received in site.smtp.messages:
        mail = received.message
        assert mail["Subject"] == "Kabar pagi"
        assert mail["List-Unsubscribe"].strip().startswith("<http://localhost:8080/")
        assert mail["Message-ID"]
        parts = [part.get_content_type() for part in mail.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        html_text = re.sub(r"<[^>]+>", "", html)
        for title in entries_within_a_week(site.feed_text)[:10]:
            assert title in text
        assert "via Warta Nusantara Online" in text and "via Warta Nusantara Online" in html_text
        assert not [noise for noise in NOISE if noise in text or noise in html]

    # One Telegram post per entry, each with its credit and link.
    titles = entries_within_a_week(site.feed_text)
    posts = site.bot.messages
    assert len(posts) == len(titles) > 0
    assert all(post.chat_id == "@kabarpilihan" for post in posts)
    for post in posts:
        shown = post.text or post.caption or ""
        assert "Warta Nusantara Online" in shown
        assert not [noise for noise in NOISE if noise in shown]
    assert sorted(titles) == sorted(
        next(t for t in titles if t in (p.text or p.caption or "")) for p in posts
    )

    capsys.readouterr()
    assert site.syndicate("deliveries") == 0
    table = capsys.readouterr().out
    assert re.search(r"pagi\s+newsletter\s+sent\s+2\b", table)
    assert re.search(rf"kilat\s+telegram\s+sent\s+{len(titles)}\b", table)
    assert "failed" not in table

    # The broken source was recorded, and it stopped nothing.
    db = open_database(site.database_url)
    with db.session() as session:
        gone = session.scalars(select(Source).where(Source.name == "hilang")).one()
        assert gone.consecutive_failures == 1 and "404" in (gone.last_error or "")
    db.dispose()

    # Again: the feed answers 304, and nothing is sent twice.
    assert site.syndicate("run", "--once") == 0
    assert len(site.smtp.messages) == 2
    assert len(site.bot.messages) == len(titles)
    last = [r for r in site.feeds.requests if r.path == FEED_PATH][-1]
    assert last.headers.get("if-none-match")


def test_a_new_entry_makes_one_post_and_a_one_post_digest(site: Site) -> None:
    subscribe(site)
    assert site.syndicate("run", "--once") == 0
    mails, posts = len(site.smtp.messages), len(site.bot.messages)

    fresh = _with_new_entry(site.feed_text, "Banjir Rob Surut, Nelayan Kembali Melaut")
    site.feeds.add(FEED_PATH, fresh.encode(), "application/atom+xml")
    assert site.syndicate("run", "--once") == 0

    assert len(site.bot.messages) == posts + 1
    assert "Banjir Rob Surut" in (site.bot.messages[-1].text or site.bot.messages[-1].caption)
    new_mails = site.smtp.messages[mails:]
    assert len(new_mails) == 2
    text = new_mails[0].message.get_body(("plain",)).get_content()
    assert "Banjir Rob Surut" in text
    assert "Harga Cabai Rawit" not in text  # already sent in the first edition


def _with_new_entry(feed_text: str, title: str) -> str:
    """The feed with one more entry on top: a copy of the first, with a new id and link."""
    start = feed_text.index("<entry>")
    end = feed_text.index("</entry>", start) + len("</entry>")
    entry = feed_text[start:end]
    entry = re.sub(r"<id>[^<]+</id>", "<id>tag:blogger.com,1999:blog-1.post-999</id>", entry)
    entry = re.sub(
        r"<title type='text'>[^<]+</title>", f"<title type='text'>{title}</title>", entry
    )
    entry = re.sub(
        r"""(href=["'])https://www\.wartanusantara\.example/2026/[^"'#]+""",
        r"\1https://www.wartanusantara.example/2026/11/banjir-rob-surut.html",
        entry,
    )
    entry = re.sub(r'title="[^"]*"', 'title="Banjir"', entry)
    # A new story, not a copy of the first one (a copy would be the same story, sent once).
    body = (
        "&lt;p&gt;Air laut yang sempat menggenangi permukiman pesisir Muara Baru surut sejak "
        "Selasa pagi. Ratusan nelayan kembali melaut setelah tiga hari menambatkan perahu, "
        "sementara warga membersihkan lumpur dari rumah dan musala.&lt;/p&gt;"
    )
    entry = re.sub(
        r"<content type='html'>.*?</content>",
        f"<content type='html'>{body}</content>",
        entry,
        flags=re.S,
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    entry = re.sub(r"<published>[^<]+</published>", f"<published>{now}</published>", entry)
    return feed_text[:start] + entry + feed_text[start:]
