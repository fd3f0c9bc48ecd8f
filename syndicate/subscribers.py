"""Subscribers and their lists: adding, importing from CSV, listing, leaving, forgetting.

An address is stored once, lower-cased (the spelling as typed is kept for display). Adding
and importing never bring back a subscription that left (unsubscribed, bounced or
complained) nor an address that was forgotten, unless the editor says so (`resubscribe`,
recorded as the editor's act). Leaving never deletes a row: the subscriber and their
delivery history stay, with a status that says they left. Forgetting does delete them,
keeping only a hash of the address in the suppression list.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from syndicate.consent import EDITOR, address_hash, is_suppressed, join, leave
from syndicate.db.insert import insert_new
from syndicate.db.models import (
    Attempt,
    Delivery,
    DeliveryState,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionChange,
    Suppression,
    utcnow,
)
from syndicate.db.session import Database
from syndicate.errors import SyndicateError
from syndicate.types import LEFT_STATUSES, SUBSCRIBER_STATUSES

__all__ = [
    "ImportReport",
    "InvalidAddress",
    "SubscriberError",
    "SubscriberLine",
    "add_subscriber",
    "forget_subscriber",
    "import_csv",
    "list_subscribers",
    "normalize_address",
    "remove_subscriber",
]

IMPORT_BATCH = 2000
FORGOTTEN = "forgotten"


class SubscriberError(SyndicateError):
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
    left: Counter[str] = field(default_factory=Counter)  # skipped: status → how many
    suppressed: int = 0  # skipped: forgotten at their request
    resubscribed: int = 0  # brought back by the editor's `resubscribe`

    def skipped_lines(self) -> list[str]:
        """One sentence per reason an address was not put on the list."""
        why: dict[str, str] = {
            SubscriberStatus.UNSUBSCRIBED: "they unsubscribed",
            SubscriberStatus.BOUNCED: "their address bounced",
            SubscriberStatus.COMPLAINED: "they complained (marked the mail as spam)",
        }
        lines = [
            f"{n} skipped: {why.get(status, status)}" for status, n in sorted(self.left.items())
        ]
        if self.suppressed:
            lines.append(f"{self.suppressed} skipped: they asked to be forgotten")
        return lines

    accented: list[str] = field(default_factory=list)  # names to check after such a read


@dataclass(frozen=True)
class SubscriberLine:
    email: str
    name: str | None
    lists: tuple[tuple[str, str], ...]  # (list, status), by list name

    @property
    def status(self) -> str:
        """Each list's status in the order of `lists`; one word when they agree, "-" if none."""
        statuses = [status for _, status in self.lists]
        if len(set(statuses)) == 1:
            return statuses[0]
        return ",".join(statuses) or "-"


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
    # Kept as typed for display ("MAYA@Example.net"), only its surrounding spaces dropped;
    # a domain in another script in the ASCII (IDNA) form every server takes.
    typed = text.strip()
    address = typed if typed.isascii() else (checked.ascii_email or checked.normalized)
    return address, f"{checked.local_part}@{checked.domain}".lower()


def add_subscriber(
    db: Database,
    email: str,
    list_name: str,
    *,
    name: str | None = None,
    timezone: str | None = None,
    resubscribe: bool = False,
) -> str:
    """Put one subscriber on a list, active at once; what happened, in one word.

    "added" (newly on the list), "unchanged" (already on it), or the status that kept them
    off it ("unsubscribed", "bounced", "complained", "forgotten"). `resubscribe` brings them
    back anyway, recorded as the editor's act.
    """
    try:
        address, key = normalize_address(email)
    except ValueError as error:
        raise SubscriberError(f'"{email}" is not a valid email address: {error}') from None
    _check_timezone(timezone)
    with db.session() as session:
        list_id = _list_id(session, list_name)
        if is_suppressed(session, key):
            if not resubscribe:
                return FORGOTTEN
            session.execute(
                delete(Suppression).where(Suppression.address_hash == address_hash(key))
            )
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        if subscriber is None:
            subscriber = Subscriber(email=address, email_key=key, name=name, timezone=timezone)
            session.add(subscriber)
            session.flush()
        else:
            subscriber.name = name or subscriber.name
            subscriber.timezone = timezone or subscriber.timezone
        by = EDITOR if resubscribe else "cli"
        joined = join(session, subscriber.id, list_id, by, overrule=resubscribe)
        if joined.outcome == "left":
            return joined.status
        if joined.outcome != "unchanged":
            subscriber.updated_at = utcnow()
        return "unchanged" if joined.outcome == "unchanged" else "added"


