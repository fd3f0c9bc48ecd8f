"""Where a post's text really starts: past photo captions, photo credits and the headline.

Article pages often open with the picture's caption ("Ilustrasi: … (Foto: Dok. …)") or, in
full-text extraction, with the headline again; an excerpt or a blurb that starts there
shows the reader a caption, or the title twice (three times with images blocked).

A feed's own content loses the classes that mark a caption (Blogger's `tr-caption`,
WordPress's `wp-caption-text`) when it is cleaned, so the post's stored HTML is read for
what is left of them: a short paragraph right under a picture is that picture's caption.
"""

from __future__ import annotations

from html import unescape

import regex

__all__ = ["lead_text"]

# A paragraph that is a caption or a credit: it starts with a caption word...
_CAPTION_START = regex.compile(
    r"^\s*[\(\[]?\s*(?:ilustrasi|foto|photo|gambar|image|caption|keterangan(?:\s+foto)?|"
    r"dok(?:umentasi)?\.|sumber\s+foto|credit|kredit)(?:\s*[:/]|\s+[-–—]\s|\.\s|(?<=\.)\s)",
    regex.IGNORECASE,
)
# ...or ends with a credit: "(Foto: Dok. Humas)", "ANTARA FOTO/Galih Pradipta", "REUTERS/X".
_CREDIT = regex.compile(
    r"[\(\[]\s*(?:foto|photo|gambar|image|ilustrasi|dok\.?|sumber\s+foto)\s*[:/]?[^\)\]]{0,120}[\)\]]"
    r"|\b(?:antara\s+foto|reuters|afp|ap\s+photo|getty\s+images|shutterstock)\s*/\s*"
    r"\p{L}[\w.'-]*(?:\s\p{Lu}[\w.'-]*){0,2}(?:/[\w.'-]+)*",
    regex.IGNORECASE,
)
_CAPTION_WORDS = 45  # a caption is short; a paragraph longer than this is text
_PICTURE_CAPTION_WORDS = 15  # a paragraph this short right under a picture is its caption
_SITE_SUFFIX_WORDS = 4  # "Headline - Repelita Online": the site's name after the headline
_WORD = regex.compile(r"\w+", regex.UNICODE)
_FIRST_PERSON = frozenset({"i", "me", "my", "we", "our", "saya", "aku", "kami", "kita"})
_LEFTOVER = " .:;,-–—|!?)]\n\t"  # what a cut headline or credit leaves in front of the text
# The stored HTML, cut into block starts and ends, pictures, and the text between them.
_HTML_PIECE = regex.compile(
    r"<(?P<img>img)\b[^>]*>|</?(?P<block>p|div|figure|figcaption|table|tbody|tr|td|th|h[1-6]"
    r"|li|ul|ol|blockquote|br)\b[^>]*>|<[^>]*>|(?P<text>[^<]+)",
    regex.IGNORECASE,
)


def lead_text(excerpt: str, title: str, html: str = "") -> str:
    """`excerpt` without the captions, photo credits and repeated headline it opens with.

    `html`, the post's stored content, tells which of its paragraphs stand right under a
    picture; no paragraph left is only punctuation.
    """
    captions = _picture_captions(html)
    paragraphs = [part.strip() for part in regex.split(r"\n\s*\n", excerpt.strip())]
    while paragraphs:
        first = _without_headline(paragraphs[0], title)
        first = _without_leading_caption(first)
        if len(paragraphs) > 1 and tuple(_words(first)) in captions:
            first = ""
        if _WORD.search(first):
            paragraphs[0] = first
            break
        paragraphs.pop(0)
    return "\n\n".join(part for part in paragraphs if _WORD.search(part))


def _picture_captions(html: str) -> set[tuple[str, ...]]:
    """The words of each short block of text that comes right after a picture."""
    captions: set[tuple[str, ...]] = set()
    under_picture, text = False, ""
    for piece in _HTML_PIECE.finditer(html[:200_000]):
        if piece.group("text") is not None:
            text += piece.group("text")
            continue
        if piece.group("img") is None and piece.group("block") is None:
            continue  # an inline tag: <a>, <em>, <span>...
        words = _words(unescape(text))
        if words:
            # A blog's "Hi friends!" or "I finished it last night." under its photo is the
            # writer talking, not a caption.
            spoken = regex.search(r"[!?:\-–—]\W*$", unescape(text)) is not None
            spoken = spoken or not _FIRST_PERSON.isdisjoint(words)
            if under_picture and len(words) <= _PICTURE_CAPTION_WORDS and not spoken:
                captions.add(tuple(words))
            under_picture = False
        text = ""
        if piece.group("img") is not None:
            under_picture = True
    return captions


def _without_headline(paragraph: str, title: str) -> str:
    words, headline = _words(paragraph), _words(title)
    if len(headline) < 3 or words[: len(headline)] != headline:
        return paragraph
    # Cut after as many word characters as the headline has, keeping the rest as it was.
    for count, match in enumerate(_WORD.finditer(paragraph), start=1):
        if count == len(headline):
            rest = paragraph[match.end() :]
            tail = rest.lstrip(_LEFTOVER)
            # "Headline - Site Name": a short tail after a separator, with no sentence in it.
            separated = regex.match(r"\s+[-–—|:]\s", rest) is not None
            short = len(_words(tail)) <= _SITE_SUFFIX_WORDS and not regex.search(r"[.!?]", tail)
            return "" if separated and short else tail
    return paragraph


def _without_leading_caption(paragraph: str) -> str:
    """ "" for a paragraph that is only a caption; the text after an inline caption."""
    while True:
        credit = _CREDIT.search(paragraph)
        starts_as_caption = _CAPTION_START.match(paragraph) is not None
        before = paragraph[: credit.start()] if credit is not None else ""
        if (
            credit is not None
            and len(_words(before)) <= _CAPTION_WORDS
            and (starts_as_caption or _looks_like_caption(before))
        ):
            paragraph = paragraph[credit.end() :].lstrip(_LEFTOVER)
            continue
        if starts_as_caption and len(_words(paragraph)) <= _CAPTION_WORDS:
            return ""
        return paragraph


def _looks_like_caption(text: str) -> bool:
    # Text before a credit that has no sentence end in it is a picture's caption.
    return not regex.search(r"[.!?]\s+\p{Lu}", text.strip())


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text)]
