"""Cleaning feed HTML: sanitize it, drop theme widgets and ads, and lift out the credit line.

Feeds from Blogger and WordPress news themes carry more than the article: "Breaking Posts"
lists, ad slots ("Top Post Ad"), "Baca Juga" related links, comment boxes, share buttons and
copyright footers. `clean_html` removes them and sanitizes what is left with nh3;
`lift_credit` takes the closing "Sumber: Kompas.com"-style line out of the body and returns
it as a `Credit`; `html_to_text` gives the plain text renderers shorten.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.etree
import nh3

from syndicate.ingest.identity import normalize_url, strip_tracking
from syndicate.render.safety import is_tracker_url
from syndicate.types import Credit

__all__ = [
    "CleanArticle",
    "best_source",
    "break_runs",
    "clean_article",
    "clean_html",
    "drop_lines",
    "furniture_shaped",
    "html_to_text",
    "is_dateline",
    "is_noise_line",
    "is_sentence",
    "lift_credit",
    "repair_mojibake",
    "trim_furniture",
    "usable_image",
    "wire_credit",
]

logger = logging.getLogger(__name__)

_ALLOWED_TAGS = {
    "p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "img", "figure", "figcaption",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt"}}
_DROPPED_WITH_CONTENT = {
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "form", "select", "textarea", "button", "input", "ins", "head", "title", "video", "audio",
}  # fmt: skip
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "section", "article", "aside", "header", "footer", "nav", "figure",
    "figcaption", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "pre", "center",
    "main", "hr", "address", "details", "summary",
}  # fmt: skip
# Containers whose own inline content becomes a paragraph when they hold no blocks.
_PARAGRAPH_LIKE = {"div", "section", "article", "center", "td", "th", "dd", "main", "address"}

# class / id words that mark theme furniture rather than the article.
_NOISE_CLASS_WORDS = frozenset(
    {
        "ad", "ads", "adsense", "adsbygoogle", "advert", "advertisement", "iklan", "banner",
        "widget", "sharedaddy", "share", "sharing", "sharethis", "addtoany", "social",
        "related", "relatedposts", "comments", "comment", "komentar", "breaking", "footer",
        "copyright", "newsletter", "subscribe", "sidebar", "promo", "sponsored",
    }
)  # fmt: skip

# Whole lines (after whitespace is collapsed and case folded) that are never the article.
_NOISE_LINES = [
    r"breaking (?:posts?|news)",
    r"hot (?:widget|news|posts?)",
    r"(?:top|below|above|middle|bottom|inside|in|after|before) (?:the )?(?:post|article|content)s?"
    r" ads?(?: \d+)?",
    r"ads?(?: \d+)?",
    r"advertisements?",
    r"advertorial",
    r"iklan",
    r"sponsored(?: content)?",
    r"scroll (?:to continue|down)(?: with content)?",
    r"gulir (?:ke bawah )?untuk (?:melanjutkan|lanjut)(?: membaca)?",
    r"posting komentar",
    r"(?:\d+ )?komentar",
    r"(?:tidak ada|belum ada) komentar.*",
    r"(?:\d+|no) comments?",
    r"(?:leave a|post a) (?:comment|reply)",
    r"tinggalkan (?:komentar|balasan)",
    r"kirim komentar",
    r"(?:copyright|hak cipta)\b.*",
    r"©.*",
    r"all rights reserved\.?",
    r"share(?: this(?: article| post)?| on \w+)?:?",
    r"bagikan(?: (?:artikel|berita) ini)?(?: ke \w+)?:?",
    r"(?:like|suka) (?:this|ini):?",
    r"(?:loading|memuat)(?:\.+|…)?",
    r"(?:related|popular|recent|latest|more) (?:posts?|articles?|news|stories)",
    r"(?:artikel|berita|postingan|tulisan) (?:terkait|lainnya|populer|terbaru|pilihan)",
    r"baca (?:juga|pula|lainnya)\b.*",
    r"(?:tags?|labels?|topik)\s*:.*",
    r"follow us (?:on|at)\b.*",
    r"ikuti (?:kami|kabar|berita|update|informasi)\b.*",
    r"(?:simak|dapatkan) (?:berita|update|informasi)\b.*"
    r"(?:google news|whatsapp|telegram|channel).*",
    r"(?:newer|older) posts?",
    r"posting(?:an)? (?:lebih baru|lama|lebih lama)",
    r"beranda",
    r"(?:read|continue|keep) (?:more|reading)\b.{0,40}",
    r"read the (?:full|rest of the) (?:story|article|post)\b.{0,40}",
    r"(?:baca|lihat|simak) (?:selengkapnya|lebih lanjut|berita selengkapnya)\b.{0,40}",
    r"(?:selengkapnya|lanjut(?:kan)? membaca)(?: \W*)?",
    r"(?:subscribe to|langganan)\s*:? (?:post comments|posting komentar|komentar).*",
    # WordPress's own feed footer names the site itself: it is not a credit.
    r"the post .{1,300} appeared first on .{1,120}",
    r"(?:download|unduh) (?:the )?(?:apps?|aplikasi)\b.{0,80}",
]
_NOISE_LINE_RE = re.compile("|".join(f"(?:{p})" for p in _NOISE_LINES))
# Noise lines that head a list of links: the list goes with them.
_SECTION_HEAD_RE = re.compile(
    r"breaking (?:posts?|news)|hot (?:widget|news|posts?)|posting komentar|komentar"
    r"|(?:related|popular|recent|latest|more) (?:posts?|articles?|news|stories)"
    r"|(?:artikel|berita|postingan|tulisan) (?:terkait|lainnya|populer|terbaru|pilihan)"
    r"|baca (?:juga|pula|lainnya):?|share(?: this)?:?|bagikan:?"
)
_MAX_NOISE_LINE = 200
_BULLETS = " \t\r\n-–—•·»«▶►>|*#:"

_LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-orig-file")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as Windows-1252 ("â€™" → "’"), leaving correct text alone."""
    if text.isascii():  # known without reading it: nothing to undo
        return text
    if _MOJIBAKE_RE.search(text):
        text = _MOJIBAKE_RE.sub(_unmangle, text)
        # "”" is E2 80 9D, and 9D has no Windows-1252 character: it is usually lost on the way.
        text = text.replace("â€\x9d", "”").replace("â€", "”")
    # Windows-1252 quotes written as if they were Latin-1 ("don\x92t"): never meant as controls.
    return _C1_RE.sub(_from_cp1252, text) if _C1_RE.search(text) else text


_C1_RE = re.compile("[\u0080-\u009f]")


def _from_cp1252(match: re.Match[str]) -> str:
    try:
        return match.group().encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:  # 81, 8D, 8F, 90, 9D mean nothing in Windows-1252 either
        return match.group()


_MOJIBAKE_RE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a"
    "\u20ac\u2122]{1,3}"
)


