"""Full text, attribution, clusters and trending through a real poll of a local feed server.

Two sites carry one story: "Harian Asal" writes it (full text in its feed), "Kabar Salin"
copies it and its feed carries only a summary, so syndicate reads the copy's page, lifts the
"Sumber: harianasal" line into the credit, and puts both posts in one cluster. A job then
sends the story once, credited to the original, and ranks it above a story only one site
carries. Everything here is fictional.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from syndicate.config import CreditName, Job, Selection
from syndicate.config import Source as SourceConfig
from syndicate.db.models import Click, Edition, EditionPost, Post, Source, utcnow
from syndicate.db.session import open_database
from syndicate.ingest.attribution import shown_origin
from syndicate.ingest.extract import ArticleFetcher
from syndicate.ingest.poll import poll_sources
from syndicate.select import select_posts
from syndicate.trending import rank_stories
from tests.feedserver import FeedServer

STORY = (
    "Pengelola Bendungan Wadaslintang membuka tiga pintu pelimpah sejak Kamis sore setelah "
    "hujan deras mengguyur hulu sungai selama dua hari. Debit air yang dilepas mencapai 450 "
    "meter kubik per detik. Warga di sepanjang bantaran Sungai Lukulo diminta menjauh dari "
    "tepi sungai dan menyiapkan barang berharga. Kepala balai wilayah sungai mengatakan tinggi "
    "muka air waduk sudah melewati batas siaga dua. Petugas gabungan telah menyiapkan tenda "
    "pengungsian di balai desa Kaliputih dan Kedungwaru."
)
OTHER = (
    "Pasar terapung di muara Sungai Kuin kembali ramai pada Minggu pagi setelah dermaga "
    "kayunya selesai direnovasi. Sekitar seratus jukung pedagang sayur, buah dan kue "
    "tradisional berjajar sejak pukul enam pagi."
)
CREDITS = {"harianasal": CreditName("Harian Asal", "https://harianasal.example/")}


def _when(hours_ago: float) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _atom(title: str, site: str, entries: list[str]) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom' "
        "xmlns:thr='http://purl.org/syndication/thread/1.0'>"
        f"<id>tag:{site}</id><title>{title}</title><link rel='alternate' href='{site}'/>"
        f"<updated>{_when(0)}</updated>{''.join(entries)}</feed>"
    ).encode()


def _entry(link: str, title: str, body: str, hours_ago: float, *, summary: bool = False,
           comments: int = 0) -> str:  # fmt: skip
    tag = "summary type='text'" if summary else "content type='html'"
    close = "summary" if summary else "content"
    return (
        f"<entry><id>{link}</id><title>{title}</title><link rel='alternate' href='{link}'/>"
        f"<published>{_when(hours_ago)}</published><{tag}>{body}</{close}>"
        f"<thr:total>{comments}</thr:total></entry>"
    )


def _copy_page(title: str) -> bytes:
    paragraphs = "".join(f"<p>{s}.</p>" for s in STORY.split(". "))
    return (
        "<!DOCTYPE html><html lang='id'><head><meta charset='utf-8'>"
        f"<title>{title} - Kabar Salin</title><meta property='og:site_name' content='Kabar Salin'>"
        "</head><body><div class='breaking-news widget'><h3>Breaking Posts</h3><ul>"
        "<li><a href='/lain.html'>Berita lain</a></li></ul></div><article>"
        f"<h1>{title}</h1><div class='post-body'>{paragraphs}"
        "<p>Baca Juga: <a href='/x.html'>Jembatan baru</a></p><p>Sumber: harianasal</p></div>"
        "</article><div id='comments'><h4>Posting Komentar</h4></div>"
        "<footer>Copyright © 2024 Kabar Salin</footer></body></html>"
    ).encode()


def _serve(server: FeedServer, *, full_text: str = "auto") -> list[SourceConfig]:
    title = "Bendungan Wadaslintang Buka Pintu Air, Warga Bantaran Diminta Waspada"
    origin_site, copy_site = server.url("/asal/"), server.url("/salin/")
    server.add("/asal/feed", _atom("Harian Asal", origin_site, [
        _entry(server.url("/asal/bendungan.html"), title, STORY, 6, comments=4),
        _entry(server.url("/asal/pasar.html"), "Pasar Terapung Dibuka Lagi", OTHER, 1),
    ]), "application/atom+xml")  # fmt: skip
    server.add("/salin/feed", _atom("Kabar Salin", copy_site, [
        _entry(server.url("/salin/bendungan.html?utm_source=feed"), f"VIRAL! {title}",
               STORY[:160] + "…", 3, summary=True, comments=9),
    ]), "application/atom+xml")  # fmt: skip
    server.add("/salin/bendungan.html", _copy_page(f"VIRAL! {title}"), "text/html; charset=utf-8")
    zone = None
    return [
        SourceConfig("asal", server.url("/asal/feed"), timedelta(minutes=15), None, True),
        SourceConfig("salin", server.url("/salin/feed"), timedelta(minutes=15), None, True,
                     full_text=full_text, timezone=zone),
    ]  # fmt: skip


def _job(new: int = 10, trending: int = 0, sources: tuple[str, ...] = ()) -> Job:
    return Job("pagi", Path("jobs/pagi.toml"), ("preview",), "digest", None,
               Selection(new, timedelta(days=3), sources, trending))  # fmt: skip


def _poll(db: object, sources: list[SourceConfig]) -> None:
    ArticleFetcher._cache.clear()
    reports = asyncio.run(poll_sources(db, sources))  # type: ignore[arg-type]
    assert not [r.error for r in reports if r.error]


def test_a_summary_only_copy_gets_its_page_text_and_credits_the_original(
    database_url: str,
) -> None:
    db = open_database(database_url)
    with FeedServer() as server:
        _poll(db, _serve(server))
        _poll(db, _serve(server))  # the same entries again: their pages are not read again
        page_hits = server.hits("/salin/bendungan.html")
    with db.session() as session:
        copy = session.scalars(select(Post).join(Source).where(Source.name == "salin")).one()
        original = session.scalars(select(Post).where(Post.url.like("%/asal/bendungan.html"))).one()
        shown = shown_origin(copy, CREDITS)
        clusters = (copy.cluster_id, original.cluster_id)
        text, summary_only = copy.excerpt, copy.summary_only
        origin = (copy.origin_name, copy.origin_url)
    db.dispose()
    assert page_hits == 1
    assert not summary_only and "tenda pengungsian di balai desa Kaliputih" in text
    for furniture in ("Breaking Posts", "Baca Juga", "Posting Komentar", "Copyright", "Sumber"):
        assert furniture not in text
    assert origin == ("harianasal", None)
    assert shown is not None and shown.name == "Harian Asal"
    assert shown.url == "https://harianasal.example/"
    assert clusters[0] == clusters[1] == original.id


def test_full_text_never_leaves_the_page_unread(database_url: str) -> None:
    db = open_database(database_url)
    with FeedServer() as server:
        _poll(db, _serve(server, full_text="never"))
        page_hits = server.hits("/salin/bendungan.html")
    with db.session() as session:
        copy = session.scalars(select(Post).join(Source).where(Source.name == "salin")).one()
        summary_only = copy.summary_only
    db.dispose()
    assert page_hits == 0 and summary_only


def test_a_story_is_sent_once_per_job_and_as_its_original(database_url: str) -> None:
    db = open_database(database_url)
    with FeedServer() as server:
        _poll(db, _serve(server))
    now = utcnow()
    with db.session() as session:
        first = select_posts(session, _job(), now)
        titles = [post.title for post in first]
        edition = Edition(job="pagi", subject="x", format="digest")
        session.add(edition)
        session.flush()
        session.add_all(EditionPost(edition_id=edition.id, post_id=p.id, position=i)
                        for i, p in enumerate(first))  # fmt: skip
    with db.session() as session:
        again = select_posts(session, _job(), now)
        copy_only = select_posts(session, _job(sources=("salin",)), now)
    db.dispose()
    assert len(titles) == 2, titles  # the story once, and the other post
    assert not any(title.startswith("VIRAL!") for title in titles)  # the original, not the copy
    assert again == []  # the copy is the same story: this job sent it already
    assert copy_only == []


def test_trending_ranks_the_story_two_sites_carry_first_and_says_why(database_url: str) -> None:
    db = open_database(database_url)
    with FeedServer() as server:
        _poll(db, _serve(server))
    now = utcnow()
    with db.session() as session:
        trends = rank_stories(session, now)
        top = trends[0]
        top_title, reasons = top.post.title, top.reasons
        chosen = [p.title for p in select_posts(session, _job(new=1, trending=1), now)]
        pasar = next(t for t in trends if t.post.title.startswith("Pasar"))
        session.add_all(Click(post_id=pasar.post.id, job="pagi", at=now) for _ in range(200))
    with db.session() as session:
        clicked = rank_stories(session, now)[0]
        clicked_title, clicked_reasons = clicked.post.title, clicked.reasons
    db.dispose()
    assert top_title.startswith("Bendungan") and len(trends) == 2
    assert reasons.startswith("2 sources, 13 comments, 0 clicks, ")
    # new = 1 takes the newest post, trending = 1 the top story: two posts, none twice.
    assert chosen == ["Pasar Terapung Dibuka Lagi", top_title]
    assert clicked_title.startswith("Pasar") and "200 clicks" in clicked_reasons


def test_trending_command_prints_the_ranking_with_reasons(tmp_path: Path) -> None:
    settings = tmp_path / "syndicate.toml"
    (tmp_path / "jobs").mkdir()
    db_url = f"sqlite:///{tmp_path / 'site.db'}"
    with FeedServer() as server:
        sources = _serve(server)
        settings.write_text(
            '[site]\nname = "Uji"\nbase_url = "http://localhost:8080"\n'
            f'[database]\nurl = "{db_url}"\n[scheduler]\njobs_dir = "jobs"\n'
            + "".join(f'[[sources]]\nname = "{s.name}"\nurl = "{s.url}"\n' for s in sources)
            + '[channels.preview]\ntype = "outbox"\npath = "outbox"\n',
            encoding="utf-8",
        )
        run = [sys.executable, "-m", "syndicate", "--config", str(settings)]
        subprocess.run([*run, "-q", "fetch"], check=True, capture_output=True, timeout=120)
    shown = subprocess.run([*run, "trending"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["score", "title", "source", "why"]
    assert "Bendungan" in lines[2] and "2 sources" in lines[2]
    assert "Pasar" in lines[3] and "1 source," in lines[3]


def test_dates_are_clamped_and_read_in_the_source_zone() -> None:
    from zoneinfo import ZoneInfo

    from syndicate.ingest.dates import clamp, parse_date

    jakarta = ZoneInfo("Asia/Jakarta")
    assert parse_date("Sen, 14 Agu 2023 07:30:00 +0700") == datetime(2023, 8, 14, 0, 30, tzinfo=UTC)
    assert parse_date("Jum'at, 1 Des 2023 pukul 19.05 WITA") == datetime(2023, 12, 1, 11, 5,
                                                                        tzinfo=UTC)  # fmt: skip
    assert parse_date("August 14, 2023 7:30 PM", jakarta) == datetime(2023, 8, 14, 12, 30,
                                                                      tzinfo=UTC)  # fmt: skip
    assert parse_date("2023-08-14 07:30", jakarta) == datetime(2023, 8, 14, 0, 30, tzinfo=UTC)
    assert parse_date("2023-08-14 07:30") == datetime(2023, 8, 14, 7, 30, tzinfo=UTC)
    assert parse_date("Selasa, 15 Agustus 2023 09:00") == datetime(2023, 8, 15, 2, tzinfo=UTC)
    assert parse_date("Blursday, 14 Aug 2023") is None
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert clamp(datetime(2030, 1, 1, tzinfo=UTC), now) == now
    assert clamp(datetime(2023, 1, 1, tzinfo=UTC), now) == datetime(2023, 1, 1, tzinfo=UTC)
