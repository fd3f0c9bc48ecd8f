"""Text the way Telegram sees it: UTF-16 lengths, grapheme-safe shortening, its HTML subset."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

import regex

__all__ = [
    "TELEGRAM_TAGS",
    "escape_telegram",
    "sanitize_telegram_html",
    "shorten",
    "telegram_visible_length",
    "utf16_len",
]

# The tags Telegram's HTML parse mode understands (https://core.telegram.org/bots/api#html-style).
TELEGRAM_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
    }
)
_LINK_SCHEMES = frozenset({"http", "https", "tg"})
_GRAPHEME = regex.compile(r"\X")
# A tag, with quoted attribute values that may themselves contain ">".
_TAG = regex.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")
_ENTITY = regex.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]+)|#[xX]([0-9a-fA-F]+));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Telegram trims the message; only ASCII whitespace is assumed trimmed, so we never undercount.
_TRIMMED = " \t\n\r\v\f"
# Trailing characters that look wrong right before an ellipsis.
_DANGLING = frozenset(",;:.-–—([{/«“‘")


def utf16_len(text: str) -> int:
    """The length of `text` in UTF-16 code units, as Telegram counts its limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _decode_entity(match: regex.Match[str]) -> str:
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def telegram_visible_length(html: str) -> int:
    """The UTF-16 length of the text Telegram shows for `html` in its HTML parse mode."""
    text = _ENTITY.sub(_decode_entity, _TAG.sub("", html))
    return utf16_len(text.strip(_TRIMMED))


def escape_telegram(text: str) -> str:
    """`text` made safe for Telegram HTML, with only the entities Telegram knows by name."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def shorten(
    text: str,
    limit: int,
    measure: Callable[[str], int] = len,
    ellipsis: str = "…",
) -> str:
    """`text` cut so that `measure(result) <= limit`, ending with `ellipsis`.

    The cut falls between grapheme clusters (so an emoji sequence, a flag or a letter with
    its accents stays whole) and, when that keeps at least half of what fits, at the end of
    a word. `measure` must grow with its argument; it may render the text into a template,
    which is how a blurb fits its excerpt. Returns `text` unchanged when it fits, and ""
    when not even `ellipsis` does.
    """
    if measure(text) <= limit:
        return text
    if measure(ellipsis) > limit:
        return ""
    clusters = _GRAPHEME.findall(text)
    ends = [0]
    for cluster in clusters:
        ends.append(ends[-1] + len(cluster))

    def fits(count: int) -> bool:
        return measure(text[: ends[count]] + ellipsis) <= limit

    low, high = 0, len(clusters) - 1  # fits(low) holds; find the largest count that fits
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    count = _word_end(clusters, low)
    while count and (clusters[count - 1].isspace() or clusters[count - 1] in _DANGLING):
        count -= 1
    return text[: ends[count]] + ellipsis


def _word_end(clusters: list[str], count: int) -> int:
    """The largest cut at or before `count` that ends a word, unless it throws away too much."""
    for cut in range(count, count // 2, -1):
        if cut == len(clusters) or clusters[cut].isspace() or clusters[cut - 1].isspace():
            return cut
    return count


class _TelegramSanitizer(HTMLParser):
    """Rebuilds HTML keeping Telegram's tags, balanced and with their allowed attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.hidden = 0  # inside <script> or <style>, whose content is dropped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden += 1
            return
        if tag == "br":
            self.handle_data("\n")
            return
        start = self._start(tag, dict(attrs))
        if start is not None:
            self.out.append(start)
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.handle_data("\n")

    def _start(self, tag: str, attrs: dict[str, str | None]) -> str | None:
        """The cleaned start tag, or None when Telegram would not accept it here."""
        if "pre" in self.open or "code" in self.open:
            # Telegram allows nothing inside code, and only <code class="language-..."> in <pre>.
            if tag == "code" and self.open[-1:] == ["pre"]:
                language = attrs.get("class") or ""
                if regex.fullmatch(r"language-[\w+#-]+", language):
                    return f'<code class="{escape_telegram(language)}">'
                return "<code>"
            return None
        if tag not in TELEGRAM_TAGS:
            return None
        if tag == "a":
            href = (attrs.get("href") or "").strip()
            if "a" in self.open or urlsplit(href).scheme.lower() not in _LINK_SCHEMES:
                return None
            return f'<a href="{escape_telegram(href)}">'
        if tag == "blockquote":
            if "blockquote" in self.open:
                return None
            return "<blockquote expandable>" if "expandable" in attrs else "<blockquote>"
        return f"<{tag}>"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
            return
        if tag not in self.open:
            return
        while self.open:
            closing = self.open.pop()
            self.out.append(f"</{closing}>")
            if closing == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(escape_telegram(data))

    def finish(self) -> str:
        self.close()
        self.out.extend(f"</{tag}>" for tag in reversed(self.open))
        self.open.clear()
        return "".join(self.out)


def sanitize_telegram_html(html_text: str) -> str:
    """`html_text` reduced to Telegram's HTML subset: known tags only, balanced, links safe.

    Unknown tags are dropped but their text is kept; `<br>` becomes a newline; links keep
    only http, https and tg URLs; entities come out as `&lt; &gt; &amp; &quot;` or as the
    characters themselves, since Telegram knows no other names.
    """
    sanitizer = _TelegramSanitizer()
    sanitizer.feed(html_text)
    return sanitizer.finish()
