"""What the commands print, and how: cleaned lines, tables, counts and progress.

Everything a command shows passes through `echo`: without control characters or terminal
escape sequences (a feed's title may carry some) and without a URL's secrets.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from syndicate.printable import printable
from syndicate.progress import Progress
from syndicate.redaction import redact

__all__ = [
    "LogFormatter",
    "counted",
    "counts_sentence",
    "deliver_showing_progress",
    "echo",
    "print_table",
    "show_progress",
    "shown_path",
]


def echo(*values: object, file: TextIO | None = None) -> None:
    """Print, as everything a command prints: without control characters or terminal
    escape sequences (a feed's title may carry some) and without a URL's secrets."""
    text = " ".join(str(value) for value in values)
    print(redact(printable(text)), file=file or sys.stdout)


class LogFormatter(logging.Formatter):
    """Log lines as `echo` prints: a logged title or URL is shown the same way."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(printable(super().format(record)))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    # Each cell on one line, cleaned before it is measured.
    cells = [[" ".join(printable(str(cell)).split()) for cell in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    echo("  ".join("-" * w for w in widths))
    for row in cells:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 delivery", "2 deliveries", "0 jobs": the number with the noun it agrees with."""
    if number == 1:
        return f"1 {noun}"
    if plural is None:
        plural = (
            noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
        )
    return f"{number} {plural}"


def shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def counts_sentence(counts: Any) -> str:
    if not counts:
        return "Nothing was due for delivery."
    parts = ", ".join(f"{number} {state}" for state, number in sorted(counts.items()))
    return f"Deliveries: {parts}."


def show_progress(label: str, total: int | None = None) -> Progress:
    return Progress(label, total)


async def deliver_showing_progress(
    site: Any, args: argparse.Namespace, *, wait: Any, deliver: Any
) -> Any:
    """`deliver(...)` over the site's deliveries, with a progress line unless --quiet."""
    shows = show_progress("Delivering") if not args.quiet else None
    counts = await deliver(
        site.db,
        site.config,
        site.channels,
        wait_for_retries=wait,
        progress=(lambda channel, state: shows.step()) if shows else None,
    )
    if shows:
        shows.done()
    return counts
