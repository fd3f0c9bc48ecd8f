"""Cleaning feed HTML: sanitize it and drop theme widgets, ads and furniture.

Feeds from Blogger and WordPress news themes carry more than the article: "Breaking Posts"
lists, ad slots ("Top Post Ad"), "Baca Juga" related links, comment boxes, share buttons and
copyright footers. `clean_html` removes them and sanitizes what is left with nh3;
`clean_article` does the same, repairs mojibake first (`syndicate.ingest.mojibake`) and
lifts the closing credit line out (`syndicate.ingest.credit`), reading the HTML only twice;
`html_to_text` gives the plain text renderers shorten.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.etree
import nh3

from syndicate.ingest.credit import (
    URL_RE,
    block_credit,
    credit_from_line,
    edge_like,
    lift_credit,
    lift_from_tree,
    wire_credit,
)
from syndicate.ingest.fragment import (
    DROPPED_WITH_CONTENT,
    collapse_paragraphs,
    collect_text,
    drop,
    has_text,
    is_block,
    leaf_blocks,
    parse_fragment,
    plain_text,
    raw_text,
    serialize,
    split_runs,
    text_of,
    tidy_tree,
)
from syndicate.ingest.identity import normalize_url, strip_tracking
from syndicate.ingest.lines import (
    BULLETS,
    EDGE_CHARS,
    EDGE_SCAN,
    EDGE_WORDS,
    MAX_NOISE_LINE,
    NOISE_LINE_RE,
    closing_evidence,
    is_dateline,
    is_sentence,
    theme_shaped,
)
from syndicate.ingest.mojibake import repair_mojibake
from syndicate.render.safety import is_tracker_url
from syndicate.types import Credit

__all__ = [
    "CleanArticle",
    "best_source",
    "break_runs",
    "clean_article",
    "clean_html",
    "drop_lines",
    "html_to_text",
    "trim_furniture",
    "usable_image",
]

logger = logging.getLogger(__name__)

_ALLOWED_TAGS = {
    "p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "img", "figure", "figcaption",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt"}}
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
# Noise lines that head a list of links: the list goes with them.
_SECTION_HEAD_RE = re.compile(
    r"breaking (?:posts?|news)|hot (?:widget|news|posts?)|posting komentar|komentar"
    r"|(?:related|popular|recent|latest|more) (?:posts?|articles?|news|stories)"
    r"|(?:artikel|berita|postingan|tulisan) (?:terkait|lainnya|populer|terbaru|pilihan)"
    r"|baca (?:juga|pula|lainnya):?|share(?: this)?:?|bagikan:?"
)
_LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-orig-file")


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
    root = parse_fragment(html)
    raw_chars, teaser = 0, False
    if measure:
        # Its length and its last line are all a summary is told by: both read cheaply
        # (feeds carry thousands of entries).
        raw_chars = len(text_of(root))
        last = _last_line(root)
        teaser = raw_chars < TEASER_CHARS or _ends_like_teaser(last, root, post_url or base_url)
    root = _cleaned_tree(root, base_url)
    content = serialize(root).strip()
    if not content or not re.search(r"<[a-zA-Z/!]", content):  # plain text: no tree to keep
        content, credit = lift_credit(content)
        return CleanArticle(content, html_to_text(content), credit, None, raw_chars, teaser)
    split_runs(root)
    trimmed = trim_furniture(root, title)
    lifted = lift_from_tree(root)
    credit = lifted if lifted is not None and lifted.name else None
    if lifted is not None or trimmed:
        tidy_tree(root)
        content = serialize(root).strip()
    if credit is None:  # an agency's copy says so in its dateline: "WASHINGTON (Reuters) -"
        first = next((b for b in leaf_blocks(root) if has_text(b)), None)
        credit = wire_credit(text_of(first)) if first is not None else None
    image = next((img.get("src") for img in root.iter("img") if img.get("src")), None)
    return CleanArticle(content, plain_text(root, None), credit, image, raw_chars, teaser)


_HEADLINE_WINDOW = 40  # blocks before the article's start: a theme's widgets and menus
_SENTENCE_WORDS = 6  # a phrase-list line this long that ends as a sentence may be the article's
_EDGE_RUN = 6  # more short lines than this in a row at an edge are a list in the article


def trim_furniture(root: lxml.etree._Element, title: str | None) -> bool:
    """Drop what stands at the body's edges and is not the article: everything up to the
    headline's repetition, then label-shaped lines at either end. Whether it dropped any."""
    blocks = [block for block in leaf_blocks(root) if has_text(block)]
    dropped = []
    headlines = _headline_forms(title) if title else set()
    if headlines:
        for index, block in enumerate(blocks[:_HEADLINE_WINDOW]):
            line = text_of(block)
            if _is_headline(line, headlines):
                dropped, blocks = blocks[: index + 1], blocks[index + 1 :]
                break
            if len(line) > MAX_NOISE_LINE:  # the article has begun: no headline
                break
    texts = _BlockTexts(blocks)
    lead = _lead_block(texts)
    tail = _tail_block(blocks, texts, lead)
    if lead + tail >= len(blocks):
        lead = tail = 0
    # A long run of short lines is the article's own list (results, a table of teams),
    # unless something in it says "theme" outright: a counter, a copyright, "Powered by".
    if lead <= _EDGE_RUN or any(closing_evidence(texts[index]) for index in range(lead)):
        dropped += [blocks[index] for index in range(lead) if not is_dateline(texts[index])]
    if tail:
        ending = range(len(blocks) - tail, len(blocks))
        if tail <= _EDGE_RUN or any(closing_evidence(texts[index]) for index in ending):
            dropped += [
                blocks[index]
                for index in ending
                if block_credit(blocks[index], texts[index]) is None  # lifted, not dropped
            ]
    for block in dropped:
        drop(block)
    return bool(dropped)


