"""Tests for the email digest: golden files, placeholders, headers and the render-once rule."""

from __future__ import annotations

import email
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from pathlib import Path

import jinja2
import premailer
import pytest

from syndicate.render.email import (
    TOKENS,
    Recipient,
    RenderedEdition,
    make_message_id,
    parse_mailbox,
    personalize,
    render_edition,
    shorten_excerpt,
)
from syndicate.render.locale import format_date, format_time, labels
from syndicate.render.templates import template_environment
from syndicate.types import Credit, EditionView, PostView

GOLDEN = Path(__file__).parent / "golden" / "email"
REGENERATE = os.environ.get("SYNDICATE_REGEN_GOLDEN") == "1"
WIB = timezone(timedelta(hours=7))
SENDER = "Kabar Pilihan <kabar@kabarpilihan.example.id>"
LIST_ID = "Kabar Pilihan <newsletter.kabarpilihan.example.id>"


def make_edition() -> EditionView:
    """A fixed Indonesian edition: a copied post, a plain one, an English one."""
    beras = (
        "Harga beras medium di Pasar Induk Beras Cipinang, Jakarta Timur, turun Rp500 per "
        "kilogram dalam sepekan terakhir. Para pedagang menyebut pasokan dari Karawang, "
        "Cianjur dan Demak mulai lancar setelah panen raya dimulai awal Maret. Badan Pangan "
        "Nasional memperkirakan harga akan terus melandai hingga menjelang Ramadan, asalkan "
        "cuaca mendukung dan distribusi tidak terganggu banjir di jalur pantura. Operasi pasar "
        "tetap digelar di sejumlah titik untuk menjaga daya beli warga."
    )
    return EditionView(
        key="e7",
        job="pagi",
        subject="Kabar Pilihan Pagi: 3 berita untuk Anda",
        site_name="Kabar Pilihan",
        site_url="https://kabarpilihan.example.id",
        locale="id",
        timezone="Asia/Jakarta",
        created_at=datetime(2023, 3, 9, 0, 0, tzinfo=UTC),
        posts=(
            PostView(
                key="p1",
                title="Harga beras turun di Pasar Induk Cipinang",
                url="https://repelita.example.com/2023/03/harga-beras?utm_source=feed&id=1",
                excerpt=beras,
                publisher=Credit("Repelita Online", "https://repelita.example.com"),
                origin=Credit("Inilah.com", "https://www.inilah.example.com/harga-beras"),
                image_url="https://repelita.example.com/img/beras.jpg",
                published_at=datetime(2023, 3, 8, 23, 15, tzinfo=UTC),
            ),
            PostView(
                key="p2",
                title='Banjir <rob> & "pasang" di Jakarta Utara',
                url="https://kabarutara.example.org/banjir-rob",
                excerpt="Air laut pasang merendam permukiman warga di Muara Angke sejak Rabu.",
                publisher=Credit("Kabar Utara", "https://kabarutara.example.org"),
                published_at=datetime(2023, 3, 8, 12, 0, tzinfo=WIB),
            ),
            PostView(
                key="p3",
                title="Indonesia's coffee exports hit a record",
                url="https://jakartadaily.example.net/coffee",
                excerpt="Exports of Indonesian coffee rose 12% in 2022, the trade ministry said.",
                publisher=Credit("Jakarta Daily", "https://jakartadaily.example.net"),
                origin=Credit("jakarta daily"),
                image_url="javascript:alert(1)",
                published_at=datetime(2023, 3, 7, 9, 30, tzinfo=UTC),
            ),
        ),
    )


@pytest.fixture(scope="module")
def rendered() -> RenderedEdition:
    return render_edition(make_edition(), env=template_environment())


