"""The bounce mailbox: reads `[bounces] mailbox_url` over IMAP or POP3 and acts on each mail.

`imaps://` and `pop3s://` are TLS from the first byte; `imap://` and `pop3://` must
upgrade with STARTTLS (STLS), and refuse to log in when the server does not offer it.
The certificate is always checked (against `ca_file` when given). The password comes
from the environment variable `password_env`, never from the settings file.

A mail that was matched and recorded is moved to `move_to` (IMAP) or deleted; a mail that
cannot be read or matched is left exactly as it was (read without setting \\Seen) and
counted, for a person to look at.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import poplib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, select

from syndicate.bounces.intake import Intake
from syndicate.bounces.reports import read_report
from syndicate.config import BounceSettings
from syndicate.db.insert import insert_new
from syndicate.db.models import ExaminedMail, utcnow
from syndicate.errors import SyndicateError
from syndicate.printable import shortened

__all__ = ["MailboxError", "MailboxPass", "check_mailbox"]

log = logging.getLogger(__name__)

MOST_PER_PASS = 500
LARGEST_READ = 2_000_000  # bytes of one mail: a bounce is small, a 50 MB mail is not one
EXAMINED = "$SyndicateSeen"  # IMAP keyword of mail read and left alone


class MailboxError(SyndicateError):
    """The bounce mailbox cannot be read; the message says why in one sentence."""


@dataclass
class MailboxPass:
    """What one look at the mailbox did."""

    read: int = 0
    handled: int = 0  # matched and recorded: moved or deleted
    unmatched: int = 0  # left alone: not a report, or about no delivery of ours
    changed: int = 0  # subscriptions that changed status


@dataclass(frozen=True)
class _Place:
    scheme: str
    host: str
    port: int
    user: str
    folder: str


def check_mailbox(settings: BounceSettings, intake: Intake) -> MailboxPass:
    """Read the mailbox once; MailboxError when it cannot be reached or logged into."""
    if settings.mailbox_url is None:
        return MailboxPass()
    place = _place(settings.mailbox_url)
    password = os.environ.get(settings.password_env)
    if not password:
        raise MailboxError(
            f"the bounce mailbox needs its password in the environment variable "
            f"{settings.password_env}, which is not set"
        )
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    timeout = settings.timeout.total_seconds()
    try:
        if place.scheme.startswith("imap"):
            return _imap(place, password, context, timeout, settings.move_to, intake)
        return _pop3(place, password, context, timeout, intake)
    except (OSError, imaplib.IMAP4.error, poplib.error_proto) as error:
        where = f"{place.scheme}://{place.host}:{place.port}"
        said = shortened(_say(error), 200)  # a hostile server's greeting can be any size
        raise MailboxError(f"the bounce mailbox {where} cannot be read: {said}") from None


def _place(url: str) -> _Place:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default_port = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}[scheme]
    folder = unquote(parts.path.strip("/")) or "INBOX"
    try:
        port = parts.port or default_port
    except ValueError:
        raise MailboxError(f'"{url}" has a port that is not a number') from None
    if not parts.hostname or not parts.username:
        raise MailboxError(f'"{url}" must name a user and a host: imaps://user@host/INBOX')
    return _Place(scheme, parts.hostname, port, unquote(parts.username), folder)


def _imap(
    place: _Place,
    password: str,
    context: ssl.SSLContext,
    timeout: float,
    move_to: str | None,
    intake: Intake,
) -> MailboxPass:
    if place.scheme == "imaps":
        imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            place.host, place.port, ssl_context=context, timeout=timeout
        )
    else:
        imap = imaplib.IMAP4(place.host, place.port, timeout=timeout)
        if "STARTTLS" not in imap.capabilities:
            imap.shutdown()
            raise MailboxError(f"{place.host} does not offer STARTTLS; use imaps://")
        imap.starttls(context)
    try:
        imap.login(place.user, password)
        _ok(imap.select(_quoted(place.folder)), f"the folder {place.folder}")
        if move_to:
            imap.create(_quoted(move_to))  # "already exists" is fine
        return _imap_pass(imap, move_to, intake)
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


def _imap_pass(imap: imaplib.IMAP4, move_to: str | None, intake: Intake) -> MailboxPass:
    result = MailboxPass()
    # Mail read once and left is marked with a keyword (not \\Seen, which is a person's),
    # so each pass downloads only what is new.
    kind, data = imap.uid("SEARCH", f"UNDELETED UNKEYWORD {EXAMINED}")
    _ok((kind, data), "the messages")
    uids = (data[0] or b"").decode("ascii").split()[:MOST_PER_PASS]
    handled: list[str] = []
    left: list[str] = []
    for uid in uids:
        kind, parts = imap.uid("FETCH", uid, f"(BODY.PEEK[]<0.{LARGEST_READ}>)")
        raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
        if kind != "OK" or raw is None:
            continue
        result.read += 1
        (handled if _handle(raw, intake, result) else left).append(uid)
    if left:  # a server that keeps no keywords reads them again next time; no harm
        imap.uid("STORE", ",".join(left), "+FLAGS.SILENT", f"({EXAMINED})")
    if handled:
        uid_set = ",".join(handled)
        if move_to and "MOVE" in imap.capabilities:
            _ok(imap.uid("MOVE", uid_set, _quoted(move_to)), f"moving to {move_to}")
        else:
            if move_to:
                _ok(imap.uid("COPY", uid_set, _quoted(move_to)), f"copying to {move_to}")
            imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
            imap.expunge()
    return result


def _pop3(
    place: _Place, password: str, context: ssl.SSLContext, timeout: float, intake: Intake
) -> MailboxPass:
    if place.scheme == "pop3s":
        pop: poplib.POP3 = poplib.POP3_SSL(place.host, place.port, timeout=timeout, context=context)
    else:
        pop = poplib.POP3(place.host, place.port, timeout=timeout)
        try:
            pop.stls(context)
        except poplib.error_proto:
            pop.close()
            raise MailboxError(f"{place.host} does not offer STLS; use pop3s://") from None
    result = MailboxPass()
    try:
        pop.user(place.user)
        pop.pass_(password)
        where = f"pop3://{place.user}@{place.host}:{place.port}/"
        listed = _uidls(pop)
        examined = _examined(intake, where)
        left: list[str] = []
        for number, uidl in listed[:MOST_PER_PASS]:
            if where + uidl in examined:
                continue  # read in an earlier pass and left: not downloaded again
            raw = _pop_read(pop, number)
            result.read += 1
            if _handle(raw, intake, result):
                pop.dele(number)
            else:
                left.append(uidl)
        pop.quit()  # deletions take effect only now
        _remember(intake, where, left, [uidl for _number, uidl in listed])
    except BaseException:
        pop.close()
        raise
    return result


def _uidls(pop: poplib.POP3) -> list[tuple[int, str]]:
    """(message number, UIDL) of each mail; a server without UIDL gives none."""
    try:
        _answer, lines, _octets = pop.uidl()
    except poplib.error_proto:  # no UIDL: every pass reads every mail
        count, _size = pop.stat()
        return [(number, "") for number in range(1, count + 1)]
    found = []
    for line in lines:
        number, _, uidl = line.decode("latin-1").partition(" ")
        if number.isdigit() and 0 < len(uidl) <= 70:
            found.append((int(number), uidl))
    return found


def _pop_read(pop: poplib.POP3, number: int) -> bytes:
    """The start of one mail: TOP with enough lines for a report, not a 50 MB body."""
    _answer, lines, _octets = pop.top(number, LARGEST_READ // 80)
    return b"\r\n".join(lines)[:LARGEST_READ]


def _examined(intake: Intake, where: str) -> set[str]:
    with intake.db.session() as session:
        query = select(ExaminedMail.key).where(ExaminedMail.key.startswith(where))
        return set(session.scalars(query))


def _remember(intake: Intake, where: str, left: list[str], listed: list[str]) -> None:
    """Store the UIDLs of mail read and left; forget those no longer in the mailbox."""
    now, present = utcnow(), {where + uidl for uidl in listed if uidl}
    with intake.db.session() as session:
        rows = [{"key": where + uidl, "at": now} for uidl in left if uidl]
        insert_new(session, ExaminedMail, rows, ("key",))
        stored = session.scalars(select(ExaminedMail.key).where(ExaminedMail.key.startswith(where)))
        for key in set(stored) - present:
            session.execute(delete(ExaminedMail).where(ExaminedMail.key == key))


def _handle(raw: bytes, intake: Intake, result: MailboxPass) -> bool:
    """Act on one mail; True when it was matched (and may be moved or deleted)."""
    report = read_report(raw, intake.unsubscribe_addresses)
    if report is None:
        result.unmatched += 1
        return False
    outcome = intake.apply(report, "mailbox")
    if not outcome.matched:
        result.unmatched += 1
        return False
    result.handled += 1
    result.changed += int(outcome.changed)
    return True


def _ok(answer: tuple[str, Sequence[object]], what: str) -> None:
    kind, data = answer
    if kind != "OK":
        said = b" ".join(d for d in data if isinstance(d, bytes)).decode("latin-1")
        raise MailboxError(f"the server refused {what}: {said or kind}")


def _quoted(folder: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", folder) + '"'


def _say(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its certificate is not trusted ({error.verify_message})"
    text = error.args[0] if error.args else error
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return str(text) or type(error).__name__
