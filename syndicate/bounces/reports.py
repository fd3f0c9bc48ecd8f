"""Reading mail that comes back: bounces (RFC 3464 DSNs and the plain ones), complaints
(ARF, RFC 5965, and Outlook's JMRP), and mail to the `mailto:` unsubscribe address.

A bounce is hard when its status says the address is no good (5.x.x), soft when the
mailbox is full or the server refused for now or for policy (4.x.x, 5.2.2, 5.7.x): a
policy block says more about the message than about the address. A "delayed" or
"delivered" notice is a report with nothing to do. `read_report` never raises on
hostile mail: what it cannot read is `None`, left in the mailbox for a person.
"""

from __future__ import annotations

import email
import email.message
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import getaddresses

__all__ = ["Report", "read_report"]

HARD, SOFT, COMPLAINT, UNSUBSCRIBE, NOTHING = "hard", "soft", "complaint", "unsubscribe", ""
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"(?m)(?:^|\s)([45])\d\d[ -]")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250}@[^<>\s]{1,250})>")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}")
_BOUNCE_SUBJECTS = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery failure|mail delivery "
    r"(failed|failure|system)|returned mail|failure notice|could not be delivered|"
    r"non.?remis|delivery has failed",
    re.IGNORECASE,
)
_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
_LARGEST = 2_000_000  # bytes of a message read; a bounce is small


@dataclass(frozen=True)
class Report:
    """What one message that came back says."""

    kind: str  # hard, soft, complaint, unsubscribe; "" for a report with nothing to do
    recipients: tuple[str, ...]  # the addresses it is about, lower-cased
    message_ids: tuple[str, ...]  # Message-IDs of the original, without brackets
    detail: str
    raw_text: str  # where a VERP token may be found (headers and report parts)
    unsubscribe_token: str | None = None
    # Of an unsubscribe mail: the servers (authserv-ids) whose Authentication-Results say
    # the From address passed DMARC, or DKIM or SPF for its domain.
    authenticated_by: tuple[str, ...] = ()


def read_report(raw: bytes, unsubscribe_addresses: tuple[str, ...] = ()) -> Report | None:
    """The report in one message, or None when it is none of ours to read."""
    raw = raw[:_LARGEST]
    try:
        message = email.message_from_bytes(raw)
        return _read(message, raw.decode("latin-1"), unsubscribe_addresses)
    except (LookupError, ValueError, TypeError, AttributeError, IndexError):
        return None


def _read(
    message: email.message.Message, text: str, unsubscribe_addresses: tuple[str, ...]
) -> Report | None:
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    if content_type == "multipart/report" and report_type == "delivery-status":
        return _delivery_status(message, text)
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _feedback(message, text)
    if message.get("X-HmXmrOriginalRecipient"):  # Outlook.com's JMRP complaint
        recipient = _addresses(str(message["X-HmXmrOriginalRecipient"]))
        return Report(COMPLAINT, recipient, _original_ids(message), "complaint (JMRP)", text)
    unsubscribe = _unsubscribe(message, text, unsubscribe_addresses)
    if unsubscribe is not None:
        return unsubscribe
    if _looks_like_bounce(message):
        return _plain_bounce(message, text)
    return None


def _delivery_status(message: email.message.Message, text: str) -> Report | None:
    part = _first_part(message, ("message/delivery-status", "message/global-delivery-status"))
    if part is None:
        return _plain_bounce(message, text)
    blocks = _field_blocks(part)
    recipients: list[str] = []
    kinds: list[str] = []
    details: list[str] = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", ""))
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        kind = _kind(action, status, diagnostic)
        if kind is None:
            continue
        recipient = block.get("Original-Recipient") or block.get("Final-Recipient") or ""
        recipients.extend(_addresses(str(recipient).partition(";")[2] or str(recipient)))
        kinds.append(kind)
        details.append(f"{status.strip()} {diagnostic}".strip() or action)
    if not kinds:
        return None
    kind = HARD if HARD in kinds else SOFT if SOFT in kinds else NOTHING
    detail = "; ".join(dict.fromkeys(details))[:500]
    return Report(kind, tuple(dict.fromkeys(recipients)), _original_ids(message), detail, text)


