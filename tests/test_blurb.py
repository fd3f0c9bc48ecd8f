"""Tests for fitting posts and digests into Telegram messages.

Golden files live in tests/golden/social/; after an intended change to the templates or
the fitting, rewrite them with `SYNDICATE_REGEN_GOLDEN=1 pytest tests/test_blurb.py` and
review the diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment

from syndicate.channels.base import SocialPost
from syndicate.render.telegram import (
    TELEGRAM_CAPTION_LIMIT,
    TELEGRAM_TEXT_LIMIT,
    render_telegram_digest,
    render_telegram_post,
)
from syndicate.render.templates import template_environment
from syndicate.render.text import escape_telegram, utf16_len
from syndicate.types import Credit, EditionView, PostView
from tests.test_render_text import at_grapheme_boundary, telegram_text

GOLDEN = Path(__file__).parent / "golden" / "social"
REGENERATE = os.environ.get("SYNDICATE_REGEN_GOLDEN") == "1"

FAMILY = "👨\u200d👩\u200d👧"
REPELITA = Credit("Repelita Online", "https://repelita.com")
INILAH = Credit("Inilah.com", "https://www.inilah.com/harga-beras")
MOMENT = datetime(2024, 3, 12, 3, 30, tzinfo=UTC)
RICE = (
    "Pemerintah memastikan stok beras nasional aman menjelang Ramadan. Bulog menyebut "
    "cadangan di gudang mencapai 1,2 juta ton, cukup untuk tiga bulan ke depan, sementara "
    "harga di pasar tradisional Jakarta naik hingga Rp16.000 per kilogram."
)


@pytest.fixture(scope="module")
def env() -> Environment:
    return template_environment(None)


def indonesian_post(key: str = "p42", excerpt: str = RICE) -> PostView:
    return PostView(
        key=key,
        title='Stok beras "aman" jelang Ramadan, harga naik <10%',
        url="https://repelita.com/2024/03/stok-beras?utm=x&id=42",
        excerpt=excerpt,
        publisher=REPELITA,
        origin=INILAH,
        published_at=MOMENT,
    )


def english_photo_post() -> PostView:
    return PostView(
        key="p7",
        title="Rice stocks safe ahead of Ramadan 🌾",
        url="https://news.example.org/rice",
        excerpt=("The government says national rice stocks are safe. " * 40).strip(),
        publisher=Credit("Example News", "https://news.example.org"),
        image_url="https://news.example.org/rice.jpg",
        published_at=MOMENT,
    )


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"{path} missing: run SYNDICATE_REGEN_GOLDEN=1 pytest {__file__}"
    assert text + "\n" == path.read_text(encoding="utf-8")


def post(
    env: Environment, view: PostView, locale: str = "id_ID", excerpt_limit: int = 100_000
) -> SocialPost:
    # A huge excerpt limit leaves the fitting to Telegram's budget alone.
    return render_telegram_post(
        view,
        target="@kabarpilihan",
        env=env,
        locale=locale,
        timezone="Asia/Jakarta",
        excerpt_limit=excerpt_limit,
    )


def test_indonesian_post_matches_golden_file(env: Environment) -> None:
    message = post(env, indonesian_post())
    assert_golden("post_id.html", message.text)
    assert message.photo is None and message.fallback_text is None
    assert message.link == "https://repelita.com/2024/03/stok-beras?utm=x&id=42"
    assert message.link_preview is True
    visible = telegram_text(message.text)
    assert "Inilah.com via Repelita Online" in visible
    assert "Baca selengkapnya" in visible


def test_english_photo_post_matches_golden_files(env: Environment) -> None:
    message = post(env, english_photo_post(), locale="en")
    assert_golden("post_en_photo_caption.html", message.text)
    assert message.fallback_text is not None
    assert_golden("post_en_photo_fallback.html", message.fallback_text)
    assert message.photo == "https://news.example.org/rice.jpg"
    assert utf16_len(telegram_text(message.text)) <= TELEGRAM_CAPTION_LIMIT
    assert "Read more" in telegram_text(message.text)
    assert message.text != message.fallback_text  # the caption had to be cut, the text not


def test_a_post_is_a_blurb_not_the_whole_article(env: Environment) -> None:
    view = english_photo_post()
    message = render_telegram_post(
        view, target="@kabarpilihan", env=env, locale="en", timezone="Asia/Jakarta"
    )
    assert message.fallback_text is not None
    shown = telegram_text(message.fallback_text)
    assert len(view.excerpt) > 2000
    assert len(shown) < 500 + len(view.title) + 100
    assert "…" in shown and view.title in shown and "Example News" in shown


def edition(posts: tuple[PostView, ...]) -> EditionView:
    return EditionView(
        key="e7",
        job="pagi",
        subject="Kabar Pilihan Pagi Ini",
        site_name="Kabar Pilihan",
        site_url="https://kabarpilihan.id",
        locale="id_ID",
        timezone="Asia/Jakarta",
        created_at=MOMENT,
        posts=posts,
    )


def digest(env: Environment, view: EditionView, **options: object) -> list[SocialPost]:
    return render_telegram_digest(
        view, target="@kabarpilihan", env=env, locale="id", timezone="Asia/Jakarta", **options
    )


def test_indonesian_digest_matches_golden_file(env: Environment) -> None:
    other = PostView(
        key="p43",
        title="Jalan tol baru dibuka",
        url="https://repelita.com/2024/03/tol",
        excerpt="Ruas tol sepanjang 20 km dibuka untuk umum mulai Senin.",
        publisher=REPELITA,
    )
    messages = digest(env, edition((indonesian_post(), other)))
    assert len(messages) == 1
    assert_golden("digest_id.html", messages[0].text)
    assert messages[0].link_preview is False


def test_digest_splits_between_items_and_keeps_every_post(env: Environment) -> None:
    posts = tuple(
        indonesian_post(key=f"p{n}", excerpt=f"Berita nomor {n}. {RICE}") for n in range(60)
    )
    posts = tuple(replace(view, title=f"Berita {n}: {view.title}") for n, view in enumerate(posts))
    messages = digest(env, edition(posts))
    assert len(messages) > 1
    seen = []
    for index, message in enumerate(messages):
        visible = telegram_text(message.text)
        assert utf16_len(visible) <= TELEGRAM_TEXT_LIMIT
        assert ("Kabar Pilihan Pagi Ini" in visible) == (index == 0)
        assert ("Selengkapnya di Kabar Pilihan" in visible) == (index == len(messages) - 1)
        for n, view in enumerate(posts):
            if f"Berita {n}: " in visible:
                # the whole item is in this message: title, excerpt start, credit after it
                item = visible[visible.index(view.title) :]
                assert item.split("\n")[1].startswith(f"Berita nomor {n}.")
                assert item.split("\n")[2] == "📰 Inilah.com via Repelita Online"
                seen.append(n)
    assert seen == list(range(60))


def test_digest_item_too_long_alone_gets_its_excerpt_shortened(env: Environment) -> None:
    long_post = indonesian_post(excerpt=(RICE + " ") * 40)
    messages = digest(env, edition((long_post,)), excerpt_limit=100_000)
    assert len(messages) == 1
    visible = telegram_text(messages[0].text)
    assert utf16_len(visible) <= TELEGRAM_TEXT_LIMIT
    assert "…\n📰 Inilah.com via Repelita Online" in visible


def test_telegram_posts_and_digests_say_they_are_telegram_html(env: Environment) -> None:
    photo = replace(indonesian_post(), image_url="https://repelita.com/foto.jpg")
    posts = [post(env, view) for view in (indonesian_post(), photo)]
    messages = digest(env, edition((indonesian_post(),)))
    assert [message.parse_mode for message in [*posts, *messages]] == ["HTML"] * 3


def test_a_digest_subject_too_long_for_a_message_is_shortened_not_its_posts(
    env: Environment,
) -> None:
    view = replace(edition((indonesian_post(),)), subject="Kabar " * 800)
    messages = digest(env, view)
    assert len(messages) == 1
    visible = telegram_text(messages[0].text)
    header, _, rest = visible.partition("\n")
    assert header.startswith("Kabar Kabar") and header.endswith("…")
    assert utf16_len(header) <= TELEGRAM_TEXT_LIMIT // 2
    assert 'Stok beras "aman" jelang Ramadan, harga naik <10%' in rest
    assert utf16_len(visible) <= TELEGRAM_TEXT_LIMIT


def test_empty_edition_gives_no_messages(env: Environment) -> None:
    assert digest(env, edition(())) == []


def test_photo_post_whose_frame_overflows_a_caption_goes_as_text_uncut(
    env: Environment,
) -> None:
    view = replace(indonesian_post(), title="Judul " * 200, image_url="https://img.id/a.jpg")
    message = post(env, view)
    visible = telegram_text(message.text)
    assert message.photo is None and message.fallback_text is None
    assert TELEGRAM_CAPTION_LIMIT < utf16_len(visible) <= TELEGRAM_TEXT_LIMIT
    assert visible.startswith(view.title.strip() + "\n\n")  # the whole title
    assert visible.endswith("📰 Inilah.com via Repelita Online\n🔗 Baca selengkapnya")


def test_absurd_title_is_shortened_but_credit_and_link_stay(env: Environment) -> None:
    view = replace(indonesian_post(), title="Judul " * 800, image_url="x")
    message = post(env, view)
    visible = telegram_text(message.text)
    assert message.photo is None
    assert utf16_len(visible) <= TELEGRAM_TEXT_LIMIT
    assert visible.startswith("Judul Judul") and "…" in visible
    assert visible.endswith("📰 Inilah.com via Repelita Online\n🔗 Baca selengkapnya")
    assert 'href="https://repelita.com/2024/03/stok-beras?utm=x&amp;id=42"' in message.text


# What the issue lists, and what real feeds carry: ZWJ sequences, skin tones, flags (also
# tag sequences), keycaps, combining marks, Hangul jamo, Indic and Thai clusters, CJK,
# right-to-left text with bidi controls, markup-like titles, very long words and URLs.
_PIECES = st.sampled_from(
    [
        FAMILY,
        "👩🏽\u200d💻",
        "👍🏿",
        "🇮🇩",
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        "1\ufe0f\u20e3",
        "e\u0301",
        "a\u0301\u0302\u0323",
        "\u0301",
        "\u1100\u1161\u11a8",
        "नमस्ते",
        "ก\u0e49",
        "中文字",
        "東京都",
        "مرحبا بالعالم",
        "שלום",
        "\u202e",
        "\u200f",
        "\u2067",
        "\u200b",
        "\u00a0",
        "<b>",
        "</i>",
        "<script>",
        "<",
        "&",
        "&amp;",
        "&lt;",
        "&nbsp;",
        "&#39;",
        '"',
        "'",
        " ",
        "\n",
        "😀",
        "kata ",
        "x" * 60,
        "Pneumonoultramicroscopicsilicovolcanoconiosis" * 8,
        "https://example.org/" + "a" * 300 + "?q=<&>",
    ]
)
_SAFE = st.characters(blacklist_categories=("Cc", "Cs"))
_CHUNK = st.lists(st.one_of(_PIECES, st.text(_SAFE, max_size=10)), max_size=25).map("".join)
_TITLE = _CHUNK.filter(str.strip)  # long ones too: a caption's frame may not fit
_NAME = (
    st.lists(st.one_of(_PIECES, st.text(_SAFE, max_size=10)), min_size=1, max_size=4)
    .map(lambda pieces: "".join(pieces).strip())
    .filter(lambda name: 0 < len(name) < 400)
)
_EXCERPT = st.tuples(_CHUNK, st.integers(min_value=1, max_value=400)).map(lambda t: t[0] * t[1])
_URL = st.from_regex(
    r"https://[a-z]{1,12}\.id/[a-z0-9]{0,20}(\?a=1&b=[a-z\"<>]{0,5})?", fullmatch=True
)


@st.composite
def post_views(draw: st.DrawFn) -> PostView:
    origin = draw(st.none() | st.builds(Credit, _NAME, st.none() | _URL))
    return PostView(
        key="p1",
        title=draw(_TITLE),
        url=draw(_URL),
        excerpt=draw(_EXCERPT),
        publisher=Credit(draw(_NAME), draw(st.none() | _URL)),
        origin=origin,
        image_url=draw(st.none() | st.just("https://img.id/a.jpg")),
    )


def check_fitted(text: str, view: PostView, limit: int) -> None:
    """The frame is whole, the excerpt is the original or a grapheme prefix of it + "…"."""
    visible = telegram_text(text)
    assert utf16_len(visible) <= limit
    assert f'href="{escape_telegram(view.url)}"' in text
    head, separator, tail = visible.rpartition("\n\n📰 ")
    assert separator and tail.startswith(view.credit_line + "\n🔗 ")
    title = view.title.strip()
    if not head.startswith(title):  # the last resort: a title too long for any message
        assert limit == TELEGRAM_TEXT_LIMIT and head.endswith("…")
        assert at_grapheme_boundary(head.removesuffix("…"), title)
        return
    shown = head.removeprefix(title)
    if shown:
        shown = shown.removeprefix("\n\n")
        excerpt = view.excerpt.strip()
        if shown != excerpt:
            assert shown.endswith("…")
            assert at_grapheme_boundary(shown.removesuffix("…"), excerpt)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(view=post_views(), english=st.booleans())
def test_any_post_fits_with_its_frame_whole(
    env: Environment, view: PostView, english: bool
) -> None:
    message = post(env, view, locale="en_US" if english else "id_ID")
    if message.photo:
        check_fitted(message.text, view, TELEGRAM_CAPTION_LIMIT)
        assert message.fallback_text is not None
        check_fitted(message.fallback_text, view, TELEGRAM_TEXT_LIMIT)
    else:
        check_fitted(message.text, view, TELEGRAM_TEXT_LIMIT)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(views=st.lists(post_views(), min_size=1, max_size=12))
def test_any_digest_fits_and_keeps_every_post(env: Environment, views: list[PostView]) -> None:
    messages = digest(env, edition(tuple(views)))
    shown = ""
    for message in messages:
        visible = telegram_text(message.text)
        assert utf16_len(visible) <= TELEGRAM_TEXT_LIMIT
        shown += visible
    position = 0
    for view in views:
        position = shown.index(view.title.strip(), position)
        position = shown.index("📰 " + view.credit_line, position)


def test_a_text_post_names_the_other_sites_that_carried_the_story(env: Environment) -> None:
    from dataclasses import replace

    others = (Credit("Kabar <Salin>", "https://salin.example/"), Credit("Ringkas", None))
    text = post(env, replace(indonesian_post(), also=others)).text
    assert "Juga dimuat: Kabar &lt;Salin&gt;, Ringkas" in text
    assert text.index("Juga dimuat") > text.index("via")  # after the credit, before the link
    caption = post(env, replace(english_photo_post(), also=others), locale="en")
    assert caption.photo and "Also carried by" not in caption.text  # a caption has no room
    assert "Also carried by" in (caption.fallback_text or "")
