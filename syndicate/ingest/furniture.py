"""Theme furniture a source repeats: the lines that recur across its posts are its template.

A Blogger or WordPress theme prints the same widgets, menus, ad labels, comment boxes and
footers around every article. When a feed (or a page) carries them as plain paragraphs,
nothing in the markup tells them from the article; that they recur does. A line, written
the same way (case, spacing and a counter's figures aside), found in at least `MIN_POSTS` of a
source's posts and in at least `SHARE` of them is its template. It is learned from the
entries of the feed being read together with the source's latest stored posts, so a
first poll of a feed of several posts already knows the theme, and kept on the source
(`Source.furniture`), so a later lone post is cleaned by what was learned before.
Datelines ("JAKARTA, KOMPAS.com –") repeat too, and stay: they are the article's.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from syndicate.ingest.entries import FeedEntry
from syndicate.ingest.lines import is_dateline

__all__ = ["MIN_POSTS", "SHARE", "Template", "learn", "line_key", "without_template"]

MIN_POSTS = 3
SHARE = 0.3
MAX_LINE = 200  # template lines are short: a paragraph of prose that repeats is quoted
KEPT_LINES = 400  # per source; the oldest learned go first
COUNTER_WORDS = 4


def line_key(line: str) -> str:
    """A line as compared across posts: case, spacing and bullets aside, and the figures of
    a short one ("12 Komentar"); a sentence's figures are its own (daily price reports)."""
    words = " ".join(line.split()).strip(" -–—•·»«▶►>|*#:").casefold()
    return re.sub(r"\d+", "#", words) if len(words.split()) <= COUNTER_WORDS else words


class Template:
    """The lines a source's theme repeats, as learned so far."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self.lines: dict[str, None] = dict.fromkeys(lines)

    @classmethod
    def loads(cls, stored: str | None) -> Template:
        """The template kept on a source (JSON); an unreadable one starts afresh."""
        try:
            lines = json.loads(stored) if stored else []
        except ValueError:
            lines = []
        return cls(line for line in lines if isinstance(line, str))

    def dumps(self) -> str:
        return json.dumps(list(self.lines)[-KEPT_LINES:], ensure_ascii=False)

    def __contains__(self, line: str) -> bool:
        return line_key(line) in self.lines


def learn(template: Template, texts: Sequence[str]) -> Template:
    """`template` with the lines that recur across `texts` (one post's text each, a
    paragraph a line) added."""
    seen: Counter[str] = Counter()
    for text in texts:
        keys = {line_key(line) for line in text.split("\n") if _may_be_template(line)}
        seen.update(keys)
    needed = max(MIN_POSTS, SHARE * len(texts))
    found = [key for key, count in seen.items() if key and count >= needed]
    return Template([*template.lines, *sorted(found)])


def without_template(entries: Sequence[FeedEntry], template: Template) -> list[FeedEntry]:
    """The entries with their template lines taken out of their HTML and text."""
    if not template.lines:
        return list(entries)
    cleaned = []
    for entry in entries:
        if not any(line in template for line in entry.excerpt.split("\n") if line):
            cleaned.append(entry)
            continue
        # Imported only here: most polls drop no line, and the poll's main process, which
        # learns templates, need not load the cleaning (lxml, nh3) for nothing.
        from syndicate.ingest.clean import drop_lines

        html, text = drop_lines(entry.content_html, template.__contains__)
        if text:  # a post that would be left empty keeps what it had
            entry = replace(entry, content_html=html, excerpt=text)
        cleaned.append(entry)
    return cleaned


def _may_be_template(line: str) -> bool:
    line = line.strip()
    return bool(line) and len(line) <= MAX_LINE and not is_dateline(line)
