"""Provider webhooks over HTTP against the real app: each signed as its provider signs it.

Keys and certificates are made here with `cryptography`. SNS's signing certificate is
served by a local HTTP server; the app is built with a fetch function that maps the
certificate's AWS URL onto it, after the app's own (unchangeable) host check.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from syndicate.bounces.report import recent_bounces
from syndicate.db.models import SubscriberStatus
from syndicate.db.session import open_database
from syndicate.subscribers import add_subscriber
from syndicate.web.app import create_app
from tests.browser.live import LiveSite
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer
from tests.test_web_http import client, login

TOPIC = "arn:aws:sns:us-east-1:123456789012:kabar-bounces"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-6aad65c2f9911b05.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    + TOPIC
    + "&Token=2336412f37fb687f5d51e6e2425c464de"
)
SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
READERS = ("ses@example.net", "sendgrid@example.net", "postmark@example.net", "mailgun@example.net")

TAIL = """
[bounces]
address = "bounces@example.org"

[bounces.ses]
topic_arns = ["{topic}"]

[bounces.sendgrid]
public_key = "{sendgrid_key}"

[bounces.postmark]
user = "postmark"
password_env = "SYNDICATE_TEST_POSTMARK_PASSWORD"

[bounces.mailgun]
signing_key_env = "SYNDICATE_TEST_MAILGUN_KEY"
"""


def sns_certificate(common_name: str = "sns.amazonaws.com") -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(SNS_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(SNS_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


class AwsOnThisMachine:
    """The fetch function given to the app: AWS's SNS URLs, answered by a local server."""

    def __init__(self, server: FeedServer) -> None:
        self.server, self.fetched = server, []

    def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        parts = urlsplit(url)
        local = self.server.url(parts.path + (f"?{parts.query}" if parts.query else ""))
        response = httpx.get(local, timeout=5)
        response.raise_for_status()
        return response.content


@pytest.fixture
def aws() -> Iterator[AwsOnThisMachine]:
    with FeedServer() as server:
        server.add(urlsplit(CERT_URL).path, sns_certificate(), "application/x-pem-file")
        server.add("/", b"<ConfirmSubscriptionResponse/>", "text/xml")
        yield AwsOnThisMachine(server)


@pytest.fixture
def hooked(
    tmp_path: Path, database_url: str, aws: AwsOnThisMachine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveSite]:
    monkeypatch.setenv("SYNDICATE_TEST_POSTMARK_PASSWORD", "pm-sandi")
    monkeypatch.setenv("SYNDICATE_TEST_MAILGUN_KEY", "mg-kunci")
    public = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tail = TAIL.format(topic=TOPIC, sendgrid_key=base64.b64encode(public).decode())
    with (
        SmtpServer() as smtp,
        LiveSite(tmp_path, database_url, smtp, more_sources=tail, fetch_sns=aws) as site,
    ):
        for reader in READERS:
            add_subscriber(site.db, reader, "newsletter")
        site.run("pagi")
        assert site.deliver() == {"sent": len(READERS)}
        yield site


def sent_to(site: LiveSite, address: str) -> tuple[str, str]:
    """(envelope sender, Message-ID) of the digest sent to `address`."""
    (message,) = [m for m in site.smtp.messages if m.envelope_to == [address]]
    return message.envelope_from, message.message["Message-ID"].strip("<>")


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def signed_sns(fields: dict[str, str], version: str = "1") -> dict[str, str]:
    keys = {
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
    }[fields["Type"]]
    text = "".join(f"{key}\n{fields[key]}\n" for key in keys if key in fields)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = SNS_KEY.sign(text.encode(), padding.PKCS1v15(), digest)
    return {
        **fields,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": CERT_URL,
    }


def ses_notification(site: LiveSite, address: str, event: str, version: str = "1") -> dict:
    source, message_id = sent_to(site, address)
    body = {
        "notificationType": event,
        "mail": {
            "timestamp": now_iso(),
            "messageId": "0100018c-aaaa-bbbb-cccc-000000000000-000000",
            "source": source,
            "destination": [address],
            "commonHeaders": {"messageId": f"<{message_id}>", "subject": "Kabar pagi"},
        },
    }
    if event == "Bounce":
        body["bounce"] = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        }
    else:
        body["complaint"] = {"complainedRecipients": [{"emailAddress": address}]}
    return signed_sns(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": json.dumps(body),
            "Timestamp": now_iso(),
        },
        version,
    )


