"""Excerpts and blurbs start with the story: never a photo caption, a credit or the headline."""

from __future__ import annotations

from html import escape

import pytest

from syndicate.ingest.parse import parse_feed
from syndicate.render.lead import lead_text
from tests.corpus import CORPUS

SEED = CORPUS / "seed" / "000_dedce096c3d8b221.txt"
STORY = "Harga beras medium di Pasar Induk Cipinang turun Rp500 per kilogram dalam sepekan."
TITLE = "Harga beras turun di Pasar Induk Cipinang"


@pytest.mark.parametrize(
    "opening",
    [
        "Ilustrasi: pedagang beras di Pasar Induk Cipinang (Foto: Dok. Humas Food Station)",
        "Ilustrasi pedagang beras. (Foto: Dok. Kementan)",
        "Foto: ANTARA FOTO/Galih Pradipta",
        "Pedagang menata karung beras di Cipinang, Jakarta. ANTARA FOTO/Galih Pradipta/nz",
        "Caption: Traders at the market (Photo: Reuters)",
        "(Foto: Dok. Pribadi)",
        "Keterangan foto: Suasana pasar pagi ini",
        TITLE,
        TITLE.upper() + ".",
    ],
)
def test_a_caption_credit_or_headline_paragraph_never_opens_the_excerpt(opening: str) -> None:
    assert lead_text(f"{opening}\n\n{STORY}", TITLE) == STORY


def test_an_inline_caption_and_headline_are_cut_from_the_first_paragraph() -> None:
    text = f"{TITLE} Ilustrasi: karung beras (Foto: Dok. Bapanas) {STORY}"
    assert lead_text(text, TITLE) == STORY


def test_several_captions_in_a_row_are_all_skipped() -> None:
    text = f"{TITLE}\n\nFoto: Dok. Humas\n\nIlustrasi: pasar (Foto: Antara)\n\n{STORY}\n\nLagi."
    assert lead_text(text, TITLE) == f"{STORY}\n\nLagi."


@pytest.mark.parametrize(
    "text",
    [
        STORY,
        "Foto-foto banjir beredar luas di media sosial sejak Rabu pagi, dan warga diminta "
        "memeriksa kebenarannya sebelum menyebarkannya kepada keluarga dan kawan.",
        "Harga beras naik lagi. Para pedagang mengeluh. (Foto: Dok.) Pemerintah menjanjikan "
        "operasi pasar pekan depan.",
        "Ilustrasi: " + "kata " * 60,  # too long for a caption: it is the text
    ],
)
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert lead_text(text, TITLE) == text.strip()


def test_a_text_that_is_only_a_caption_gives_nothing_rather_than_the_caption() -> None:
    assert lead_text("Foto: Dok. Humas", TITLE) == ""
    assert lead_text("", TITLE) == ""


def test_the_seed_page_does_not_open_with_its_headline_again() -> None:
    if not SEED.exists():
        pytest.skip("the shared corpus is not on this machine")
    page = SEED.read_text(encoding="utf-8")
    title = "50.000 Pasukan Korut Siap Gabung Rusia, Konflik Dunia Kian Runyam"
    body = page[page.index(title) :]
    lead = lead_text(body, title)
    assert lead.startswith("Sebuah informasi mengejutkan menyeruak.")


def test_hostile_openings_end_quickly_and_keep_the_story() -> None:
    many_credits = "(Foto: Dok.) " * 2000 + STORY
    assert lead_text(many_credits, TITLE) == STORY
    long_text = "Kata demi kata. " * 20000 + "(Foto: Dok. Humas)"
    assert lead_text(long_text, TITLE) == long_text.strip()
    unclosed = "(Foto: " + "x" * 100000
    assert lead_text(f"{unclosed}\n\n{STORY}", TITLE) == STORY  # a short "Foto:" paragraph
    assert lead_text(TITLE, TITLE) == ""  # the headline and nothing else