class _BlockTexts:
    """The text of each block, read when first asked for: the edges are judged by a few
    lines at either end, and collapsing every paragraph's whitespace costs more than
    judging them (an article has dozens)."""

    def __init__(self, blocks: list[lxml.etree._Element]) -> None:
        self._blocks = blocks
        self._texts: list[str | None] = [None] * len(blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def __getitem__(self, index: int) -> str:
        text = self._texts[index]
        if text is None:
            text = self._texts[index] = text_of(self._blocks[index])
        return text


def _lead_block(texts: _BlockTexts) -> int:
    """How many lines at the start are the theme's: the edge-like lines there, up to the
    last furniture-shaped one (short sentences after it open the article)."""
    end = 0
    for index in range(min(EDGE_SCAN, len(texts))):
        line = texts[index]
        if is_dateline(line) or not edge_like(line):
            break
        if theme_shaped(line):
            end = index + 1
    return end


def _tail_block(blocks: list[lxml.etree._Element], texts: _BlockTexts, lead: int) -> int:
    """How many lines at the end, after the `lead` lines, are the theme's. The block after
    the article's last real paragraph is judged as a whole: from its first furniture-shaped
    line on, everything is the theme's, sentence-shaped or not ("Comments are closed.",
    "Powered by …"); short sentences and credit lines before that line close the article."""
    start = len(texts)
    while start > max(lead, len(texts) - EDGE_SCAN) and (
        edge_like(texts[start - 1]) or block_credit(blocks[start - 1], texts[start - 1])
    ):
        start -= 1
    for index in range(start, len(texts)):
        line = texts[index]
        if theme_shaped(line) and block_credit(blocks[index], line) is None:
            return len(texts) - index
    return 0


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


def _is_headline(line: str, headlines: set[str]) -> bool:
    """Whether a block's line is one of the `headlines` forms, letter for letter.

    The letters of its first characters are the first of its letters (casefolding and
    dropping what is no letter go character by character): a line that does not open as
    a headline does is known without reading a whole paragraph."""
    opening = _letters(line[:_HEADLINE_PROBE])
    if not any(form.startswith(opening) for form in headlines):
        return False
    return _letters(line) in headlines


_HEADLINE_PROBE = 40  # characters


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
        return collapse_paragraphs(root.text or "").rsplit("\n", 1)[-1]
    for child in reversed(root):
        parts: list[str] = []
        collect_text(child, parts)
        text = collapse_paragraphs("".join(parts))
        if text:
            return text.rsplit("\n", 1)[-1]
    return collapse_paragraphs(root.text or "")


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
    return serialize(_cleaned_tree(parse_fragment(html), base_url)).strip()


def _cleaned_tree(root: lxml.etree._Element, base_url: str | None) -> lxml.etree._Element:
    """The fragment without furniture, sanitized by nh3 and read again, tidied."""
    for element in list(root.iter(lxml.etree.Comment, lxml.etree.ProcessingInstruction)):
        drop(element)
    for element in list(root.iter(*DROPPED_WITH_CONTENT)):
        drop(element)
    _fix_links_and_images(root, base_url)
    _drop_noise_containers(root)
    _paragraphs(root)
    _drop_noise_blocks(root)
    cleaned = _SANITIZER.clean(serialize(root))
    root = parse_fragment(cleaned) if cleaned.strip() else lxml.etree.Element("div")
    tidy_tree(root)
    return root


# Made once: nh3.clean builds its sanitizer from the options on every call (~15 µs).
_SANITIZER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    attributes=_ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
)


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
            drop(img)
            continue
        img.set("src", strip_tracking(_absolute(src, base_url)))
    for link in root.iter("a"):
        href = (link.get("href") or "").strip()
        if href:
            link.set("href", strip_tracking(_absolute(href, base_url)))
        if is_tracker_url(href):
            drop(link)


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
            total = len(text_of(root))
        size = len(text_of(element))
        # A theme may wrap the whole article in a "widget" box: never drop the article.
        if size > 300 and size > total / 2:
            continue
        drop(element)


