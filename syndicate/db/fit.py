"""Fitting a row to its table before it is stored: each value made one its column can hold.

Feeds are written by strangers. A comment count of 99999999999999999999 overflows SQLite's
INTEGER, a NUL in a title is refused by PostgreSQL, a title longer than a VARCHAR fails the
whole INSERT, and a year-1 date west of Greenwich cannot even be read back. The limits come
from the columns themselves, and are the stricter of the two databases':

- Integer: 32 bits (PostgreSQL's INTEGER; SQLite would take 64), BigInteger 64, SmallInteger
  16; a number beyond them becomes the nearest one within;
- String(n): n characters; Text: `TEXT_CHARS`, or the column's `info["max_chars"]`; control
  characters and terminal escapes are removed first (`syndicate.printable`);
- dates: aware (a naive one is taken as UTC) and between `EARLIEST` and `LATEST`; outside
  them a date is a placeholder (Go's zero time is 0001-01-01): no date where the column may
  have none, else the nearest bound.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, SmallInteger, String, Table

from syndicate.printable import printable

__all__ = ["EARLIEST", "LATEST", "TEXT_CHARS", "fit_row", "fit_value", "holds"]

TEXT_CHARS = 2_000_000  # a long article is a few hundred thousand characters
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)

Fitter = Callable[[Any], Any]


def fit_row(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with each value of one of `table`'s columns fitted to it; other keys (a
    statement's own parameters) are passed along unchanged."""
    fitters = _fitters(table)
    return {
        key: fitters[key](value) if key in fitters and value is not None else value
        for key, value in row.items()
    }


def fit_value(column: Column[Any], value: Any) -> Any:
    """One value fitted to its column."""
    return None if value is None else _fitters(column.table)[column.key](value)


def holds(column: Column[Any], value: int) -> bool:
    """Whether an integer column can hold `value`: an id read from a URL, say."""
    low, high = _integer_range(column)
    return low <= value <= high


@functools.cache
def _fitters(table: Table) -> dict[str, Fitter]:
    return {column.key: _fitter(column) for column in table.columns}


def _fitter(column: Column[Any]) -> Fitter:
    kind = getattr(column.type, "impl", column.type)  # a TypeDecorator's own type
    if isinstance(kind, Integer):
        low, high = _integer_range(column)
        return functools.partial(_integer, low, high)
    if isinstance(kind, String):
        limit = min(kind.length or TEXT_CHARS, column.info.get("max_chars", TEXT_CHARS))
        return functools.partial(_text, limit)
    if isinstance(kind, DateTime):
        return functools.partial(_date, column.nullable)
    return _unchanged


def _integer_range(column: Column[Any]) -> tuple[int, int]:
    kind = getattr(column.type, "impl", column.type)
    if isinstance(kind, BigInteger):
        bits = 64
    elif isinstance(kind, SmallInteger):
        bits = 16
    else:
        bits = 32
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _integer(low: int, high: int, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return min(max(value, low), high)


def _text(limit: int, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # Cut before cleaning too: a hostile megabyte is not worth scanning whole.
    return printable(value[: limit * 2])[:limit]


def _date(nullable: bool | None, value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if EARLIEST <= value <= LATEST:
        return value
    if nullable:
        return None
    return EARLIEST if value < EARLIEST else LATEST


def _unchanged(value: Any) -> Any:
    return value
