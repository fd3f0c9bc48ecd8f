"""A poll meets hostile servers: a drip, a 400 MB page, a gzip bomb, internal addresses.

Each time the poll goes on: the other sources' posts arrive, and each failure is one
sentence, on the source (a feed that could not be read) or among its problems (an
article page that was not fetched).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from syndicate.config import IngestSettings
from syndicate.config import Source as SourceConfig
from syndicate.db.models import Post, Source
from syndicate.db.session import Database, open_database
from syndicate.ingest.addresses import REACH, AddressRefused, GuardedTransport, Reach
from syndicate.ingest.extract import ArticleFetcher
from syndicate.ingest.fetch import FetchError, make_client
from syndicate.ingest.poll import PollReport, poll_sources
from tests.feedserver import FeedServer
from tests.hostile import HostsResolver, drip, gzip_bomb, huge_page, summary_feed

QUICK = IngestSettings(feed_timeout=timedelta(seconds=2), page_timeout=timedelta(seconds=2))
STORY = (
    "<html><head><title>Banjir surut</title></head><body><article>"
    + "<p>Air di jalan utama kota sudah surut sejak pagi, kata petugas di lapangan.</p>" * 6
    + "</article></body></html>"
).encode()
SECRET = (
    "<html><head><title>Intranet</title></head><body><article>"
    + "<p>INTERNAL-SECRET: the router's admin password is hunter2, keep it safe.</p>" * 6
    + "</article></body></html>"
).encode()
LOOPBACK_REFUSAL = (
    "on a loopback address ({address}); list its host in [ingest] private_hosts to allow it."
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'syndicate.db'}")
    ArticleFetcher._cache.clear()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def inside() -> Iterator[FeedServer]:
    """Another host, on 127.0.0.2: an address inside the network, with a secret page."""
    with FeedServer("127.0.0.2") as running:
        running.add("/secret.html", SECRET, "text/html; charset=utf-8")
        running.add("/feed.xml", summary_feed("Dalam", running.url("/"), []))
        yield running


def source(name: str, url: str) -> SourceConfig:
    return SourceConfig(name, url, timedelta(minutes=15), None, True)


def poll(db: Database, sources: list[SourceConfig], **options: object) -> dict[str, PollReport]:
    options.setdefault("settings", QUICK)
    reports = asyncio.run(poll_sources(db, sources, **options))  # type: ignore[arg-type]
    return {report.source: report for report in reports}


def stored(db: Database) -> dict[str, list[str]]:
    """Each source's posts: their excerpts."""
    with db.session() as session:
        rows = session.execute(select(Source.name, Post.excerpt).join(Post.source)).all()
    found: dict[str, list[str]] = {}
    for name, excerpt in rows:
        found.setdefault(name, []).append(excerpt)
    return found


def last_error(db: Database, name: str) -> str | None:
    with db.session() as session:
        return session.scalars(select(Source.last_error).where(Source.name == name)).one()


def serve_news(server: FeedServer) -> SourceConfig:
    """An ordinary source beside the hostile ones: its pages are fine."""
    server.add("/berita/1.html", STORY, "text/html; charset=utf-8")
    server.add("/berita/feed.xml", summary_feed("Berita", server.url("/berita/"), [
        server.url("/berita/1.html"),
    ]))  # fmt: skip
    return source("berita", server.url("/berita/feed.xml"))


def test_a_feed_that_drips_is_given_up_at_its_deadline_and_the_poll_goes_on(
    db: Database, server: FeedServer
) -> None:
    feed = summary_feed("Lambat", server.url("/"), [server.url("/lambat/1.html")])
    server.add_stream("/lambat/feed.xml", drip(feed, every=0.5), "application/rss+xml")
    slow = source("lambat", server.url("/lambat/feed.xml"))
    reports = poll(db, [slow, serve_news(server)])
    sentence = f"{slow.url}: the server did not send the whole answer within 2 seconds."
    assert reports["lambat"].error == sentence
    assert last_error(db, "lambat") == sentence
    assert reports["berita"].error is None and reports["berita"].new_posts == 1
    assert "Air di jalan utama" in stored(db)["berita"][0]