def personalize_for(rendered: RenderedEdition, **overrides: object) -> email.message.Message:
    arguments: dict[str, object] = {
        "recipient": Recipient("sari@example.org", "Sari Dewi"),
        "sender": SENDER,
        "list_id": LIST_ID,
        "message_id": make_message_id("e7", "s1", SENDER),
        "date": datetime(2023, 3, 9, 0, 5, tzinfo=UTC),
        "unsubscribe_url": "https://kabarpilihan.example.id/unsubscribe/s1?t=abc&x=1",
        "view_url": "https://kabarpilihan.example.id/edisi/e7",
    }
    arguments.update(overrides)
    message = personalize(rendered, **arguments)  # type: ignore[arg-type]
    assert b"\r\n" in message.data and b"\n" not in message.data.replace(b"\r\n", b"")
    return email.message_from_bytes(message.data, policy=policy.default)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} changed; rerun with SYNDICATE_REGEN_GOLDEN=1 and review"


def test_digest_html_matches_golden_file(rendered: RenderedEdition) -> None:
    check_golden("digest.html", rendered.html)


def test_digest_text_matches_golden_file(rendered: RenderedEdition) -> None:
    check_golden("digest.txt", rendered.text)


def test_digest_html_has_inlined_styles_and_nothing_to_fetch(rendered: RenderedEdition) -> None:
    assert '<p class="meta" style="margin:0 0 10px;' in rendered.html
    assert '<h2 style="margin:0 0 6px;' in rendered.html
    style_blocks = re.findall(r"<style>(.*?)</style>", rendered.html, re.DOTALL)
    assert all(block.lstrip().startswith("@media") for block in style_blocks)
    assert "<link" not in rendered.html
    assert "javascript:" not in rendered.html


def test_digest_credits_every_post_with_links(rendered: RenderedEdition) -> None:
    assert '<a href="https://www.inilah.example.com/harga-beras"' in rendered.html
    assert "Inilah.com</a> via <a" in rendered.html
    assert "Sumber: Inilah.com via Repelita Online (https://repelita.example.com)" in rendered.text
    assert "Sumber: Kabar Utara (https://kabarutara.example.org)" in rendered.text
    assert "Sumber: Jakarta Daily (https://jakartadaily.example.net)" in rendered.text
    assert "jakarta daily via" not in rendered.text


def test_digest_escapes_feed_text_in_html(rendered: RenderedEdition) -> None:
    assert "Banjir &lt;rob&gt; &amp; " in rendered.html
    assert "<rob>" not in rendered.html


def test_digest_dates_are_in_the_site_language_and_time_zone(rendered: RenderedEdition) -> None:
    assert "Kamis, 9 Maret 2023" in rendered.html
    assert "9 Maret 2023 06.15" in rendered.text  # 23:15 UTC is 06:15 in Jakarta


def test_image_keeps_pixel_width_and_is_decorative(rendered: RenderedEdition) -> None:
    # The headline follows the picture: with images blocked, an alt text would say it twice.
    image = re.search(r"<img [^>]*>", rendered.html)
    assert image is not None
    assert 'width="552"' in image.group(0)
    assert 'alt=""' in image.group(0)
    assert rendered.html.count("Harga beras turun di Pasar Induk Cipinang</a>") == 1
    assert rendered.html.count("<img") == 1  # the javascript: image is dropped


def test_placeholders_survive_rendering(rendered: RenderedEdition) -> None:
    for token in TOKENS.values():
        assert token in rendered.html and token in rendered.text


def test_feed_text_cannot_smuggle_a_placeholder() -> None:
    edition = make_edition()
    post = edition.posts[1]
    sneaky = PostView(
        key=post.key,
        title=f"Click {TOKENS['unsubscribe_url']}",
        url=post.url,
        excerpt=post.excerpt,
        publisher=post.publisher,
    )
    rendered = render_edition(
        EditionView(**{**edition.__dict__, "posts": (sneaky,)}), env=template_environment()
    )
    assert rendered.text.count(TOKENS["unsubscribe_url"]) == 1  # the footer's own


def test_personalized_message_fills_every_placeholder(rendered: RenderedEdition) -> None:
    message = personalize_for(rendered)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "SYNDICATEx7" not in body
        assert "https://kabarpilihan.example.id/edisi/e7" in body
    assert "Halo, Sari Dewi!" in text
    assert "Berhenti berlangganan: https://kabarpilihan.example.id/unsubscribe/s1?t=abc&x=1" in text
    assert 'href="https://kabarpilihan.example.id/unsubscribe/s1?t=abc&amp;x=1"' in html
    assert "Email ini dikirim ke sari@example.org." in text


