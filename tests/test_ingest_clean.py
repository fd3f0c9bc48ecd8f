"""Cleaning feed HTML: unsafe markup, theme widgets and credit lines."""

from __future__ import annotations

import pytest

from syndicate.ingest.clean import clean_html, html_to_text
from syndicate.ingest.credit import lift_credit
from syndicate.ingest.lines import is_noise_line
from syndicate.ingest.mojibake import repair_mojibake
from syndicate.types import Credit


def test_sanitizing_removes_scripts_handlers_and_javascript_links() -> None:
    dirty = (
        '<p onclick="steal()">Halo <script>alert(1)</script><b>dunia</b></p>'
        '<img src="https://a.example/x.jpg" onerror="alert(2)">'
        '<a href="javascript:alert(3)">klik</a><iframe src="https://evil.example"></iframe>'
        "<style>p{}</style><p style='color:red'>akhir</p>"
    )
    cleaned = clean_html(dirty, "https://a.example/")
    for bad in ("script", "alert", "onerror", "onclick", "javascript:", "iframe", "style"):
        assert bad not in cleaned
    assert "<b>dunia</b>" in cleaned
    assert '<img src="https://a.example/x.jpg">' in cleaned


def test_tracking_pixels_go_and_lazy_images_get_their_source() -> None:
    html = (
        '<p>Teks</p><img src="https://feeds.feedburner.com/~r/x/~4/abc" height="1" width="1">'
        '<img src="/p.gif" width="1" height="1">'
        '<img src="data:image/gif;base64,R0lGOD" data-src="/foto/besar.jpg" alt="Foto">'
    )
    cleaned = clean_html(html, "https://site.example/2026/11/a.html")
    assert "feedburner" not in cleaned
    assert "p.gif" not in cleaned
    assert '<img src="https://site.example/foto/besar.jpg" alt="Foto">' in cleaned


def test_relative_links_are_resolved_against_the_base() -> None:
    cleaned = clean_html('<p><a href="../b.html">b</a></p>', "https://site.example/x/a.html")
    assert 'href="https://site.example/b.html"' in cleaned


def test_blogger_br_layout_is_split_into_paragraphs_and_noise_lines_dropped() -> None:
    html = (
        "<div>Paragraf satu.<br><br>Hot Widget<br>Baca Juga: <a href='/x'>Lain</a><br>"
        "Paragraf dua.<br>Top Post Ad<br>Posting Komentar<br></div>"
    )
    assert html_to_text(clean_html(html, None)) == "Paragraf satu.\n\nParagraf dua."


def test_breaking_posts_heading_takes_its_link_list_with_it() -> None:
    html = (
        "<h3>Breaking Posts</h3><ul><li><a href='/a'>Satu</a></li><li><a href='/b'>Dua</a></li>"
        "</ul><p>Isi berita yang sebenarnya.</p>"
    )
    assert clean_html(html, None) == "<p>Isi berita yang sebenarnya.</p>"


def test_widget_classes_are_dropped_but_an_article_in_a_widget_box_survives() -> None:
    body = "<p>" + "Kalimat berita yang panjang. " * 30 + "</p>"
    html = f'<div class="widget Blog">{body}<div class="share-buttons">Bagikan</div></div>'
    cleaned = clean_html(html, None)
    assert "Kalimat berita" in cleaned
    assert "Bagikan" not in cleaned


@pytest.mark.parametrize(
    "line",
    [
        "Breaking Posts",
        "Hot Widget",
        "Posting Komentar",
        "Top Post Ad",
        "Below Post Ad",
        "Advertisement",
        "Iklan",
        "Copyright © 2026 Warta Nusantara Online. All rights reserved.",
        "Share this:",
        "Bagikan",
        "Baca Juga: Harga Beras Naik Lagi",
        "Related Posts",
        "Komentar",
        "Tags: banjir, sungai",
        "Follow us on Telegram",
        "» Baca juga : Lima Kuliner Pesisir",
    ],
)
def test_theme_lines_are_noise(line: str) -> None:
    assert is_noise_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Iklan rokok dilarang tayang di televisi mulai tahun depan, kata menteri.",
        "Komentar warga di media sosial beragam.",
        "Harga cabai turun.",
    ],
)
def test_article_sentences_are_not_noise(line: str) -> None:
    assert not is_noise_line(line)


@pytest.mark.parametrize(
    ("line", "credit"),
    [
        ("Sumber Berita / Artikel Asli : inilah", Credit("inilah")),
        ("Sumber: Kompas.com", Credit("Kompas.com")),
        ("Dikutip dari Detik", Credit("Detik")),
        ("Dilansir dari CNN Indonesia", Credit("CNN Indonesia")),
        ("Source: Reuters", Credit("Reuters")),
        (
            'Artikel ini telah tayang di Kompas.com dengan judul "Jalan Baru", '
            "Klik untuk baca: https://regional.kompas.com/read/2026/11/16/1/jalan-baru.",
            Credit("Kompas.com", "https://regional.kompas.com/read/2026/11/16/1/jalan-baru"),
        ),
        (
            'Baca artikel detiknews, "Perahu Tiba" selengkapnya https://news.detik.com/d-1/perahu',
            Credit("detiknews", "https://news.detik.com/d-1/perahu"),
        ),
        (
            "Originally published at https://blog.example/post/1",
            Credit("blog.example", "https://blog.example/post/1"),
        ),
    ],
)
def test_credit_line_is_lifted_from_the_end_of_the_text(line: str, credit: Credit) -> None:
    text = f"Paragraf pertama.\n\nParagraf kedua.\n\n{line}"
    body, found = lift_credit(text)
    assert found == credit
    assert body == "Paragraf pertama.\n\nParagraf kedua."


def test_credit_link_in_html_becomes_the_credit_url() -> None:
    html = '<p>Isi.</p><p>Sumber: <a href="https://www.antaranews.example/b/1">Antara</a></p>'
    body, credit = lift_credit(html)
    assert credit == Credit("Antara", "https://www.antaranews.example/b/1")
    assert body == "<p>Isi.</p>"


def test_a_source_mentioned_early_in_a_long_article_is_not_a_credit() -> None:
    paragraphs = [f"Paragraf {n}." for n in range(8)]
    text = "\n\n".join(["Sumber: Kompas.com", *paragraphs])
    assert lift_credit(text) == (text, None)


def test_a_long_sentence_starting_with_source_is_not_a_credit() -> None:
    text = (
        "Isi.\n\nSumber: seorang pejabat yang tidak mau disebut namanya mengatakan "
        "anggaran itu dipangkas separuh."
    )
    assert lift_credit(text)[1] is None


def test_mojibake_is_repaired_and_good_text_left_alone() -> None:
    assert repair_mojibake("itâ€™s â€œokâ€") == "it’s “ok”"
    assert repair_mojibake("Café Ñandú — “ok”") == "Café Ñandú — “ok”"


def test_html_to_text_decodes_entities_and_separates_paragraphs() -> None:
    assert html_to_text("<p>A &amp; B\n  C</p><p>D<br>E</p>") == "A & B C\n\nD\n\nE"
