"""A post's fingerprint: the hashed word shingles, figures and LSH band keys its text is
compared by (see `cluster.py` for how they are used).

Kept apart from the clustering, which needs the database, so that the processes that parse
feeds fingerprint each new entry where it was read (`workers.py`): the poll's main
process, which stores and places posts one source after another, then only compares.
"""

from __future__ import annotations

import itertools
import re
import struct
import zlib
from array import array
from dataclasses import dataclass

__all__ = [
    "BANDS",
    "BODY_WORDS",
    "EXCERPT_CHARS",
    "LEAD_WORDS",
    "MIN_SHINGLES",
    "ROWS",
    "SHINGLE_WORDS",
    "Fingerprint",
    "fingerprint",
    "made_from",
    "pack",
    "unpack",
]

LEAD_WORDS = 120
SHINGLE_WORDS = 3
MIN_SHINGLES = 6  # fewer shared-able shingles than this and two texts prove nothing
# The copy rule (see `cluster.same_story`): a lead found whole in another post's first
# `BODY_WORDS` words is a copy even when a publisher's own opening paragraph precedes it.
BODY_WORDS = 200  # finds a copy whose own opening is up to 80 words long
# LSH banding: BANDS bands of ROWS min-hashes each (see `cluster.ClusterIndex`).
ROWS = 4
BANDS = 16
EXCERPT_CHARS = 2000  # of a post's plain text: enough for BODY_WORDS words, usually
_BINS = 64  # one-permutation min-hash bins (ROWS x BANDS of them are used)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Fingerprint:
    """What a post's words look like to the comparison: hashed shingles."""

    text: frozenset[int]  # word 3-shingles of the lead
    title: frozenset[int]  # word pairs of the title
    figures: frozenset[str] = frozenset()  # the numbers and weekdays of the lead
    body: frozenset[int] = frozenset()  # word 3-shingles of the first BODY_WORDS words
    body_figures: frozenset[str] = frozenset()  # the numbers and weekdays of those words
    bands: tuple[int, ...] = ()  # LSH band keys of the lead's min-hashes


def fingerprint(title: str, text: str) -> Fingerprint:
    """The fingerprint of a post's title and the lead of its text."""
    words = _words(text, BODY_WORDS)
    lead_marks = _marks(words[:LEAD_WORDS])
    if len(words) > LEAD_WORDS:
        runs = _runs(words, SHINGLE_WORDS)  # the lead's are the first of the body's
        lead, body = frozenset(runs[: LEAD_WORDS - SHINGLE_WORDS + 1]), frozenset(runs)
        # A word's figures are its own, a date's two words a pair: the body's marks are
        # the lead's and those of the rest, read from the lead's last word on.
        body_marks = lead_marks | _marks(words[LEAD_WORDS - 1 :])
    else:
        lead = body = _shingles(words, SHINGLE_WORDS)
        body_marks = lead_marks
    return Fingerprint(
        lead,
        _shingles(_split_words(title.casefold()), 2),
        lead_marks,
        body,
        body_marks,
        _bands(lead),
    )


_MONTHS = frozenset(
    str.split(
        "januari februari maret april mei juni juli agustus september oktober november"
        " desember january february march may june july august october december jan feb mar"
        " apr jun jul agu aug sep okt oct nov des dec"
    )
)
_WEEKDAYS = frozenset(
    str.split(
        "senin selasa rabu kamis jumat sabtu minggu monday tuesday wednesday thursday friday"
        " saturday sunday"
    )
)
_DIGITS = re.compile(r"\d+")


def _marks(words: list[str]) -> frozenset[str]:
    """The figures among `words` ("2026", the "14" of "Rp14", "15" and "812" of "15.812"), the
    days they name ("@24 november", "@senin"): what tells one day's report from another's.
    (A new headline's figures are the republisher's, not the story's: titles are not read.)
    """
    figures = set(_DIGITS.findall(" ".join(itertools.filterfalse(str.isalpha, words))))
    figures.update("@" + day for day in _WEEKDAYS.intersection(words))
    if not _MONTHS.isdisjoint(words):
        figures.update(
            f"@{number} {month}"
            for number, month in itertools.pairwise(words)
            if month in _MONTHS and len(number) <= 2 and number.isdigit()
        )
    return frozenset(figures)


def _words(text: str, count: int) -> list[str]:
    """The first `count` words of `text`, casefolded, reading only as much as needed.

    They usually fit in their first `count` x 8 characters; when more than `count` words are
    found there, none of the first `count` can have been cut short. (Casefolding maps each
    character alone, so it commutes with taking a prefix.)
    """
    prefix = text[: count * 8]
    words = _split_words(prefix.casefold())
    if len(words) <= count and len(prefix) < len(text):
        words = _split_words(text.casefold())
    return words[:count]


def _split_words(text: str) -> list[str]:
    """`_WORD.findall(text)`: in an ASCII text the word characters are [a-z0-9_] once
    casefolded, so every other character is made a space and the text split on spaces,
    three times as fast as the pattern (most news text is ASCII)."""
    if text.isascii():
        return text.translate(_ASCII_NOT_WORD).split()
    return _WORD.findall(text)