def _unmangle(match: re.Match[str]) -> str:
    raw = bytearray()
    for char in match.group():
        try:
            raw += char.encode("cp1252")
        except UnicodeEncodeError:
            if ord(char) > 0xFF:
                return match.group()
            raw.append(ord(char))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return match.group()


def is_noise_line(text: str) -> bool:
    """Tell whether one line of text is theme furniture ("Top Post Ad", "Baca Juga: …")."""
    line = _normalize_line(text)
    if not line or len(line) > _MAX_NOISE_LINE:
        return False
    return _NOISE_LINE_RE.fullmatch(line) is not None


def _normalize_line(text: str) -> str:
    return " ".join(text.split()).strip(_BULLETS).casefold()


@dataclass(frozen=True)
class CleanArticle:
    """An article's HTML cleaned, its plain text, its credit line and its first picture."""

    html: str  # sanitized, widgets and the credit line removed
    text: str  # plain text of `html`: one paragraph a line, a blank line between
    credit: Credit | None  # the closing "Sumber: …" line, lifted out
    image: str | None  # the first picture's address
    raw_chars: int  # how long the text was before cleaning (a summary is short)
    teaser: bool = False  # short, or ending as summaries do ("…", "Read more", a link to it)


def clean_article(
    html: str,
    base_url: str | None,
    *,
    measure: bool = False,
    post_url: str | None = None,
    title: str | None = None,
) -> CleanArticle:
    """Clean an article and lift its credit line, reading the HTML only twice.

    The same as `clean_html`, then `lift_credit`, then `html_to_text` on the result, but
    each step works on the tree the one before left (feeds carry thousands of entries).
    `raw_chars` and `teaser` are measured only when asked (`measure`); `post_url` is the
    article's own link, which a teaser's last link points to. With the `title`, what stands
    before the headline's repetition in the body goes, and the repetition with it.
    """
    html = repair_mojibake(html or "")
    if not html.strip():
        return CleanArticle("", "", None, None, 0)
    root = _fragment(html)
    raw_chars, teaser = 0, False
    if measure:
        # Its length and its last line are all a summary is told by: both read cheaply
        # (feeds carry thousands of entries).
        raw_chars = len(" ".join("".join(root.itertext()).split()))
        last = _last_line(root)
        teaser = raw_chars < TEASER_CHARS or _ends_like_teaser(last, root, post_url or base_url)
    root = _cleaned_tree(root, base_url)
    content = _serialize(root).strip()
    if not content or not re.search(r"<[a-zA-Z/!]", content):  # plain text: no tree to keep
        content, credit = lift_credit(content)
        return CleanArticle(content, html_to_text(content), credit, None, raw_chars, teaser)
    _split_runs(root)
    trimmed = trim_furniture(root, title)
    lifted = _lift_from_tree(root)
    credit = lifted if lifted is not None and lifted.name else None
    if lifted is not None or trimmed:
        _tidy_tree(root)
        content = _serialize(root).strip()
    if credit is None:  # an agency's copy says so in its dateline: "WASHINGTON (Reuters) -"
        first = next((b for b in _leaf_blocks(root) if _has_text(b)), None)
        credit = wire_credit(_text(first)) if first is not None else None
    image = next((img.get("src") for img in root.iter("img") if img.get("src")), None)
    return CleanArticle(content, _plain_text(root, None), credit, image, raw_chars, teaser)


_HEADLINE_WINDOW = 40  # blocks before the article's start: a theme's widgets and menus
_SENTENCE_WORDS = 6  # a phrase-list line this long that ends as a sentence may be the article's
_EDGE_RUN = 6  # more short lines than this in a row at an edge are a list in the article
_EDGE_WORDS = 6  # a line this short at the body's edge, without a sentence's end, is a label
_SENTENCE_END = re.compile(r"(?<![\s])[.?!…:;\"”’')\]。！？」』।۔؟]$")
_EDGE_CHARS = 50  # and this many characters: a line of Chinese is one "word" long
_COUNTER = re.compile(r"^[\d.,]+\s*[kmrb]?\+?\s+\w+(?:\s+\w+)?$", re.IGNORECASE)
_LABEL_SPLIT = re.compile(r"\s*[/|,•·»›>]\s*")
_PLACEHOLDER = re.compile(
    r"\b(?:type|ketik|enter|masukkan|tulis|cari|search)\b.{0,40}"
    r"\b(?:here|di ?sini|search|pencarian|results?|hasil|kata kunci|keywords?)\b",
    re.IGNORECASE,
)
# "JAKARTA, KOMPAS.com –": a dateline that opens the article, however often it repeats.
_DATELINE = re.compile(
    r"^[A-Z][A-Z .'’-]{1,40}(?:(?:,\s*|\s+)(?:[(\[]?[\w.]+[)\]]?\s*)?[-–—]+"
    r"|,\s*[A-Z][A-Z .'’-]{1,40})$"
)


def is_sentence(line: str) -> bool:
    """Whether a line ends as a sentence does (". ? ! …", a closing quote), not as a label."""
    return _SENTENCE_END.search(line.strip()) is not None


def is_dateline(line: str) -> bool:
    """Whether a line is a dateline ("JAKARTA, KOMPAS.com –"): the article's, not the theme's."""
    return _DATELINE.match(" ".join(line.split())) is not None


def furniture_shaped(line: str) -> bool:
    """Whether a line at the edge of a body looks like a theme's: a label or a menu, a
    counter ("0 Komentar"), a label list ("6/trending/recent"), a search placeholder."""
    line = " ".join(line.split())
    if not line:
        return True
    if is_dateline(line) or len(line) > _MAX_NOISE_LINE:
        return False
    if _COUNTER.match(line) or _PLACEHOLDER.search(line) or is_noise_line(line):
        return True
    parts = [part for part in _LABEL_SPLIT.split(line) if part]
    if len(parts) >= 3 and all(len(part.split()) <= 3 for part in parts):
        return not _SENTENCE_END.search(line)
    if len(line.split()) <= 3 and _ELLIPSIS_END.search(line):  # "Cari...", "Loading…"
        return True
    short = len(line.split()) <= _EDGE_WORDS and len(line) <= _EDGE_CHARS
    return short and not _SENTENCE_END.search(line)


_ELLIPSIS_END = re.compile(r"(?:\.{2,}|…)\W{0,2}$")


