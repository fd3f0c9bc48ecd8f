"""Readers see the site's language everywhere: pages, the confirmation mail, error pages,
dates; and the catalogs hold every word, in Indonesian and in English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from syndicate.render.locale import CATALOGS
from syndicate.subscribers import add_subscriber
from tests.browser.live import LiveSite
from tests.smtpserver import SmtpServer
from tests.test_web_http import client, confirm_link, csrf_of, subscribe, unsubscribe_url

ROOT = Path(__file__).resolve().parents[1]
METHODS = [
    ("syndicate/**.py", "python"),
    ("templates/web/**.html", "jinja2"),
    ("templates/web/**.txt", "jinja2"),
]
_PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def _extracted() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT, METHODS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str) -> dict[str, str]:
    with (CATALOGS / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return {message.id: message.string for message in read_po(file) if message.id}


@pytest.mark.parametrize("language", ["id", "en"])
def test_every_marked_word_is_translated_with_the_same_placeholders(language: str) -> None:
    words = _extracted()
    assert len(words) > 50 and "Subscribe to %(site)s" in words
    catalog = _catalog(language)
    missing = sorted(word for word in words if not catalog.get(word))
    assert not missing, f"{language}: not translated: {missing}"
    for word in words:
        assert sorted(_PLACEHOLDER.findall(word)) == sorted(_PLACEHOLDER.findall(catalog[word]))


@pytest.fixture
def indonesian(tmp_path: Path) -> Iterator[LiveSite]:
    database = f"sqlite:///{tmp_path}/web.db"
    with SmtpServer() as smtp, LiveSite(tmp_path, database, smtp, locale="id") as site:
        yield site


def _english_left(html: str) -> list[str]:
    """English sentences of the catalog (those Indonesian says otherwise) left in a page."""
    indonesian = _catalog("id")
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    left = []
    for word, translated in indonesian.items():
        literal = " ".join(max(_PLACEHOLDER.split(word), key=len).split())
        if word != translated and len(literal.split()) > 1 and literal in text:
            left.append(word)
    return left


def test_an_indonesian_site_speaks_indonesian_from_subscribe_to_unsubscribe(
    indonesian: LiveSite,
) -> None:
    site, browser = indonesian, client(indonesian)
    pages: dict[str, httpx.Response] = {}
    pages["subscribe"] = browser.get("/subscribe")
    assert "Berlangganan Kabar Pilihan" in pages["subscribe"].text
    pages["refused"] = browser.post(
        "/subscribe",
        data={
            "csrf": csrf_of(pages["subscribe"].text),
            "email": "bukan-alamat",
            "list": "newsletter",
        },
    )
    assert "Itu bukan alamat email." in pages["refused"].text
    pages["check inbox"] = subscribe(browser, "sari@example.org")
    assert "Periksa kotak masuk Anda" in pages["check inbox"].text

    site.wait_for_mail(1)
    mail = site.smtp.messages[0].message
    assert mail["Subject"] == "Kabar Pilihan: mohon konfirmasi langganan Anda"
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Seseorang (semoga Anda) meminta" in plain and "Halo!" in plain
    assert '<html lang="id">' in html and "Konfirmasi langganan saya" in html
    assert not _english_left(plain) and not _english_left(html)

    link = confirm_link(site)
    pages["confirm"] = browser.get(link)
    assert "Konfirmasi langganan Anda" in pages["confirm"].text
    pages["confirmed"] = browser.post(link, data={"csrf": csrf_of(pages["confirm"].text)})
    assert "Anda sudah berlangganan" in pages["confirmed"].text
    preferences = re.search(r'href="([^"]*/preferences/[^"]+)"', pages["confirmed"].text)
    assert preferences is not None
    pages["preferences"] = browser.get(preferences.group(1))
    assert "Daftar Anda" in pages["preferences"].text

    subscriber = site.subscriber("sari@example.org")
    assert subscriber is not None
    pages["unsubscribe"] = browser.get(unsubscribe_url(site, subscriber.id))
    assert "Berhenti berlangganan newsletter?" in pages["unsubscribe"].text
    pages["unsubscribed"] = browser.post(
        unsubscribe_url(site, subscriber.id), data={"List-Unsubscribe": "One-Click"}
    )
    assert "Anda sudah berhenti berlangganan" in pages["unsubscribed"].text
    pages["used link"] = browser.post(link, data={"csrf": csrf_of(pages["confirm"].text)})
    assert "Tautan ini tidak berfungsi" in pages["used link"].text
    pages["not found"] = browser.get("/tidak-ada")
    assert pages["not found"].status_code == 404
    assert "Tidak ditemukan" in pages["not found"].text
    assert "Halaman ini tidak ada." in pages["not found"].text
    pages["forged"] = browser.get(unsubscribe_url(site, subscriber.id)[:-4] + "AAAA")
    assert "Tautan berhenti berlangganan ini tidak sah." in pages["forged"].text

    for name, page in pages.items():
        assert '<html lang="id">' in page.text, name
        assert not _english_left(page.text), (name, _english_left(page.text))


def test_the_archive_shows_dates_in_the_site_zone_and_language(indonesian: LiveSite) -> None:
    site, browser = indonesian, client(indonesian)
    add_subscriber(site.db, "sari@example.org", "newsletter")
    outcome = site.run("pagi")
    assert outcome.edition_id is not None
    index = browser.get("/archive")
    assert "Arsip" in index.text and "Umpan Atom" in index.text
    archive = browser.get("/archive/pagi")
    with site.db.session() as session:
        from syndicate.db.models import Edition

        created = session.get(Edition, outcome.edition_id).created_at
    from syndicate.render.locale import format_date, format_datetime

    shown = format_datetime(created, "id", "Asia/Jakarta")
    assert re.search(
        r"(Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|"
        r"Oktober|November|Desember)",
        shown,
    )
    assert shown in archive.text
    assert "UTC" not in archive.text
    edition = browser.get(f"/archive/pagi/{outcome.edition_id}")  # the email's web copy
    assert edition.status_code == 200 and format_date(created, "id", "Asia/Jakarta") in edition.text
    for page in (index, archive):
        assert '<html lang="id">' in page.text and not _english_left(page.text)


def test_an_english_site_keeps_english_words(tmp_path: Path) -> None:
    with (
        SmtpServer() as smtp,
        LiveSite(tmp_path, f"sqlite:///{tmp_path}/web.db", smtp, locale="en") as site,
    ):
        page = client(site).get("/subscribe")
    assert '<html lang="en">' in page.text and "Subscribe to Kabar Pilihan" in page.text
