"""Subscribers and their lists: adding, importing from CSV, listing, removing.

An address is stored once, whatever the case of its domain. Removing never deletes a
row: the subscriber and their delivery history stay, with a status that says they left.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from syndicate.db.insert import insert_new
from syndicate.db.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    utcnow,
)
from syndicate.db.session import Database

__all__ = [
    "ImportReport",
    "InvalidAddress",
    "SubscriberError",
    "SubscriberLine",
    "add_subscriber",
    "import_csv",
    "list_subscribers",
    "normalize_address",
    "remove_subscriber",
]

IMPORT_BATCH = 2000


class SubscriberError(Exception):
    """A subscriber command cannot be done; the message says why in one sentence."""


@dataclass(frozen=True)
class InvalidAddress:
    line: int
    value: str
    reason: str


@dataclass
class ImportReport:
    added: int = 0  # new subscribers
    subscribed: int = 0  # already known, newly on this list
    unchanged: int = 0  # already on this list
    invalid: list[InvalidAddress] = field(default_factory=list)
    notice: str = ""  # how the file was read, when not as plain UTF-8
    accented: list[str] = field(default_factory=list)  # names to check after such a read


@dataclass(frozen=True)
class SubscriberLine:
    email: str
    name: str | None
    status: str
    lists: tuple[str, ...]


def normalize_address(text: str, *, deliverable: bool = True) -> tuple[str, str]:
    """(address as it will be written, unique key); raises ValueError with the reason.

    The sender writes plain-ASCII envelopes, so an address is refused here when its part
    before the @ has other letters: mail to it could never be sent (`deliverable=False`
    takes it, to find one stored before this rule). A domain in another
    script is kept in its ASCII (IDNA) form, which every server accepts.
    """
    local = text.strip().rpartition("@")[0]
    if deliverable and not local.isascii():
        odd = "".join(dict.fromkeys(char for char in local if not char.isascii()))
        raise ValueError(
            f"the part before the @ has letters mail servers cannot take ({odd}); "
            "ask the reader for an address in plain letters"
        )
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    address = checked.ascii_email or checked.normalized
    return address, f"{checked.local_part}@{checked.domain.lower()}"


def add_subscriber(
    db: Database,
    email: str,
    list_name: str,
    *,
    name: str | None = None,
    timezone: str | None = None,
) -> bool:
    """Add (or re-activate) one subscriber on a list; True when they were not on it yet."""
    try:
        address, key = normalize_address(email)
    except ValueError as error:
        raise SubscriberError(f'"{email}" is not a valid email address: {error}') from None
    _check_timezone(timezone)
    with db.session() as session:
        list_id = _list_id(session, list_name)
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        if subscriber is None:
            subscriber = Subscriber(email=address, email_key=key, name=name, timezone=timezone)
            session.add(subscriber)
            session.flush()
        else:
            subscriber.name = name or subscriber.name
            subscriber.timezone = timezone or subscriber.timezone
            subscriber.status, subscriber.updated_at = SubscriberStatus.ACTIVE, utcnow()
        return bool(
            insert_new(
                session,
                Subscription,
                [{"subscriber_id": subscriber.id, "list_id": list_id}],
                ("subscriber_id", "list_id"),
            )
        )


def import_csv(
    db: Database,
    path: Path,
    list_name: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a CSV with a header row: `email`, and optionally `name` and `timezone`.

    Bad addresses are reported with their line numbers and skipped; the rest go in, in
    batches, each address once. Existing subscribers are put on the list as they are.
    """
    report = ImportReport()
    with db.session() as session:
        list_id = _list_id(session, list_name)
    for batch in _batches(_read_rows(path, report)):
        with db.session() as session:
            _import_batch(session, batch, list_id, report)
        if progress is not None:
            progress(report.added + report.subscribed + report.unchanged)
    return report


