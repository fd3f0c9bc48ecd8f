"""Parsing real feeds (the shared corpus, JSON Feed, the bundled sample) into clean entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.ingest.parse import FeedError, ParsedFeed, parse_feed
from syndicate.sample import SAMPLE_FEED
from syndicate.types import Credit
from tests.corpus import CORPUS

DATA = Path(__file__).parent / "data"
SAMPLE_URL = "https://www.wartanusantara.example/feeds/posts/default"
NOT_FEEDS = {"rss_empty_document.xml", "http_status_302-no-location.xml"}


def _corpus_feeds() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = [
        *CORPUS.glob("feedparser/**/*.xml"),
        *CORPUS.glob("miniflux/**/testdata/*.xml"),
        *CORPUS.glob("rss2email/*/feed.*"),
    ]
    return sorted(p for p in found if p.name not in NOT_FEEDS)


CORPUS_FEEDS = _corpus_feeds()


@pytest.mark.skipif(not CORPUS_FEEDS, reason="the shared feed corpus is not here")
def test_every_corpus_feed_parses_with_titles_and_unique_keys() -> None:
    problems = []
    for path in CORPUS_FEEDS:
        try:
            feed = parse_feed(path.read_bytes(), url="https://corpus.example/feed.xml")
        except FeedError as error:
            problems.append(f"{path}: {error}")
            continue
        keys = [entry.key for entry in feed.entries]
        if len(keys) != len(set(keys)):
            problems.append(f"{path}: repeated keys")
        for entry in feed.entries:
            if not entry.title.strip():
                problems.append(f"{path}: an empty title")
            if entry.published_at and entry.published_at.tzinfo is None:
                problems.append(f"{path}: a naive date")
            if "<script" in entry.content_html.lower():
                problems.append(f"{path}: a script survived")
    assert not problems, "\n".join(problems[:20])
    assert len(CORPUS_FEEDS) > 900


@pytest.mark.skipif(not CORPUS_FEEDS, reason="the shared feed corpus is not here")
def test_rss2email_feeds_keep_their_entries() -> None:
    counts = {
        path.parent.name: len(parse_feed(path.read_bytes(), url="https://x/").entries)
        for path in CORPUS.glob("rss2email/*/feed.*")
    }
    assert counts["tumblr"] == 20
    assert counts["quiltville"] == 25
    assert counts["allthingsrss"] == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the document is empty"),
        (
            b"<!DOCTYPE html><html><head><title>Beranda</title></head><body>Hai</body></html>",
            "it is an HTML page",
        ),
        (b"\x00\x01garbage", "the XML is broken"),
        (b'{"hello": "world"}', "the JSON has no jsonfeed.org version"),
        (b"{not json", "the JSON cannot be read"),
    ],
)
def test_what_is_not_a_feed_is_a_feed_error_naming_the_url(body: bytes, reason: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, url="https://x.example/feed", content_type="text/html")
    message = str(caught.value)
    assert message.startswith("https://x.example/feed: this is not an RSS, Atom or JSON feed (")
    assert reason in message
    assert message.endswith(").")


def _sample() -> ParsedFeed:
    return parse_feed(SAMPLE_FEED.read_bytes(), url=SAMPLE_URL)


def test_sample_feed_reads_as_the_site_with_eight_entries() -> None:
    feed = _sample()
    assert feed.title == "Warta Nusantara Online"
    assert feed.site_url == "https://www.wartanusantara.example/"
    assert len(feed.entries) == 8
    assert all(entry.comments is not None for entry in feed.entries)
    # Under about 1,000 characters, <content> counts as a teaser: "auto" reads the page.
    assert all(entry.summary_only for entry in feed.entries if len(entry.excerpt) < 600)
    assert not feed.entries[0].summary_only


def test_sample_feed_has_no_widgets_left_in_any_entry() -> None:
    noise = [
        "Breaking Posts", "Hot Widget", "Posting Komentar", "Top Post Ad", "Below Post Ad",
        "Copyright ©", "Baca Juga", "Advertisement", "Related Posts", "Share this",
        "Bagikan", "Komentar", "Tags:", "Follow us", "Ikuti berita", "adsbygoogle",
    ]  # fmt: skip
    for entry in _sample().entries:
        for text in (entry.excerpt, entry.content_html):
            for word in noise:
                assert word not in text, (entry.title, word)
        assert "tracker" not in entry.content_html
        assert "<script" not in entry.content_html
        assert "onerror" not in entry.content_html
        assert "javascript:" not in entry.content_html


def test_sample_feed_credits_are_lifted_out_of_the_text() -> None:
    by_slug = {entry.url.rsplit("/", 1)[-1].split("?")[0]: entry for entry in _sample().entries}
    cabai = by_slug["harga-cabai-rawit-turun-jelang-akhir-pekan.html"]
    assert cabai.origin == Credit("inilah")
    assert "Sumber" not in cabai.excerpt
    assert by_slug["jembatan-gantung-lereng-merapi-rampung.html"].origin == Credit("Kompas.com")
    voli = by_slug["tim-voli-putri-lolos-final-kejurnas.html"].origin
    assert voli is not None and voli.name == "Detik.com"
    assert by_slug["festival-perahu-hias-teluk-ambon.html"].origin == Credit(
        "Antara", "https://www.antaranews.example/berita/festival-perahu-hias-ambon"
    )
    assert by_slug["puskesmas-keliling-pulau-terluar.html"].origin is None
    for entry in by_slug.values():
        assert "Artikel ini telah tayang" not in entry.excerpt
        assert "selengkapnya" not in entry.excerpt


def test_sample_feed_entry_details() -> None:
    entries = _sample().entries
    first = entries[0]
    assert first.published_at == datetime(2026, 11, 18, 1, 30, tzinfo=UTC)
    assert first.updated_at == datetime(2026, 11, 18, 1, 41, 12, tzinfo=UTC)
    assert first.author == "Redaksi"
    assert first.comments == 4
    assert first.guid and first.guid.startswith("tag:blogger.com,1999:blog-")
    # Blogger's 72px thumbnail is swapped for the full-size picture.
    assert first.image_url and first.image_url.endswith("/s1600/cabai-rawit-pasar-induk.jpg")
    english = next(e for e in entries if e.title.startswith("Regional Startup"))
    assert "utm_" not in english.url  # the post's own link loses its tracking too
    assert english.key == english.url.split("?")[0]
    assert english.origin and english.origin.name == "Kabar Teknologi"
    festival = next(e for e in entries if e.title.startswith("Festival"))
    assert "“Kami bangga tradisi ini tetap hidup,”" in festival.excerpt
    keys = [e.key for e in entries]
    assert len(set(keys)) == len(keys)
    assert all("?m=1" not in key for key in keys)


def test_json_feed_1_1_is_mapped() -> None:
    feed = parse_feed(
        (DATA / "jsonfeed-1.1.json").read_bytes(),
        url="https://catatanpesisir.example/feed.json",
        content_type="application/feed+json",
    )
    assert feed.title == "Catatan Pesisir"
    assert feed.site_url == "https://catatanpesisir.example/"
    teri, dermaga, ferry = feed.entries
    assert teri.url == "https://catatanpesisir.example/2026/11/nelayan-panen-teri"
    assert teri.key == "https://catatanpesisir.example/2026/11/nelayan-panen-teri"
    assert teri.image_url == "https://catatanpesisir.example/img/teri.jpg"
    assert teri.author == "Rina, Dodi"
    assert teri.published_at == datetime(2026, 11, 16, 0, 30, tzinfo=UTC)
    assert teri.updated_at == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    assert teri.origin == Credit("Antara")
    assert teri.excerpt == (
        "Nelayan di Teluk Lampung panen teri lebih awal tahun ini.\n\n"
        "Harga di tempat pelelangan naik tipis."
    )
    assert teri.summary_only  # under 1,000 characters: a teaser, "auto" reads the page
    assert (
        dermaga.title
        == "Dermaga baru di Pulau Pahawang mulai dipakai. Warga menyambutnya dengan syukuran."
    )
    assert dermaga.author == "Tim Catatan Pesisir"
    assert ferry.title == "Ferry schedule & fares"
    assert ferry.summary_only
    assert ferry.origin == Credit("elsewhere.example", "https://elsewhere.example/news/ferry")
    assert ferry.image_url == "https://catatanpesisir.example/img/ferry.jpg"


def test_json_feed_1_0_is_detected_without_a_content_type() -> None:
    feed = parse_feed(
        (DATA / "jsonfeed-1.0.json").read_bytes(), url="https://harbournotes.example/feed"
    )
    tide, no_link = feed.entries
    assert tide.author == "Harbour Desk"
    assert tide.published_at == datetime(2026, 11, 14, 14, 0, tzinfo=UTC)
    assert "t.gif" not in tide.content_html  # a tracking pixel
    assert no_link.key == "guid:hn-102"
    assert no_link.url is None
    # A date in the future is clamped to now.
    assert no_link.published_at is not None
    assert no_link.published_at <= datetime.now(UTC) + timedelta(seconds=1)


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:slash="http://purl.org/rss/1.0/modules/slash/"
     xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Kabar &amp; Cerita</title><link>https://kabar.example/</link>
<item><title>Satu &lt;b&gt;tebal&lt;/b&gt;</title><link>/2026/11/satu.html?utm_source=rss</link>
<guid isPermaLink="false">k-1</guid><pubDate>Sen, 16 Nov 2026 10:15:00 WIB</pubDate>
<description>&lt;p&gt;Isi singkat.&lt;/p&gt;</description><slash:comments>9</slash:comments>
<media:content url="https://kabar.example/img/satu.jpg" medium="image"/>
<source url="https://asal.example/rss">Asal News</source></item>
<item><title></title><guid isPermaLink="false">k-2</guid>
<description>Tanpa judul tetapi ada isinya yang cukup panjang
untuk dijadikan judul pengganti di sini.</description>
<pubDate>Tue, 17 Nov 2026 08:00:00 +0000</pubDate><dc:source>Tempo</dc:source></item>
<item><guid isPermaLink="false">k-3</guid><pubDate>Rabu, 18 November 2026 07.30 WIB</pubDate></item>
<item><title>Satu lagi</title><link>https://kabar.example/2026/11/satu.html</link></item>
</channel></rss>"""


