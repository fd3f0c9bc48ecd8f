"""The lines of an article's body told apart by their shape: the article's sentences and
datelines, a theme's labels, counters, menus and footers.

Blogger and WordPress news themes print the same kinds of lines around every article
("Top Post Ad", "Baca Juga: …", "0 Komentar", "6/trending/recent", "Powered by Blogger").
These predicates tell them by their words and shape alone, one line at a time; cleaning
(`syndicate.ingest.clean`) and credit lifting (`syndicate.ingest.credit`) decide by them
what stands at a body's edges. The lines one source repeats from post to post are learned
in `syndicate.ingest.furniture`.
"""

from __future__ import annotations

import re

__all__ = [
    "BULLETS",
    "EDGE_CHARS",
    "EDGE_SCAN",
    "EDGE_WORDS",
    "MAX_NOISE_LINE",
    "NOISE_LINE_RE",
    "closing_evidence",
    "furniture_shaped",
    "is_dateline",
    "is_noise_line",
    "is_sentence",
    "theme_shaped",
]

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
NOISE_LINE_RE = re.compile("|".join(f"(?:{p})" for p in _NOISE_LINES))
MAX_NOISE_LINE = 200
BULLETS = " \t\r\n-–—•·»«▶►>|*#:"


def is_noise_line(text: str) -> bool:
    """Tell whether one line of text is theme furniture ("Top Post Ad", "Baca Juga: …")."""
    return _is_noise(" ".join(text.split()))


def _is_noise(line: str) -> bool:
    """`is_noise_line` of a line whose whitespace is collapsed already: the predicates
    below collapse their line first, and a paragraph's collapsing is what costs."""
    line = line.strip(BULLETS).casefold()
    if not line or len(line) > MAX_NOISE_LINE:
        return False
    return NOISE_LINE_RE.fullmatch(line) is not None


EDGE_WORDS = 6  # a line this short at the body's edge, without a sentence's end, is a label
_SENTENCE_END = re.compile(r"(?<![\s])[.?!…:;\"”’')\]。！？」』।۔؟]$")
EDGE_CHARS = 50  # and this many characters: a line of Chinese is one "word" long
_COUNTER = re.compile(r"^[\d.,]+\s*[kmrb]?\+?\s+\w+(?:\s+\w+)?$", re.IGNORECASE)
_LABEL_SPLIT = re.compile(r"\s*[/|,•·»›>]\s*")
_PLACEHOLDER = re.compile(
    r"\b(?:type|ketik|enter|masukkan|tulis|cari|search)\b.{0,40}"
    r"\b(?:here|di ?sini|search|pencarian|results?|hasil|kata kunci|keywords?)\b",
    re.IGNORECASE,
)
_PLACEHOLDER_VERBS = ("type", "ketik", "enter", "masukkan", "tulis", "cari", "search")
# The letters re.IGNORECASE matches with an ASCII one that str.lower() does not turn into it:
# "İ" and "ı" (i), the Kelvin sign (k), the long s (ſ).
_IGNORECASE_EXTRAS = ("\u0130", "\u0131", "\u212a", "\u017f")


def _is_placeholder(line: str) -> bool:
    """Whether a line holds a search box's placeholder ("Ketik kata kunci di sini").

    The case-blind pattern, tried at every position, costs some 15 µs on a paragraph; it
    is tried only on a line whose lower case holds one of its verbs, a few scans in C.
    Where one of the letters only re.IGNORECASE folds stands, the pattern decides alone."""
    if line.isascii() or not any(extra in line for extra in _IGNORECASE_EXTRAS):
        lowered = line.lower()
        if not any(verb in lowered for verb in _PLACEHOLDER_VERBS):
            return False
    return _PLACEHOLDER.search(line) is not None


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
    # A dateline opens with a capital and a capital or a space: most lines are told apart
    # by these two letters at once, before their whitespace is collapsed for the pattern.
    opening = line.lstrip()[:2]
    if len(opening) < 2 or not "A" <= opening[0] <= "Z":
        return False
    if opening[1] not in _DATELINE_SECOND and not opening[1].isspace():
        return False
    return _DATELINE.match(" ".join(line.split())) is not None


_DATELINE_SECOND = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ .'’-")  # as the pattern's [A-Z .'’-]


def furniture_shaped(line: str) -> bool:
    """Whether a line at the edge of a body looks like a theme's: a label or a menu, a
    counter ("0 Komentar"), a label list ("6/trending/recent"), a search placeholder."""
    return _furniture_shaped(" ".join(line.split()))


def theme_shaped(line: str) -> bool:
    """`furniture_shaped(line) or closing_evidence(line)`, the line collapsed only once (a
    paragraph at an edge is asked both, and collapsing it is what costs)."""
    line = " ".join(line.split())
    return _furniture_shaped(line) or _closing_evidence(line)


def _furniture_shaped(line: str) -> bool:
    """`furniture_shaped` of a line whose whitespace is collapsed already."""
    if not line:
        return True
    if is_dateline(line) or len(line) > MAX_NOISE_LINE:
        return False
    if _COUNTER.match(line) or _is_placeholder(line) or _is_noise(line):
        return True
    parts = [part for part in _LABEL_SPLIT.split(line) if part]
    if len(parts) >= 3 and all(len(part.split()) <= 3 for part in parts):
        return not _SENTENCE_END.search(line)
    if len(line.split()) <= 3 and _ELLIPSIS_END.search(line):  # "Cari...", "Loading…"
        return True
    short = len(line.split()) <= EDGE_WORDS and len(line) <= EDGE_CHARS
    return short and not _SENTENCE_END.search(line)


_ELLIPSIS_END = re.compile(r"(?:\.{2,}|…)\W{0,2}$")

EDGE_SCAN = 80  # lines read at each edge: a theme's header or footer is never longer
# What only a theme's closing lines say, in any wording: a copyright sign, "Powered by",
# a theme's credit, a loading placeholder.
_CLOSING = re.compile(
    r"©|\(c\)\s*\d{4}|\b(?:copyright|hak cipta|all rights reserved|powered by|didukung oleh"
    r"|theme\s*:|tema\s*:|loading|memuat)\b",
    re.IGNORECASE,
)


def closing_evidence(line: str) -> bool:
    """A line that says "theme" outright: a phrase, a counter, a placeholder, a copyright."""
    return _closing_evidence(" ".join(line.split()))


def _closing_evidence(line: str) -> bool:
    """`closing_evidence` of a line whose whitespace is collapsed already."""
    return bool(
        _is_noise(line)
        or _COUNTER.match(line)
        or _is_placeholder(line)
        or (len(line) <= MAX_NOISE_LINE and _CLOSING.search(line))
    )