_ASCII_NOT_WORD = str.maketrans(
    {chr(code): " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_")}
)


def _shingles(words: list[str], size: int) -> frozenset[int]:
    if len(words) < size:
        return frozenset({zlib.crc32(" ".join(words).encode())}) if words else frozenset()
    # A post is fingerprinted on every poll that places it or compares with it.
    return frozenset(_runs(words, size))


def _runs(words: list[str], size: int) -> list[int]:
    """The hash of each run of `size` words joined by spaces, in order, all in C."""
    runs = zip(*(words[i:] for i in range(size)), strict=False)
    return list(map(zlib.crc32, map(str.encode, map(" ".join, runs))))


_MIX = 0x9E3779B97F4A7C15  # odd: multiplying by it modulo 2**64 permutes the hash values
_MASK = (1 << 64) - 1
_BIN_BITS = 58  # the top 6 bits of a mixed hash pick one of the 64 bins


def _bands(shingles: frozenset[int]) -> tuple[int, ...]:
    """The LSH band keys of a set of shingles: one-permutation min-hashing into `_BINS` bins
    (each bin keeps its smallest mixed hash), empty bins filled from the next full one
    (rotation densification), then `BANDS` keys of `ROWS` bins each. Two sets agree on one
    bin with probability their Jaccard similarity, as with independent hash functions."""
    if len(shingles) < MIN_SHINGLES:
        return ()
    bins: list[int] = [-1] * _BINS
    low = (1 << _BIN_BITS) - 1
    # Largest first, so the value left in each bin is its smallest.
    for mixed in sorted([(shingle + 1) * _MIX & _MASK for shingle in shingles], reverse=True):
        bins[mixed >> _BIN_BITS] = mixed & low
    full = bins[:]
    for at in range(_BINS):
        if full[at] < 0:
            step = 1
            while full[(at + step) % _BINS] < 0:
                step += 1
            bins[at] = (full[(at + step) % _BINS] + step * 0x5BD1E995) & low
    # A tuple of ints hashes alike in every process (no hash seed applies to ints).
    return tuple(hash((band, *bins[band * ROWS : band * ROWS + ROWS])) for band in range(BANDS))


def made_from(title: str, text: str) -> int:
    """A checksum of what a fingerprint is made from: a fingerprint made where the feed was
    read is used only for the very title and text that are stored."""
    return zlib.crc32(
        text[:EXCERPT_CHARS].encode("utf-8", "surrogatepass"),
        zlib.crc32(title.encode("utf-8", "surrogatepass")),
    )


# What a stored fingerprint was made by: one made by other rules (another LEAD_WORDS, ROWS,
# BANDS) is not read back, and the post is fingerprinted again from its text.
_RULES = zlib.crc32(
    f"{LEAD_WORDS}/{BODY_WORDS}/{SHINGLE_WORDS}/{ROWS}/{BANDS}/{_BINS}/{EXCERPT_CHARS}".encode()
)
_HEAD = struct.Struct("<BIHHHHI")  # version, rules, four counts, checksum of the rest
_PACKED = 1  # the layout's own version


def pack(print_: Fingerprint) -> bytes:
    """A fingerprint as bytes to store with its post (about 1.3 KB), so that a later poll
    reads the window's fingerprints back instead of making them again from every text."""
    extra = print_.body - print_.text
    figures = (
        "\x1f".join(sorted(print_.figures)) + "\x1e" + "\x1f".join(sorted(print_.body_figures))
    )
    body = b"".join((
        array("I", print_.text).tobytes(),
        array("I", print_.title).tobytes(),
        array("I", extra).tobytes(),
        array("q", print_.bands).tobytes(),
        figures.encode("utf-8", "surrogatepass"),
    ))  # fmt: skip
    counts = (len(print_.text), len(print_.title), len(extra), len(print_.bands))
    return _HEAD.pack(_PACKED, _RULES, *counts, zlib.crc32(body)) + body


def unpack(data: object) -> Fingerprint | None:
    """A stored fingerprint, or None when there is none, it was made by other rules, or it
    cannot be read (the post is then fingerprinted from its text). SQLite keeps whatever
    was written into the column: a number or a text there is no fingerprint either."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes) or len(data) < _HEAD.size:
        return None
    try:
        version, rules, texts, titles, extras, bands, check = _HEAD.unpack_from(data)
        if version != _PACKED or rules != _RULES or zlib.crc32(data[_HEAD.size :]) != check:
            return None
        at = _HEAD.size
        parts = []
        for kind, count in (("I", texts), ("I", titles), ("I", extras), ("q", bands)):
            part = array(kind)
            end = at + count * part.itemsize
            part.frombytes(data[at:end])
            if len(part) != count:
                return None
            parts.append(part)
            at = end
        lead, body_figures = data[at:].decode("utf-8", "surrogatepass").split("\x1e")
    except (struct.error, ValueError):
        return None
    text = frozenset(parts[0])
    body = text.union(parts[2]) if extras else text
    return Fingerprint(
        text,
        frozenset(parts[1]),
        frozenset(lead.split("\x1f")) - {""},
        body,
        frozenset(body_figures.split("\x1f")) - {""},
        tuple(parts[3]),
    )