def trim_furniture(root: lxml.etree._Element, title: str | None) -> bool:
    """Drop what stands at the body's edges and is not the article: everything up to the
    headline's repetition, then label-shaped lines at either end. Whether it dropped any."""
    blocks = [block for block in _leaf_blocks(root) if _has_text(block)]
    dropped = []
    headlines = _headline_forms(title) if title else set()
    if headlines:
        for index, block in enumerate(blocks[:_HEADLINE_WINDOW]):
            if _letters(_text(block)) in headlines:
                dropped, blocks = blocks[: index + 1], blocks[index + 1 :]
                break
            if len(_text(block)) > _MAX_NOISE_LINE:  # the article has begun: no headline
                break
    texts = [_text(block) for block in blocks]
    lead = _lead_block(texts)
    tail = _tail_block(blocks[lead:], texts[lead:])
    if lead + tail >= len(blocks):
        lead = tail = 0
    # A long run of short lines is the article's own list (results, a table of teams),
    # unless something in it says "theme" outright: a counter, a copyright, "Powered by".
    if lead <= _EDGE_RUN or any(_closing_evidence(line) for line in texts[:lead]):
        dropped += [
            block
            for block, line in zip(blocks[:lead], texts[:lead], strict=True)
            if not is_dateline(line)
        ]
    if tail:
        ending = texts[len(blocks) - tail :]
        if tail <= _EDGE_RUN or any(_closing_evidence(line) for line in ending):
            dropped += [
                block
                for block, line in zip(blocks[len(blocks) - tail :], ending, strict=True)
                if _block_credit(block) is None  # a credit line is lifted, not dropped
            ]
    for block in dropped:
        _drop(block)
    return bool(dropped)


_EDGE_SCAN = 80  # lines read at each edge: a theme's header or footer is never longer
_CLOSING_WORDS = 8  # a sentence this short among a theme's lines is one of them
# What only a theme's closing lines say, in any wording: a copyright sign, "Powered by",
# a theme's credit, a loading placeholder.
_CLOSING = re.compile(
    r"©|\(c\)\s*\d{4}|\b(?:copyright|hak cipta|all rights reserved|powered by|didukung oleh"
    r"|theme\s*:|tema\s*:|loading|memuat)\b",
    re.IGNORECASE,
)


def _closing_evidence(line: str) -> bool:
    """A line that says "theme" outright: a phrase, a counter, a placeholder, a copyright."""
    line = " ".join(line.split())
    return bool(
        is_noise_line(line)
        or _COUNTER.match(line)
        or _PLACEHOLDER.search(line)
        or (len(line) <= _MAX_NOISE_LINE and _CLOSING.search(line))
    )


def _edge_like(line: str) -> bool:
    """A line that may belong to a theme's block at an edge: furniture-shaped, or a short
    sentence ("Comments are closed.", "Like Loading…"), or a credit line."""
    if furniture_shaped(line) or _closing_evidence(line):
        return True
    if is_dateline(line) or len(line) > _MAX_NOISE_LINE:
        return False
    return len(line.split()) <= _CLOSING_WORDS or _credit_from_line(line, None) is not None


def _lead_block(texts: list[str]) -> int:
    """How many lines at the start are the theme's: the edge-like lines there, up to the
    last furniture-shaped one (short sentences after it open the article)."""
    end = 0
    for index, line in enumerate(texts[:_EDGE_SCAN]):
        if is_dateline(line) or not _edge_like(line):
            break
        if furniture_shaped(line) or _closing_evidence(line):
            end = index + 1
    return end


def _tail_block(blocks: list[lxml.etree._Element], texts: list[str]) -> int:
    """How many lines at the end are the theme's. The block after the article's last real
    paragraph is judged as a whole: from its first furniture-shaped line on, everything is
    the theme's, sentence-shaped or not ("Comments are closed.", "Powered by …"); short
    sentences and credit lines before that line close the article."""
    start = len(texts)
    while start > max(0, len(texts) - _EDGE_SCAN) and (
        _edge_like(texts[start - 1]) or _block_credit(blocks[start - 1])
    ):
        start -= 1
    for index in range(start, len(texts)):
        line = texts[index]
        if (furniture_shaped(line) or _closing_evidence(line)) and _block_credit(
            blocks[index]
        ) is None:
            return len(texts) - index
    return 0


def _block_credit(block: lxml.etree._Element) -> Credit | None:
    """The credit a block's line gives, read with its first link ("Sumber: <a>di sini</a>")."""
    text = _text(block)
    if len(text) > _MAX_NOISE_LINE * 2:
        return None
    link = next((a.get("href") for a in block.iter("a") if a.get("href")), None)
    return _credit_from_line(text, link)


_SITE_SUFFIX = re.compile(r"\s+(?:[|–—•·:»]|-|::)\s+")


def _headline_forms(title: str) -> set[str]:
    """The headline as a body may repeat it: whole, or without the site's name a feed's
    title carries before or after it ("… | Repelita Online", "Kompas.com - …")."""
    forms = {_letters(title)}
    parts = _SITE_SUFFIX.split(title.strip())
    if len(parts) > 1:
        forms.add(_letters(" ".join(parts[:-1])))
        forms.add(_letters(" ".join(parts[1:])))
    return {form for form in forms if len(form) >= 12}  # a site's name alone is no headline


def _letters(text: str) -> str:
    return _NOT_LETTERS.sub("", text.casefold())


_NOT_LETTERS = re.compile(r"[\W_]+")


TEASER_CHARS = 1000  # less text than this is a summary, whatever element carries it
# How summaries end: an ellipsis ("…", "[…]", "(...)") or an invitation to read on.
_TEASER_END = re.compile(r"(?:…|\.\.\.|\[(?:…|\.\.\.|&hellip;)\]|\((?:…|\.\.\.)\))\W{0,3}$")
_READ_ON = re.compile(
    r"(?:read|continue|keep|view|see)\b.{0,20}\b(?:more|reading|full|rest|story|article)\b"
    r"|\b(?:baca|lihat|simak)\b.{0,25}\b(?:selengkapnya|lanjut\w*|berikutnya)\b"
    r"|^(?:selengkapnya|lanjut\w*|more)\b",
    re.IGNORECASE,
)


def _last_line(root: lxml.etree._Element) -> str:
    """The fragment's last line of text, read from its last top-level parts only."""
    if (root.text or "").strip() and not len(root):
        return _collapse_paragraphs(root.text or "").rsplit("\n", 1)[-1]
    for child in reversed(root):
        parts: list[str] = []
        _collect_text(child, parts)
        text = _collapse_paragraphs("".join(parts))
        if text:
            return text.rsplit("\n", 1)[-1]
    return _collapse_paragraphs(root.text or "")


def _ends_like_teaser(last: str, root: lxml.etree._Element, post_url: str | None) -> bool:
    if _TEASER_END.search(last):
        return True
    if len(last) <= 80 and _READ_ON.search(last):
        return True
    if not post_url or len(last) > 200:
        return False
    links = [href for a in root.iter("a") if (href := a.get("href"))]
    if not links:
        return False
    last_link = _absolute(links[-1].strip(), post_url)
    path = urlsplit(post_url).path.rstrip("/")
    if path and path not in last_link:  # most last links lead elsewhere: known at once
        return False
    # The summary's last link leads to the post itself ("…" or "more" linked).
    return normalize_url(last_link) == normalize_url(post_url)