_CLASS_WORD_SPLIT = re.compile(r"[\s_\-]+")


def _paragraphs(root: lxml.etree._Element) -> None:
    """Give every run of loose text its own <p>, splitting on <br>, as Blogger posts need."""
    for element in list(root.iter()):
        if element is root or (is_block(element) and element.tag not in {"ul", "ol", "table"}):
            split_runs(element)
    for element in list(root.iter()):
        if element.tag in {"h1"}:
            element.tag = "h2"
        elif element.tag in {"h5", "h6"}:
            element.tag = "h4"
        elif element.tag in _PARAGRAPH_LIKE and not any(map(is_block, element.iterdescendants())):
            element.tag = "p"
            element.attrib.clear()


def break_runs(root: lxml.etree._Element) -> None:
    """Give each run of loose text between <br>s and blocks its own <p>, in a whole page.

    Blogger posts are text runs separated by <br>; extractors drop a run that is the tail
    of a block (the lead paragraph after a picture, typically).
    """
    for element in list(root.iter()):
        if is_block(element) and element.tag not in {"ul", "ol", "table", "p"}:
            split_runs(element)


def _drop_noise_blocks(root: lxml.etree._Element) -> None:
    for block in list(leaf_blocks(root)):
        if block.getparent() is None:
            continue
        text = raw_text(block)
        if _surely_prose(text):
            continue
        line = " ".join(text.split()).strip(BULLETS).casefold()  # as `is_noise_line` reads it
        if _mostly_addresses(line):  # a theme's image data or a list of bare links
            drop(block)
            continue
        if not line or len(line) > MAX_NOISE_LINE or not NOISE_LINE_RE.fullmatch(line):
            continue
        # A theme's phrase is never the only evidence: a sentence that starts like one ("Hak
        # cipta lagu itu dipegang …") stays unless it stands at the body's edge.
        if is_sentence(line) and len(line.split()) >= _SENTENCE_WORDS:
            continue
        if block_credit(block) is not None:  # "Read the full story at AP News": a credit
            continue
        if _SECTION_HEAD_RE.fullmatch(line):
            _drop_following_links(block)
        parent = block.getparent()
        drop(block)
        # A list item that was noise may leave an empty list behind.
        while parent is not None and parent is not root and not text_of(parent).strip():
            if parent.find(".//img") is not None:
                break
            grandparent = parent.getparent()
            drop(parent)
            parent = grandparent