def test_rss_details_relative_links_html_titles_and_indonesian_dates() -> None:
    feed = parse_feed(RSS.encode(), url="https://kabar.example/feeds/rss.xml")
    assert feed.title == "Kabar & Cerita"
    first, second, third = feed.entries  # the fourth repeats the first link
    assert first.url == "https://kabar.example/2026/11/satu.html"
    assert first.key == "https://kabar.example/2026/11/satu.html"
    assert first.title == "Satu tebal"
    assert first.summary_only
    assert first.comments == 9
    assert first.image_url == "https://kabar.example/img/satu.jpg"
    assert first.origin == Credit("Asal News", "https://asal.example/")
    assert first.published_at == datetime(2026, 11, 16, 3, 15, tzinfo=UTC)
    assert second.title.startswith("Tanpa judul tetapi ada isinya")
    assert second.title.endswith("…")
    assert second.key == "guid:k-2"
    assert second.origin == Credit("Tempo")
    assert third.title == "(untitled)"
    assert third.published_at == datetime(2026, 11, 18, 0, 30, tzinfo=UTC)


# Fields both readers must agree on for every feed; in the sanitizer's torture tests the
# HTML itself may differ (feedparser re-serializes it before cleaning), never its safety.
_READER_FIELDS = ("guid", "url", "author", "published_at", "updated_at", "image_url", "origin",
                  "comments")  # fmt: skip