def test_an_article_page_that_drips_is_given_up_and_the_other_pages_are_read(
    db: Database, server: FeedServer
) -> None:
    server.add_stream("/lambat.html", drip(STORY, every=0.5))
    server.add("/cepat.html", STORY, "text/html; charset=utf-8")
    links = [server.url("/lambat.html"), server.url("/cepat.html")]
    server.add("/feed.xml", summary_feed("Campur", server.url("/"), links))
    reports = poll(db, [source("campur", server.url("/feed.xml"))])
    problem = (
        f"the article page {links[0]} was not fetched: "
        "the server did not send the whole answer within 2 seconds."
    )
    assert reports["campur"].error is None and reports["campur"].new_posts == 2
    assert reports["campur"].problems == (problem,)
    assert last_error(db, "campur") == problem
    excerpts = sorted(stored(db)["campur"])
    assert excerpts[0].startswith("Air di jalan utama") and excerpts[1] == "Ringkasan 1."


@pytest.mark.slow
def test_a_huge_page_and_a_gzip_bomb_are_cut_off_with_a_sentence_each(
    db: Database, server: FeedServer
) -> None:
    server.add_stream("/besar.html", huge_page())
    server.add_stream("/bom.html", gzip_bomb(), headers={"Content-Encoding": "gzip"})
    links = [server.url("/besar.html"), server.url("/bom.html")]
    server.add("/feed.xml", summary_feed("Berat", server.url("/"), links))
    reports = poll(db, [source("berat", server.url("/feed.xml")), serve_news(server)])
    assert set(reports["berat"].problems) == {
        f"the article page {links[0]} was not fetched: it is larger than 5 MB.",
        f"the article page {links[1]} was not fetched: it unpacks to more than 5 MB.",
    }
    assert reports["berat"].new_posts == 2  # with the feed's summaries
    assert reports["berita"].new_posts == 1 and "Air di jalan" in stored(db)["berita"][0]


def test_a_huge_feed_and_a_gzip_bomb_feed_are_refused_with_a_sentence_each(
    db: Database, server: FeedServer
) -> None:
    server.add_stream("/besar.xml", huge_page(), "application/rss+xml")
    server.add_stream("/bom.xml", gzip_bomb(), "application/rss+xml", {"Content-Encoding": "gzip"})
    huge, bomb = source("besar", server.url("/besar.xml")), source("bom", server.url("/bom.xml"))
    reports = poll(db, [huge, bomb, serve_news(server)])
    assert reports["besar"].error == f"{huge.url}: the feed is larger than 20 MB."
    assert reports["bom"].error == f"{bomb.url}: the feed unpacks to more than 20 MB."
    assert reports["berita"].new_posts == 1


def test_a_page_on_another_loopback_host_is_refused_and_never_asked(
    db: Database, server: FeedServer, inside: FeedServer
) -> None:
    secret = inside.url("/secret.html")
    server.add("/own.html", STORY, "text/html; charset=utf-8")
    server.add(
        "/feed.xml", summary_feed("Luar", server.url("/"), [secret, server.url("/own.html")])
    )
    reports = poll(db, [source("luar", server.url("/feed.xml"))])
    refusal = LOOPBACK_REFUSAL.format(address="127.0.0.2")
    assert reports["luar"].problems == (
        f"the article page {secret} was not fetched: it is {refusal}",
    )
    assert inside.hits("/secret.html") == 0
    excerpts = stored(db)["luar"]
    assert not any("INTERNAL-SECRET" in text for text in excerpts)
    assert any("Air di jalan" in text for text in excerpts), "a page on the feed's own host"


def test_a_redirect_to_an_internal_address_is_refused_for_a_page_and_a_feed(
    db: Database, server: FeedServer, inside: FeedServer
) -> None:
    secret, moved_feed = inside.url("/secret.html"), inside.url("/feed.xml")
    server.add_redirect("/go", secret, status=302)
    server.add("/feed.xml", summary_feed("Alih", server.url("/"), [server.url("/go")]))
    server.add_redirect("/old-feed.xml", moved_feed)
    reports = poll(
        db, [source("alih", server.url("/feed.xml")), source("pindah", server.url("/old-feed.xml"))]
    )
    refusal = LOOPBACK_REFUSAL.format(address="127.0.0.2")
    assert reports["alih"].problems == (
        f"the article page {server.url('/go')} was not fetched: "
        f"it redirects to {secret}, which is {refusal}",
    )
    assert reports["pindah"].error == (
        f"{server.url('/old-feed.xml')}: it redirects to {moved_feed}, which is {refusal}"
    )
    assert inside.hits("/secret.html") == 0 and inside.hits("/feed.xml") == 0
    assert not any("INTERNAL-SECRET" in text for text in stored(db)["alih"])