def clean_html(html: str, base_url: str | None) -> str:
    """Return the article's HTML without widgets, ads, trackers or anything unsafe.

    Relative links are resolved against `base_url`; lazy images get their real `src`.
    """
    html = repair_mojibake(html or "")
    if not html.strip():
        return ""
    return _serialize(_cleaned_tree(_fragment(html), base_url)).strip()


def _cleaned_tree(root: lxml.etree._Element, base_url: str | None) -> lxml.etree._Element:
    """The fragment without furniture, sanitized by nh3 and read again, tidied."""
    for element in list(root.iter(lxml.etree.Comment, lxml.etree.ProcessingInstruction)):
        _drop(element)
    for element in list(root.iter(*_DROPPED_WITH_CONTENT)):
        _drop(element)
    _fix_links_and_images(root, base_url)
    _drop_noise_containers(root)
    _paragraphs(root)
    _drop_noise_blocks(root)
    cleaned = nh3.clean(
        _serialize(root),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
    )
    root = _fragment(cleaned) if cleaned.strip() else lxml.etree.Element("div")
    _tidy_tree(root)
    return root


# lxml.etree's own HTML parser: lxml.html's element classes cost a Python call per node.
_HTML_PARSER = lxml.etree.HTMLParser()


def _fragment(html: str) -> lxml.etree._Element:
    """A <div> holding the parsed fragment (as lxml.html.fragment_fromstring makes it)."""
    try:
        document = lxml.etree.fromstring(f"<html><body>{html}</body></html>", _HTML_PARSER)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        document = None
    body = document.find("body") if document is not None else None
    if document is None or body is None:
        root = lxml.etree.Element("div")
        root.text = html
        return root
    document.remove(body)
    body.tag = "div"
    body.attrib.clear()
    if body.text is not None and not body.text.strip():
        body.text = None
    return body


def _serialize(root: lxml.etree._Element) -> str:
    parts = [root.text or ""]
    parts.extend(map(_HTML_OF, root))
    return "".join(parts)


_HTML_OF = functools.partial(lxml.etree.tostring, encoding="unicode", method="html")