_TEXT_FIELDS = ("key", "title", "excerpt", "summary_only", "content_hash")


@pytest.mark.skipif(not CORPUS_FEEDS, reason="the shared feed corpus is not here")
def test_lxml_reader_and_feedparser_agree_on_every_corpus_feed_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import syndicate.ingest.parse as parse_module
    from syndicate.ingest.xmlfeed import read_xml_feed

    now = datetime(2030, 1, 1, tzinfo=UTC)
    url = "https://corpus.example/feed.xml"
    read, problems = 0, []
    for path in CORPUS_FEEDS:
        body = path.read_bytes()
        if read_xml_feed(body, url) is None:
            continue
        read += 1
        fast = parse_feed(body, url=url, now=now)
        with monkeypatch.context() as patch:
            patch.setattr(parse_module, "read_xml_feed", lambda *args, **kwargs: None)
            slow = parse_feed(body, url=url, now=now)
        if (fast.title, fast.site_url, len(fast.entries)) != (
            slow.title, slow.site_url, len(slow.entries)
        ):  # fmt: skip
            problems.append(f"{path}: feed {fast.title!r} {len(fast.entries)} != {slow.title!r}")
            continue
        fields = _READER_FIELDS + (() if "sanitize" in path.parts else _TEXT_FIELDS)
        for ours, theirs in zip(fast.entries, slow.entries, strict=True):
            for field in fields:
                if getattr(ours, field) != getattr(theirs, field):
                    problems.append(f"{path}: {field} {getattr(ours, field)!r} "
                                    f"!= {getattr(theirs, field)!r}")  # fmt: skip
    assert not problems, "\n".join(problems[:20])
    assert read > 400  # most real feeds are well-formed and take the fast road


