"""Tests for Telegram text measuring, shortening, escaping and sanitizing."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from syndicate.render.text import (
    escape_telegram,
    sanitize_telegram_html,
    shorten,
    telegram_visible_length,
    utf16_len,
)

FAMILY = "👨\u200d👩\u200d👧"  # a ZWJ sequence: one grapheme, eight UTF-16 units
FLAG = "🇮🇩"  # two regional indicators
E_ACUTE = "e\u0301"  # e + combining acute accent

_TOKENS = re.compile(r"(<[^>]*>|&[^;\s<>&]*;?|[<>])")
_TAG = re.compile(r'<(/?)([a-z-]+)((?: [a-z-]+(?:="[^"<>]*")?)*)>')
_ATTRIBUTES = re.compile(r' ([a-z-]+)(?:="([^"]*)")?')
_ALLOWED_ATTRIBUTES = {"a": {"href"}, "code": {"class"}, "blockquote": {"expandable"}}
_TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code"}
_TELEGRAM_TAGS |= {"pre", "blockquote", "tg-spoiler"}


def telegram_text(message: str) -> str:
    """Parse `message` the way Telegram's HTML mode does; fail on what it would refuse.

    Written apart from the code under test: every `<`, `>` and `&` must belong to a tag
    or entity, tags must be Telegram's, balanced, with quoted allowed attributes only,
    and named entities only `&lt; &gt; &amp; &quot;`. Returns the visible text.
    """
    visible: list[str] = []
    open_tags: list[str] = []
    for index, piece in enumerate(_TOKENS.split(message)):
        if index % 2 == 0:
            visible.append(piece)
        elif piece.startswith("&"):
            assert re.fullmatch(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);", piece), piece
            visible.append(html.unescape(piece))
        else:
            tag = _TAG.fullmatch(piece)
            assert tag, f"not a tag Telegram accepts: {piece!r}"
            closing, name, attributes = tag.groups()
            assert name in _TELEGRAM_TAGS, name
            if closing:
                assert not attributes and open_tags and open_tags.pop() == name, piece
                continue
            for attribute, value in _ATTRIBUTES.findall(attributes):
                assert attribute in _ALLOWED_ATTRIBUTES.get(name, set()), piece
                if attribute == "href":
                    assert urlsplit(html.unescape(value)).scheme in {"http", "https", "tg"}
            open_tags.append(name)
    assert not open_tags, f"unclosed tags: {open_tags}"
    return "".join(visible).strip(" \t\n\r\v\f")


def graphemes(text: str) -> list[str]:
    return regex.findall(r"\X", text)


def at_grapheme_boundary(prefix: str, text: str) -> bool:
    ends = {0}
    total = 0
    for cluster in graphemes(text):
        total += len(cluster)
        ends.add(total)
    return text.startswith(prefix) and len(prefix) in ends


def test_utf16_len_counts_astral_characters_twice() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len(FAMILY) == 8
    assert utf16_len(FLAG) == 4
    assert utf16_len(E_ACUTE) == 2
    assert utf16_len("中文") == 2
    assert utf16_len("") == 0


def test_visible_length_removes_tags_and_decodes_entities() -> None:
    assert telegram_visible_length('<b><a href="https://x.id/?a=1&amp;b=2">Hi</a></b>') == 2
    assert telegram_visible_length("&lt;&gt;&amp;&quot;") == 4
    assert telegram_visible_length("&#39;&#x27;&#128512;") == 4  # ' ' 😀
    assert telegram_visible_length("\n  <i>😀</i> \n") == 2


def test_escape_uses_only_the_four_named_entities() -> None:
    assert escape_telegram("""<a href="x">'&'</a>""") == (
        "&lt;a href=&quot;x&quot;&gt;'&amp;'&lt;/a&gt;"
    )


def test_shorten_returns_text_that_fits_unchanged() -> None:
    assert shorten("Harga beras naik", 16) == "Harga beras naik"


def test_shorten_cuts_at_a_word_boundary() -> None:
    assert shorten("Harga beras naik menjelang Ramadan", 20) == "Harga beras naik…"


def test_shorten_drops_dangling_punctuation_before_the_ellipsis() -> None:
    assert shorten("Harga naik, stok aman menjelang Ramadan", 15) == "Harga naik…"


def test_shorten_cuts_a_long_word_between_graphemes() -> None:
    assert shorten("Supercalifragilistic", 8) == "Superca…"


def test_shorten_keeps_a_zwj_sequence_whole() -> None:
    text = "ab" + FAMILY * 3
    result = shorten(text, 12, measure=utf16_len)
    assert result == "ab" + FAMILY + "…"
    assert shorten(text, 10, measure=utf16_len) == "ab…"


def test_shorten_keeps_a_flag_whole() -> None:
    assert shorten(FLAG * 3, 6, measure=utf16_len) == FLAG + "…"
    assert shorten(FLAG * 3, 4, measure=utf16_len) == "…"


def test_shorten_keeps_a_combining_mark_with_its_letter() -> None:
    text = E_ACUTE * 5
    assert shorten(text, 4) == E_ACUTE + "…"


def test_shorten_cuts_cjk_between_characters() -> None:
    assert shorten("中华人民共和国成立", 5) == "中华人民…"


def test_shorten_gives_nothing_when_not_even_the_ellipsis_fits() -> None:
    assert shorten("Harga beras naik", 0) == ""
    assert shorten("Harga beras naik", 2, ellipsis=" ...") == ""


_PIECES = st.sampled_from(
    [
        FAMILY,
        FLAG,
        E_ACUTE,
        "👍🏿",  # a skin tone
        "👩🏽\u200d💻",
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # a tag flag
        "1\ufe0f\u20e3",  # a keycap
        "a\u0301\u0302\u0323",  # stacked combining marks
        "\u1100\u1161\u11a8",  # Hangul jamo: one syllable
        "नमस्ते",
        "中文",
        "مرحبا",
        "\u202eשלום\u202c",
        "<b>",
        "&amp;",
        '"',
        " ",
        "\n",
        "kata",
        "x" * 40,
        "https://example.org/" + "a" * 60,
        "😀",
    ]
)
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=40).map("".join)


@given(text=_TEXT, limit=st.integers(min_value=0, max_value=120))
def test_shorten_fits_and_is_a_grapheme_prefix(text: str, limit: int) -> None:
    result = shorten(text, limit, measure=utf16_len)
    assert utf16_len(result) <= limit
    if result != text and result:
        assert result.endswith("…")
        assert at_grapheme_boundary(result.removesuffix("…"), text)


def test_sanitize_keeps_telegram_tags_and_the_text_of_others() -> None:
    dirty = (
        '<p>Hi <b>bold <i>both</b> <span style="x">plain</span><br>'
        '<a href="javascript:alert(1)">bad</a> <a href="https://x.id/?a=1&amp;b=2">ok</a>'
        "<script>evil()</script><tg-spoiler>s</tg-spoiler></p>"
    )
    clean = sanitize_telegram_html(dirty)
    assert clean == (
        "Hi <b>bold <i>both</i></b> plain\nbad "
        '<a href="https://x.id/?a=1&amp;b=2">ok</a><tg-spoiler>s</tg-spoiler>'
    )
    telegram_text(clean)


def test_sanitize_normalizes_entities_telegram_does_not_know() -> None:
    assert sanitize_telegram_html("a&nbsp;b &#39;c&#39; AT&T 1 < 2") == (
        "a\xa0b 'c' AT&amp;T 1 &lt; 2"
    )


def test_sanitize_allows_only_a_language_class_inside_pre() -> None:
    clean = sanitize_telegram_html(
        '<pre><code class="language-python">x = <b>1</b></code></pre><code><i>y</i></code>'
    )
    assert clean == '<pre><code class="language-python">x = 1</code></pre><code>y</code>'


def test_sanitize_drops_nested_links_and_closes_open_tags() -> None:
    clean = sanitize_telegram_html('<a href="https://a.id"><a href="https://b.id">x</a><b>y')
    assert clean == '<a href="https://a.id">x</a><b>y</b>'
    telegram_text(clean)


@given(
    dirty=st.lists(
        st.one_of(
            _PIECES,
            st.sampled_from(
                [
                    "<i>",
                    "</b>",
                    "<a href='tg://x'>",
                    "</a>",
                    "<pre>",
                    "<code>",
                    "</pre>",
                    "<br/>",
                    "&#39;",
                ]
            ),
        ),
        max_size=30,
    ).map("".join)
)
def test_sanitize_always_gives_html_telegram_accepts(dirty: str) -> None:
    clean = sanitize_telegram_html(dirty)
    assert utf16_len(telegram_text(clean)) == telegram_visible_length(clean)


@pytest.mark.parametrize("bad", ["<b>", "a < b", "&nbsp;", "<a href=x>y</a>", "<b>x</i>"])
def test_the_checker_itself_refuses_what_telegram_refuses(bad: str) -> None:
    with pytest.raises(AssertionError):
        telegram_text(bad)