def import_csv(
    db: Database,
    path: Path,
    list_name: str,
    *,
    progress: Callable[[int], None] | None = None,
    resubscribe: bool = False,
    by: str = "import",
) -> ImportReport:
    """Import a CSV with a header row: `email`, and optionally `name` and `timezone`.

    Bad addresses are reported with their line numbers and skipped; the rest go in, in
    batches, each address once. Existing subscribers are put on the list as they are;
    those who left it or were forgotten are skipped and counted, unless `resubscribe`.
    """
    report = ImportReport()
    with db.session() as session:
        list_id = _list_id(session, list_name)
    for batch in _batches(_read_rows(path, report)):
        with db.session() as session:
            _import_batch(session, batch, list_id, report, resubscribe, by)
        if progress is not None:
            progress(report.added + report.subscribed + report.unchanged)
    return report


def list_subscribers(
    db: Database, *, list_name: str | None = None, status: str | None = None
) -> Iterator[SubscriberLine]:
    """Each subscriber with the status of each of their lists, by address.

    `status` keeps those with that status on some list (on `list_name`, when given).
    """
    if status is not None and status not in SUBSCRIBER_STATUSES:
        known = ", ".join(SUBSCRIBER_STATUSES)
        raise SubscriberError(f'"{status}" is not a status; the statuses are {known}.')
    query = select(Subscriber).order_by(Subscriber.email_key)
    wanted = select(Subscription.subscriber_id).join(
        MailingList, MailingList.id == Subscription.list_id
    )
    if list_name:
        wanted = wanted.where(MailingList.name == list_name)
    if status:
        wanted = wanted.where(Subscription.status == status)
    if list_name or status:
        query = query.where(Subscriber.id.in_(wanted))
    with db.session() as session:
        for page in _pages(session, query):
            lists: dict[int, list[tuple[str, str]]] = {}
            rows = session.execute(
                select(Subscription.subscriber_id, MailingList.name, Subscription.status)
                .join(MailingList, MailingList.id == Subscription.list_id)
                .where(Subscription.subscriber_id.in_([s.id for s in page]))
            )
            for subscriber_id, name, list_status in rows:
                lists.setdefault(subscriber_id, []).append((name, list_status))
            for s in page:
                yield SubscriberLine(s.email, s.name, tuple(sorted(lists.get(s.id, []))))


def remove_subscriber(db: Database, email: str, *, list_name: str | None = None) -> None:
    """Unsubscribe someone from one list, or (without a list) from every list.

    The row, its status history and its delivery history stay.
    """
    try:
        _, key = normalize_address(email, deliverable=False)  # one stored before, too
    except ValueError as error:
        raise SubscriberError(f'"{email}" is not a valid email address: {error}') from None
    with db.session() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        if subscriber is None:
            raise SubscriberError(f"{email} is not a subscriber.")
        query = select(Subscription).where(Subscription.subscriber_id == subscriber.id)
        if list_name is not None:
            list_id = session.scalar(select(MailingList.id).where(MailingList.name == list_name))
            query = query.where(Subscription.list_id == list_id)
        subscriptions = list(session.scalars(query))
        if list_name is not None and not subscriptions:
            raise SubscriberError(f'{email} is not on the list "{list_name}".')
        if list_name is not None and subscriptions[0].status in LEFT_STATUSES:
            status = subscriptions[0].status
            raise SubscriberError(f'{email} already left the list "{list_name}" ({status}).')
        for subscription in subscriptions:
            leave(
                session, subscriber.id, subscription.list_id, SubscriberStatus.UNSUBSCRIBED, "cli"
            )
        subscriber.updated_at = utcnow()  # outdated confirmation links stop working


def forget_subscriber(db: Database, email: str) -> bool:
    """Erase one person: their row, name, statuses and history; the address in past
    deliveries and their attempts is blanked. Only a hash of the address is kept, in the
    suppression list. True when there was someone to erase (the hash is kept either way).
    """
    key = _key(email)
    with db.session() as session:
        _suppress(session, key)
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
        ids = select(Delivery.id).where(
            or_(
                Delivery.subscriber_id == (subscriber.id if subscriber else -1),
                func.lower(Delivery.target) == key,
            )
        )
        delivery_ids = list(session.scalars(ids))
        for batch_start in range(0, len(delivery_ids), 500):
            _blank_deliveries(session, delivery_ids[batch_start : batch_start + 500], key)
        if subscriber is None:
            return False
        session.delete(subscriber)
        return True


def _suppress(session: Session, key: str) -> None:
    row = {"address_hash": address_hash(key), "reason": FORGOTTEN, "at": utcnow()}
    insert_new(session, Suppression, [row], ("address_hash",))


