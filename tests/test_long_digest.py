"""A digest too long for one email loses no post.

With a served archive the email shows the posts that fit and links "N more in the
archive" to the edition's page, which lists every post of the edition. Without one, the
posts that do not fit stay new and the next edition carries them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from syndicate.db.models import EditionPost, Post, Rendering
from syndicate.subscribers import add_subscriber
from tests.botapi import TEST_TOKEN, BotApiServer
from tests.browser.live import LiveSite
from tests.feedserver import FeedServer
from tests.sites import Site, job_toml
from tests.smtpserver import SmtpServer

POSTS = 150
LONG_FEED = "/feeds/panjang.xml"


def long_feed(count: int = POSTS, site: str = "https://warta.example.id") -> bytes:
    """An Atom feed of `count` posts with long contents, newest first, all from today.

    The posts link to pages on `site`: a poll that reads article pages asks there.
    """
    now = datetime.now(UTC)
    entries = []
    for index in range(count):
        when = (now - timedelta(minutes=index + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        summary = f"Paragraf berita nomor {index} tentang peristiwa hari ini di kota. " * 6
        entries.append(
            f"<entry><id>urn:berita:{index}</id><title>Berita panjang nomor {index}</title>"
            f'<link href="{site}/berita/{index}/judul-yang-cukup-panjang"/>'
            f"<updated>{when}</updated><published>{when}</published>"
            f'<content type="html">{escape("<p>" + summary + "</p>")}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Warta Panjang</title><id>urn:warta</id>"
        f'<link href="{site}/"/><updated>{now:%Y-%m-%dT%H:%M:%SZ}</updated>'
        + "".join(entries)
        + "</feed>"
    ).encode()


def titles(html: str) -> set[str]:
    return set(re.findall(r"Berita panjang nomor \d+", html))


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[LiveSite]:
    feed = tmp_path / "panjang.xml"
    feed.write_bytes(long_feed())
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "lengkap.toml").write_text(
        f'schedule = "0 7 * * *"\nchannels = ["newsletter"]\n[select]\nnew = {POSTS}\n'
        'window = "7d"\n',
        encoding="utf-8",
    )
    more = f'\n[[sources]]\nname = "panjang"\nurl = "{feed.as_uri()}"\nfull_text = "never"\n'
    with SmtpServer() as smtp, LiveSite(tmp_path, database_url, smtp, more_sources=more) as site:
        yield site


def test_posts_cut_from_a_long_digest_are_all_on_the_linked_archive_page(
    served: LiveSite,
) -> None:
    add_subscriber(served.db, "pembaca@example.org", "newsletter")
    outcome = served.run("lengkap")
    assert outcome.posts == POSTS
    with served.db.session() as session:
        (body,) = session.scalars(
            select(Rendering.body).where(Rendering.edition_id == outcome.edition_id)
        )
        kept = session.scalars(
            select(Post.title)
            .join(EditionPost, EditionPost.post_id == Post.id)
            .where(EditionPost.edition_id == outcome.edition_id)
        ).all()
    assert len(kept) == POSTS
    shown = titles(body["html"])
    assert 0 < len(shown) < POSTS  # the email was cut to fit
    page = f"{served.base_url}/archive/lengkap/{outcome.edition_id}"
    more = re.search(r'<a href="([^"]+)"[^>]*>(\d+) [^<]*archive</a>', body["html"])
    assert more, "the cut email has no 'N more in the archive' link"
    assert more.group(1) == page
    assert int(more.group(2)) == POSTS - body["posts_shown"]
    answer = httpx.get(more.group(1), timeout=10)
    assert answer.status_code == 200
    page_text = html.unescape(answer.text)
    assert [title for title in kept if title not in page_text] == []
    assert "more in the archive" not in page_text


@pytest.fixture
def unserved(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with FeedServer() as feeds, SmtpServer() as smtp, BotApiServer(token=TEST_TOKEN) as bot:
        # The article pages are asked of the feed server (which has none), not of a name
        # that must first be looked up on the network.
        feeds.add(LONG_FEED, long_feed(site=feeds.url("")), "application/atom+xml")
        site = Site(tmp_path, database_url, smtp, bot, feeds.url(LONG_FEED))
        try:
            yield site
        finally:
            if hasattr(site, "db"):
                site.db.dispose()


def test_without_an_archive_posts_that_do_not_fit_wait_for_the_next_edition(
    unserved: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site = unserved.open(panjang=job_toml("outbox", new=POSTS))
    add_subscriber(site.db, "pembaca@example.org", "newsletter")
    first = site.run("panjang", 0)
    assert 0 < first.posts < POSTS
    assert "stay new for the next edition" in caplog.text
    with site.db.session() as session:
        (body,) = session.scalars(
            select(Rendering.body).where(Rendering.edition_id == first.edition_id)
        )
    assert len(titles(body["html"])) == first.posts  # every post of the edition is shown
    assert "arsip" not in body["html"]  # and no link to an archive that is not there
    carried = first.posts
    for n in range(1, 6):
        if carried == POSTS:
            break
        carried += site.run("panjang", n).posts
    assert carried == POSTS
