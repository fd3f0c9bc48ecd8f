"""Repairing mojibake: UTF-8 read as Windows-1252 ("â€™" for "’"), put back as written.

A feed or page that declares one encoding and sends another reaches us as mojibake, and
so do Windows-1252 quotes written as if they were Latin-1 ("don\x92t"). `repair_mojibake`
undoes both and leaves correct text alone; cleaning and extraction call it before
anything else reads the text.
"""

from __future__ import annotations

import re

__all__ = ["repair_mojibake"]


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