def test_name_is_html_escaped_in_the_html_part(rendered: RenderedEdition) -> None:
    message = personalize_for(rendered, recipient=Recipient("a@example.org", "<b>Budi</b> & Co"))
    html = message.get_body(("html",)).get_content()
    assert "Halo, &lt;b&gt;Budi&lt;/b&gt; &amp; Co!" in html
    assert "<b>Budi</b> & Co" in message.get_body(("plain",)).get_content()


def test_without_a_view_url_the_view_links_disappear(rendered: RenderedEdition) -> None:
    message = personalize_for(rendered, view_url=None, recipient=Recipient("a@example.org"))
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Lihat di peramban" not in text and "Lihat di peramban" not in html
    assert "SYNDICATEx7" not in text + html
    assert "Halo!" in text


def test_multipart_alternative_has_text_first_then_html(rendered: RenderedEdition) -> None:
    message = personalize_for(rendered)
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())


def test_list_headers_and_one_click_unsubscribe(rendered: RenderedEdition) -> None:
    message = personalize_for(rendered)
    assert message["List-Unsubscribe"] == (
        "<https://kabarpilihan.example.id/unsubscribe/s1?t=abc&x=1>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == LIST_ID
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"] == "Thu, 09 Mar 2023 07:05:00 +0700"  # the site's zone, Jakarta
    assert message["From"].addresses[0].addr_spec == "kabar@kabarpilihan.example.id"


def test_header_injection_through_subject_and_name_adds_no_header() -> None:
    rendered = RenderedEdition(
        subject="Berita\r\nBcc: victim@example.com\r\n\r\nbody",
        html="<p>SYNDICATEx7GREETING</p>",
        text="SYNDICATEx7GREETING",
    )
    message = personalize_for(
        rendered,
        recipient=Recipient("sari@example.org", "Sari\r\nBcc: evil@example.com\nX-Evil: 1"),
        extra_headers={"Reply-To": "redaksi@example.org\r\nBcc: more@example.com"},
    )
    names = [name.lower() for name in message]
    assert "bcc" not in names and "x-evil" not in names
    assert names.count("to") == 1
    assert message["To"].addresses[0].addr_spec == "sari@example.org"
    assert "\n" not in str(message["Subject"])


def test_non_ascii_names_and_subjects_are_encoded_words(rendered: RenderedEdition) -> None:
    message = personalize(
        RenderedEdition(subject="Kabar pagi — édition", html="<p>x</p>", text="x"),
        recipient=Recipient("dewi@example.org", "Déwi Ñoño"),
        sender="Kabar Pilihan <kabar@kabarpilihan.example.id>",
        list_id="newsletter.kabarpilihan.example.id",
        message_id="m1@kabarpilihan.example.id",
        date=datetime(2023, 3, 9, tzinfo=UTC),
        unsubscribe_url="https://kabarpilihan.example.id/u",
        view_url=None,
    )
    head = message.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "Déwi Ñoño"
    assert parsed["Subject"] == "Kabar pagi — édition"


def test_message_id_is_deterministic_and_on_the_sender_domain() -> None:
    first = make_message_id("e7", "s1", SENDER)
    assert first == make_message_id("e7", "s1", "kabar@kabarpilihan.example.id")
    assert first != make_message_id("e7", "s2", SENDER)
    assert first != make_message_id("e8", "s1", SENDER)
    assert first.endswith("@kabarpilihan.example.id")
    assert "<" not in first


def test_same_inputs_give_the_same_bytes(rendered: RenderedEdition) -> None:
    arguments = {
        "recipient": Recipient("sari@example.org", "Sari"),
        "sender": SENDER,
        "list_id": LIST_ID,
        "message_id": make_message_id("e7", "s1", SENDER),
        "date": datetime(2023, 3, 9, tzinfo=UTC),
        "unsubscribe_url": "https://kabarpilihan.example.id/u/s1",
        "view_url": None,
    }
    assert personalize(rendered, **arguments) == personalize(rendered, **arguments)  # type: ignore[arg-type]


def test_thousand_recipients_cost_one_render_and_one_inlining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"render": 0, "transform": 0}
    original_render = jinja2.Template.render
    original_transform = premailer.Premailer.transform

    def counting_render(self: jinja2.Template, *args: object, **kwargs: object) -> str:
        calls["render"] += 1
        return original_render(self, *args, **kwargs)

    def counting_transform(self: premailer.Premailer, *args: object, **kwargs: object) -> str:
        calls["transform"] += 1
        return original_transform(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", counting_render)
    monkeypatch.setattr(premailer.Premailer, "transform", counting_transform)
    rendered = render_edition(make_edition(), env=template_environment())
    for number in range(1000):
        personalize(
            rendered,
            recipient=Recipient(f"reader{number}@example.org", f"Reader {number}"),
            sender=SENDER,
            list_id=LIST_ID,
            message_id=make_message_id("e7", f"s{number}", SENDER),
            date=datetime(2023, 3, 9, tzinfo=UTC),
            unsubscribe_url=f"https://kabarpilihan.example.id/u/s{number}",
            view_url=None,
        )
    assert calls == {"render": 2, "transform": 1}  # digest.html and digest.txt, once each


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("unsubscribe_url", "javascript:alert(1)"),
        ("unsubscribe_url", "https://example.org/u>\r\nBcc: x@example.org"),
        ("message_id", "abc\r\nBcc: x@example.org"),
        ("recipient", Recipient("not an address")),
        ("date", datetime(2023, 3, 9)),
        ("extra_headers", {"Subject": "again"}),
        ("extra_headers", {"Bad Name": "x"}),
    ],
)
def test_personalize_refuses_bad_values_with_a_sentence(
    rendered: RenderedEdition, field: str, value: object
) -> None:
    with pytest.raises(ValueError, match=r"\.$"):
        personalize_for(rendered, **{field: value})