def list_subscribers(
    db: Database, *, list_name: str | None = None, status: str | None = None
) -> Iterator[SubscriberLine]:
    query = (
        select(Subscriber, func.group_concat(MailingList.name))
        .outerjoin(Subscription, Subscription.subscriber_id == Subscriber.id)
        .outerjoin(MailingList, MailingList.id == Subscription.list_id)
        .group_by(Subscriber.id)
        .order_by(Subscriber.email_key)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_only_columns(Subscriber, func.string_agg(MailingList.name, ","))
    if status:
        query = query.where(Subscriber.status == status)
    if list_name:
        on_list = (
            select(Subscription.subscriber_id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(MailingList.name == list_name)
        )
        query = query.where(Subscriber.id.in_(on_list))
    with db.session() as session:
        for subscriber, lists in session.execute(query):
            names = tuple(sorted(lists.split(","))) if lists else ()
            yield SubscriberLine(subscriber.email, subscriber.name, subscriber.status, names)


def remove_subscriber(db: Database, email: str, *, list_name: str | None = None) -> None:
    """Take someone off one list, or (without a list) unsubscribe them from everything.

    The row and its delivery history stay.
    """
    try:
        _, key = normalize_address(email, deliverable=False)  # one stored before, too
    except ValueError as error:
        raise SubscriberError(f'"{email}" is not a valid email address: {error}') from None
    with db.session() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        if subscriber is None:
            raise SubscriberError(f"{email} is not a subscriber.")
        if list_name is None:
            subscriber.status, subscriber.updated_at = SubscriberStatus.UNSUBSCRIBED, utcnow()
            return
        list_row = session.scalar(select(MailingList).where(MailingList.name == list_name))
        removed = 0
        if list_row is not None:
            removed = session.execute(
                delete(Subscription).where(
                    Subscription.subscriber_id == subscriber.id,
                    Subscription.list_id == list_row.id,
                )
            ).rowcount  # type: ignore[attr-defined]
        if not removed:
            raise SubscriberError(f'{email} is not on the list "{list_name}".')


def _list_id(session: Session, name: str) -> int:
    insert_new(session, MailingList, [{"name": name}], ("name",))
    return session.scalars(select(MailingList.id).where(MailingList.name == name)).one()


def _check_timezone(timezone: str | None) -> None:
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SubscriberError(
                f'"{timezone}" is not a time zone name such as "Asia/Jakarta".'
            ) from None


_SAVE_AS_UTF8 = (
    'save it as UTF-8 and import it again (Excel: File > Save As > "CSV UTF-8 (Comma '
    'delimited)"; LibreOffice: Save As CSV, "Edit filter settings", character set "Unicode '
    '(UTF-8)").'
)
_DELIMITERS = (",", ";", "\t", "|")


def _decoded(data: bytes, path: Path, report: ImportReport) -> str:
    """UTF-8 (with or without its BOM); else Windows-1252, what Excel saves by default in
    Indonesia and Western Europe, said in the report; anything else refused."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" not in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            pass
        else:
            report.notice = (
                "The file is not UTF-8; it was read as Windows-1252 (what Excel saves by "
                "default): check that names with accents came through."
            )
            return text
    raise SubscriberError(f"{path}: is neither UTF-8 nor Windows-1252 text; {_SAVE_AS_UTF8}")


# Header spellings people and programs use, compared without case, spaces, "-" or "_".
_COLUMNS = {
    "email": ("email", "emailaddress", "alamatemail", "surel", "alamatsurel"),
    "name": ("name", "nama", "fullname", "namalengkap"),
    "timezone": ("timezone", "zonawaktu", "tz"),
}
_SEP_LINE = re.compile(r'\A"?sep=(.)"?[,;\t|]*\Z', re.IGNORECASE)  # Excel's "sep=;" hint


def _delimiter(header: str) -> str:
    """The separator the header line uses most: "," or, from Excel in many languages, ";"."""
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _read_rows(path: Path, report: ImportReport) -> Iterator[dict[str, str | None]]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SubscriberError(f"{path}: cannot be read ({error.strerror}).") from None
    text = _decoded(data, path, report)
    # Lines may end in CR LF (Windows), LF, or a lone CR ("CSV (Macintosh)" from Excel).
    stream = io.StringIO(text, newline=None)
    first = stream.readline()
    hint = _SEP_LINE.match(first.strip())
    if hint:
        header = stream.readline()
        delimiter = hint.group(1)
    else:
        header, delimiter = first, _delimiter(first)
    stream = io.StringIO(header + stream.read())
    reader = csv.DictReader(stream, delimiter=delimiter)
    try:
        columns = _columns(reader.fieldnames or [])
        if "email" not in columns:
            raise SubscriberError(
                f"{path}: the first line must name the columns, one of them the address "
                '("email", "e-mail", "Email Address", "alamat email" or "surel").'
            )
        yield from _rows(reader, columns, report, 1 if hint else 0)
    except csv.Error as error:
        raise SubscriberError(
            f"{path}: line {reader.line_num + 1 + (1 if hint else 0)} cannot be read as CSV "
            f"({error}); {_SAVE_AS_UTF8}"
        ) from None
    if report.notice and report.accented:
        shown = ", ".join(report.accented[:5])
        report.notice += f" Names read with accents: {shown}."


def _columns(fieldnames: Sequence[str]) -> dict[str, str]:
    """Our column names ("email", "name", "timezone") → the file's own spelling."""
    found: dict[str, str] = {}
    for fieldname in fieldnames:
        bare = re.sub(r"[\s_\-.]+", "", (fieldname or "").lower())
        for column, spellings in _COLUMNS.items():
            if bare in spellings and column not in found:
                found[column] = fieldname
    return found


def _rows(
    reader: csv.DictReader[str], columns: dict[str, str], report: ImportReport, offset: int
) -> Iterator[dict[str, str | None]]:
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num + offset
        raw = (row.get(columns["email"]) or "").strip()
        try:
            address, key = normalize_address(raw)
        except ValueError as error:
            report.invalid.append(InvalidAddress(line, raw, str(error)))
            continue
        timezone = _cell(row, columns, "timezone")
        if timezone:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                report.invalid.append(InvalidAddress(line, raw, f'unknown time zone "{timezone}"'))
                continue
        if key in seen:
            report.unchanged += 1
            continue
        seen.add(key)
        name = _cell(row, columns, "name")
        if name and not name.isascii() and len(report.accented) < 5:
            report.accented.append(name)
        yield {"email": address, "email_key": key, "name": name, "timezone": timezone}


def _cell(row: dict[str, str | None], columns: dict[str, str], name: str) -> str | None:
    if name not in columns:
        return None
    value = (row.get(columns[name]) or "").strip()
    return value or None


def _batches(rows: Iterator[dict[str, str | None]]) -> Iterator[list[dict[str, str | None]]]:
    batch: list[dict[str, str | None]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= IMPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _import_batch(
    session: Session, batch: list[dict[str, str | None]], list_id: int, report: ImportReport
) -> None:
    now = utcnow()
    rows = [
        {**row, "status": SubscriberStatus.ACTIVE, "created_at": now, "updated_at": now}
        for row in batch
    ]
    fresh = insert_new(session, Subscriber, rows, ("email_key",))
    keys = [row["email_key"] for row in batch]
    ids = list(session.scalars(select(Subscriber.id).where(Subscriber.email_key.in_(keys))))
    links = [{"subscriber_id": sub_id, "list_id": list_id} for sub_id in ids]
    newly_on_list = insert_new(session, Subscription, links, ("subscriber_id", "list_id"))
    report.added += fresh
    report.subscribed += newly_on_list - fresh
    report.unchanged += len(ids) - newly_on_list