def _field_blocks(part: email.message.Message) -> list[email.message.Message]:
    """A delivery-status part's blocks of fields (the message's, then each recipient's)."""
    payload = part.get_payload()
    if isinstance(payload, str):  # not split into field blocks: parse them ourselves
        return [email.message_from_string(b) for b in re.split(r"\r?\n\r?\n", payload) if b]
    if not isinstance(payload, list):
        return []
    return [block for block in payload if isinstance(block, email.message.Message)]


def _first_message(parts: Sequence[object]) -> email.message.Message | None:
    first = parts[0] if parts else None
    return first if isinstance(first, email.message.Message) else None


def _kind(action: str, status: str, diagnostic: str) -> str | None:
    """hard, soft, "" (nothing to do) or None (not a recipient block)."""
    if action in ("delayed", "delivered", "relayed", "expanded"):
        return NOTHING
    if action != "failed":
        return None
    found = _STATUS.search(status) or _STATUS.search(diagnostic)
    if found is None:
        code = _SMTP_CODE.search(f" {diagnostic}")
        return SOFT if code and code.group(1) == "4" else HARD
    return _classify(found.group(1), found.group(2), found.group(3))


def _classify(klass: str, subject: str, detail: str) -> str:
    if klass == "4" or (subject, detail) == ("2", "2") or subject == "7":
        return SOFT
    return HARD if klass == "5" else NOTHING


def _feedback(message: email.message.Message, text: str) -> Report | None:
    part = _first_part(message, ("message/feedback-report",))
    if part is None:
        return None
    payload = part.get_payload()
    if isinstance(payload, list):
        fields = _first_message(payload) or email.message.Message()
    else:
        fields = email.message_from_string(str(payload))
    feedback_type = str(fields.get("Feedback-Type", "abuse")).strip().lower()
    if feedback_type not in _COMPLAINT_TYPES:
        return Report(NOTHING, (), _original_ids(message), f"feedback: {feedback_type}", text)
    recipients = _addresses(str(fields.get("Original-Rcpt-To", "")))
    original = _original(message)
    if not recipients and original is not None:
        recipients = _addresses(str(original.get("To", "")))
    detail = f"complaint ({feedback_type}, {str(fields.get('User-Agent', '')).strip()})"
    return Report(COMPLAINT, recipients, _original_ids(message), detail.replace(", )", ")"), text)


def _unsubscribe(
    message: email.message.Message, text: str, addresses: tuple[str, ...]
) -> Report | None:
    if not addresses:
        return None
    to = " ".join(str(message.get(h, "")) for h in ("To", "Delivered-To", "X-Original-To"))
    if not set(_addresses(to)) & {a.lower() for a in addresses}:
        return None
    subject = " ".join(str(message.get("Subject", "")).split())
    token = None
    found = re.search(r"unsubscribe\s+([A-Za-z0-9_.=-]{8,400})", subject, re.IGNORECASE)
    if found:
        token = found.group(1)
    sender = _addresses(str(message.get("From", "")))
    passed = _authenticated_by(message, sender[0]) if sender else ()
    return Report(UNSUBSCRIBE, sender[:1], (), "unsubscribe by mail", text, token, passed)


def _authenticated_by(message: email.message.Message, sender: str) -> tuple[str, ...]:
    """The authserv-ids of Authentication-Results headers (RFC 8601) in which `sender`'s
    domain passed DMARC, or DKIM (header.d) or SPF (smtp.mailfrom) for that domain."""
    domain = sender.rpartition("@")[2]
    found = []
    for header in message.get_all("Authentication-Results") or []:
        text = " ".join(str(header).split()).lower()
        authserv, _, results = text.partition(";")
        if any(_passes(result, domain) for result in results.split(";")):
            found.append(authserv.split()[0] if authserv.split() else "")
    return tuple(found)