def post(site: LiveSite, provider: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(site.url(f"/hooks/{provider}"), content=body, headers=headers, timeout=10)


async def post_in_process(
    app: Starlette, base_url: str, provider: str, payload: object
) -> httpx.Response:
    """A webhook posted to `app` in this process, as another `serve` process would take it."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as restarted:
        return await restarted.post(f"/hooks/{provider}", content=json.dumps(payload).encode())


def test_each_providers_signed_report_ends_that_subscription(
    hooked: LiveSite, aws: AwsOnThisMachine
) -> None:
    site = hooked
    # Amazon SES through SNS (SignatureVersion 2: SHA-256), matched by the VERP source.
    answer = post(
        site, "ses", json.dumps(ses_notification(site, READERS[0], "Bounce", "2")).encode()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"events": 1, "matched": 1}
    assert aws.fetched == [CERT_URL]
    again = post(site, "ses", json.dumps(ses_notification(site, READERS[0], "Bounce")).encode())
    assert again.status_code == 200  # SNS delivers at least once: the copy is logged once
    assert len(recent_bounces(site.db)) == 1

    # SendGrid: ECDSA over the timestamp and the body.
    _, message_id = sent_to(site, READERS[1])
    events = json.dumps(
        [
            {
                "email": READERS[1],
                "event": "spamreport",
                "smtp-id": f"<{message_id}>",
                "timestamp": 1733468591,
            },
            {"email": READERS[1], "event": "open", "timestamp": 1733468591},
        ]
    ).encode()
    stamp = str(int(datetime.datetime.now(datetime.UTC).timestamp()))
    signature = SENDGRID_KEY.sign(stamp.encode() + events, ec.ECDSA(hashes.SHA256()))
    answer = post(
        site,
        "sendgrid",
        events,
        **{
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
    )
    assert answer.status_code == 200 and answer.json() == {"events": 1, "matched": 1}

    # Postmark: basic auth; matched by the address to its latest delivery.
    record = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "Email": READERS[2].upper(),
        "Details": "smtp;550 5.1.1 The email account does not exist",
    }
    auth = "Basic " + base64.b64encode(b"postmark:pm-sandi").decode()
    answer = post(site, "postmark", json.dumps(record).encode(), Authorization=auth)
    assert answer.status_code == 200 and answer.json() == {"events": 1, "matched": 1}

    # Mailgun: HMAC of timestamp + token; matched by the Message-ID.
    payload = mailgun_payload(READERS[3], sent_to(site, READERS[3])[1])
    answer = post(site, "mailgun", json.dumps(payload).encode())
    assert answer.status_code == 200 and answer.json() == {"events": 1, "matched": 1}

    assert [site.statuses(r)["newsletter"] for r in READERS] == [
        SubscriberStatus.BOUNCED,
        SubscriberStatus.COMPLAINED,
        SubscriberStatus.BOUNCED,
        SubscriberStatus.BOUNCED,
    ]

    browser = client(site)
    login(browser)
    dashboard = browser.get("/admin").text
    assert "75.0% (3)" in dashboard and "25.00% (1)" in dashboard
    assert "75.0% bounced (above 2%)" in dashboard
    assert "25.00% complained (above 0.1%)" in dashboard


def mailgun_payload(address: str, message_id: str, key: str = "mg-kunci") -> dict:
    stamp, token = str(int(datetime.datetime.now(datetime.UTC).timestamp())), secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": stamp, "token": token, "signature": signature},
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "recipient": address,
            "message": {"headers": {"message-id": message_id}},
            "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist"},
        },
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_requests_not_signed_by_the_provider_are_refused_and_change_nothing(
    hooked: LiveSite, aws: AwsOnThisMachine
) -> None:
    site = hooked
    forged = ses_notification(site, READERS[0], "Complaint")
    forged["Message"] = forged["Message"].replace("Complaint", "Bounce", 1)
    assert post(site, "ses", json.dumps(forged).encode()).status_code == 403
    for url in (
        "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem",
        "https://evil.test\\@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com@evil.test/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
    ):
        elsewhere = ses_notification(site, READERS[0], "Complaint")
        elsewhere["SigningCertURL"] = url
        assert post(site, "ses", json.dumps(elsewhere).encode()).status_code == 403, url
    assert CERT_URL not in aws.fetched[1:] and len(aws.fetched) == 1  # evil host never fetched
    other_topic = ses_notification(site, READERS[0], "Complaint")
    other_topic["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:not-ours"
    assert post(site, "ses", json.dumps(other_topic).encode()).status_code == 403

    events = json.dumps([{"email": READERS[1], "event": "bounce"}]).encode()
    stamp = str(int(datetime.datetime.now(datetime.UTC).timestamp()))
    other_key = ec.generate_private_key(ec.SECP256R1())
    bad = other_key.sign(stamp.encode() + events, ec.ECDSA(hashes.SHA256()))
    answer = post(
        site,
        "sendgrid",
        events,
        **{
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(bad).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
    )
    assert answer.status_code == 403
    assert post(site, "sendgrid", events).status_code == 403  # no signature at all

    record = json.dumps({"RecordType": "Bounce", "Type": "HardBounce", "Email": READERS[2]})
    wrong = "Basic " + base64.b64encode(b"postmark:guess").decode()
    assert post(site, "postmark", record.encode(), Authorization=wrong).status_code == 403

    payload = mailgun_payload(READERS[3], sent_to(site, READERS[3])[1], key="not-the-key")
    assert post(site, "mailgun", json.dumps(payload).encode()).status_code == 403
    replayed = mailgun_payload(READERS[3], "no-such-id@example.org")
    replayed["event-data"]["event"] = "delivered"
    assert post(site, "mailgun", json.dumps(replayed).encode()).status_code == 200
    assert post(site, "mailgun", json.dumps(replayed).encode()).status_code == 403

    assert post(site, "ses", b"{not json").status_code == 400
    assert post(site, "ses", b"[" * 100_000 + b"]" * 100_000).status_code == 400
    assert post(site, "mailgun", b" " * 1_100_000).status_code == 413
    assert post(site, "nosuchprovider", b"{}").status_code == 404
    assert [site.statuses(r)["newsletter"] for r in READERS] == [SubscriberStatus.ACTIVE] * 4


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_sns_subscription_is_confirmed_by_fetching_its_subscribe_url(
    hooked: LiveSite, aws: AwsOnThisMachine
) -> None:
    confirmation = signed_sns(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425c464de",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic. Visit the SubscribeURL.",
            "SubscribeURL": SUBSCRIBE_URL,
            "Timestamp": now_iso(),
        }
    )
    answer = post(hooked, "ses", json.dumps(confirmation).encode())
    assert answer.status_code == 200, answer.text
    assert aws.fetched == [CERT_URL, SUBSCRIBE_URL]
    assert any(r.path.startswith("/?Action=ConfirmSubscription") for r in aws.server.requests)


def test_webhooks_are_off_until_configured(tmp_path: Path) -> None:
    with SmtpServer() as smtp, LiveSite(tmp_path, f"sqlite:///{tmp_path}/w.db", smtp) as site:
        for provider in ("ses", "sendgrid", "postmark", "mailgun"):
            answer = httpx.post(site.url(f"/hooks/{provider}"), content=b"{}", timeout=10)
            assert answer.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mailgun_signature_is_taken_once_by_every_serve_process_and_after_a_restart(
    hooked: LiveSite, aws: AwsOnThisMachine
) -> None:
    site = hooked
    taken = mailgun_payload(READERS[3], "no-such-id@example.org")
    taken["event-data"]["event"] = "delivered"
    assert post(site, "mailgun", json.dumps(taken).encode()).status_code == 200
    # The same signature block with other event-data, at a serve process started later.
    replayed = {**taken, "event-data": {**taken["event-data"], "event": "complained"}}
    replayed["event-data"]["recipient"] = READERS[3]
    second = open_database(site.config.database_url)
    app = create_app(site.config, second, site.channels, fetch_sns=aws)
    answer = asyncio.run(post_in_process(app, site.config.site.base_url, "mailgun", replayed))
    second.dispose()
    assert answer.status_code == 403 and "already taken" in answer.text
    old = mailgun_payload(READERS[3], "no-such-id@example.org")
    stamp = int(old["signature"]["timestamp"]) - 6 * 60  # past the 5 minutes
    old["signature"]["timestamp"] = str(stamp)
    old["signature"]["signature"] = hmac.new(
        b"mg-kunci", f"{stamp}{old['signature']['token']}".encode(), hashlib.sha256
    ).hexdigest()
    assert post(site, "mailgun", json.dumps(old).encode()).status_code == 403
    assert site.statuses(READERS[3]) == {"newsletter": SubscriberStatus.ACTIVE}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_forged_sns_requests_are_refused_before_any_fetch_in_one_sentence(
    hooked: LiveSite, aws: AwsOnThisMachine
) -> None:
    site = hooked
    unknown_version = ses_notification(site, READERS[0], "Complaint")
    unknown_version["SignatureVersion"] = "9"
    answer = post(site, "ses", json.dumps(unknown_version).encode())
    assert answer.status_code == 403 and "SignatureVersion" in answer.json()["error"]
    no_signature = ses_notification(site, READERS[0], "Complaint")
    no_signature["Signature"] = "not base64!"
    assert post(site, "ses", json.dumps(no_signature).encode()).status_code == 403
    stale = ses_notification(site, READERS[0], "Complaint")
    stale["Timestamp"] = "2020-01-01T00:00:00.000Z"
    assert post(site, "ses", json.dumps(stale).encode()).status_code == 403
    assert aws.fetched == []  # nothing was fetched for any of them

    unreachable = ses_notification(site, READERS[0], "Complaint")
    unreachable["SigningCertURL"] = CERT_URL.replace(".pem", "-gone.pem")
    answer = post(site, "ses", json.dumps(unreachable).encode())
    assert answer.status_code == 403
    assert answer.json() == {"error": "the SNS signing certificate could not be fetched"}
    assert site.statuses(READERS[0]) == {"newsletter": SubscriberStatus.ACTIVE}
