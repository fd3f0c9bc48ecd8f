"""An HTML fragment as an lxml tree: parsed, walked block by block, cut, read as text.

Cleaning (`syndicate.ingest.clean`) and credit lifting (`syndicate.ingest.credit`) work on
the tree of one article's HTML, and these are the operations they share: `parse_fragment`
reads the fragment into a <div> with lxml.etree's own parser, `serialize` writes it back,
`leaf_blocks` walks its innermost blocks, `split_runs` gives loose runs of text their own
<p>, `drop` and `tidy_tree` cut it, `plain_text` reads it as one paragraph a line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import lxml.etree

__all__ = [
    "DROPPED_WITH_CONTENT",
    "collapse_paragraphs",
    "collapse_spaces",
    "collect_text",
    "drop",
    "has_text",
    "is_block",
    "leaf_blocks",
    "parse_fragment",
    "plain_text",
    "raw_text",
    "serialize",
    "split_runs",
    "text_of",
    "tidy",
    "tidy_tree",
]

DROPPED_WITH_CONTENT = {
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "form", "select", "textarea", "button", "input", "ins", "head", "title", "video", "audio",
}  # fmt: skip
_BLOCK_TAGS = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "section", "article", "aside", "header", "footer", "nav", "figure",
    "figcaption", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "pre", "center",
    "main", "hr", "address", "details", "summary",
}  # fmt: skip

# lxml.etree's own HTML parser: lxml.html's element classes cost a Python call per node.
_HTML_PARSER = lxml.etree.HTMLParser()


def parse_fragment(html: str) -> lxml.etree._Element:
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


def serialize(root: lxml.etree._Element) -> str:
    """The fragment's HTML, without the <div> that holds it (its own text as it stands)."""
    if not len(root):
        return root.text or ""
    # One call writes all the children (a call for each cost twice as much); the <div>'s
    # own text is left out of it, for that one is not escaped.
    text, root.text = root.text, None
    try:
        html = _HTML_OF(root, with_tail=False)
    finally:
        root.text = text
    if html.startswith(_OPEN) and html.endswith(_CLOSE):
        return (text or "") + html[len(_OPEN) : -len(_CLOSE)]
    return "".join([text or "", *map(_HTML_OF, root)])  # a holder of another shape


_HTML_OF = functools.partial(lxml.etree.tostring, encoding="unicode", method="html")
_OPEN, _CLOSE = "<div>", "</div>"


def drop(element: lxml.etree._Element) -> None:
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


def text_of(element: lxml.etree._Element) -> str:
    """An element's text, its whitespace collapsed to single spaces."""
    return collapse_spaces(raw_text(element))


def raw_text(element: lxml.etree._Element) -> str:
    """An element's text as it stands: what `"".join(element.itertext())` gives, without
    its tail. libxml2 joins it in C, many times faster than itertext's Python loop (an
    article's blocks are read this way a few dozen times); both leave comments out."""
    if not len(element):  # most paragraphs: their text is all there is
        return element.text or ""
    return _TEXT_OF(element)


_TEXT_OF = functools.partial(
    lxml.etree.tostring, method="text", encoding="unicode", with_tail=False
)


def is_block(element: lxml.etree._Element) -> bool:
    """Whether an element is a block (a paragraph, a list, a heading), not inline."""
    return isinstance(element.tag, str) and element.tag in _BLOCK_TAGS


