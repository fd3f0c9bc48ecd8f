"""Pages as feeds really carry them: furniture without markup, teasers, credits in any wording.

The seed page (../shared/corpus/seed/) in its three shapes, pages and feeds of our own
making in Indonesian and English with widget strings no phrase list knows, and the shared
corpus. Each poll goes through a local HTTP server into a real database.
"""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.config import Source as SourceConfig
from syndicate.db.models import Post, Source
from syndicate.db.session import Database, open_database
from syndicate.ingest.attribution import resolve_credit
from syndicate.ingest.extract import ArticleFetcher
from syndicate.ingest.poll import poll_sources
from tests.corpus import CORPUS
from tests.feedserver import FeedServer

SEED = (CORPUS / "seed" / "000_dedce096c3d8b221.txt").read_text(encoding="utf-8")
LINES = [" ".join(line.split()) for line in SEED.splitlines() if line.strip()]
HEADLINE = "50.000 Pasukan Korut Siap Gabung Rusia, Konflik Dunia Kian Runyam"
ARTICLE = LINES[LINES.index(HEADLINE) + 1 : LINES.index("Sumber Berita / Artikel Asli : inilah")]
FURNITURE = LINES[: LINES.index(HEADLINE)] + LINES[LINES.index("Posting Komentar") :]
SUBHEADS = ["Korut telah mengirim senjata ke Rusia", "Militer Korut disebut terbesar keempat dunia"]
NOW = datetime.now(UTC)


def _when(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _atom(site: str, entries: list[str], title: str = "Repelita Online") -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><feed xmlns='http://www.w3.org/2005/Atom' "
        "xmlns:media='http://search.yahoo.com/mrss/'>"
        f"<id>tag:{site}</id><title>{title}</title><link rel='alternate' href='{site}'/>"
        f"<updated>{_when(0)}</updated>{''.join(entries)}</feed>"
    ).encode()


def _entry(link: str, title: str, body: str, hours_ago: float = 1, thumbnail: str = "") -> str:
    picture = f"<media:thumbnail url='{thumbnail}' height='72' width='72'/>" if thumbnail else ""
    return (
        f"<entry><id>{html.escape(link)}</id><title>{html.escape(title)}</title>"
        f"<link rel='alternate' href='{html.escape(link)}'/><published>{_when(hours_ago)}"
        f"</published><content type='html'>{html.escape(body)}</content>{picture}</entry>"
    )


def _poll(db: Database, *sources: SourceConfig) -> None:
    ArticleFetcher._cache.clear()
    reports = asyncio.run(poll_sources(db, list(sources)))
    assert not [r.error for r in reports if r.error]


def _source(name: str, url: str, full_text: str = "auto") -> SourceConfig:
    return SourceConfig(name, url, timedelta(minutes=15), None, True, full_text=full_text)


def _posts(db: Database, source: str) -> list[Post]:
    with db.session() as session:
        query = select(Post).join(Source).where(Source.name == source).order_by(Post.id)
        posts = list(session.scalars(query))
        session.expunge_all()
    return posts


def _assert_clean_seed(post: Post) -> None:
    paragraphs = post.excerpt.split("\n\n")
    assert paragraphs[0] == ARTICLE[0], paragraphs[:3]  # not a widget, not the headline
    assert paragraphs[-1] == ARTICLE[-1], paragraphs[-3:]  # not the comment box, no credit
    assert paragraphs == ARTICLE
    for subhead in SUBHEADS:
        assert subhead in paragraphs
    for line in FURNITURE:
        assert line not in post.excerpt, line
    assert HEADLINE not in post.excerpt and "Sumber Berita" not in post.excerpt
    assert resolve_credit_of(post) == "Inilah.com"


def resolve_credit_of(post: Post) -> str | None:
    from syndicate.types import Credit

    credit = Credit(post.origin_name, post.origin_url) if post.origin_name else None
    shown = resolve_credit(credit, {})
    return shown.name if shown else None


def _blogger_page(title: str, paragraphs: list[str], credit: str, image: str) -> bytes:
    """A Blogger theme's page: widgets in boxes whose classes say nothing useful."""
    body = "<br /><br />".join(html.escape(p) for p in paragraphs)
    return (
        "<!DOCTYPE html><html lang='id'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - Repelita Online</title>"
        f"<meta property='og:title' content='{html.escape(title)}'>"
        f"<meta property='og:image' content='{image}'>"
        "<meta property='og:site_name' content='Repelita Online'></head><body>"
        "<div class='box-a'><h3>Breaking Posts</h3><ul><li><a href='/p/1.html'>Satu</a></li>"
        "<li><a href='/p/2.html'>Dua</a></li></ul></div>"
        "<div class='box-b'><span>6/trending/recent</span></div><div class='box-c'>Hot Widget</div>"
        "<div class='box-d'>Type Here to Get Search Results !</div>"
        "<div class='main'><div class='post hentry'>"
        f"<h1 class='post-title entry-title'>{html.escape(title)}</h1>"
        f"<div class='post-body entry-content'>{body}<br /><br />{html.escape(credit)}</div>"
        "</div><div class='box-e'><h4>Posting Komentar</h4><p>0 Komentar</p>"
        "<p>* Please Don't Spam Here. All the Comments are Reviewed by Admin.</p></div>"
        "<div class='box-f'>Top Post Ad</div><div class='box-g'>Below Post Ad</div>"
        "<div class='box-h'>Ads Bottom</div></div>"
        "<div class='box-i'>Copyright © 2023 - Repelita.net | All Right Reserved</div>"
        "</body></html>"
    ).encode()