def test_a_feed_under_a_name_reaches_its_own_host_only_and_keeps_the_name(
    db: Database, server: FeedServer
) -> None:
    """feeds.example is 127.0.0.1 here; a page on "127.0.0.1" is another host (and the
    connection feeds.example opened is not lent to it)."""
    named = f"http://feeds.example:{server.port}"
    server.add("/story.html", STORY, "text/html; charset=utf-8")
    server.add("/secret.html", SECRET, "text/html; charset=utf-8")
    links = [f"{named}/story.html", server.url("/secret.html")]
    server.add("/feed.xml", summary_feed("Nama", named, links))
    resolver = HostsResolver({"feeds.example": ["127.0.0.1"]})
    reports = poll(db, [source("nama", f"{named}/feed.xml")], resolver=resolver)
    refusal = LOOPBACK_REFUSAL.format(address="127.0.0.1")
    assert reports["nama"].problems == (
        f"the article page {links[1]} was not fetched: it is {refusal}",
    )
    assert server.hits("/secret.html") == 0
    assert server.requests[0].headers["host"] == f"feeds.example:{server.port}"
    assert any("Air di jalan" in text for text in stored(db)["nama"])


def test_a_host_listed_in_private_hosts_is_read(
    db: Database, server: FeedServer, inside: FeedServer
) -> None:
    server.add("/feed.xml", summary_feed("Intra", server.url("/"), [inside.url("/secret.html")]))
    settings = IngestSettings(private_hosts=("127.0.0.2",))
    reports = poll(db, [source("intra", server.url("/feed.xml"))], settings=settings)
    assert reports["intra"].problems == ()
    assert inside.hits("/secret.html") == 1
    assert "INTERNAL-SECRET" in stored(db)["intra"][0]


def test_a_name_with_one_internal_address_among_public_ones_is_refused(
    db: Database, server: FeedServer
) -> None:
    page = f"http://mixed.example:{server.port}/secret.html"
    server.add("/feed.xml", summary_feed("Campur", server.url("/"), [page]))
    resolver = HostsResolver({"mixed.example": ["93.184.216.34", "127.0.0.1"]})
    reports = poll(db, [source("campur", server.url("/feed.xml"))], resolver=resolver)
    refusal = LOOPBACK_REFUSAL.format(address="127.0.0.1")
    assert reports["campur"].problems == (
        f"the article page {page} was not fetched: it is {refusal}",
    )
    assert resolver.asked.count("mixed.example") == 1  # resolved once, checked, refused


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.5", "private network"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fd00::1", "private network"),
    ],
)
def test_every_kind_of_internal_address_is_refused_before_connecting(
    address: str, kind: str
) -> None:
    async def run() -> None:
        transport = GuardedTransport(
            HostsResolver({"inside.example": [address]}), limits=httpx.Limits()
        )
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://inside.example/x", extensions={REACH: Reach()})

    with pytest.raises(AddressRefused) as refused:
        asyncio.run(run())
    assert (refused.value.address, refused.value.kind) == (address, kind)


def test_a_request_allowed_less_is_refused_though_a_connection_is_kept_alive(
    server: FeedServer,
) -> None:
    server.add("/a.html", STORY, "text/html")

    async def run() -> list[str]:
        transport = GuardedTransport(limits=httpx.Limits())
        outcomes = []
        async with httpx.AsyncClient(transport=transport) as client:
            for reach in (Reach.around(server.base_url), Reach()):
                try:
                    await client.get(server.url("/a.html"), extensions={REACH: reach})
                    outcomes.append("read")
                except AddressRefused as refused:
                    outcomes.append(refused.kind)
        return outcomes

    assert asyncio.run(run()) == ["read", "loopback"]
    assert server.hits("/a.html") == 1  # the second was never sent