def split_runs(element: lxml.etree._Element) -> None:
    """Give each run of loose text between <br>s and blocks in `element` its own <p>."""
    if not len(element):  # no <br> or block inside: nothing to split (most paragraphs)
        return
    children = list(element)
    has_br = any(child.tag == "br" for child in children)
    has_block = any(is_block(child) for child in children)
    has_inline = bool((element.text or "").strip()) or any(
        not is_block(c) or (c.tail or "").strip() for c in children
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
        if child.tag == "br" or is_block(child):
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


def leaf_blocks(root: lxml.etree._Element) -> Iterator[lxml.etree._Element]:
    """The blocks of `root` that hold no block: its paragraphs, list items and headings."""
    for element in root.iter():
        if (
            element is not root
            and is_block(element)
            and not any(map(is_block, element.iterdescendants()))
        ):
            yield element


def tidy(html: str) -> str:
    """Drop the empty paragraphs that sanitizing leaves behind."""
    if not html.strip():
        return ""
    root = parse_fragment(html)
    tidy_tree(root)
    return serialize(root).strip()


def tidy_tree(root: lxml.etree._Element) -> None:
    """Drop the empty paragraphs, lists and headings, and unwrap the links to nowhere."""
    for element in list(root.iter("p", "li", "ul", "ol", "blockquote", "h2", "h3", "h4")):
        empty = not has_text(element) and element.find(".//img") is None
        if empty and element.getparent() is not None:
            drop(element)
    for link in list(root.iter("a")):
        if not link.get("href") and not len(link):
            _unwrap(link)


def has_text(element: lxml.etree._Element) -> bool:
    """Whether an element holds any text that is not whitespace."""
    first = element.text
    if first and not first.isspace():  # most paragraphs: known from their first words
        return True
    text = raw_text(element)
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


def plain_text(root: lxml.etree._Element, html: str | None) -> str:
    """The plain text of a parsed fragment: one paragraph a line, a blank line between
    (`html`, when given, is its source)."""
    if html is not None and "<" not in html and "&" not in html:
        return collapse_paragraphs(html)
    parts: list[str] = []
    collect_text(root, parts)
    return collapse_paragraphs("".join(parts))


# What str.splitlines() would break a line at: inside a text node it is only a space
# (`collapse_paragraphs` then squeezes the spaces).
_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))


def collect_text(element: lxml.etree._Element, parts: list[str]) -> None:
    """Append an element's text to `parts`, a line break around each block."""
    tag = element.tag
    if isinstance(tag, str) and tag not in DROPPED_WITH_CONTENT:
        block = tag in _BLOCK_TAGS
        if block or tag == "br":
            parts.append("\n")
        if element.text:
            parts.append(element.text.translate(_LINE_BREAKS))
        for child in element:
            collect_text(child, parts)
        if block:
            parts.append("\n")
    if element.tail:
        parts.append(element.tail.translate(_LINE_BREAKS))


def collapse_paragraphs(text: str) -> str:
    """Each line's words joined by one space, empty lines left out, a blank line between."""
    spaced = _ascii_spaced(text, _ASCII_BREAKS_AND_SPACES)
    if spaced is not None:
        lines = spaced.strip(" ").replace(" \n", "\n").replace("\n ", "\n").split("\n")
        return _as_split_gives(text, "\n\n".join(filter(None, lines)))
    return "\n\n".join(filter(None, map(" ".join, map(str.split, text.splitlines()))))


def collapse_spaces(text: str) -> str:
    """`" ".join(text.split())`: the text's words joined by one space."""
    spaced = _ascii_spaced(text, _ASCII_SPACES)
    if spaced is not None:
        return _as_split_gives(text, spaced.strip(" "))
    return " ".join(text.split())


def _ascii_spaced(text: str, table: dict[int, str]) -> str | None:
    """An ASCII text with its whitespace made spaces (or line breaks, by `table`), when no
    two spaces then stand together; None for any other text, to be split into words.

    An ASCII text's whitespace is ten known characters: replaced in C by `str.translate`,
    the text is collapsed by stripping its ends, some three times as fast as by splitting
    it into words and joining them (an article's whole text is collapsed several times).
    Runs of spaces (an indented source) are squeezed no faster than split, so not here."""
    if not text.isascii():
        return None
    spaced = text.translate(table)
    return None if "  " in spaced else spaced


_ASCII_SPACES = str.maketrans(dict.fromkeys("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", " "))
# Where str.splitlines breaks a line, a line break; other whitespace, a space.
_ASCII_BREAKS_AND_SPACES = str.maketrans(
    {**dict.fromkeys("\n\x0b\x0c\r\x1c\x1d\x1e", "\n"), **dict.fromkeys("\t\x1f", " ")}
)


def _as_split_gives(text: str, collapsed: str) -> str:
    """`collapsed`, or `text` itself where splitting and joining would have given it back:
    a text without whitespace. A parsed entry is pickled, and one string object in two of
    its fields (an excerpt that is the whole content) is written once."""
    unchanged = collapsed == text and " " not in text and "\n" not in text
    return text if unchanged else collapsed
