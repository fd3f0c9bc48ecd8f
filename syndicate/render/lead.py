"""Where a post's text really starts: past photo captions, photo credits and the headline.

Article pages often open with the picture's caption ("Ilustrasi: … (Foto: Dok. …)") or, in
full-text extraction, with the headline again; an excerpt or a blurb that starts there
shows the reader a caption, or the title twice (three times with images blocked).
"""

from __future__ import annotations

import regex

__all__ = ["lead_text"]

# A paragraph that is a caption or a credit: it starts with a caption word...
_CAPTION_START = regex.compile(
    r"^\s*[\(\[]?\s*(?:ilustrasi|foto|photo|gambar|image|caption|keterangan(?:\s+foto)?|"
    r"dok(?:umentasi)?\.|sumber\s+foto|credit|kredit)(?:\s*[:/]|\s+[-–—]\s|(?<=\.)\s)",
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
_WORD = regex.compile(r"\w+", regex.UNICODE)


def lead_text(excerpt: str, title: str) -> str:
    """`excerpt` without the captions, photo credits and repeated headline it opens with."""
    paragraphs = [part.strip() for part in regex.split(r"\n\s*\n", excerpt.strip())]
    while paragraphs:
        first = _without_headline(paragraphs[0], title)
        first = _without_leading_caption(first)
        if first:
            paragraphs[0] = first
            break
        paragraphs.pop(0)
    return "\n\n".join(paragraphs)


def _without_headline(paragraph: str, title: str) -> str:
    words, headline = _words(paragraph), _words(title)
    if len(headline) < 3 or words[: len(headline)] != headline:
        return paragraph
    # Cut after as many word characters as the headline has, keeping the rest as it was.
    for count, match in enumerate(_WORD.finditer(paragraph), start=1):
        if count == len(headline):
            return paragraph[match.end() :].lstrip(" .:;,-–—|\n\t")
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
            paragraph = paragraph[credit.end() :].lstrip(" .:;,-–—|\n\t")
            continue
        if starts_as_caption and len(_words(paragraph)) <= _CAPTION_WORDS:
            return ""
        return paragraph


def _looks_like_caption(text: str) -> bool:
    # Text before a credit that has no sentence end in it is a picture's caption.
    return not regex.search(r"[.!?]\s+\p{Lu}", text.strip())


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text)]