def test_through_a_proxy_from_the_environment_a_page_inside_is_still_refused(
    db: Database, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test server plays the proxy (it answers requests in absolute form): the proxy
    connects, and each name is checked before anything is sent to it."""
    feed, page = "http://news.example/feed.xml", "http://news.example/1.html"
    secret = "http://inside.example/secret.html"
    server.add(feed, summary_feed("Proksi", "http://news.example/", [page, secret]))
    server.add(page, STORY, "text/html; charset=utf-8")
    server.add(secret, SECRET, "text/html; charset=utf-8")
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    resolver = HostsResolver({"news.example": ["93.184.216.34"], "inside.example": ["10.0.0.5"]})
    reports = poll(db, [source("proksi", feed)], resolver=resolver)
    assert reports["proksi"].problems == (
        f"the article page {secret} was not fetched: it is on a private network address "
        "(10.0.0.5); list its host in [ingest] private_hosts to allow it.",
    )
    assert (server.hits(feed), server.hits(page), server.hits(secret)) == (1, 1, 0)
    assert any("Air di jalan" in text for text in stored(db)["proksi"])


def test_a_page_one_source_may_read_is_not_handed_to_another_from_the_cache(
    inside: FeedServer,
) -> None:
    """The intranet's own feed reads its page; a public feed linking the same page, in the
    same poll, does not get it from the cache."""
    secret = inside.url("/secret.html")

    async def run() -> tuple[str, str]:
        async with make_client() as client:
            fetcher = ArticleFetcher(client)
            article = await fetcher.article(secret, reach=Reach.around(inside.base_url))
            try:
                await fetcher.article(secret, reach=Reach())
            except FetchError as error:
                return (article.excerpt if article else ""), error.reason
        return "", "read"

    ArticleFetcher._cache.clear()
    excerpt, second = asyncio.run(run())
    assert "INTERNAL-SECRET" in excerpt
    assert second == "it is " + LOOPBACK_REFUSAL.format(address="127.0.0.2")
    assert inside.hits("/secret.html") == 1


def test_many_pages_not_fetched_are_counted_past_the_first_three(
    db: Database, server: FeedServer
) -> None:
    links = [server.url(f"/hilang/{n}.html") for n in range(5)]  # each answers 404
    server.add("/feed.xml", summary_feed("Hilang", server.url("/"), links))
    reports = poll(db, [source("hilang", server.url("/feed.xml"))])
    assert len(reports["hilang"].problems) == 5
    recorded = last_error(db, "hilang") or ""
    assert recorded.count("was not fetched: the server answered 404 Not Found.") == 3
    assert recorded.endswith(" 2 more article pages were not fetched.")


def test_a_page_of_nothing_but_tags_is_not_read_and_the_poll_goes_on(
    db: Database, server: FeedServer
) -> None:
    # Found by a reviewer: 4.9 MB of <p><b>a</b></p>, under the size cap, took the
    # extractor minutes and a gigabyte, and held the poll.
    dense = b"<html><body><article>" + b"<p><b>a</b></p>" * 326_664 + b"</article></body></html>"
    server.add("/padat.html", dense, "text/html; charset=utf-8")
    link = server.url("/padat.html")
    server.add("/feed.xml", summary_feed("Padat", server.url("/"), [link]))
    reports = poll(db, [source("padat", server.url("/feed.xml")), serve_news(server)])
    assert reports["padat"].problems == (
        f"the article page {link} was not fetched: "
        "the page has more than 50,000 HTML tags; none is read.",
    )
    assert reports["padat"].new_posts == 1  # with the feed's summary
    assert reports["berita"].new_posts == 1


def test_an_unusable_link_is_one_short_sentence_without_a_traceback(
    db: Database, server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    long_link = server.url("/p7?") + "a" * 200_000
    octal = "http://0177.0.0.2:1/secret"
    server.add("/feed.xml", summary_feed("Aneh", server.url("/"), [long_link, octal]))
    reports = poll(db, [source("aneh", server.url("/feed.xml"))])
    problems = reports["aneh"].problems
    assert len(problems) == 2 and all(len(problem) < 600 for problem in problems), problems
    assert all("was not fetched" in problem for problem in problems)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert reports["aneh"].new_posts == 2


def test_a_host_written_in_capitals_is_not_called_a_redirect() -> None:
    # Found by a reviewer: http://LOCALHOST:… was refused as "it redirects to
    # http://localhost:…", though nothing redirected: httpx only wrote the host its way.
    refused = AddressRefused("http://localhost:18603/secret", "127.0.0.1", "loopback")
    assert refused.reason("http://LOCALHOST:18603/secret").startswith("it is on a loopback")
    assert refused.reason("http://other.example/").startswith(
        "it redirects to http://localhost:18603/secret, which is on a loopback"
    )
