"""Golden files for extraction and attribution on a corpus of tricky pages and feeds.

Pages (`tests/data/ingest/pages`) go through `extract_article`; feeds
(`tests/data/ingest/feeds`) through `parse_feed` with the source zone Asia/Jakarta and
`shown`-style credits from a `[credits]` table. Each result is compared with its JSON file
in `tests/golden/ingest/`. After an intended change, regenerate them with

    SYNDICATE_REGEN_GOLDEN=1 python -m pytest tests/test_ingest_golden.py

and review the diff. Everything here is fictional.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syndicate.config import CreditName
from syndicate.ingest.attribution import resolve_credit
from syndicate.ingest.extract import extract_article
from syndicate.ingest.parse import parse_feed
from tests.corpus import CORPUS

DATA = Path(__file__).parent / "data" / "ingest"
GOLDEN = Path(__file__).parent / "golden" / "ingest"
REGEN = os.environ.get("SYNDICATE_REGEN_GOLDEN") == "1"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
JAKARTA = ZoneInfo("Asia/Jakarta")
CREDITS = {
    "inilah": CreditName("Inilah.com", "https://www.inilah.example/"),
    "detikjogja": CreditName("detikJogja", "https://www.detik.example/jogja"),
    "beritakota": CreditName("Berita Kota", "https://beritakota.example/"),
}
PAGES = sorted((DATA / "pages").glob("*.html"))
FEEDS = sorted((DATA / "feeds").iterdir())


def _credit(credit: object) -> dict | None:
    shown = resolve_credit(credit, CREDITS)  # type: ignore[arg-type]
    return None if shown is None else {"name": shown.name, "url": shown.url}


def _check(name: str, result: dict) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with SYNDICATE_REGEN_GOLDEN=1"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_article_page_matches_its_golden_file(page: Path) -> None:
    url = f"https://{page.stem}.example/article"
    article = extract_article(page.read_bytes(), url, zone=JAKARTA, now=NOW)
    assert article is not None
    _check(
        f"page-{page.stem}",
        {
            "title": article.title,
            "content_html": article.content_html,
            "excerpt": article.excerpt,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "image_url": article.image_url,
            "site_name": article.site_name,
            "canonical_url": article.canonical_url,
            "credit": _credit(article.credit),
        },
    )


@pytest.mark.parametrize("feed", FEEDS, ids=[f.name for f in FEEDS])
def test_feed_matches_its_golden_file(feed: Path) -> None:
    kind = "application/feed+json" if feed.suffix == ".json" else None
    parsed = parse_feed(feed.read_bytes(), url=f"https://{feed.stem}.example/feed",
                        content_type=kind, timezone=JAKARTA, now=NOW)  # fmt: skip
    entries = [
        {
            "key": entry.key,
            "url": entry.url,
            "title": entry.title,
            "excerpt": entry.excerpt,
            "summary_only": entry.summary_only,
            "published_at": entry.published_at.isoformat() if entry.published_at else None,
            "origin": _credit(entry.origin),
            "comments": entry.comments,
        }
        for entry in parsed.entries
    ]
    _check(f"feed-{feed.name}", {"title": parsed.title, "entries": entries})


def test_no_widget_ad_comment_or_footer_text_survives_in_any_page() -> None:
    furniture = ("Breaking Posts", "Hot Widget", "Top Post Ad", "Posting Komentar",
                 "Copyright", "©", "Baca Juga", "Baca juga", "Leave a Reply", "Share this",
                 "appeared first on", "Advertisement", "Iklan", "Download Apps")  # fmt: skip
    for page in PAGES:
        article = extract_article(page.read_bytes(), "https://x.example/a", now=NOW)
        assert article is not None
        found = [word for word in furniture if word in article.content_html]
        assert not found, f"{page.name} keeps {found}"


def test_lazy_images_get_their_real_source() -> None:
    for name, picture in [
        ("blogger-widgets", "s640/jembatan-karangsari.jpg"),
        ("wordpress-yoast", "ferry-dock-1024x683.jpg"),
    ]:
        page = (DATA / "pages" / f"{name}.html").read_bytes()
        # Without og:image the lead picture is the article's own, lazy or not.
        page = page.replace(b'property="og:image"', b'property="og:nothing"')
        article = extract_article(page, "https://x.example/a", now=NOW)
        assert article is not None and article.image_url is not None
        assert article.image_url.endswith(picture)
        assert "data:image" not in article.content_html
        assert "placeholder" not in article.content_html


def test_tracking_parameters_leave_the_links_of_a_page() -> None:
    article = extract_article((DATA / "pages" / "wordpress-yoast.html").read_bytes(),
                              "https://x.example/a", now=NOW)  # fmt: skip
    assert article is not None
    assert "https://harbour.example/timetables" in article.content_html
    assert "utm_" not in article.content_html and "fbclid" not in article.content_html


@pytest.mark.parametrize("page", sorted(CORPUS.glob("**/*.html")), ids=lambda p: p.name)
def test_shared_corpus_pages_are_read_without_crashing(page: Path) -> None:
    article = extract_article(page.read_bytes(), "https://corpus.example/page", now=NOW)
    if article is not None:
        assert "\ufffd" not in article.excerpt
        assert "Ã" not in article.excerpt  # no UTF-8 read as Latin-1
