"""Credit lines: the line that names where an article first ran, read and lifted out.

An article taken from elsewhere says so in one of a few shapes, whatever its exact words: a
label ("Sumber: Kompas.com", "Source:"), a verb of borrowing ("Dilansir dari CNBC
Indonesia", "Reprinted with permission from"), a sentence saying where the text first ran
("This story first appeared in …"), a news agency's tag ("(Reuters)"). `lift_credit` takes
the closing credit line out of an article and returns it as a `Credit`, named as written,
with the link the line carried; `wire_credit` reads the agency an opening dateline names
("WASHINGTON (Reuters) -").
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import lxml.etree

from syndicate.ingest.fragment import (
    collapse_paragraphs,
    drop,
    has_text,
    leaf_blocks,
    parse_fragment,
    serialize,
    split_runs,
    text_of,
    tidy,
)
from syndicate.ingest.lines import (
    EDGE_SCAN,
    MAX_NOISE_LINE,
    furniture_shaped,
    is_dateline,
    theme_shaped,
)
from syndicate.types import Credit

__all__ = [
    "URL_RE",
    "WIRES",
    "block_credit",
    "credit_from_line",
    "edge_like",
    "lift_credit",
    "lift_from_tree",
    "wire_credit",
]

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
_WIRE_LINE_CHARS = 1 + 1 + 31 + 1 + 1  # bracket, space, name, space, bracket
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
URL_RE = re.compile(r"https?://[^\s\"'<>]+")
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
    root = parse_fragment(html)
    split_runs(root)
    lifted = lift_from_tree(root)
    if lifted is None:
        return html, None
    return tidy(serialize(root)), lifted if lifted.name else None


def lift_from_tree(root: lxml.etree._Element) -> Credit | None:
    """Drop the credit lines from the closing block of `root`; the credit they gave (an
    unnamed one when the lines named no one), None when there were none.

    The closing block is what follows the article's last paragraph that is no credit line:
    every credit line in it goes (two sources named, "Sumber: Reuters" then "Dikutip dari
    CNBC Indonesia": the first named is the original), and so does what follows the first
    of them, the theme's comment boxes, ad slots and labels.
    """
    blocks = [b for b in reversed(list(leaf_blocks(root))) if has_text(b)][:EDGE_SCAN]
    found: list[tuple[int, Credit]] = []
    for position, block in enumerate(blocks):
        text = text_of(block)
        credit = block_credit(block, text)
        if credit is not None:
            found.append((position, credit))
        elif (found and not edge_like(text)) or len(text) > MAX_NOISE_LINE:
            break  # the article's own paragraphs: no credit line above here counts
        elif position >= _CREDIT_WINDOW and not furniture_shaped(text):
            break
    if not found:
        return None
    lifted = {position for position, _ in found}
    for position, block in enumerate(blocks[: max(lifted) + 1]):
        # What follows the credit line is the theme's: comment boxes, ad slots, labels.
        if position in lifted or len(text_of(block)) <= MAX_NOISE_LINE:
            drop(block)
    # A line whose only link is a shortener names no one: it goes, and credits no one
    # (an unnamed credit says so to the callers).
    named = [credit for _, credit in reversed(found) if credit.name]
    return named[0] if named else found[0][1]


_CLOSING_WORDS = 8  # a sentence this short among a theme's lines is one of them


def edge_like(line: str) -> bool:
    """A line that may belong to a theme's block at an edge: furniture-shaped, or a short
    sentence ("Comments are closed.", "Like Loading…"), or a credit line."""
    if theme_shaped(line):
        return True
    if is_dateline(line) or len(line) > MAX_NOISE_LINE:
        return False
    return len(line.split()) <= _CLOSING_WORDS or credit_from_line(line, None) is not None


def block_credit(block: lxml.etree._Element, text: str | None = None) -> Credit | None:
    """The credit a block's line gives, read with its first link ("Sumber: <a>di sini</a>");
    `text` is the block's `text_of` when the caller has read it already."""
    if text is None:
        text = text_of(block)
    if len(text) > MAX_NOISE_LINE * 2:
        return None
    link = next((a.get("href") for a in block.iter("a") if a.get("href")), None)
    return credit_from_line(text, link)


def _lift_from_text(text: str) -> tuple[str, Credit | None]:
    lines = text.splitlines()
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for index in reversed(filled[-_CREDIT_WINDOW:]):
        credit = credit_from_line(lines[index], None)
        if credit is not None:
            del lines[index]
            return collapse_paragraphs("\n".join(lines)), credit if credit.name else None
    return text, None


def credit_from_line(line: str, link: str | None) -> Credit | None:
    words = line.split()
    line = " ".join(words).strip(" -–—•*|_~")
    # Stripping the ends never adds a word: the line is split again only when it may
    # have lost some of too many.
    if len(line) > 400 or (len(words) > 60 and len(line.split()) > 60):
        return None
    # In a collapsed line each \s* is a space at most: a bare tag is 35 characters at most.
    wire = _WIRE_LINE.fullmatch(line) if len(line) <= _WIRE_LINE_CHARS else None
    if wire is not None and wire.group("name").casefold() in WIRES:
        return Credit(name=wire.group("name"), url=link)
    for pattern in _CREDIT_RES:
        if pattern is _LABEL_LINE and ":" not in line and "：" not in line:
            continue  # its look-ahead reads the whole line, for a colon it cannot do without
        match = pattern.match(line)
        if match is None:
            continue
        url = match.groupdict().get("url") or link
        if url is None and (found := URL_RE.search(line)):
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


_LABEL_LINE = _CREDIT_RES[0]  # "Sumber: …", its label and a colon
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