def _surely_prose(text: str) -> bool:
    """Whether a block's raw text is, from its first 240 characters, too long for
    a theme's line and holds too few addresses for a list of links: most paragraphs are
    then passed over without collapsing all their whitespace only to measure them.

    Those characters, collapsed and stripped as the whole line is, reach from the line's
    first kept character to at most its last, and casefolding never shortens a text: a
    long head is a long line. Collapsing, stripping and casefolding make no "://"."""
    if len(text) <= MAX_NOISE_LINE or text.count("://") >= 2:
        return False
    head = " ".join(text[: MAX_NOISE_LINE + 40].split()).strip(BULLETS)
    return len(head) > MAX_NOISE_LINE


def _mostly_addresses(line: str) -> bool:
    if line.count("://") < 2:
        return False
    return sum(map(len, URL_RE.findall(line))) > len(line) / 2


def _drop_following_links(head: lxml.etree._Element) -> None:
    """Drop the link list under a "Breaking Posts" / "Baca Juga" heading."""
    node = head
    while node is not None and node.getnext() is None and (parent := node.getparent()) is not None:
        # The list may follow the heading's container, not the heading itself.
        if len(text_of(parent)) > len(text_of(head)) + 2:
            break
        node = parent
    sibling = node.getnext() if node is not None else None
    while sibling is not None and isinstance(sibling.tag, str):
        text = text_of(sibling)
        link_text = sum(len(text_of(a)) for a in sibling.iter("a"))
        if text and link_text < 0.6 * len(text):
            break
        following = sibling.getnext()
        drop(sibling)
        sibling = following


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
    root = parse_fragment(html)
    blocks = [block for block in leaf_blocks(root) if has_text(block)]
    marks = [unwanted(text_of(block)) for block in blocks]
    wanted = [index for index, mark in enumerate(marks) if not mark]
    first, last = (wanted[0], wanted[-1]) if wanted else (len(blocks), -1)
    # A repeated sentence closing the article is boilerplate only where no credit line
    # follows it in the same post: that is the edge the credit line left behind.
    while last > first and credit_from_line(text_of(blocks[last]), None) is not None:
        last -= 1
    for index, block in enumerate(blocks):
        if not marks[index]:
            continue
        text = text_of(block)
        inside = first < index < last and not closing_evidence(text)
        # Inside: a sentence, a heading, a subhead's few words stay; a widget's long
        # invitation without a sentence's end ("Ikuti saluran kami untuk …") goes.
        if inside and (
            is_sentence(text) or block.tag in {"h2", "h3", "h4"} or _subhead_shaped(text)
        ):
            continue
        # Above the article a theme has menus and placeholders, not sentences: a sentence
        # there opens a series' post ("This release fixes many security vulnerabilities.").
        if index < first and is_sentence(text) and not closing_evidence(text):
            continue
        drop(block)
    tidy_tree(root)
    return serialize(root).strip(), plain_text(root, None)


def _subhead_shaped(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= EDGE_WORDS and len(line) <= EDGE_CHARS and line[:1].isupper()


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment: one paragraph a line, blank line between."""
    if not html or not html.strip():
        return ""
    if "<" not in html and "&" not in html:
        return collapse_paragraphs(html)
    return plain_text(parse_fragment(html), None)