def _drop(element: lxml.etree._Element) -> None:
    """Remove an element and its content, keeping the text that follows it."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    previous = element.getprevious()
    parent.remove(element)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def best_source(img: lxml.etree._Element) -> str | None:
    """The largest picture an <img> offers in its own `srcset` (or a lazy theme's
    `data-srcset`), else in the `<source>`s of the `<picture>` around it."""
    sets = [img.get("srcset"), img.get("data-srcset")]
    # The HTML parser may nest the <img> inside a <source> (it knows no empty <source>).
    picture = next((a for a in img.iterancestors() if a.tag == "picture"), None)
    if picture is not None:
        sets += [each.get("srcset") or each.get("data-srcset") for each in picture.iter("source")]
    best, width = None, -1.0
    for srcset in filter(None, sets):
        for candidate in srcset.split(","):
            parts = candidate.split()
            if not parts or not usable_image(parts[0]):
                continue
            size = parts[1] if len(parts) > 1 else "1x"
            try:  # "1600w", "2x": a density counts as a small width
                value = float(size[:-1]) if size[-1] in "wx" else 0.0
            except ValueError:
                value = 0.0
            value = value if size.endswith("w") else value * 100
            if value > width:
                best, width = parts[0], value
    return best


def _fix_links_and_images(root: lxml.etree._Element, base_url: str | None) -> None:
    for img in list(root.iter("img")):
        src = (img.get("src") or "").strip()
        for attr in _LAZY_SRC_ATTRS:
            lazy = (img.get(attr) or "").strip()
            if lazy and (not src or src.startswith("data:") or "placeholder" in src):
                src = lazy
                break
        if not usable_image(src, img.get("width"), img.get("height")):
            # Given by srcset only, or a 1-pixel stand-in inside a <picture>: the real one.
            offered = best_source(img)
            if offered:
                src = offered
                for size in ("width", "height", "style"):
                    img.attrib.pop(size, None)
        if not usable_image(src) or _is_tracking_pixel(img, src):
            _drop(img)
            continue
        img.set("src", strip_tracking(_absolute(src, base_url)))
    for link in root.iter("a"):
        href = (link.get("href") or "").strip()
        if href:
            link.set("href", strip_tracking(_absolute(href, base_url)))
        if is_tracker_url(href):
            _drop(link)


# Names themes give to spacers and placeholders rather than pictures.
_NOT_A_PICTURE = re.compile(
    r"(?:^|[/_.-])(?:spacer|blank|pixel|transparent|1x1|placeholder|loading|lazy|grey|gray)"
    r"[\w-]*\.(?:gif|png|svg|jpe?g|webp)$|\.svg$",
    re.IGNORECASE,
)


def usable_image(src: str | None, width: str | None = None, height: str | None = None) -> bool:
    """Whether `src` can be a post's picture: a real address of a real picture, not `x`, a
    `data:` placeholder, a spacer GIF, a tracker or a 1-pixel image."""
    src = (src or "").strip()
    if not src or src.startswith(("data:", "javascript:", "about:", "#")):
        return False
    try:
        parts = urlsplit(src)
    except ValueError:
        return False
    if parts.scheme and parts.scheme not in {"http", "https"}:
        return False
    path = parts.path
    # A bare word ("x", "null", "undefined") is no file: a broken tag, not a picture.
    if not parts.netloc and "/" not in path and "." not in path:
        return False
    if _NOT_A_PICTURE.search(path) or is_tracker_url(src):
        return False
    for size in (width, height):
        digits = (size or "").strip().removesuffix("px")
        if digits.isdigit() and int(digits) <= 1:
            return False
    return True


def _is_tracking_pixel(img: lxml.etree._Element, src: str) -> bool:
    if is_tracker_url(src):
        return True
    sizes = [img.get("width"), img.get("height")]
    style = (img.get("style") or "").replace(" ", "").lower()
    sizes += re.findall(r"(?:^|;)(?:width|height):(\d+)px", style)
    small = [s for s in sizes if s and s.strip().rstrip("px").isdigit()]
    return any(int(s.strip().rstrip("px")) <= 1 for s in small)


def _absolute(url: str, base_url: str | None) -> str:
    if not base_url or urlsplit(url).scheme:
        return url
    try:
        return urljoin(base_url, url)
    except ValueError:
        return url


def _drop_noise_containers(root: lxml.etree._Element) -> None:
    total: int | None = None  # the article's length, measured when first needed
    for element in list(root.iter()):
        if element is root or not isinstance(element.tag, str):
            continue
        marks = element.get("class"), element.get("id")
        if not any(marks):
            continue
        words = _CLASS_WORD_SPLIT.split(" ".join(filter(None, marks)))
        if not _NOISE_CLASS_WORDS.intersection(w.lower() for w in words if w):
            continue
        if total is None:
            total = len(_text(root))
        size = len(_text(element))
        # A theme may wrap the whole article in a "widget" box: never drop the article.
        if size > 300 and size > total / 2:
            continue
        _drop(element)


_CLASS_WORD_SPLIT = re.compile(r"[\s_\-]+")


def _text(element: lxml.etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _is_block(element: lxml.etree._Element) -> bool:
    return isinstance(element.tag, str) and element.tag in _BLOCK_TAGS


def _paragraphs(root: lxml.etree._Element) -> None:
    """Give every run of loose text its own <p>, splitting on <br>, as Blogger posts need."""
    for element in list(root.iter()):
        if element is root or (_is_block(element) and element.tag not in {"ul", "ol", "table"}):
            _split_runs(element)
    for element in list(root.iter()):
        if element.tag in {"h1"}:
            element.tag = "h2"
        elif element.tag in {"h5", "h6"}:
            element.tag = "h4"
        elif element.tag in _PARAGRAPH_LIKE and not any(map(_is_block, element.iterdescendants())):
            element.tag = "p"
            element.attrib.clear()


def break_runs(root: lxml.etree._Element) -> None:
    """Give each run of loose text between <br>s and blocks its own <p>, in a whole page.

    Blogger posts are text runs separated by <br>; extractors drop a run that is the tail
    of a block (the lead paragraph after a picture, typically).
    """
    for element in list(root.iter()):
        if _is_block(element) and element.tag not in {"ul", "ol", "table", "p"}:
            _split_runs(element)


def _split_runs(element: lxml.etree._Element) -> None:
    if not len(element):  # no <br> or block inside: nothing to split (most paragraphs)
        return
    children = list(element)
    has_br = any(child.tag == "br" for child in children)
    has_block = any(_is_block(child) for child in children)
    has_inline = bool((element.text or "").strip()) or any(
        not _is_block(c) or (c.tail or "").strip() for c in children
    )
    if not (has_br or (has_block and has_inline)):
        return
    runs: list[lxml.etree._Element] = []
    current = lxml.etree.Element("p")
    current.text = element.text

    def flush() -> None:
        nonlocal current
        if (current.text or "").strip() or len(current):
            runs.append(current)
        current = lxml.etree.Element("p")

    for child in children:
        element.remove(child)
        if child.tag == "br" or _is_block(child):
            tail, child.tail = child.tail, None
            flush()
            if child.tag != "br":
                runs.append(child)
            current.text = tail
        else:
            current.append(child)
    flush()
    element.text = None
    if element.tag == "p" and (parent := element.getparent()) is not None:
        index = parent.index(element)
        tail = element.tail
        parent.remove(element)
        for offset, run in enumerate(runs):
            parent.insert(index + offset, run)
        if runs:
            runs[-1].tail = tail
        return
    element.extend(runs)


def _leaf_blocks(root: lxml.etree._Element) -> Iterator[lxml.etree._Element]:
    for element in root.iter():
        if (
            element is not root
            and _is_block(element)
            and not any(map(_is_block, element.iterdescendants()))
        ):
            yield element


def _drop_noise_blocks(root: lxml.etree._Element) -> None:
    for block in list(_leaf_blocks(root)):
        if block.getparent() is None:
            continue
        line = _text(block).strip(_BULLETS).casefold()  # `_normalize_line`, spaces done
        if _mostly_addresses(line):  # a theme's image data or a list of bare links
            _drop(block)
            continue
        if not line or len(line) > _MAX_NOISE_LINE or not _NOISE_LINE_RE.fullmatch(line):
            continue
        # A theme's phrase is never the only evidence: a sentence that starts like one ("Hak
        # cipta lagu itu dipegang …") stays unless it stands at the body's edge.
        if is_sentence(line) and len(line.split()) >= _SENTENCE_WORDS:
            continue
        if _block_credit(block) is not None:  # "Read the full story at AP News": a credit
            continue
        if _SECTION_HEAD_RE.fullmatch(line):
            _drop_following_links(block)
        parent = block.getparent()
        _drop(block)
        # A list item that was noise may leave an empty list behind.
        while parent is not None and parent is not root and not _text(parent).strip():
            if parent.find(".//img") is not None:
                break
            grandparent = parent.getparent()
            _drop(parent)
            parent = grandparent


def _mostly_addresses(line: str) -> bool:
    if line.count("://") < 2:
        return False
    return sum(map(len, _URL_RE.findall(line))) > len(line) / 2


def _drop_following_links(head: lxml.etree._Element) -> None:
    """Drop the link list under a "Breaking Posts" / "Baca Juga" heading."""
    node = head
    while node is not None and node.getnext() is None and (parent := node.getparent()) is not None:
        # The list may follow the heading's container, not the heading itself.
        if len(_text(parent)) > len(_text(head)) + 2:
            break
        node = parent
    sibling = node.getnext() if node is not None else None
    while sibling is not None and isinstance(sibling.tag, str):
        text = _text(sibling)
        link_text = sum(len(_text(a)) for a in sibling.iter("a"))
        if text and link_text < 0.6 * len(text):
            break
        following = sibling.getnext()
        _drop(sibling)
        sibling = following


def _tidy(html: str) -> str:
    """Drop the empty paragraphs that sanitizing leaves behind."""
    if not html.strip():
        return ""
    root = _fragment(html)
    _tidy_tree(root)
    return _serialize(root).strip()


def _tidy_tree(root: lxml.etree._Element) -> None:
    for element in list(root.iter("p", "li", "ul", "ol", "blockquote", "h2", "h3", "h4")):
        empty = not _has_text(element) and element.find(".//img") is None
        if empty and element.getparent() is not None:
            _drop(element)
    for link in list(root.iter("a")):
        if not link.get("href") and not len(link):
            _unwrap(link)


def _has_text(element: lxml.etree._Element) -> bool:
    first = element.text
    if first and not first.isspace():  # most paragraphs: known from their first words
        return True
    text = "".join(element.itertext())
    return bool(text) and not text.isspace()


def _unwrap(element: lxml.etree._Element) -> None:
    """Remove an element's tag, keeping its text and children in its place (drop_tag)."""
    parent = element.getparent()
    if parent is None:
        return
    previous = element.getprevious()
    if element.text:
        if previous is None:
            parent.text = (parent.text or "") + element.text
        else:
            previous.tail = (previous.tail or "") + element.text
    if element.tail:
        if len(element):
            element[-1].tail = (element[-1].tail or "") + element.tail
        elif previous is None:
            parent.text = (parent.text or "") + element.tail
        else:
            previous.tail = (previous.tail or "") + element.tail
    index = parent.index(element)
    parent[index : index + 1] = element[:]