def test_seed_as_a_blogger_page_behind_a_teaser_feed_is_read_whole_and_credited(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    thumbnail = "https://blogger.googleusercontent.com/img/b/AbC/s72-c/korut.jpg"
    with FeedServer() as server:
        link = server.url("/2023/03/korut.html")
        large = server.url("/img/korut-1600.jpg")
        page = _blogger_page(HEADLINE, ARTICLE, "Sumber Berita / Artikel Asli : inilah", large)
        server.add("/2023/03/korut.html", page, "text/html; charset=utf-8")
        teaser = "".join(f"<p>{html.escape(p)}</p>" for p in ARTICLE[:2])
        feed = _atom(server.url("/"), [_entry(link + "?utm_source=feed", HEADLINE, teaser,
                                              thumbnail=thumbnail)])  # fmt: skip
        server.add("/feeds/posts/default", feed, "application/atom+xml")
        _poll(db, _source("repelita", server.url("/feeds/posts/default")))
        assert server.hits("/2023/03/korut.html") == 1
    (post,) = _posts(db, "repelita")
    db.dispose()
    _assert_clean_seed(post)
    assert post.url == link  # the post's own link without utm_source
    assert post.image_url == large  # the page's full-size picture over a 72-pixel thumbnail


def test_seed_verbatim_in_a_feed_one_line_a_paragraph_comes_out_clean(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    verbatim = "".join(f"<p>{html.escape(line)}</p>" for line in SEED.splitlines())
    with FeedServer() as server:
        feed = _atom(server.url("/"), [_entry(server.url("/korut.html"), HEADLINE, verbatim)])
        server.add("/feed", feed, "application/atom+xml")
        _poll(db, _source("repelita", server.url("/feed")))
        assert server.hits("/korut.html") == 0  # the whole article is in the feed
    (post,) = _posts(db, "repelita")
    db.dispose()
    _assert_clean_seed(post)


def test_seed_in_a_full_feed_as_blogger_writes_it_comes_out_clean(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    # Blogger's own post body: text runs and <br>s, the theme's lines after the credit.
    runs = "<br /><br />".join(html.escape(line) for line in LINES)
    body = f"<div dir='ltr' style='text-align: left;'>{runs}</div>"
    with FeedServer() as server:
        feed = _atom(server.url("/"), [_entry(server.url("/korut.html"), HEADLINE, body)])
        server.add("/feed", feed, "application/atom+xml")
        _poll(db, _source("repelita", server.url("/feed")))
    (post,) = _posts(db, "repelita")
    db.dispose()
    _assert_clean_seed(post)


# Stories of our own: each long enough to be an article, each different.
STORIES_ID = [
    [f"Warga Desa {place} menggelar kerja bakti membersihkan saluran air sepanjang dua "
     f"kilometer pada Minggu pagi, menjelang musim hujan yang diperkirakan datang lebih awal.",
     f"Kepala desa {place} mengatakan kegiatan serupa akan digelar setiap bulan, dan warga "
     "diminta memilah sampah rumah tangga sebelum diangkut petugas kebersihan.",
     f"Menurut data kecamatan, banjir tahun lalu merendam {n} rumah di kawasan itu selama "
     "tiga hari, dan sebagian warga terpaksa mengungsi ke balai desa."]
    for n, place in enumerate(["Sukamaju", "Karanganyar", "Tanjungsari", "Bojongsari", "Cikarang"],
                              start=40)
]  # fmt: skip
STORIES_EN = [
    [f"The {town} council voted on Tuesday to keep the public library open on Sundays, "
     "reversing a decision made in the spring after a petition gathered thousands of names.",
     f"Councillors in {town} said the extra hours would be paid for by trimming the budget "
     "for printed leaflets, which few residents still read, according to the council's survey.",
     f"The library in {town} lent more than {n},000 books last year, and its reading room "
     "is now used by students preparing for exams during the winter months."]
    for n, town in enumerate(["Ashford", "Bexley", "Crawley", "Dorking", "Epsom"], start=20)
]  # fmt: skip


def _with_theme(paragraphs: list[str], n: int, widget_lines: list[str], dateline: str) -> str:
    """One post as a theme wraps it, the widgets as plain paragraphs amid the text."""
    head, rest = paragraphs[0], paragraphs[1:]
    lines = [*widget_lines[:2], dateline, head, widget_lines[2], *rest, *widget_lines[3:]]
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


@pytest.mark.parametrize(
    ("stories", "widgets", "dateline"),
    [
        (
            STORIES_ID,
            [
                "Menu Utama Redaksi Kami",
                "Kanal Daerah Terpopuler Hari Ini",
                "Ikuti saluran kami untuk kabar tercepat dari seluruh daerah setiap hari",
                "Gabung di grup pembaca setia, dapatkan hadiah menarik setiap pekan ini",
                "Redaksi | Pedoman Siber | Kontak",
            ],
            "PONTIANAK, WARTABORNEO.example –",
        ),
        (
            STORIES_EN,
            [
                "Top Stories In Your Area",
                "Local Politics Desk",
                "Sign up for our free morning newsletter and never miss a local story",
                "We rely on readers like you to keep our newsroom independent and fearless",
                "About | Masthead | Contact",
            ],
            "ASHFORD, Kent —",
        ),
    ],
    ids=["blogger-indonesian", "wordpress-english"],
)
def test_lines_a_source_repeats_are_its_template_learned_once_and_kept(
    tmp_path: Path, stories: list[list[str]], widgets: list[str], dateline: str
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    with FeedServer() as server:
        entries = [
            _entry(server.url(f"/p/{n}.html"), f"Kabar nomor {n}", _with_theme(s, n, widgets,
                   dateline), hours_ago=n + 2)
            for n, s in enumerate(stories[:4])
        ]  # fmt: skip
        server.add("/feed", _atom(server.url("/"), entries), "application/atom+xml")
        _poll(db, _source("lokal", server.url("/feed")))
        # Later the feed holds one new post only: what was learned cleans it.
        lone = _entry(server.url("/p/9.html"), "Kabar nomor 9",
                      _with_theme(stories[4], 9, widgets, dateline))  # fmt: skip
        server.add("/feed", _atom(server.url("/"), [lone]), "application/atom+xml")
        _poll(db, _source("lokal", server.url("/feed")))
    posts = _posts(db, "lokal")
    with db.session() as session:
        template = session.scalar(select(Source.furniture).where(Source.name == "lokal"))
    db.dispose()
    assert len(posts) == 5
    for post, story in zip(posts, stories, strict=True):
        paragraphs = post.excerpt.split("\n\n")
        assert paragraphs == [dateline, *story], paragraphs  # the dateline repeats, and stays
    assert template is not None and widgets[2].casefold() in template


LONG = " ".join(STORIES_ID[0])  # over 400 characters: a summary's length, not a teaser's


@pytest.mark.parametrize(
    "ending",
    [
        " …",
        " [&#8230;]",
        " [...]",
        "</p><p><a href='{link}'>Read more »</a>",
        "</p><p>Baca selengkapnya</p>",
        "</p><p><a href='{link}'>Lanjutkan membaca →</a>",
        " <a href='{link}'>(more…)</a>",
        "</p><p>Continue reading <a href='{link}'>Harga cabai</a>",
    ],
)
def test_a_teaser_however_it_ends_is_read_from_its_page(ending: str) -> None:
    from syndicate.ingest.parse import parse_feed

    link = "https://warta.example/2024/05/harga-cabai.html"
    padded = " ".join([LONG] * 3)  # over 1,000 characters: only its ending says teaser
    body = f"<p>{padded}{ending.format(link=link + '?utm_medium=feed')}</p>"
    feed = parse_feed(_atom("https://warta.example/", [_entry(link, "Harga cabai", body)]),
                      url="https://warta.example/feeds/posts/default")  # fmt: skip
    (entry,) = feed.entries
    assert entry.summary_only
    assert "Read more" not in entry.excerpt and "selengkapnya" not in entry.excerpt


def test_a_short_content_is_a_teaser_and_a_long_one_is_not() -> None:
    from syndicate.ingest.parse import parse_feed

    entries = [
        _entry("https://warta.example/a.html", "Pendek", f"<p>{STORIES_ID[0][0]}</p>"),
        _entry("https://warta.example/b.html", "Panjang", f"<p>{' '.join([LONG] * 3)}.</p>"),
    ]
    feed = parse_feed(_atom("https://warta.example/", entries), url="https://warta.example/f")
    assert [e.summary_only for e in feed.entries] == [True, False]


@pytest.mark.parametrize(
    ("line", "link", "name", "url"),
    [
        ("Sumber Berita / Artikel Asli : inilah", None, "Inilah.com", "https://www.inilah.com"),
        (
            'Artikel ini telah tayang di Kompas.com dengan judul "Banjir Surut", klik untuk baca: '
            "https://www.kompas.com/read/1/banjir",
            None,
            "Kompas.com",
            "https://www.kompas.com/read/1/banjir",
        ),
        ("Dilansir dari Antaranews", None, "ANTARA", "https://www.antaranews.com"),
        (
            'Baca artikel detiknews, "Banjir Surut" selengkapnya https://news.detik.com/d-7/banjir',
            None,
            "detikNews",
            "https://news.detik.com/d-7/banjir",
        ),
        (
            "This article is republished from The Conversation under a Creative Commons license. "
            "Read the original article.",
            "https://theconversation.com/x-1",
            "The Conversation",
            "https://theconversation.com/x-1",
        ),
        ("Originally published on Grist.", None, "Grist", "https://grist.org"),
        ("This story first appeared in Mother Jones.", None, "Mother Jones", None),
        (
            "Reprinted with permission from ProPublica.",
            None,
            "ProPublica",
            "https://www.propublica.org",
        ),
        ("(Reuters)", None, "Reuters", "https://www.reuters.com"),
        # Wordings no list above names: the same shapes, other words.
        (
            "Tulisan ini pertama kali dimuat di laman Mongabay Indonesia",
            None,
            "Mongabay Indonesia",
            None,
        ),
        (
            "Berita ini disadur dari BBC News Indonesia.",
            None,
            "BBC News Indonesia",
            "https://www.bbc.com/indonesia",
        ),
        ("Artikel asli: Tempo.co", None, "Tempo.co", "https://www.tempo.co"),
        (
            "This piece was produced in partnership with Inside Climate News.",
            None,
            "Inside Climate News",
            "https://insideclimatenews.org",
        ),
        ("A version of this story ran in The Atlantic on Monday.", None, "The Atlantic", None),
        (
            "This article was originally published here.",
            "https://www.citylab.example/a/1",
            "citylab.example",
            "https://www.citylab.example/a/1",
        ),
        (
            "Republished with permission of Global Voices",
            None,
            "Global Voices",
            "https://globalvoices.org",
        ),
        ("— AFP", None, "AFP", "https://www.afp.com"),
    ],
)
def test_credit_lines_in_their_wordings_become_the_attribution(
    line: str, link: str | None, name: str, url: str | None
) -> None:
    from syndicate.ingest.clean import clean_article

    closing = f"<a href='{link}'>{html.escape(line)}</a>" if link else html.escape(line)
    article = clean_article(f"<p>{LONG}</p><p>{closing}</p><p>Top Ad Slot</p>", None)
    shown = resolve_credit(article.credit, {})
    assert shown is not None and (shown.name, shown.url) == (name, url)
    assert article.text == LONG  # the credit line left the text, and the slot after it


@pytest.mark.parametrize(
    "line",
    [
        "The report was published on Tuesday by the ministry.",
        "The study was published in March and reviewed by two independent panels.",
        "Sumber: seorang pejabat yang tidak mau disebut namanya mengatakan anggaran dipangkas.",
        "Foto: Reuters",
        "Tags: politik, ekonomi",
        "This post was written by the staff.",
    ],
)
def test_closing_sentences_that_are_not_credits_stay_in_the_text(line: str) -> None:
    from syndicate.ingest.clean import clean_article

    article = clean_article(f"<p>{LONG}</p><p>{html.escape(line)}</p>", None)
    assert article.credit is None


def test_a_wire_dateline_credits_the_agency_and_stays_in_the_text() -> None:
    from syndicate.ingest.clean import clean_article

    first = "WASHINGTON (Reuters) - The Senate passed the spending bill late on Thursday."
    article = clean_article(f"<p>{first}</p><p>{LONG}</p>", None)
    assert article.credit is not None and article.credit.name == "Reuters"
    assert article.text.startswith(first)


def test_an_english_republisher_credits_the_original_by_its_link(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    with FeedServer() as server:
        link = server.url("/2024/05/library-hours/")
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in STORIES_EN[0] * 2)
        notice = ("<p><em>This article is republished from <a href='https://www.bexleytimes"
                  ".example/library-hours/?utm_source=republish'>the original article</a> "
                  "under a Creative Commons license.</em></p>")  # fmt: skip
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Library open on Sundays"
            "</title><meta property='og:image' content='/uploads/library.jpg?utm_campaign=x'>"
            "</head><body><nav><a href='/'>Home</a></nav><article><h1>Library open on Sundays"
            f"</h1><div class='entry-content'>{paragraphs}"
            "<p>Read the city's <a href='https://city.example/budget?utm_source=wp&amp;id=4'>"
            f"budget</a> for details of the cuts.</p>{notice}</div></article>"
            "<img src='x' alt=''><img src='/pixel.gif' width='1' height='1'></body></html>"
        ).encode()
        server.add("/2024/05/library-hours/", page, "text/html; charset=utf-8")
        excerpt = f"<p>{html.escape(STORIES_EN[0][0][:150])} [&#8230;]</p>"
        rss = (
            "<?xml version='1.0'?><rss version='2.0'><channel><title>Kent Daily</title>"
            f"<link>{server.url('/')}</link><item><title>Library open on Sundays</title>"
            f"<link>{link}?utm_source=rss&amp;utm_medium=rss&amp;utm_campaign=library</link>"
            f"<description>{html.escape(excerpt)}</description></item></channel></rss>"
        ).encode()
        server.add("/feed/", rss, "application/rss+xml")
        _poll(db, _source("kent", server.url("/feed/")))
    (post,) = _posts(db, "kent")
    db.dispose()
    assert post.url == link  # utm_source, utm_medium and utm_campaign gone
    assert (post.origin_name, post.origin_url) == (
        "bexleytimes.example",
        "https://www.bexleytimes.example/library-hours/",
    )
    assert "republished" not in post.excerpt and STORIES_EN[0][-1] in post.excerpt
    assert "https://city.example/budget?id=4" in post.content_html
    assert "utm_" not in post.content_html
    assert post.image_url == server.url("/uploads/library.jpg")


@pytest.mark.parametrize(
    ("pictures", "expected"),
    [
        ("<img src='x'><img src='/spacer.gif'><img src='/t.png' width='1' height='1'>", None),
        (
            "<img src='x'><img src='data:image/gif;base64,R0lGOD'><img src='/a/foto-besar.jpg'>",
            "https://warta.example/a/foto-besar.jpg",
        ),
    ],
)
def test_a_broken_or_one_pixel_picture_is_never_the_lead_image(
    pictures: str, expected: str | None
) -> None:
    from syndicate.ingest.extract import extract_article

    page = (f"<html><body><article><h1>Judul</h1>{pictures}<p>{LONG}</p><p>{LONG}</p>"
            "</article></body></html>").encode()  # fmt: skip
    article = extract_article(page, "https://warta.example/2024/05/a.html")
    assert article is not None and article.image_url == expected


def test_a_feed_entry_with_a_broken_picture_has_no_lead_image() -> None:
    from syndicate.ingest.parse import parse_feed

    body = f"<p><img src=x onerror=alert(1)>{LONG}</p>"
    feed = parse_feed(_atom("https://warta.example/", [_entry("https://warta.example/a.html",
                      "Judul", body)]), url="https://warta.example/f")  # fmt: skip
    assert feed.entries[0].image_url is None


def test_a_blogger_thumbnail_is_resolved_to_its_large_size() -> None:
    from syndicate.ingest.parse import parse_feed

    small = "https://blogger.googleusercontent.com/img/b/R29v/s72-c/banjir.jpg"
    entry = _entry("https://warta.example/a.html", "Judul", f"<p>{LONG}</p>", thumbnail=small)
    feed = parse_feed(_atom("https://warta.example/", [entry]), url="https://warta.example/f")
    assert feed.entries[0].image_url == small.replace("/s72-c/", "/s1600/")


def test_a_story_goes_out_as_its_fullest_member_credited_to_the_original_named(
    tmp_path: Path,
) -> None:
    from syndicate.config import Job, Selection
    from syndicate.jobs import post_view
    from syndicate.render.email import render_edition
    from syndicate.render.templates import template_environment
    from syndicate.select import select_posts
    from syndicate.types import EditionView

    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    full = "".join(f"<p>{html.escape(p)}</p>" for p in ARTICLE)
    copy = full + '<p>Artikel ini telah tayang di Inilah.com dengan judul "Korut Siap"</p>'
    summary = "".join(f"<p>{html.escape(p)}</p>" for p in ARTICLE[:2])
    with FeedServer() as server:
        sites = {
            "repelita": ("Repelita Online", HEADLINE, full, 5),  # the whole article, no credit
            "salin": ("Kabar Salin", "Korea Utara Kirim Pasukan? Ini Kata Jurnalis Rusia", copy, 4),
            "ringkas": ("Ringkas News", HEADLINE, summary, 6),  # two paragraphs, first out
        }  # fmt: skip
        sources = []
        for name, (site, title, body, hours) in sites.items():
            entry = _entry(server.url(f"/{name}/korut.html"), title, body, hours_ago=hours)
            feed = _atom(server.url(f"/{name}/"), [entry], title=site)
            server.add(f"/{name}/feed", feed, "application/atom+xml")
            sources.append(_source(name, server.url(f"/{name}/feed"), full_text="never"))
        _poll(db, *sources)
    job = Job("pagi", Path("jobs/pagi.toml"), ("preview",), "digest", None,
              Selection(10, timedelta(days=3), (), 0))  # fmt: skip
    with db.session() as session:
        chosen = select_posts(session, job, datetime.now(UTC))
        (post,) = chosen  # one story, once
        view = post_view(post, post.source, {})
        clusters = {p.cluster_id for p in session.scalars(select(Post))}
    db.dispose()
    assert len(clusters) == 1
    assert post.source.name == "repelita" and post.excerpt.split("\n\n") == ARTICLE
    assert view.credit_line == "Inilah.com via Repelita Online"
    assert sorted(c.name for c in view.also) == ["Kabar Salin", "Ringkas News"]
    edition = EditionView(key="e1", job="pagi", subject="Pagi", site_name="Warta",
                          site_url="https://warta.example/", locale="id", timezone="UTC",
                          created_at=datetime.now(UTC), posts=(view,))  # fmt: skip
    rendered = render_edition(edition, env=template_environment())
    (line,) = [line for line in rendered.text.splitlines() if "Juga dimuat:" in line]
    assert line.strip().removeprefix("Juga dimuat: ").split(", ") in (
        ["Kabar Salin", "Ringkas News"],
        ["Ringkas News", "Kabar Salin"],
    )
    assert "Juga dimuat" in rendered.html and "Kabar Salin" in rendered.html


def test_on_the_shared_corpus_only_lines_many_posts_share_are_taken_as_template() -> None:
    from syndicate.ingest.furniture import Template, learn, line_key, without_template
    from syndicate.ingest.parse import parse_feed

    feeds = sorted(CORPUS.glob("rss2email/*/feed.*"))
    assert feeds
    learned = 0
    for path in feeds:
        entries = parse_feed(path.read_bytes(), url="https://corpus.example/feed").entries
        texts = [entry.excerpt for entry in entries]
        posts_with = [{line_key(line) for line in text.split("\n\n")} for text in texts]
        template = learn(Template(), texts)
        learned += len(template.lines)
        for before, after in zip(entries, without_template(entries, template), strict=True):
            lost = set(before.excerpt.split("\n\n")) - set(after.excerpt.split("\n\n"))
            for line in lost:
                shared = sum(line_key(line) in keys for keys in posts_with)
                assert shared >= 3 and shared >= 0.3 * len(texts), (path, line)
                assert len(line) <= 200, (path, line)
            assert after.excerpt or not before.excerpt  # never an emptied post
    assert learned < 50  # real blogs repeat few lines


def test_a_series_keeps_the_sentences_and_subheads_every_post_repeats_inside_it() -> None:
    from syndicate.ingest.furniture import Template, learn, without_template
    from syndicate.ingest.parse import parse_feed

    (path,) = CORPUS.glob("rss2email/tails/feed.*")  # Tails' release notes, ten of them
    entries = parse_feed(path.read_bytes(), url="https://tails.example/news/index.rss").entries
    template = learn(Template(), [entry.excerpt for entry in entries])
    boilerplate = "This release fixes many security vulnerabilities."
    assert boilerplate.casefold() in " ".join(template.lines)  # it does repeat
    cleaned = without_template(entries, template)
    for before, after in zip(entries, cleaned, strict=True):
        assert (boilerplate in before.excerpt) == (boilerplate in after.excerpt)
        assert len(after.excerpt) > 0.6 * len(before.excerpt)


def test_a_post_of_one_short_line_keeps_it() -> None:
    from syndicate.ingest.clean import clean_article

    article = clean_article("<p>Video: banjir di Jakarta Utara</p>", None, title="Banjir")
    assert article.text == "Video: banjir di Jakarta Utara"


def test_a_line_of_chinese_is_a_sentence_not_a_label() -> None:
    from syndicate.ingest.clean import clean_article

    # One "word" to split(), no closing 。: its length says it is a sentence.
    first = (
        "美国白宫称，将提名驻阿富汗美军司令官约翰‧艾伦为北约最高司令官。"
        "艾伦曾因受指称同一女性有“不当”邮件来往而被调查"
    )
    assert len(first) > 50
    article = clean_article(f"<p>{first}</p><p>{LONG}</p><p>白宫提名艾伦</p>", None)
    assert article.text.startswith(first)


def _wordpress_page(title: str, paragraphs: list[str], credit: str, widgets: list[str]) -> bytes:
    """A WordPress theme's page: boxes with classes no list knows, widgets as plain text."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    boxes = "".join(f"<div class='zx-{n}'><span>{html.escape(w)}</span></div>"
                    for n, w in enumerate(widgets))  # fmt: skip
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} – Site</title></head><body>{boxes}<main><article>"
        f"<header><h1 class='zx-title'>{html.escape(title)}</h1><span class='zx-meta'>"
        f"{html.escape(widgets[0])}</span></header><div class='zx-content'>{body}"
        f"<p>{html.escape(credit)}</p><p>{html.escape(widgets[1])}</p></div></article></main>"
        f"<footer class='zx-foot'>{boxes}</footer></body></html>"
    ).encode()


@pytest.mark.parametrize(
    ("stories", "credit", "origin", "widgets", "teaser_end"),
    [
        (STORIES_ID[1], 'Artikel ini telah tayang di Kompas.com dengan judul "Kerja Bakti"',
         "Kompas.com", ["Terpopuler Minggu Ini", "Tulis Tanggapan Anda", "12 Tanggapan"],
         " Baca selengkapnya"),
        (STORIES_EN[1], "This story first appeared in The Texas Tribune.", "The Texas Tribune",
         ["Most Read This Week", "Join The Conversation", "12 Responses"], " [&#8230;]"),
    ],
    ids=["wordpress-indonesian", "blogger-english"],
)  # fmt: skip
def test_a_page_of_our_own_theme_behind_a_teaser_is_read_clean_and_credited(
    tmp_path: Path,
    stories: list[str],
    credit: str,
    origin: str,
    widgets: list[str],
    teaser_end: str,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    paragraphs = stories * 2  # long enough to be worth reading
    title = "Kabar Hari Ini Dari Kota Kecil"
    with FeedServer() as server:
        server.add("/a.html", _wordpress_page(title, paragraphs, credit, widgets), "text/html")
        teaser = f"<p>{html.escape(stories[0][:120])}{teaser_end}</p>"
        entry = _entry(server.url("/a.html?fbclid=IwAR0x"), title, teaser)
        server.add("/feed", _atom(server.url("/"), [entry]), "application/atom+xml")
        _poll(db, _source("kota", server.url("/feed")))
        assert server.hits("/a.html") == 1
    (post,) = _posts(db, "kota")
    db.dispose()
    assert post.excerpt.split("\n\n") == paragraphs
    assert post.origin_name == origin and post.url == server.url("/a.html")


def test_a_sentence_that_starts_like_a_theme_phrase_stays_inside_the_article() -> None:
    from syndicate.ingest.clean import clean_article

    inside = "Hak cipta lagu itu kini dipegang oleh ahli waris sang pencipta sejak tahun lalu."
    footer = "Copyright © 2024 Warta Kota. All rights reserved."
    article = clean_article(f"<p>{LONG}</p><p>{inside}</p><p>{LONG}.</p><p>{footer}</p>", None)
    assert inside in article.text and "Copyright" not in article.text


@pytest.mark.parametrize(
    "line",
    ["sumber" + "a" * 390, "Sumber " + "ab " * 130, "Originally published " + "on " * 120,
     "this " + "article " * 48 + "published", "(" * 200 + ")" * 199],
)  # fmt: skip
def test_a_hostile_closing_line_is_read_at_once_and_credits_no_one(line: str) -> None:
    from syndicate.ingest.clean import clean_article

    # 500 such entries: a pattern that backtracks would take minutes here, not a second.
    for _ in range(500):
        article = clean_article(f"<p>{LONG}</p><p>{line}</p>", None, measure=True, title="x")
    assert article.credit is None


# --- Found by an independent tester: themes, wordings and links of their own invention ---


def _wp_lines(title: str, paragraphs: list[str], credit: str | None) -> list[str]:
    """A WordPress theme printed verbatim into a full feed: breadcrumbs, a search box, the
    headline and byline, the article, then the share box, a "Like" button that is still
    loading, tags, a closed comment box and the theme's credit, some ending in a full stop."""
    return [
        "Home » News » Local", "Menu", "Search …", title, *paragraphs,
        *([credit] if credit else []),
        "Share this:", "Twitter", "Facebook", "Like this:", "Like Loading...", "Related",
        "Tags: local, city", "Comments are closed.",
        "Powered by WordPress | Theme: Harborline by Quayside.",
    ]  # fmt: skip


WP_POSTS = [
    ("Bridge Repairs to Close Main Street for Two Weeks",
     ["Main Street will close to traffic for two weeks starting Monday while crews work.",
      "Detours will be posted along Elm and Oak avenues, and buses will be rerouted meanwhile.",
      "Officials said the work had been delayed twice because of supply shortages this year."],
     "This story first appeared in the Valley Courier."),
    ("School Board Picks New Superintendent",
     ["The school board unanimously selected Dana Whitfield as the district's next superintendent.",
      "Whitfield, who currently leads a neighboring district, will start in July next year.",
      "Her contract runs three years with a base salary of two hundred thousand dollars."],
     "Courtesy of the Lakeside Gazette"),
    ("Farmers Market Moves Indoors for Winter",
     ["The downtown farmers market will move into the old armory building for the winter season.",
      "About forty vendors are expected to take part each Saturday from nine to one o'clock.",
      "Organizers said the move would keep the market open year-round for the first time."],
     None),
    ("Will the New Stadium Ever Get Built?",
     ["Five years after voters approved funding, the site of the planned stadium remains empty.",
      "Developers blame rising construction costs, while critics say the city gave away too much.",
      "Is it time to admit the project has failed?"],
     None),
]  # fmt: skip


def test_a_theme_footer_with_sentences_in_it_goes_and_the_credit_above_it_is_lifted(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    with FeedServer() as server:
        entries = [
            _entry(server.url(f"/p/{n}.html"), title,
                   "".join(f"<p>{html.escape(x)}</p>" for x in _wp_lines(title, paras, credit)),
                   hours_ago=n + 1)
            for n, (title, paras, credit) in enumerate(WP_POSTS)
        ]  # fmt: skip
        server.add("/feed", _atom(server.url("/"), entries, "Valley Voice"), "application/atom+xml")
        _poll(db, _source("valley", server.url("/feed"), full_text="never"))
    posts = {post.title: post for post in _posts(db, "valley")}
    db.dispose()
    for title, paragraphs, _credit in WP_POSTS:
        assert posts[title].excerpt.split("\n\n") == paragraphs  # the question stays too
    assert posts[WP_POSTS[0][0]].origin_name == "Valley Courier"
    assert posts[WP_POSTS[1][0]].origin_name == "Lakeside Gazette"


def test_a_lone_post_loses_its_theme_footer_and_keeps_its_credit_without_any_repetition() -> None:
    from syndicate.ingest.clean import clean_article

    paragraphs = [
        "Bupati meresmikan pasar rakyat baru yang menampung lebih dari 300 pedagang, Senin pagi.",
        "Pasar yang dibangun dengan dana daerah itu dilengkapi area parkir dan ruang laktasi.",
        "Bupati berharap pasar ini menjadi pusat ekonomi warga dan mengurangi kemacetan.",
    ]
    lines = [
        "Jelajahi", "Kabar Hangat Hari Ini", "4/populer/pilihan", "Cari...", *paragraphs,
        "Artikel ini pertama kali terbit di Harian Jogja", "Tuliskan Pendapatmu",
        "7 Tanggapan", "Spot Iklan 300x250", "Iklan Bawah Artikel", "Kembali ke atas",
        "Dibuat dengan ♥ oleh WargaNet © 2026",
    ]  # fmt: skip
    article = clean_article("".join(f"<p>{x}</p>" for x in lines), None, title="Pasar Baru")
    assert article.text.split("\n\n") == paragraphs
    assert article.credit is not None and article.credit.name == "Harian Jogja"


def test_a_series_subhead_between_paragraphs_stays_while_its_theme_lines_go(
    tmp_path: Path,
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    stories = [
        ["Harga cabai merah keriting di Pasar Induk turun menjadi Rp38.000 per kilogram pagi ini.",
         "Latar Belakang", "Penurunan terjadi karena pasokan dari Brebes melimpah setelah panen."],
        ["Harga bawang merah naik Rp4.000 menjadi Rp42.000 per kilogram di sejumlah pasar.",
         "Latar Belakang", "Kenaikan dipicu oleh hujan yang mengganggu panen di sentra produksi."],
        ["Harga telur ayam ras bertahan di Rp28.000 per kilogram selama sepekan terakhir.",
         "Latar Belakang", "Pasokan dari peternak di Blitar dinilai cukup memenuhi kebutuhan."],
        ["Harga daging sapi mulai naik menjadi Rp140.000 per kilogram menjelang Natal.",
         "Pedagang memperkirakan harga akan terus naik hingga akhir tahun."],
    ]  # fmt: skip
    dateline = "SURABAYA, PANTAUPANGAN –"
    with FeedServer() as server:
        entries = [
            _entry(server.url(f"/p/{n}.html"), f"Harga nomor {n}", "".join(
                f"<p>{x}</p>" for x in ["Pantau Pangan", "Cari...", dateline, *story,
                                        "Share", "0 Comments", "Popular Posts"]),
                hours_ago=n + 1)
            for n, story in enumerate(stories)
        ]  # fmt: skip
        server.add("/feed", _atom(server.url("/"), entries, "Pantau"), "application/atom+xml")
        _poll(db, _source("pangan", server.url("/feed"), full_text="never"))
    posts = _posts(db, "pangan")
    db.dispose()
    assert sorted(p.excerpt.split("\n\n") for p in posts) == sorted(
        [dateline, *story] for story in stories
    )


_PARAGRAPH = (
    "<p>Bank sentral mempertahankan suku bunga acuan di level enam persen pada rapat dewan "
    "gubernur bulan ini, sesuai perkiraan mayoritas ekonom yang disurvei sebelumnya.</p>"
)


@pytest.mark.parametrize(
    ("closing", "name", "gone"),
    [
        # Two credit lines: both leave the text, the first named is the original.
        ("<p>Sumber: Reuters</p><p>Dikutip dari CNBC Indonesia</p>", "Reuters", "CNBC"),
        (
            "<p>This article first ran in Grist. Republished under a Creative Commons "
            "license.</p><p>This article is republished from KFF Health News under a Creative "
            "Commons license.</p>",
            "Grist",
            "KFF",
        ),
        # A credit line followed by more widget lines than any fixed window holds.
        (
            "<p>Artikel ini pertama kali terbit di Harian Jogja</p><p>Tulis Pendapatmu</p>"
            "<p>3 Tanggapan</p><p>Spot Iklan 300x250</p><p>Iklan Bawah Artikel</p>"
            "<p>Kembali ke atas</p><p>Bagikan lewat pesan</p><p>Dibuat oleh Warga © 2026</p>",
            "Harian Jogja",
            "Tanggapan",
        ),
    ],
    ids=["two-id", "two-en", "credit-then-widgets"],
)
def test_every_credit_line_in_the_closing_block_leaves_the_text(
    closing: str, name: str, gone: str
) -> None:
    from syndicate.ingest.clean import clean_article

    article = clean_article(_PARAGRAPH + closing, "https://harian.example/p/1.html")
    assert article.credit is not None and article.credit.name == name
    assert article.text.split("\n\n") == [html.unescape(_PARAGRAPH[3:-4])]
    assert gone not in article.text


@pytest.mark.parametrize(
    ("dateline", "wire"),
    [
        ("LONG BEACH, Calif. (AP) — The port", "AP"),
        ("ST. LOUIS, Mo. (AP) — A jury", "AP"),
        ("NEW YORK, Dec 5 (Reuters) - Stocks", "Reuters"),
        ("GAZA CITY/CAIRO, Oct 9 (Reuters) - Talks", "Reuters"),
        ("He said the deal, which (AP) - rival", None),  # a sentence's words are no place
        ("The mayor, speaking to reporters (Reuters) - said", None),
    ],
)
def test_a_wire_dateline_in_its_house_styles_credits_the_agency(
    dateline: str, wire: str | None
) -> None:
    from syndicate.ingest.clean import clean_article

    article = clean_article(f"<p>{dateline} opened on Friday, officials said.</p>", None)
    assert (article.credit.name if article.credit else None) == wire
    assert article.text.startswith(dateline)  # the dateline stays in the text


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            'Sumber: <a href="https://www.cnnindonesia.com/x/1?utm_source=wa">di sini</a>',
            "CNN Indonesia",
        ),
        (
            'Originally published <a href="https://www.theguardian.com/a/b">here</a>.',
            "The Guardian",
        ),
        (
            'Selengkapnya baca di <a href="https://news.kompas.com/read/2026/x">sini</a>',
            "Kompas.com",
        ),
        ('Artikel asli: <a href="https://bit.ly/3xYz">klik di sini</a>', None),  # a shortener
        ('Originally published <a href="https://t.co/Ab12?utm_source=tw">here</a>.', None),
        (
            "Artikel asli: <a href='https://bit.ly/3xYz?utm_source=wa&amp;utm_medium=x'>"
            "klik di sini</a>",
            None,
        ),
        ('Read the full story at <a href="https://apnews.com/x">AP News</a>', "AP"),
    ],
)
def test_a_credit_link_is_named_by_its_site_never_by_its_words(
    line: str, shown: str | None
) -> None:
    from syndicate.ingest.clean import clean_article

    article = clean_article(f"{_PARAGRAPH}<p>{line}</p>", "https://harian.example/p/1.html")
    credit = resolve_credit(article.credit, {})
    assert (credit.name if credit else None) == shown
    assert article.credit is None or not {"sini", "here"} & set(article.credit.name.split())
    assert article.text.split("\n\n") == [html.unescape(_PARAGRAPH[3:-4])]  # the line is gone
    assert article.html.count("<p>") == 1  # from the HTML too


def test_a_telegram_text_post_keeps_its_also_carried_line_apart_from_its_link() -> None:
    from dataclasses import replace

    from syndicate.render.templates import template_environment
    from syndicate.types import Credit
    from tests.test_blurb import indonesian_post, post

    others = (Credit("Kabar Salin", "https://salin.example/"), Credit("Ringkas", None))
    text = post(template_environment(None), replace(indonesian_post(), also=others)).text
    also = next(line for line in text.split("\n") if "Juga dimuat" in line)
    assert also.endswith("Kabar Salin, Ringkas")  # the link is on its own line


@pytest.mark.parametrize(
    ("link", "clean"),
    [
        (
            "https://kabar.example/a?_hsenc=p2&_hsmi=9&mkt_tok=eyJ&ttclid=E&li_fat_id=7&id=42",
            "https://kabar.example/a?id=42",
        ),
        (
            "https://kabar.example/b?wt_mc=nl&cmpid=x&vero_id=3&__s=q&oly_enc_id=1&pk_source=a",
            "https://kabar.example/b",
        ),
        (
            "https://www.reuters.com/world/asia/x-2026-12-05/?taid=6751",
            "https://www.reuters.com/world/asia/x-2026-12-05/",
        ),
        ("https://www.youtube.com/watch?v=dQw4&si=AbC", "https://www.youtube.com/watch?v=dQw4"),
        (
            "https://kabar.example/c?id=7&amp;utm_source=x&amp;fbclid=y",
            "https://kabar.example/c?id=7",
        ),
        ("https://open.spotify.com/episode/9?si=zz", "https://open.spotify.com/episode/9"),
        (
            "https://kamus.example/cari?si=3&q=kata",
            "https://kamus.example/cari?si=3&q=kata",
        ),  # not tracking here
    ],
)
def test_tracking_parameters_of_the_known_platforms_leave_every_link(link: str, clean: str) -> None:
    from syndicate.ingest.identity import normalize_url, strip_tracking

    assert strip_tracking(link) == clean
    assert normalize_url(link) == normalize_url(clean)


@pytest.mark.parametrize("suffix", [" | Repelita Online", " - Warta Kita", " — The Harbor Times"])
def test_the_headline_repeated_in_the_body_goes_when_the_feed_title_names_the_site(
    suffix: str,
) -> None:
    from syndicate.ingest.clean import clean_article

    body = f"<p>Menu</p><p>{HEADLINE}</p><p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p>"
    article = clean_article(body, None, title=HEADLINE + suffix)
    assert article.text.split("\n\n") == ARTICLE[:2]


def test_an_outlet_found_by_a_canonical_link_is_named_as_the_outlet_table_knows_it() -> None:
    from syndicate.ingest.attribution import choose_origin

    origin = choose_origin(
        feed=None,
        credit_line=None,
        canonical_url="https://www.reuters.com/world/asia/x-2026-12-05/",
        page_url="https://harian.example/p/1.html",
    )
    assert origin is not None and origin.name == "Reuters"
    assert origin.url == "https://www.reuters.com/world/asia/x-2026-12-05/"


@pytest.mark.parametrize(
    "figure",
    [
        "<figure><img srcset='https://img.example/a-400.jpg 400w, https://img.example/a-1600.jpg"
        " 1600w, https://img.example/a-800.jpg 800w' alt='Banjir'></figure>",
        "<picture><source type='image/webp' srcset='https://img.example/a-800.webp 800w, "
        "https://img.example/a-1600.jpg 1600w'><img src='https://img.example/1x1.gif' width='1'"
        " height='1'></picture>",
        "<img data-srcset='https://img.example/a-1600.jpg 2x, https://img.example/a-400.jpg 1x'"
        " src='data:image/gif;base64,R0lGOD'>",
    ],
    ids=["img-srcset", "picture-source", "lazy-srcset"],
)
def test_a_picture_given_only_by_srcset_is_the_lead_image_in_a_feed_and_on_a_page(
    figure: str,
) -> None:
    from syndicate.ingest.clean import clean_article
    from syndicate.ingest.extract import extract_article

    article = clean_article(figure + _PARAGRAPH, "https://harian.example/p/1.html")
    assert article.image == "https://img.example/a-1600.jpg"
    page = (
        "<html><head><title>Banjir</title></head><body><article><h1>Banjir</h1>"
        f"{figure}{_PARAGRAPH * 4}</article></body></html>"
    )
    found = extract_article(page.encode(), "https://harian.example/p/1.html")
    assert found is not None and found.image_url == "https://img.example/a-1600.jpg"


def test_a_story_without_a_picture_goes_out_with_the_picture_another_copy_carried(
    tmp_path: Path,
) -> None:
    from syndicate.config import Job, Selection
    from syndicate.jobs import post_view
    from syndicate.select import select_posts

    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    full = "".join(f"<p>{html.escape(p)}</p>" for p in ARTICLE)  # no picture
    picture = "https://img.example/korut-1200.jpg"
    summary = f"<figure><img src='{picture}' width='1200'></figure>" + "".join(
        f"<p>{html.escape(p)}</p>" for p in ARTICLE[:2]
    )
    with FeedServer() as server:
        sources = []
        for name, body, hours in (("repelita", full, 5), ("ringkas", summary, 6)):
            entry = _entry(server.url(f"/{name}/korut.html"), HEADLINE, body, hours_ago=hours)
            server.add(f"/{name}/feed", _atom(server.url(f"/{name}/"), [entry], title=name),
                       "application/atom+xml")  # fmt: skip
            sources.append(_source(name, server.url(f"/{name}/feed"), full_text="never"))
        _poll(db, *sources)
    job = Job("pagi", Path("jobs/pagi.toml"), ("preview",), "digest", None,
              Selection(10, timedelta(days=3), (), 0))  # fmt: skip
    with db.session() as session:
        (post,) = select_posts(session, job, datetime.now(UTC))
        view = post_view(post, post.source, {})
        own = post.image_url
    db.dispose()
    assert post.source.name == "repelita" and own is None
    assert view.image_url == picture


def test_a_very_short_article_on_a_theme_page_comes_out_alone_and_credited() -> None:
    from syndicate.ingest.extract import extract_article

    menu = "".join(
        f"<li class='m'>{item}</li>"
        for item in ["Skip to content", "Top Reads", "Search for:", "Get our morning briefing"]
    )
    boxes = "".join(
        f"<section class='b'>{item}</section>"
        for item in ["Share this story:", "Leave a Reply", "© 2026 The Quay · Powered by Press"]
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Pool Opens Early – The Quay"
        f"</title></head><body><ul class='hdr'>{menu}</ul><main><div class='hl'><h2>Pool Opens"
        " Early</h2><div class='by'>By Staff · 1 min read</div><div class='txt'><p>The public "
        "pool will open at 6 a.m. on weekdays starting next month.</p><p>Via <a href="
        "'https://www.quaynews.example/pool?fbclid=IwAR0'>Quay News</a></p></div></div></main>"
        f"<aside>{boxes}</aside></body></html>"
    )
    article = extract_article(page.encode(), "https://thequay.example/pool/")
    assert article is not None
    assert article.excerpt == "The public pool will open at 6 a.m. on weekdays starting next month."
    assert article.credit is not None and article.credit.name == "Quay News"


def test_a_page_that_says_all_a_teaser_said_replaces_the_teaser_and_its_ellipsis() -> None:
    from syndicate.ingest.entries import FeedEntry
    from syndicate.ingest.extract import Article, with_article

    said = "The public library will stay open until 9 p.m. on Saturdays starting next month."
    entry = FeedEntry(key="k", guid=None, url="https://lib.example/hours/", title="Hours",
                      content_html=f"<p>{said} […]</p>", excerpt=f"{said} […]",
                      summary_only=True, author=None, published_at=None, updated_at=None,
                      image_url=None, origin=None, comments=None, content_hash="x")  # fmt: skip
    page = Article(url="https://lib.example/hours/", title="Hours", content_html=f"<p>{said}</p>",
                   excerpt=said, published_at=None, image_url=None, site_name=None,
                   canonical_url=None, credit=None)  # fmt: skip
    completed = with_article(entry, page)
    assert completed.excerpt == said and not completed.summary_only


def test_a_disclaimer_every_post_ends_with_goes_whether_or_not_a_credit_precedes_it(
    tmp_path: Path,
) -> None:
    disclaimer = (
        "Disclaimer: Isi tulisan sepenuhnya tanggung jawab penulis"
        " dan tidak mewakili sikap redaksi."
    )
    stories = [
        [f"Warga kampung nomor {n} bergotong royong membersihkan saluran air sejak pagi hari.",
         f"Kepala dusun {n} mengatakan kegiatan ini rutin digelar setiap bulan menjelang hujan."]
        for n in range(5)
    ]  # fmt: skip
    credits = ["Sumber: Tribun Jateng", None, "Dilansir dari Suara Merdeka", None, None]
    db = open_database(f"sqlite:///{tmp_path / 'site.db'}")
    with FeedServer() as server:
        entries = [
            _entry(server.url(f"/p/{n}.html"), f"Gotong royong {n}", "".join(
                f"<p>{x}</p>" for x in [*story, *([credit] if credit else []), disclaimer,
                                        "Berikan Komentar", "3 Komentar", "© 2026 Warta Kampung"]),
                hours_ago=n + 1)
            for n, (story, credit) in enumerate(zip(stories, credits, strict=True))
        ]  # fmt: skip
        server.add("/feed", _atom(server.url("/"), entries, "Warta"), "application/atom+xml")
        _poll(db, _source("warta", server.url("/feed"), full_text="never"))
    posts = _posts(db, "warta")
    db.dispose()
    assert sorted(p.excerpt.split("\n\n") for p in posts) == sorted(stories)
