"""Feeds whose sources share their words: stock phrases, wire copies and template reports.

The ingest benchmark's own feeds (`bench.ingest.feeds`) draw every article from 150 words
at random, so two texts rarely share a run of three words. Real news does: a wire
service's story (ANTARA, Reuters) runs on dozens of sites, under the service's headline or
a new one; republishers copy each other; daily template reports ("Harga emas hari ini …")
share most of their words; and every newsroom writes with the same stock phrases. The
sites made here, in the same four feed shapes as the ingest benchmark's, write that way:

- an own story is a string of stock phrases from one bank of 40 (made of 40 words), with
  the story's own names and figures between them: every two texts share many word triples;
- one entry in four is a wire copy: one of `WIRE_STORIES` stories of the day, the same
  words on every site that carries it (about 40 sites each at 200 sites), half of them
  under a headline of the site's own, some with a dateline or a "Sumber:" line added;
- one entry in eight is a template report (gold, rupiah, fuel price of a city on a day),
  whose only differences are the city, the day and the figures: each its own story.

Each entry's link names its story (`story_of`), so a benchmark can check the clusters a
poll formed: every wire story one cluster, no two different stories in one. Everything is
deterministic: the same site number always gives the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.ingest.feeds import ENTRIES, KINDS, SiteFeed, _atom, _rss, _Story

__all__ = ["WIRE_STORIES", "Article", "articles", "make_shared_site", "story_of"]

WIRE_STORIES = 30
_VOCABULARY = str.split(
    "yang dan di ke dari ini itu dengan untuk pada akan telah sudah masih tidak dalam "
    "kata dia juga bahwa para warga pihak menurut hari senin selasa rabu kamis jumat "
    "tahun ini kepala dinas kota kabupaten pemerintah daerah setempat kepada wartawan"
)
_NAMES = str.split(
    "Sutrisno Wahyuni Hasibuan Simanjuntak Rahmawati Kurniawan Nasution Siregar Lestari "
    "Hidayat Pratama Saputra Wibowo Gunawan Setiawan Susanti Harahap Purnomo Santoso Halim"
)
_PLACES = str.split(
    "Medan Padang Pekanbaru Jambi Palembang Bengkulu Lampung Serang Bandung Semarang "
    "Yogyakarta Surabaya Denpasar Mataram Kupang Pontianak Banjarmasin Samarinda Manado "
    "Makassar Kendari Palu Gorontalo Ambon Ternate Jayapura Sorong Merauke Tarakan Bima"
)
_MONTHS = str.split("Januari Februari Maret April Mei Juni Juli Agustus September Oktober")
_TEMPLATES = ("emas", "rupiah", "BBM")


def _bank() -> list[list[str]]:
    rng = random.Random("stock phrases")
    return [rng.sample(_VOCABULARY, rng.randint(3, 6)) for _ in range(40)]


_PHRASES = _bank()


@dataclass(frozen=True)
class Article:
    """One entry's story: what it says, and which story it is (for checking clusters)."""

    story: str  # "wire-7", "own-12-3", "emas-Medan-4"
    title: str
    paragraphs: tuple[str, ...]
    credit: str | None


def _own_text(rng: random.Random, words: int) -> str:
    """Stock phrases with this story's names and figures between them."""
    names = [*rng.sample(_NAMES, 3), rng.choice(_PLACES)]
    out: list[str] = []
    while len(out) < words:
        out.extend(rng.choice(_PHRASES))
        if rng.random() < 0.45:
            out.append(rng.choice(names) if rng.random() < 0.6 else str(rng.randint(2, 9999)))
    return " ".join(out)


def _paragraphs(rng: random.Random, count: int) -> tuple[str, ...]:
    return tuple(_own_text(rng, rng.randint(35, 80)).capitalize() + "." for _ in range(count))


def _headline(rng: random.Random) -> str:
    who, where = rng.choice(_NAMES), rng.choice(_PLACES)
    phrase = " ".join(rng.choice(_PHRASES)[:3])
    return f"{who} di {where}: {phrase} {rng.randint(10, 999)}".capitalize()


def _wire(number: int) -> Article:
    rng = random.Random(f"wire:{number}")
    return Article(f"wire-{number}", _headline(rng), _paragraphs(rng, rng.randint(4, 9)), None)