def _passes(result: str, domain: str) -> bool:
    """One method's result ("dkim=pass header.d=example.net") passes for `domain`."""
    words = re.sub(r"\([^()]*\)", " ", result).split()  # comments out
    if not words or "=" not in words[0]:
        return False
    method, _, outcome = words[0].partition("=")
    if outcome != "pass":
        return False
    properties = dict(word.partition("=")[::2] for word in words[1:] if "=" in word)
    names = {
        "dmarc": properties.get("header.from", ""),
        "dkim": properties.get("header.d", ""),
        "spf": properties.get("smtp.mailfrom", "").rpartition("@")[2],
    }
    return bool(domain) and names.get(method) == domain


def _looks_like_bounce(message: email.message.Message) -> bool:
    sender = str(message.get("From", "")).lower()
    from_daemon = "mailer-daemon" in sender or "postmaster" in sender
    subject = _BOUNCE_SUBJECTS.search(str(message.get("Subject", "")))
    return bool(message.get("X-Failed-Recipients") or (from_daemon and subject))


def _plain_bounce(message: email.message.Message, text: str) -> Report | None:
    """A bounce without a machine-readable part (Exim's, older Yahoo's, qmail's)."""
    body = _body_text(message)
    failed = _addresses(str(message.get("X-Failed-Recipients", "")))
    if not failed:
        ours = " ".join(str(message.get(h, "")) for h in ("To", "Delivered-To", "From"))
        failed = tuple(a for a in _failed_in_text(body) if a not in _addresses(ours))
    if not failed:
        return None
    status = _STATUS.search(body)
    if status is not None:
        kind = _classify(status.group(1), status.group(2), status.group(3))
    else:
        code = _SMTP_CODE.search(body)
        kind = SOFT if code and code.group(1) == "4" else HARD
    lines = [line.strip() for line in body.splitlines() if _SMTP_CODE.search(f" {line}")]
    detail = (lines[0] if lines else str(message.get("Subject", "")))[:500]
    return Report(kind, failed, _original_ids(message), detail, text)


def _failed_in_text(body: str) -> tuple[str, ...]:
    """Addresses on the lines right after "could not be delivered to" and alike."""
    head = re.split(r"(?im)^-{2,}.*(?:original|copy|below)|^(?:Received|Return-path):", body)[0]
    found = [a.lower() for a in _ADDRESS.findall(head)]
    ours = [a for a in found if not a.startswith(("mailer-daemon@", "postmaster@"))]
    return tuple(dict.fromkeys(ours))[:5]


def _body_text(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode(part.get_content_charset() or "latin-1", "replace")
    return ""


def _first_part(
    message: email.message.Message, types: tuple[str, ...]
) -> email.message.Message | None:
    for part in message.walk():
        if part.get_content_type() in types:
            return part
    return None


def _original(message: email.message.Message) -> email.message.Message | None:
    part = _first_part(message, ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"))
    if part is None:
        return None
    if part.get_content_type() == "message/rfc822":
        attached = part.get_payload()
        return _first_message(attached) if isinstance(attached, list) else None
    payload = part.get_payload(decode=True)
    return email.message_from_bytes(payload) if isinstance(payload, bytes) else None


def _original_ids(message: email.message.Message) -> tuple[str, ...]:
    original = _original(message)
    ids = []
    if original is not None:
        ids += _MESSAGE_ID.findall(str(original.get("Message-ID", "")))
    if not ids:  # a plain bounce quotes the original's headers in its text
        quoted = re.search(r"(?im)^\s*Message-ID:\s*(<[^>\r\n]+>)", _body_text(message))
        ids += _MESSAGE_ID.findall(quoted.group(1)) if quoted else []
    return tuple(dict.fromkeys(ids))


def _addresses(text: str) -> tuple[str, ...]:
    found = [address.lower() for _, address in getaddresses([text]) if "@" in address]
    return tuple(dict.fromkeys(a.strip("<> ") for a in found))