def test_parse_mailbox_accepts_a_name_and_address_and_refuses_the_rest() -> None:
    assert parse_mailbox(SENDER).addr_spec == "kabar@kabarpilihan.example.id"
    assert parse_mailbox(SENDER).display_name == "Kabar Pilihan"
    for bad in ("Kabar Pilihan", "a@b.org, c@d.org", "x@localhost", "a@b.org\r\nBcc: c@d.org"):
        with pytest.raises(ValueError, match=r"email address"):
            parse_mailbox(bad)


def test_shorten_excerpt_cuts_at_a_word_boundary() -> None:
    long_text = " ".join(f"kata{number}," for number in range(100))
    short = shorten_excerpt(long_text, chars=10_000)
    assert short.endswith("kata59…")
    assert len(shorten_excerpt(long_text)) <= 421
    assert len(short.split()) == 60
    assert shorten_excerpt("  Pendek   saja. ") == "Pendek saja."
    assert shorten_excerpt("x" * 30 + " " + "y" * 30, chars=40) == "x" * 30 + "…"


def test_locale_helpers_speak_indonesian_and_fall_back_to_english() -> None:
    moment = datetime(2023, 3, 9, 1, 30, tzinfo=UTC)
    assert format_date(moment, "id", "Asia/Jakarta") == "Kamis, 9 Maret 2023"
    assert format_date(moment, "en", "Asia/Jakarta") == "Thursday, 9 March 2023"
    assert format_time(moment, "id", "Asia/Jakarta") == "08.30"
    assert labels("id")["read_more"] == "Baca selengkapnya"
    assert labels("id-ID")["unsubscribe"] == "Berhenti berlangganan"
    assert labels("en")["view_in_browser"] == "View in browser"
    assert labels("xx")["source"] == "Source"
    assert format_date(moment, "xx", "UTC") == "Thursday, 9 March 2023"