def _template(kind: str, place: str, day: int, rng: random.Random) -> Article:
    date = f"{day} {_MONTHS[day % len(_MONTHS)]}"
    figure = f"{rng.randint(900, 1500)}.{rng.randint(100, 999)}"
    change = rng.randint(1, 40) * 1000
    direction = rng.choice(("naik", "turun"))
    title = f"Harga {kind} hari ini {date} di {place}: Rp {figure}, {direction} Rp {change:,}"
    text = (
        f"Harga {kind} hari ini di {place} pada {date} tercatat Rp {figure} per satuan, "
        f"{direction} Rp {change:,} dibandingkan hari sebelumnya. Harga beli kembali "
        f"Rp {rng.randint(800, 1400)}.{rng.randint(100, 999)}. Untuk ukuran setengah "
        f"dijual Rp {rng.randint(400, 800)}.{rng.randint(100, 999)}, ukuran dua "
        f"Rp {rng.randint(1800, 3000)}.{rng.randint(100, 999)}, dan ukuran lima "
        f"Rp {rng.randint(4500, 7500)}.{rng.randint(100, 999)}. Harga dapat berubah "
        f"sewaktu-waktu tanpa pemberitahuan. Pantauan pukul {rng.randint(7, 11)}.00 WIB."
    )
    return Article(f"{kind}-{place}-{day}", title, (text,), None)


def article(site: int, n: int) -> Article:
    """Entry `n` of site `site` (its newest first)."""
    rng = random.Random(f"shared:{site}:{n}")
    roll = rng.random()
    if roll < 0.25:  # a wire copy: the day's stories, carried by many sites
        day = n * 2 // ENTRIES
        wire = _wire(day * WIRE_STORIES // 2 + rng.randrange(WIRE_STORIES // 2))
        title = wire.title if rng.random() < 0.5 else _headline(rng)
        paragraphs = wire.paragraphs
        if rng.random() < 0.3:
            dateline = f"{rng.choice(_PLACES).upper()} (ANTARA) - "
            paragraphs = (dateline + paragraphs[0], *paragraphs[1:])
        credit = "Antara" if rng.random() < 0.3 else None
        return Article(wire.story, title, paragraphs, credit)
    if roll < 0.375:  # a template report of this site's city on this day
        place = _PLACES[(site * 7 + n) % len(_PLACES)]
        return _template(_TEMPLATES[n % len(_TEMPLATES)], place, site % 28 + 1, rng)
    story = f"own-{site}-{n}"
    return Article(story, _headline(rng), _paragraphs(rng, rng.randint(4, 12)), None)


def story_of(link: str) -> str:
    """The story an entry's link names (its slug ends in `--<story>-<n>`)."""
    return link.rsplit("/", 1)[-1].removesuffix(".html").split("--")[1].rsplit("-", 1)[0]


def make_shared_site(number: int, now: datetime | None = None) -> SiteFeed:
    """Site `number`'s feed of shared words, its newest entry ten minutes before `now`."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    kind = KINDS[number % len(KINDS)]
    stories = []
    for n in range(ENTRIES):
        told = article(number, n)
        picture = f"https://cdn.example/{number}-{n}.jpg" if n % 5 == 0 else None
        slug = f"berita-{number}-{n}--{told.story}-{n}"
        stories.append(_Story(slug, told.title, told.paragraphs, picture, told.credit))
    times = [now - timedelta(minutes=10 + 115 * n) for n in range(ENTRIES)]
    if kind == "blogger-atom":
        body = _atom(number, stories, times, now)
        content_type = "application/atom+xml; charset=UTF-8"
    else:
        body = _rss(number, kind, stories, times, now)
        content_type = "application/rss+xml; charset=UTF-8"
    return SiteFeed(number, kind, body.encode("utf-8"), content_type, kind == "rss-summary")


def articles(count: int) -> Iterator[tuple[Article, float]]:
    """`count` articles of the shared-words sites, with the hour each was published."""
    site = 0
    while True:
        for n in range(ENTRIES):
            if count <= 0:
                return
            count -= 1
            yield article(site, n), (ENTRIES - n) * 115 / 60 + site * 0.0001
        site += 1