def _blank_deliveries(session: Session, ids: list[int], key: str) -> None:
    session.execute(  # what was still to be sent to them never goes
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.QUEUED)
        .values(state=DeliveryState.SKIPPED, updated_at=utcnow())
    )
    for delivery_id in ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(target=f"{FORGOTTEN}-{delivery_id}", subscriber_id=None, error=None)
        )
    for attempt in session.scalars(select(Attempt).where(Attempt.delivery_id.in_(ids))):
        if attempt.detail and key in attempt.detail.lower():
            attempt.detail = _without(attempt.detail, key)


def _without(text: str, key: str) -> str:
    lowered, out, start = text.lower(), [], 0
    while (found := lowered.find(key, start)) >= 0:
        out.append(text[start:found] + "[forgotten]")
        start = found + len(key)
    return "".join(out) + text[start:]


def _key(email: str) -> str:
    try:
        return normalize_address(email)[1]
    except ValueError as error:
        raise SubscriberError(f'"{email}" is not a valid email address: {error}') from None


def _pages(
    session: Session, query: Select[Subscriber], size: int = 1000
) -> Iterator[list[Subscriber]]:
    offset = 0
    while True:
        page = list(session.scalars(query.limit(size).offset(offset)))
        if not page:
            return
        yield page
        offset += size


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
    session: Session,
    batch: list[dict[str, str | None]],
    list_id: int,
    report: ImportReport,
    resubscribe: bool,
    by: str,
) -> None:
    now = utcnow()
    hashes = {address_hash(str(row["email_key"])): row for row in batch}
    suppressed = set(
        session.scalars(
            select(Suppression.address_hash).where(Suppression.address_hash.in_(hashes))
        )
    )
    if suppressed and resubscribe:
        session.execute(delete(Suppression).where(Suppression.address_hash.in_(suppressed)))
    elif suppressed:
        report.suppressed += len(suppressed)
        batch = [row for digest, row in hashes.items() if digest not in suppressed]
    rows = [{**row, "created_at": now, "updated_at": now} for row in batch]
    fresh = insert_new(session, Subscriber, rows, ("email_key",))
    keys = [row["email_key"] for row in batch]
    ids = list(session.scalars(select(Subscriber.id).where(Subscriber.email_key.in_(keys))))
    known = dict(
        session.execute(
            select(Subscription.subscriber_id, Subscription.status).where(
                Subscription.list_id == list_id, Subscription.subscriber_id.in_(ids)
            )
        ).all()
    )
    newcomers = [sub_id for sub_id in ids if sub_id not in known]
    if not resubscribe:  # who left every list they were on is not put on a new one either
        for sub_id, status in _left_everywhere(session, newcomers).items():
            newcomers.remove(sub_id)
            report.left[status] += 1
    _subscribe_all(session, newcomers, list_id, by, now)
    report.added += fresh
    report.subscribed += len(newcomers) - fresh
    for sub_id, status in known.items():
        if status == SubscriberStatus.ACTIVE:
            report.unchanged += 1
        elif status in LEFT_STATUSES and not resubscribe:
            report.left[status] += 1
        else:
            how = EDITOR if status in LEFT_STATUSES else by
            join(session, sub_id, list_id, how, overrule=True, now=now)
            if status in LEFT_STATUSES:
                report.resubscribed += 1
            else:
                report.subscribed += 1


def _left_everywhere(session: Session, ids: list[int]) -> dict[int, str]:
    """Of `ids`, those whose every subscription ended, each with its most restrictive
    status (complained, then bounced, then unsubscribed)."""
    statuses: dict[int, set[str]] = {}
    for sub_id, status in session.execute(
        select(Subscription.subscriber_id, Subscription.status).where(
            Subscription.subscriber_id.in_(ids)
        )
    ):
        statuses.setdefault(sub_id, set()).add(status)
    order = (SubscriberStatus.COMPLAINED, SubscriberStatus.BOUNCED, SubscriberStatus.UNSUBSCRIBED)
    return {
        sub_id: next(status for status in order if status in found)
        for sub_id, found in statuses.items()
        if found <= set(LEFT_STATUSES)
    }


def _subscribe_all(session: Session, ids: list[int], list_id: int, by: str, now: datetime) -> None:
    links = [
        {
            "subscriber_id": sub_id,
            "list_id": list_id,
            "status": SubscriberStatus.ACTIVE,
            "changed_at": now,
            "changed_by": by,
            "created_at": now,
        }
        for sub_id in ids
    ]
    if not links:
        return
    insert_new(session, Subscription, links, ("subscriber_id", "list_id"))
    history = [
        {"subscriber_id": sub_id, "list_id": list_id, "at": now, "status": SubscriberStatus.ACTIVE}
        | {"previous": None, "changed_by": by, "detail": None}
        for sub_id in ids
    ]
    session.execute(insert(SubscriptionChange), history)