def drop_lines(html: str, unwanted: Callable[[str], bool]) -> tuple[str, str]:
    """The HTML without the blocks whose text is `unwanted`, and its plain text.

    Position decides. After the body's last wanted block every unwanted line goes, a
    sentence too: "Comments are closed." repeated under every post is the theme's; before
    its first, the lines that are not sentences. Inside the article, between wanted
    blocks, a series repeats its own subheads ("Latar Belakang") and boilerplate sentences
    ("This release fixes many security vulnerabilities."): there only the long lines
    without a sentence's end go, and what says "theme" outright (a label phrase, a counter,
    a placeholder, a copyright line).
    """
    root = _fragment(html)
    blocks = [block for block in _leaf_blocks(root) if _has_text(block)]
    marks = [unwanted(_text(block)) for block in blocks]
    wanted = [index for index, mark in enumerate(marks) if not mark]
    first, last = (wanted[0], wanted[-1]) if wanted else (len(blocks), -1)
    # A repeated sentence closing the article is boilerplate only where no credit line
    # follows it in the same post: that is the edge the credit line left behind.
    while last > first and _credit_from_line(_text(blocks[last]), None) is not None:
        last -= 1
    for index, block in enumerate(blocks):
        if not marks[index]:
            continue
        text = _text(block)
        inside = first < index < last and not _closing_evidence(text)
        # Inside: a sentence, a heading, a subhead's few words stay; a widget's long
        # invitation without a sentence's end ("Ikuti saluran kami untuk …") goes.
        if inside and (
            is_sentence(text) or block.tag in {"h2", "h3", "h4"} or _subhead_shaped(text)
        ):
            continue
        # Above the article a theme has menus and placeholders, not sentences: a sentence
        # there opens a series' post ("This release fixes many security vulnerabilities.").
        if index < first and is_sentence(text) and not _closing_evidence(text):
            continue
        _drop(block)
    _tidy_tree(root)
    return _serialize(root).strip(), _plain_text(root, None)