def test_a_feed_lxml_cannot_read_is_read_by_feedparser() -> None:
    # An undeclared HTML entity is not XML: lxml refuses it, feedparser reads it.
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Kabar'
        b"</title><item><title>Harga&nbsp;naik</title><link>https://kabar.example/a</link>"
        b"<description>Isi berita yang cukup.</description></item></channel></rss>"
    )
    from syndicate.ingest.xmlfeed import read_xml_feed

    assert read_xml_feed(body, "https://kabar.example/feed") is None
    feed = parse_feed(body, url="https://kabar.example/feed")
    assert [entry.title for entry in feed.entries] == ["Harga naik"]
    assert feed.entries[0].url == "https://kabar.example/a"


def test_windows_1252_quotes_sent_as_latin1_controls_become_quotes() -> None:
    body = '<rss version="2.0"><channel><item><title>don\x92t</title><description>' \
        "it\x92s \x93quoted\x94</description></item></channel></rss>"  # fmt: skip
    feed = parse_feed(body.encode("utf-8"), url="https://kabar.example/feed")
    assert feed.entries[0].title == "don’t"
    assert feed.entries[0].excerpt == "it’s “quoted”"


def test_both_readers_resolve_links_against_nested_xml_base() -> None:
    """Links are relative to the nearest xml:base, else to the feed's own address."""
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://kabar.example/berita/">
  <title>Kabar</title><link href="./"/>
  <entry xml:base="/daerah/"><id>tag:kabar,1</id><title>Banjir surut</title>
    <link href="banjir-surut.html"/><content type="html">Air sudah surut pagi ini.</content>
  </entry>
  <entry><id>tag:kabar,2</id><title>Harga cabai</title>
    <link href="harga-cabai.html"/><content type="html">Harga turun di pasar.</content>
  </entry>
</feed>"""
    import syndicate.ingest.parse as parse_module
    from syndicate.ingest.xmlfeed import read_xml_feed

    url = "https://feeds.kabar.example/atom.xml"
    assert read_xml_feed(body, url) is not None  # the lxml road is taken
    fast = parse_feed(body, url=url)
    original = parse_module.read_xml_feed
    parse_module.read_xml_feed = lambda *args, **kwargs: None
    try:
        slow = parse_feed(body, url=url)
    finally:
        parse_module.read_xml_feed = original
    links = [entry.url for entry in fast.entries]
    assert links == [
        "https://kabar.example/daerah/banjir-surut.html",
        "https://kabar.example/berita/harga-cabai.html",
    ]
    assert links == [entry.url for entry in slow.entries]
    assert fast.site_url == slow.site_url == "https://kabar.example/berita/"


def test_a_json_feed_nested_too_deeply_is_refused_in_one_sentence() -> None:
    # Found by a reviewer: 200,000 levels of [[[…]]] raised RecursionError out of the poll.
    deep = b"[" * 200_000 + b"]" * 200_000
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Dalam", "items": ['
        b'{"id": "1", "url": "https://dalam.example/1", "content_text": "Isi.", "_x": '
        + deep
        + b"}]}"
    )
    with pytest.raises(FeedError) as caught:
        parse_feed(
            body, url="https://dalam.example/feed.json", content_type="application/feed+json"
        )
    message = str(caught.value)
    assert "nested too deeply" in message and "\n" not in message