FEED_CASES = {
    "blogger": "<table class='tr-caption-container'><tbody><tr><td><a href='https://x.example/"
    "c.jpg'><img src='https://x.example/c.jpg'/></a></td></tr><tr><td class='tr-caption'>"
    "Warga antre minyak goreng di Medan, Sumatera Utara.</td></tr></tbody></table>",
    "wordpress": "<div class='wp-caption'><img src='https://x.example/b.jpg'/>"
    "<p class='wp-caption-text'>Suasana pasar induk Kramat Jati pagi ini</p></div>",
    "span": "<p><span style='font-size:x-small'>Ilustrasi. Foto: Istimewa</span></p>",
    "site-suffix": f"<p>{TITLE} - Repelita Online</p>",
    "antara-in-em": "<p><em>Presiden meresmikan tol. (ANTARA FOTO/Sigid Kurniawan)</em></p>",
    "headline-bang": f"<p><strong>{TITLE}!</strong></p>",
}


@pytest.mark.parametrize("opening", FEED_CASES.values(), ids=FEED_CASES.keys())
def test_a_feed_s_own_caption_or_headline_never_opens_the_excerpt(opening: str) -> None:
    """The feed's HTML goes through the real ingest, as with `full_text = "never"`."""
    body = f"{opening}<p>{STORY}</p><p>Pedagang berharap harga tetap stabil.</p>"
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Repelita '
        "Online</title><link>https://repelita.example/</link><description>x</description>"
        f"<item><title>{TITLE}</title><link>https://repelita.example/1</link><guid>g1</guid>"
        f"<description>{escape(body)}</description></item></channel></rss>"
    )
    (entry,) = parse_feed(feed.encode(), url="https://repelita.example/feed").entries
    lead = lead_text(entry.excerpt, entry.title, entry.content_html)
    assert lead == f"{STORY}\n\nPedagang berharap harga tetap stabil."


def test_a_short_first_paragraph_with_no_picture_above_it_stays() -> None:
    html = f"<p>Jakarta diguyur hujan deras.</p><p>{STORY}</p>"
    text = f"Jakarta diguyur hujan deras.\n\n{STORY}"
    assert lead_text(text, TITLE, html) == text
    pictured = f"<p><img src='https://x.example/a.jpg'></p><p>{'kata ' * 30}</p><p>{STORY}</p>"
    long_text = f"{'kata ' * 30}\n\n{STORY}"
    assert lead_text(long_text, TITLE, pictured) == long_text.replace(" \n", "\n")


def test_no_paragraph_of_only_punctuation_is_left() -> None:
    assert lead_text(f"{STORY}\n\n)\n\n— !\n\nLagi.", TITLE) == f"{STORY}\n\nLagi."


@pytest.mark.parametrize(
    "line",
    ["Hi friends!", "I finished the hand quilting of the corner last night.", "My project -"],
)
def test_a_blogger_talking_under_a_photo_is_not_taken_for_a_caption(line: str) -> None:
    html = f"<p><img src='https://x.example/a.jpg'></p><p>{line}</p><p>{STORY}</p>"
    text = f"{line}\n\n{STORY}"
    assert lead_text(text, TITLE, html) == text


def test_the_digest_s_excerpt_reads_the_post_s_stored_html() -> None:
    """`post_view`, what every renderer is given, passes the stored HTML to lead_text."""
    from datetime import UTC, datetime

    from syndicate.db.models import Post, Source
    from syndicate.jobs import post_view

    body = FEED_CASES["wordpress"] + f"<p>{STORY}</p><p>Lagi.</p>"
    (entry,) = parse_feed(
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>'
            "<link>https://w.example/</link><description>x</description><item>"
            f"<title>{TITLE}</title><link>https://w.example/1</link><guid>g</guid>"
            f"<description>{escape(body)}</description></item></channel></rss>"
        ).encode(),
        url="https://w.example/feed",
    ).entries
    post = Post(
        id=1,
        source_id=1,
        title=entry.title,
        url="https://w.example/1",
        excerpt=entry.excerpt,
        content_html=entry.content_html,
        first_seen_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    source = Source(id=1, name="w", url="https://w.example/feed", site_name="W")
    assert post_view(post, source).excerpt == f"{STORY}\n\nLagi."
