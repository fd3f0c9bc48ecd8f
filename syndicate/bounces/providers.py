"""Provider webhooks: each checks its provider's signature, then says what came back.

- Amazon SES, through an SNS topic: the SNS message is signed (RSA, SignatureVersion 1 =
  SHA-1, 2 = SHA-256) with a certificate whose URL must be on `sns.<region>.amazonaws.com`
  over https; the topic must be one of `[bounces.ses] topic_arns`. A subscription
  confirmation is confirmed by fetching its SubscribeURL (same host rule).
- SendGrid's signed event webhook: ECDSA P-256 / SHA-256 over the timestamp header and
  the body, checked with the verification key SendGrid shows (`public_key`).
- Postmark signs nothing; its documented protection is HTTP basic auth in the webhook
  URL, so the `Authorization` header must carry `user` and the password.
- Mailgun: HMAC-SHA256 of timestamp + token with the webhook signing key. The event
  itself is not signed, so a token is taken once, remembered in the database by every
  `serve` process and across restarts, and a signature is good for 5 minutes only.

Every function raises `WebhookRefused` (answered 403) or `WebhookUnreadable` (400), one
sentence each; the caller answers 200 only for what it has recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from syndicate.bounces.reports import COMPLAINT, HARD, SOFT, UNSUBSCRIBE, Report
from syndicate.errors import SyndicateError

__all__ = [
    "MAILGUN_FRESH",
    "SNS_HOST",
    "WebhookRefused",
    "WebhookUnreadable",
    "mailgun_reports",
    "postmark_reports",
    "sendgrid_reports",
    "ses_reports",
]

# The only hosts an SNS signing certificate or subscription URL may come from.
SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,30}\.amazonaws\.com(\.cn)?")
FRESH = timedelta(hours=1)  # a signed request older than this is refused (a replay)
# Mailgun's signature does not cover the event, so its window is kept short (5 minutes,
# the usual tolerance for signed webhooks); its tokens are stored for that long.
MAILGUN_FRESH = timedelta(minutes=5)
_SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}

Fetch = Callable[[str], bytes]


class WebhookRefused(SyndicateError):
    """The request is not from the provider (signature, credentials, topic, age)."""


class WebhookUnreadable(SyndicateError):
    """The request is signed but its content cannot be read."""


# -- Amazon SES through SNS ----------------------------------------------------------------


def ses_reports(body: bytes, topics: tuple[str, ...], fetch: Fetch, now: datetime) -> list[Report]:
    """The reports in one SNS message; a subscription confirmation is confirmed here."""
    envelope = _json(body)
    if not isinstance(envelope, dict):
        raise WebhookUnreadable("an SNS message is a JSON object")
    kind = envelope.get("Type")
    if kind not in _SNS_FIELDS:
        raise WebhookUnreadable(f"an SNS message of type {str(kind)[:40]!r} is not handled")
    if envelope.get("TopicArn") not in topics:
        raise WebhookRefused("the SNS topic is not one of [bounces.ses] topic_arns")
    # Everything that can be checked without the network is checked before any fetch.
    missing = [field for field in _SNS_FIELDS[kind] if field != "Subject" and field not in envelope]
    if missing:
        raise WebhookRefused(f"the SNS message has no {missing[0]}")
    digest = _sns_digest(envelope)
    signature = _b64(envelope.get("Signature"))
    _check_age(str(envelope.get("Timestamp", "")), now)
    url = _sns_url(str(envelope.get("SigningCertURL", "")), "SigningCertURL")
    subscribe = (
        _sns_url(str(envelope.get("SubscribeURL", "")), "SubscribeURL")
        if kind == "SubscriptionConfirmation"
        else ""
    )
    _check_sns_signature(
        envelope, kind, _fetched(fetch, url, "signing certificate"), digest, signature
    )
    if subscribe:
        _fetched(fetch, subscribe, "subscription confirmation URL")
        return []
    message = _json(str(envelope.get("Message", "")).encode())
    return _ses_event(message) if isinstance(message, dict) else []


def _sns_digest(envelope: dict[str, Any]) -> hashes.HashAlgorithm:
    version = str(envelope.get("SignatureVersion", ""))
    digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)
    if digest is None:
        raise WebhookRefused(f"SNS SignatureVersion {version[:10]!r} is not 1 or 2")
    return digest


def _fetched(fetch: Fetch, url: str, what: str) -> bytes:
    """What `fetch` got from AWS; any failure is a refusal in one sentence."""
    try:
        return fetch(url)
    except Exception:  # a name that does not resolve, a timeout, a 404: nothing verified
        raise WebhookRefused(f"the SNS {what} could not be fetched") from None


def _check_sns_signature(
    envelope: dict[str, Any],
    kind: str,
    pem: bytes,
    digest: hashes.HashAlgorithm,
    signature: bytes,
) -> None:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise WebhookRefused("the SNS signing certificate cannot be read") from None
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not names or names[0].value != "sns.amazonaws.com":
        raise WebhookRefused("the SNS signing certificate is not made out to sns.amazonaws.com")
    text = "".join(
        f"{field}\n{envelope[field]}\n" for field in _SNS_FIELDS[kind] if field in envelope
    )
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused("the SNS signing certificate does not hold an RSA key")
    try:
        key.verify(signature, text.encode(), padding.PKCS1v15(), digest)
    except InvalidSignature:
        raise WebhookRefused("the SNS signature does not match") from None


def _sns_url(url: str, field: str) -> str:
    """The URL, if it is plainly on AWS's SNS host: no user, port, backslash or odd byte
    that two URL parsers could read as two different hosts."""
    pattern = _SNS_CERT_URL if field == "SigningCertURL" else _SNS_SUBSCRIBE_URL
    if not pattern.fullmatch(url) or not SNS_HOST.fullmatch(urlsplit(url).hostname or ""):
        raise WebhookRefused(f"the SNS {field} is not on https://sns.<region>.amazonaws.com")
    return url


_HOST_PART = r"https://sns\.[a-z0-9-]{1,30}\.amazonaws\.com(?:\.cn)?/"
_SNS_CERT_URL = re.compile(_HOST_PART + r"[A-Za-z0-9._/-]{1,200}\.pem")
_SNS_SUBSCRIBE_URL = re.compile(_HOST_PART + r"\?[A-Za-z0-9._~%&=:-]{1,2000}")


def _ses_event(message: dict[str, Any]) -> list[Report]:
    event = str(message.get("notificationType") or message.get("eventType") or "")
    mail = message.get("mail") or {}
    ids = _ids(str((mail.get("commonHeaders") or {}).get("messageId", "")))
    for header in mail.get("headers") or []:
        if str(header.get("name", "")).lower() == "message-id":
            ids += _ids(str(header.get("value", "")))
    source = f"{mail.get('source', '')} {message.get('bounce', {}).get('returnPath', '')}"
    if event == "Bounce":
        bounce = message.get("bounce") or {}
        kind = HARD if bounce.get("bounceType") == "Permanent" else SOFT
        people = bounce.get("bouncedRecipients") or []
        detail_key = "diagnosticCode"
    elif event == "Complaint":
        complaint = message.get("complaint") or {}
        kind, people, detail_key = COMPLAINT, complaint.get("complainedRecipients") or [], ""
    else:
        return []
    return [
        Report(
            kind,
            (str(person.get("emailAddress", "")).lower(),),
            tuple(ids),
            str(person.get(detail_key) or f"SES {event.lower()}")[:500],
            source,
        )
        for person in people
        if isinstance(person, dict)
    ]


# -- SendGrid ------------------------------------------------------------------------------


def sendgrid_reports(
    body: bytes, public_key: str, signature: str | None, timestamp: str | None, now: datetime
) -> list[Report]:
    if not signature or not timestamp:
        raise WebhookRefused("the SendGrid signature headers are missing")
    key = _ec_key(public_key)
    try:
        key.verify(_b64(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WebhookRefused("the SendGrid signature does not match") from None
    _check_unix_age(timestamp, now)
    events = _json(body)
    if not isinstance(events, list):
        raise WebhookUnreadable("a SendGrid event webhook posts a JSON list")
    return [report for event in events if isinstance(event, dict) for report in _sendgrid(event)]


def _sendgrid(event: dict[str, Any]) -> list[Report]:
    name = str(event.get("event", ""))
    kinds = {"spamreport": COMPLAINT, "unsubscribe": UNSUBSCRIBE, "group_unsubscribe": UNSUBSCRIBE}
    if name == "bounce":
        kind = SOFT if event.get("type") == "blocked" else HARD
    elif name in kinds:
        kind = kinds[name]
    else:
        return []
    detail = str(event.get("reason") or event.get("status") or f"SendGrid {name}")[:500]
    recipient = str(event.get("email", "")).lower()
    return [Report(kind, (recipient,), tuple(_ids(str(event.get("smtp-id", "")))), detail, "")]


def _ec_key(text: str) -> ec.EllipticCurvePublicKey:
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split())))
    except (ValueError, binascii.Error):
        raise WebhookRefused("[bounces.sendgrid] public_key is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRefused("[bounces.sendgrid] public_key is not an ECDSA key")
    return key


# -- Postmark ------------------------------------------------------------------------------

_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked"}
_POSTMARK_SOFT = {"SoftBounce", "Transient", "DnsError", "SMTPApiError"}


def postmark_reports(
    body: bytes, authorization: str | None, user: str, password: str
) -> list[Report]:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise WebhookRefused("the Postmark webhook's user and password do not match")
    record = _json(body)
    if not isinstance(record, dict):
        raise WebhookUnreadable("a Postmark webhook posts a JSON object")
    record_type, bounce_type = str(record.get("RecordType", "")), str(record.get("Type", ""))
    if record_type == "SpamComplaint" or bounce_type == "SpamComplaint":
        kind = COMPLAINT
    elif record_type == "Bounce" and bounce_type in _POSTMARK_HARD:
        kind = HARD
    elif record_type == "Bounce" and bounce_type in _POSTMARK_SOFT:
        kind = SOFT
    elif record_type == "SubscriptionChange" and record.get("SuppressSending"):
        kind = UNSUBSCRIBE
    else:
        return []
    recipient = str(record.get("Email") or record.get("Recipient") or "").lower()
    detail = str(record.get("Details") or record.get("Description") or bounce_type)[:500]
    return [Report(kind, (recipient,), (), detail, "")]


# -- Mailgun -------------------------------------------------------------------------------


def mailgun_reports(
    body: bytes, signing_key: str, take_token: Callable[[str], bool], now: datetime
) -> list[Report]:
    """The report in one Mailgun webhook.

    Mailgun signs only the timestamp and token, not the event: a captured signature could
    carry other event-data. So a token is taken once (`take_token` stores it where every
    `serve` process sees it, and says False when it was taken already) and a signature is
    accepted for MAILGUN_FRESH only.
    """
    payload = _json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("signature"), dict):
        raise WebhookRefused("the Mailgun webhook carries no signature")
    signed = payload["signature"]
    timestamp, token = str(signed.get("timestamp", "")), str(signed.get("token", ""))
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), str(signed.get("signature", ""))):
        raise WebhookRefused("the Mailgun signature does not match")
    _check_unix_age(timestamp, now, MAILGUN_FRESH)
    if not token or len(token) > 100 or not take_token(token):
        raise WebhookRefused("this Mailgun request was already taken (a replay)")
    event = payload.get("event-data")
    if not isinstance(event, dict):
        raise WebhookUnreadable("the Mailgun webhook has no event-data")
    name, severity = str(event.get("event", "")), str(event.get("severity", ""))
    if name == "failed":
        kind = HARD if severity == "permanent" else SOFT
    elif name in ("complained", "unsubscribed"):
        kind = COMPLAINT if name == "complained" else UNSUBSCRIBE
    else:
        return []
    headers = (event.get("message") or {}).get("headers") or {}
    status = event.get("delivery-status") or {}
    detail = str(status.get("message") or status.get("description") or f"Mailgun {name}")
    recipient = str(event.get("recipient", "")).lower()
    message_id = str(headers.get("message-id", "")).strip("<>")
    return [Report(kind, (recipient,), (message_id,) if message_id else (), detail[:500], "")]


# -- shared --------------------------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookUnreadable("the body is not JSON") from None


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value or ""), validate=True)
    except (ValueError, binascii.Error):
        raise WebhookRefused("the signature is not base64") from None


def _ids(text: str) -> list[str]:
    return re.findall(r"<([^<>\s]+@[^<>\s]+)>", text) or ([text.strip()] if "@" in text else [])


def _check_age(timestamp: str, now: datetime) -> None:
    try:
        at = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRefused("the timestamp cannot be read") from None
    if at.tzinfo is None or abs(now - at) > FRESH:
        raise WebhookRefused("the request is too old (or from the future)")


def _check_unix_age(timestamp: str, now: datetime, fresh: timedelta = FRESH) -> None:
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRefused("the timestamp cannot be read")
    if abs(now.timestamp() - int(timestamp)) > fresh.total_seconds():
        raise WebhookRefused("the request is too old (or from the future)")