def _subhead_shaped(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= _EDGE_WORDS and len(line) <= _EDGE_CHARS and line[:1].isupper()


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment: one paragraph a line, blank line between."""
    if not html or not html.strip():
        return ""
    if "<" not in html and "&" not in html:
        return _collapse_paragraphs(html)
    return _plain_text(_fragment(html), None)


def _plain_text(root: lxml.etree._Element, html: str | None) -> str:
    """`html_to_text` of a parsed fragment (`html`, when given, is its source)."""
    if html is not None and "<" not in html and "&" not in html:
        return _collapse_paragraphs(html)
    parts: list[str] = []
    _collect_text(root, parts)
    return _collapse_paragraphs("".join(parts))


# What str.splitlines() would break a line at: inside a text node it is only a space
# (`_collapse_paragraphs` then squeezes the spaces).
_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))


def _collect_text(element: lxml.etree._Element, parts: list[str]) -> None:
    tag = element.tag
    if isinstance(tag, str) and tag not in _DROPPED_WITH_CONTENT:
        block = tag in _BLOCK_TAGS
        if block or tag == "br":
            parts.append("\n")
        if element.text:
            parts.append(element.text.translate(_LINE_BREAKS))
        for child in element:
            _collect_text(child, parts)
        if block:
            parts.append("\n")
    if element.tail:
        parts.append(element.tail.translate(_LINE_BREAKS))


def _collapse_paragraphs(text: str) -> str:
    # Each line's words joined by one space, empty lines left out: all in C.
    return "\n\n".join(filter(None, map(" ".join, map(str.split, text.splitlines()))))


# A credit line names the original in one of a few shapes, whatever its exact words:
# a label and a colon ("Sumber:", "Source:", "Artikel asli :"), a verb of borrowing and
# "dari"/"from" ("Dilansir dari", "Reprinted with permission from"), a sentence saying
# where the text first ran ("Artikel ini telah tayang di", "This story first appeared in",
# "This article is republished from"), or detik's "Baca artikel X, … selengkapnya".
_LABEL = (
    r"(?:sumber|source|sources|artikel\s+asli|berita\s+asli|original|credits?|kredit|courtesy"
    r"|asal|referensi|reference)"
)
_BORROWED_ID = (
    r"(?:dikutip|disadur|dilansir|diolah|dirangkum|dihimpun|diadaptasi|diterjemahkan|dialihbahasakan"
    r"|diambil|disarikan|ditulis\s+ulang|bersumber|dipublikasikan\s+ulang|ditayangkan\s+ulang"
    r"|diterbitkan\s+ulang|dikutip\s+sepenuhnya)"
)
_BORROWED_EN = (
    r"(?:republished|reprinted|reproduced|adapted|excerpted|syndicated|translated|reposted"
    r"|cross-?posted|shared|used|published|distributed)"
)
_RAN_ID = (
    r"(?:tayang|terbit|dimuat|ditayangkan|diterbitkan|dipublikasikan|diunggah|disiarkan|ditulis"
    r"|muncul|publish)"
)
_RAN_EN = (
    r"(?:published|republished|appeared|ran|posted|printed|reprinted|produced|written|reported"
    r"|syndicated|shared|featured|aired)"
)
_PIECE_ID = r"(?:artikel|berita|tulisan|konten|naskah|liputan|postingan|opini)"
_PIECE_EN = (
    r"(?:article|story|post|piece|report|column|essay|interview|op-ed|feature|content|analysis"
    r"|commentary|item|blog\s+post|version\s+of\s+this\s+(?:article|story|post|piece))"
)
_FROM = (
    r"(?:in\s+(?:partnership|collaboration|association|cooperation)\s+with|courtesy\s+of"
    r"|from|of|by|on|in|at|with|for)"
)
_CREDIT_RES = [
    re.compile(
        r"^(?!.*\b(?:foto|photo|image|gambar|ilustrasi|video|grafis|infografis|data)\b\s*[:：])"
        rf"(?:[\w/&-]+\s+){{0,3}}{_LABEL}\b(?:(?:\s*[/&-]\s*|\s+)\w+){{0,3}}\s*[:：]\s*(?P<label>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^(?:{_PIECE_ID}\s+ini\s+(?:\w+\s+){{0,2}}?)?{_BORROWED_ID}\s+(?:dari|oleh|dr\.?)\s*:?"
        r"\s*(?P<name>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^(?:this\s+|the\s+|a\s+)?(?:{_PIECE_EN}\s+)?(?:(?:is|was|has\s+been|had\s+been|were)\s+)?"
        rf"(?:originally\s+|first\s+|previously\s+|also\s+)?{_BORROWED_EN}"
        r"(?:\s+(?:here|with|by|under|the|kind|written|express|permission|arrangement|agreement"
        r"|courtesy|partnership|license|licence)){0,5}"
        rf"\s+{_FROM}\s+(?P<name>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^(?:this|the|a|an)\s+(?:\w+\s+){{0,2}}?{_PIECE_EN}\s+(?:\w+\s+){{0,3}}?{_RAN_EN}"
        rf"(?:\s+\w+){{0,2}}?\s+(?:{_FROM}\s+(?P<name>.+)|(?P<here>here|there)\b.*)$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:originally|first|previously)\s+(?:published|posted|appeared|ran|printed|reported"
        r"|written)(?:\s+\w+){0,2}?\s+(?:(?:on|in|at|by|for|with)\s+(?P<name>.+)"
        r"|(?P<here>here|there)\b.*)$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^{_PIECE_ID}\s+ini\s+(?:\w+\s+){{0,4}}?{_RAN_ID}"
        r"(?:\s+\w+){0,2}?\s+(?:di|pada|dalam|oleh|dari|melalui)\s+(?P<name>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:baca|simak|lihat)\s+(?:artikel|berita|selengkapnya)\s+(?P<name>.+?),?\s+"
        r"(?:[\"“].*[\"”]\s+)?(?:selengkapnya|di\s+sini)\b\s*(?:di|pada|:)?\s*(?P<url>https?://\S+)?$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:(?:selengkapnya|lengkapnya)\s*:?\s*)?(?:baca|simak|lihat|cek)\s+"
        r"(?:(?:artikel|berita)\s*)?(?:aslinya|selengkapnya|lengkapnya|asli)?\s*"
        r"(?:di|pada|melalui)\s+(?P<name>.+)$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:read|see)\s+(?:more|the\s+(?:full|original|whole|rest\s+of\s+the)"
        r"(?:\s+(?:story|article|report|piece))?)\s+(?:at|on|in)\s+(?P<name>.+)$",
        re.IGNORECASE,
    ),
    re.compile(r"^(?:via|h/t|hat\s+tip|courtesy\s+of)\s*:?\s+(?P<name>\S.{0,60})$", re.IGNORECASE),
]
# The news agencies whose tag alone names the original: "(Reuters)", "— AFP", "WASHINGTON
# (AP) —". Only these: any other word in brackets may be anything ("(VIDEO)", "(1)").
WIRES = frozenset(
    {
        "reuters", "ap", "the associated press", "associated press", "afp", "agence france-presse",
        "bloomberg", "upi", "dpa", "xinhua", "kyodo", "kyodo news", "yonhap", "ansa", "efe",
        "tass", "ria novosti", "anadolu", "anadolu agency", "aa", "bernama", "pti", "ians",
        "antara", "antaranews", "cna", "aap", "apa", "sputnik", "interfax", "kcna", "ani",
        "jiji", "jiji press", "pa", "pa media", "press association", "rtr",
    }
)  # fmt: skip
_WIRE_LINE = re.compile(r"^[(\[]?\s*(?P<name>[A-Za-z][\w.&' -]{0,30}?)\s*[)\]]?$")
# The dateline before the tag: places, a state's abbreviation, a date, in any of the house
# styles ("LONG BEACH, Calif.", "ST. LOUIS, Mo.", "NEW YORK, Dec 5", "GAZA CITY/CAIRO, Oct 9").
# Every word capitalised or a figure: a sentence's words before a bracket are not a place.
_DATELINE_PART = r"[A-Z0-9][\w.'’-]*(?:[ /]+[A-Z0-9][\w.'’-]*){0,4}"
_WIRE_TAG = re.compile(
    rf"^(?:(?!\d){_DATELINE_PART}(?:,\s*{_DATELINE_PART}){{0,3}},?\s+)?"
    r"[(\[](?P<name>[A-Za-z][\w.&' -]{0,30}?)[)\]]\s*[-–—:]"
)
# Words that say where the name stops: "The Conversation under a Creative Commons license".
_NAME_ENDS = re.compile(
    r"\s+(?:under|with|dengan|dan|and|on|pada|untuk|for|as|sebagai|yang|which|who|titled"
    r"|berjudul|judul|tanggal|hari|is|was|adalah|read|klik|click|lihat|baca|see|licensed"
    r"|in\s+(?:its|their|the)\s+\w+)\b"
    r"|\s+[-–—|(]\s*|,\s+|\s+https?://|[.!;]\s|[\"“”]",
    re.IGNORECASE,
)
# Names that are no outlet: the line's link says which site it means.
_NOT_A_NAME = frozenset(
    {
        "di", "ke", "klik", "click", "tap", "disini", "to", "at", "in", "on", "read", "baca",
        "selengkapnya", "more", "full", "visit", "kunjungi", "go", "see", "lihat", "simak",
        "that", "via", "berikutnya", "lengkap", "lengkapnya", "me", "now",
        "the", "a", "an", "this", "our", "its", "their", "here", "there", "link", "original",
        "article", "story", "post", "source", "site", "website", "page", "sini", "ini", "itu",
        "artikel", "berita", "asli", "tautan", "berikut", "laman", "situs", "aslinya", "web",
        "partner", "partners", "mitra", "kami", "staff", "author", "authors", "writer",
        "writers", "penulis", "redaksi", "admin", "editor", "editors", "permission",
        "kontributor", "contributor",
    }
)  # fmt: skip
# Words before an outlet's name that are not part of it: "dimuat di laman Mongabay".
_NAME_LEADS = re.compile(
    r"^(?:(?:laman|situs|halaman|portal|kanal|website|web|media\s+online|akun)\s+)+",
    re.IGNORECASE,
)
_URL_RE = re.compile(r"https?://[^\s\"'<>]+")
_CREDIT_WINDOW = 6  # a credit line sits among the last few blocks of an article


def lift_credit(text_or_html: str) -> tuple[str, Credit | None]:
    """Take the closing credit line ("Sumber: Kompas.com") out of an article.

    Returns the article without that line (HTML stays HTML, text stays text) and the credit,
    named as written, with the link the line carried. Only one of the last few lines counts.
    """
    if not text_or_html or not text_or_html.strip():
        return text_or_html, None
    if re.search(r"<[a-zA-Z/!]", text_or_html):
        return _lift_from_html(text_or_html)
    return _lift_from_text(text_or_html)


def _lift_from_html(html: str) -> tuple[str, Credit | None]:
    root = _fragment(html)
    _split_runs(root)
    lifted = _lift_from_tree(root)
    if lifted is None:
        return html, None
    return _tidy(_serialize(root)), lifted if lifted.name else None


def _lift_from_tree(root: lxml.etree._Element) -> Credit | None:
    """Drop the credit lines from the closing block of `root`; the credit they gave (an
    unnamed one when the lines named no one), None when there were none.

    The closing block is what follows the article's last paragraph that is no credit line:
    every credit line in it goes (two sources named, "Sumber: Reuters" then "Dikutip dari
    CNBC Indonesia": the first named is the original), and so does what follows the first
    of them, the theme's comment boxes, ad slots and labels.
    """
    blocks = [b for b in reversed(list(_leaf_blocks(root))) if _has_text(b)][:_EDGE_SCAN]
    found: list[tuple[int, Credit]] = []
    for position, block in enumerate(blocks):
        text = _text(block)
        credit = _block_credit(block)
        if credit is not None:
            found.append((position, credit))
        elif (found and not _edge_like(text)) or len(text) > _MAX_NOISE_LINE:
            break  # the article's own paragraphs: no credit line above here counts
        elif position >= _CREDIT_WINDOW and not furniture_shaped(text):
            break
    if not found:
        return None
    lifted = {position for position, _ in found}
    for position, block in enumerate(blocks[: max(lifted) + 1]):
        # What follows the credit line is the theme's: comment boxes, ad slots, labels.
        if position in lifted or len(_text(block)) <= _MAX_NOISE_LINE:
            _drop(block)
    # A line whose only link is a shortener names no one: it goes, and credits no one
    # (an unnamed credit says so to the callers).
    named = [credit for _, credit in reversed(found) if credit.name]
    return named[0] if named else found[0][1]


def _lift_from_text(text: str) -> tuple[str, Credit | None]:
    lines = text.splitlines()
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for index in reversed(filled[-_CREDIT_WINDOW:]):
        credit = _credit_from_line(lines[index], None)
        if credit is not None:
            del lines[index]
            return _collapse_paragraphs("\n".join(lines)), credit if credit.name else None
    return text, None


def _credit_from_line(line: str, link: str | None) -> Credit | None:
    line = " ".join(line.split()).strip(" -–—•*|_~")
    if len(line) > 400 or len(line.split()) > 60:
        return None
    wire = _WIRE_LINE.fullmatch(line)
    if wire is not None and wire.group("name").casefold() in WIRES:
        return Credit(name=wire.group("name"), url=link)
    for pattern in _CREDIT_RES:
        match = pattern.match(line)
        if match is None:
            continue
        url = match.groupdict().get("url") or link
        if url is None and (found := _URL_RE.search(line)):
            url = found.group()
        groups = match.groupdict()
        if groups.get("label") is not None:  # "Source: …": the whole rest is the name
            name = _label_name(groups["label"])
        else:
            raw = (groups.get("name") or "").strip(" .")
            if url and _host(url) in _SHORTENERS and (not raw or _link_words(raw)):
                return Credit(name="", url=None)  # "Originally published <a t.co>here</a>."
            name = _credit_name(groups.get("name") or "", url)
            if pattern in _SENTENCE_RES and not _outlet_like(name, line):
                continue
        if url and name is not None and _link_words(name):
            name = _site_name(url)  # "Sumber: <a href=…cnnindonesia.com…>di sini</a>"
            if name is None and _host(url) in _SHORTENERS:
                return Credit(name="", url=None)  # a credit line, naming no one
        if name is None:
            continue
        if name.startswith(("http://", "https://")):
            url = url or name
            name = (urlsplit(name).hostname or name).removeprefix("www.")
        return Credit(name=name, url=url.rstrip(".,);") if url else None)
    return None


_SENTENCE_RES = frozenset(_CREDIT_RES[2:5])  # English sentences: "… first appeared in X"
_NOT_OUTLETS = re.compile(
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march"
    r"|april|may|june|july|august|september|october|november|december|today|yesterday"
    r"|tomorrow|last|this|next|[0-9])\b",
    re.IGNORECASE,
)


def _outlet_like(name: str | None, line: str) -> bool:
    """An English credit sentence names an outlet as a proper name or a site, in a line
    short enough to be a note rather than a paragraph of the article."""
    if name is None:
        return False
    if len(line.split()) > 40 or _NOT_OUTLETS.match(name):
        return False
    return name[:1].isupper() or "." in name or name.casefold() in WIRES


def wire_credit(first_line: str) -> Credit | None:
    """The agency a dateline names: "WASHINGTON (Reuters) -" gives Reuters."""
    match = _WIRE_TAG.match(" ".join(first_line[:300].split()))  # a dateline is short
    if match is None or match.group("name").casefold() not in WIRES:
        return None
    return Credit(name=match.group("name"))


# Link shorteners: their address names no outlet.
_SHORTENERS = frozenset(
    {
        "bit.ly", "t.co", "tinyurl.com", "goo.gl", "ow.ly", "buff.ly", "s.id", "lnkd.in",
        "is.gd", "rb.gy", "cutt.ly", "shorturl.at", "tiny.cc", "dlvr.it", "trib.al", "fb.me",
        "amzn.to", "bitly.com", "v.gd", "t.ly", "rebrand.ly", "shorte.st", "adf.ly", "linktr.ee",
        "lynk.id", "bit.do", "ift.tt", "wp.me", "tr.im", "po.st", "su.pr", "x.co", "qr.ae",
    }
)  # fmt: skip


def _link_words(name: str) -> bool:
    """Whether a credit's "name" is only the words of its link ("di sini", "klik di sini",
    "here", "this link"): function words, or a short lower-case phrase with no site in it."""
    words = name.casefold().split()
    if all(word.strip(".,!:") in _NOT_A_NAME for word in words):
        return True
    if not 2 <= len(words) <= 3 or any(len(word) > 6 for word in words):
        return False  # one word in lower case is a name as often ("detiknews", "inilah")
    return name == name.lower() and not re.search(r"[.\d]", name)


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def _site_name(url: str) -> str | None:
    """The site a link leads to, as a name ("theguardian.com"); none for a shortener."""
    host = _host(url)
    if not host or host in _SHORTENERS or "." not in host:
        return None
    return host


def _label_name(raw: str) -> str | None:
    name = raw.strip()
    # "Kompas.com, Klik untuk baca: https://…" / "Detik (https://…)": keep the outlet.
    if not name.startswith(("http://", "https://")):
        name = re.split(r"\s+[-–—|(]\s*|,\s+|\s+https?://", name, maxsplit=1)[0]
    name = name.strip(" \"'“”‘’.,;:()[]")
    if not name or len(name) > 80 or len(name.split()) > 8:
        return None
    return name


def _credit_name(raw: str, link: str | None = None) -> str | None:
    name = _NAME_LEADS.sub("", raw.strip())
    # "Kompas.com, Klik untuk baca: https://…" / "Detik (https://…)": keep the outlet.
    if not name.startswith(("http://", "https://")):
        name = _NAME_ENDS.split(name, maxsplit=1)[0]
    name = name.strip(" \"'“”‘’.,;:()[]")
    # "in the Valley Courier": a lower-case article is the sentence's, not the name's.
    name = re.sub(r"^(?:the|a|an)\s+(?=[A-Z0-9])", "", name)
    words = name.casefold().split()
    if not words or all(word.strip(".,") in _NOT_A_NAME for word in words):
        # "Originally published here", "Baca artikel aslinya di sini": the link names it.
        return _site_name(link) if link else None
    if len(name) > 80 or len(words) > 8:
        return None
    return name
