"""Made-up news sites' feeds for the ingest benchmark, the way Blogger and WordPress serve them.

Each site publishes 25 entries spread over the past two days, so every entry is inside
syndicate's 72-hour clustering window, as on a real news site. Four kinds, by site number:

- 0: Blogger Atom, full content in ``<content type="html">`` with the theme's widgets
  ("Breaking Posts", ad slots, "Baca Juga") and a closing credit line;
- 1: WordPress RSS 2.0, full content in ``<content:encoded>``, a short ``<description>``;
- 2: RSS 2.0 carrying the whole article in ``<description>``;
- 3: RSS 2.0 with a summary only (about 300 characters). No page is served for these
  entries, so their sources are set to ``full_text = "never"``: neither program reads
  article pages in this benchmark.

Articles are 2-9 KB of HTML (paragraphs of Indonesian words, a picture in one of five).
One entry in twenty is a copy of the previous site's story under another headline, so
the same story arrives from two sources, as it does in practice. Everything is
deterministic: the same site number always gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

__all__ = ["ENTRIES", "SiteFeed", "make_site"]

ENTRIES = 25
KINDS = ("blogger-atom", "wordpress-rss", "rss-description", "rss-summary")

_WORDS = str.split(
    "pemerintah daerah warga pasar harga beras cabai rawit merah naik turun kota kabupaten "
    "provinsi gubernur bupati wali menteri presiden rapat kerja anggaran tahun depan jalan "
    "jembatan banjir hujan deras sungai meluap petugas polisi pelaku korban rumah sakit "
    "dokter pasien sekolah guru murid ujian nasional pertandingan sepak bola tim juara liga "
    "pelatih pemain gol babak kedua stadion penonton ekonomi inflasi bank bunga kredit usaha "
    "kecil menengah nelayan petani panen gabah pupuk subsidi listrik air bersih desa kampung "
    "adat budaya festival tari musik seni wisata pantai gunung kapal pelabuhan bandara "
    "penerbangan jadwal libur panjang akhir pekan kepala dinas kesehatan pendidikan sosial "
    "bantuan tunai masyarakat menurut katanya mengatakan menjelaskan bahwa pihaknya akan "
    "segera sudah belum masih sangat lebih kurang hingga sejak pada dari untuk dengan oleh"
)
_OUTLETS = ("Kompas.com", "detikNews", "Tribunnews", "Antara", "CNN Indonesia", "inilah")


@dataclass(frozen=True)
class SiteFeed:
    """One site's feed document and what a benchmark needs to know about it."""

    number: int
    kind: str
    body: bytes
    content_type: str
    summary_only: bool


