"""Text safe to store and to show: control characters and terminal escape sequences removed.

A feed's title can hold a NUL (which PostgreSQL refuses), a bell, or a whole escape sequence
that recolours, clears or retitles the terminal a command prints it on (`ESC [31m`,
`ESC ]0;title BEL`). `printable` removes them, keeping tabs and line breaks. The database's
fitting step (`syndicate.db.fit`) and every line the CLI prints go through it.
"""

from __future__ import annotations

import re

__all__ = ["printable", "shortened"]

# Whole sequences first, so that no "[31m" is left behind when the ESC goes.
_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing the screen
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the same, introduced by the one-character C1 CSI
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC: titles, hyperlinks
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c\n]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # any other escape: charset switches, keypad modes, resets
)
# C0 but tab and line feed, DEL, C1, and halves of surrogate pairs (no encoder takes them).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


# The same characters as bytes, for text whose every character is below U+0100.
_LATIN_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])


def printable(text: str) -> str:
    """`text` without control characters (but tab and line feed) and escape sequences."""
    if _clean(text):
        return text  # the usual case, answered by one scan
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def _clean(text: str) -> bool:
    """Whether `text` holds no control character: a feed's text is mostly below U+0100,
    where deleting the control bytes and comparing lengths is a few times faster than the
    pattern's scan (a first poll stores tens of megabytes of text)."""
    try:
        latin = text.encode("latin-1")
    except UnicodeEncodeError:
        return _CONTROLS.search(text) is None
    return len(latin.translate(None, _LATIN_CONTROLS)) == len(latin)


def shortened(text: str, most: int) -> str:
    """`text`, or its start and its length when it is longer than `most` characters: a
    hostile value (a 200 KB link, a 5000-digit number) named in a sentence."""
    return text if len(text) <= most else f"{text[:most]}… ({len(text)} characters)"