def make_site(number: int, now: datetime | None = None) -> SiteFeed:
    """The feed of site `number`, its newest entry ten minutes before `now`."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    kind = KINDS[number % len(KINDS)]
    stories = [_story(number, n) for n in range(ENTRIES)]
    times = [now - timedelta(minutes=10 + 115 * n) for n in range(ENTRIES)]
    if kind == "blogger-atom":
        body = _atom(number, stories, times, now)
        content_type = "application/atom+xml; charset=UTF-8"
    else:
        body = _rss(number, kind, stories, times, now)
        content_type = "application/rss+xml; charset=UTF-8"
    return SiteFeed(number, kind, body.encode("utf-8"), content_type, kind == "rss-summary")


@dataclass(frozen=True)
class _Story:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    picture: str | None
    credit: str | None


def _story(site: int, n: int) -> _Story:
    # A copy of the previous site's next story (never a copy itself, so that each copy
    # has an original to join): same words, another headline.
    copied = n % 20 == 7 and site > 0
    rng = random.Random(f"{site - 1}:{n + 1}" if copied else f"{site}:{n}")
    title_words = rng.sample(_WORDS, 8)
    paragraphs = tuple(
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(35, 90))).capitalize() + "."
        for _ in range(rng.randint(4, 14))
    )
    picture = None
    if n % 5 == 0:
        picture = f"https://blogger.googleusercontent.com/img/b/s72-c/{site}-{n}.jpg"
    credit = rng.choice(_OUTLETS) if rng.random() < 0.3 else None
    title = " ".join(title_words).capitalize()
    if copied:
        title = "Kabar: " + title
    return _Story(f"{'-'.join(title_words[:5])}-{n}", title, paragraphs, picture, credit)


def _site_url(site: int) -> str:
    return f"https://www.kabar{site:04d}.example"


def _link(site: int, story: _Story, when: datetime) -> str:
    return f"{_site_url(site)}/{when:%Y/%m}/{story.slug}.html"


def _article_html(site: int, story: _Story, *, widgets: bool) -> str:
    parts = []
    if widgets:
        parts.append(
            '<div class="breaking-news"><h3>Breaking Posts</h3><ul>'
            f'<li><a href="{_site_url(site)}/p/breaking.html?utm_source=widget">'
            "Berita lain</a></li>"
            "</ul></div>"
        )
    if story.picture:
        parts.append(
            f'<div class="separator"><a href="{story.picture}"><img border="0" '
            f'src="{story.picture}" width="640" height="360" /></a></div>'
        )
    for index, paragraph in enumerate(story.paragraphs):
        parts.append(f"<p>{escape(paragraph)}</p>")
        if widgets and index == 1:
            parts.append('<div class="iklan-tengah">Top Post Ad</div>')
            parts.append(
                f'<p><b>Baca Juga:</b> <a href="{_site_url(site)}/2026/11/lain.html">'
                "Berita terkait lainnya</a></p>"
            )
    if story.credit:
        parts.append(f"<p>Sumber: {escape(story.credit)}</p>")
    if widgets:
        parts.append('<div class="post-footer">Posting Komentar</div>')
    return "\n".join(parts)


def _summary(story: _Story) -> str:
    text = " ".join(story.paragraphs)
    return text[:300].rsplit(" ", 1)[0] + " […]"


def _atom(site: int, stories: list[_Story], times: list[datetime], now: datetime) -> str:
    entries = []
    for n, (story, when) in enumerate(zip(stories, times, strict=True)):
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
        thumbnail = (
            f'<media:thumbnail xmlns:media="http://search.yahoo.com/mrss/" url="{story.picture}" '
            'height="72" width="72"/>'
            if story.picture
            else ""
        )
        entries.append(
            f"<entry><id>tag:blogger.com,1999:blog-{site}.post-{n}</id>"
            f"<published>{stamp}</published><updated>{stamp}</updated>"
            "<category scheme='http://www.blogger.com/atom/ns#' term='Daerah'/>"
            f"<title type='text'>{escape(story.title)}</title>"
            f"<content type='html'>{escape(_article_html(site, story, widgets=True))}</content>"
            f"<link rel='alternate' type='text/html' href='{_link(site, story, when)}' "
            f"title='{escape(story.title)}'/>"
            "<author><name>Redaksi</name><email>noreply@blogger.com</email></author>"
            f"{thumbnail}<thr:total>{n % 7}</thr:total></entry>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<feed xmlns='http://www.w3.org/2005/Atom' "
        "xmlns:thr='http://purl.org/syndication/thread/1.0'>"
        f"<id>tag:blogger.com,1999:blog-{site}</id>"
        f"<updated>{now:%Y-%m-%dT%H:%M:%S}.000+00:00</updated>"
        f"<title type='text'>Kabar {site:04d}</title>"
        f"<link rel='alternate' type='text/html' href='{_site_url(site)}/'/>"
        "<generator version='7.00' uri='http://www.blogger.com'>Blogger</generator>"
        f"{''.join(entries)}</feed>"
    )


def _rss(site: int, kind: str, stories: list[_Story], times: list[datetime], now: datetime) -> str:
    items = []
    for n, (story, when) in enumerate(zip(stories, times, strict=True)):
        link = _link(site, story, when)
        article = _article_html(site, story, widgets=False)
        if kind == "wordpress-rss":
            body = (
                f"<description>{escape(_summary(story))}</description>"
                f"<content:encoded><![CDATA[{article}]]></content:encoded>"
            )
        elif kind == "rss-description":
            body = f"<description>{escape(article)}</description>"
        else:
            body = f"<description>{escape(_summary(story))}</description>"
        items.append(
            f"<item><title>{escape(story.title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{_site_url(site)}/?p={n + 1000}</guid>'
            f"<pubDate>{when:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
            f"<dc:creator>Redaksi</dc:creator><category>Daerah</category>"
            f"{body}<slash:comments>{n % 5}</slash:comments></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel>'
        f"<title>Kabar {site:04d}</title><link>{_site_url(site)}/</link>"
        f"<description>Berita terkini</description><language>id</language>"
        f"<lastBuildDate>{now:%a, %d %b %Y %H:%M:%S} +0000</lastBuildDate>"
        f"{''.join(items)}</channel></rss>"
    )
