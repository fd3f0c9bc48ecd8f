"""The email digest through the whole pipeline, against a real SMTP server (aiosmtpd).

Each test writes a site (settings, a job, a feed file), adds subscribers, fires the job
with `run_job` and sends with `deliver_due`, then reads back what the server received
with the `email` package and where every delivery row ended.
"""

from __future__ import annotations

import asyncio
import base64
import email
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from sqlalchemy import select

from syndicate.bounces.report import recent_bounces
from syndicate.channels.base import Channel
from syndicate.channels.registry import build_channels
from syndicate.config import Config, ConfigError, load_config
from syndicate.db.models import Delivery, DeliveryState, Subscriber, SubscriberStatus
from syndicate.db.session import Database, open_database
from syndicate.delivery import STATUS_FRESH_SECONDS, DeliveryPolicy, deliver_due
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import JobOutcome, run_job
from syndicate.links import Links
from syndicate.ratelimit import Clock
from syndicate.subscribers import (
    add_subscriber,
    forget_subscriber,
    import_csv,
    remove_subscriber,
)
from syndicate.tokens import site_secret
from tests.clocks import SkippingClock
from tests.sites import subscription_statuses
from tests.smtpserver import ACCEPT_THEN_DROP, DROP, SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

QUICK = DeliveryPolicy(backoff_base=timedelta(milliseconds=50))
# ... and a channel whose server is down tries it again within a second.
QUICK_OUTAGES = DeliveryPolicy(
    backoff_base=timedelta(milliseconds=50), outage_backoff_base=timedelta(milliseconds=250)
)
SLOT = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "https://kabarpilihan.example.id"
locale = "{locale}"
timezone = "Asia/Jakarta"

[database]
url = "sqlite:///{folder}/syndicate.db"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "warta"
url = "{feed_url}"
poll = "15m"

[channels.newsletter]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@kabarpilihan.example.id>"
list = "newsletter"
timeout = 5
{extra}
"""
DIGEST = 'every = "10m"\nchannels = ["newsletter"]\nformat = "digest"\nsubject = "Kabar pagi"\n'
EACH = 'every = "10m"\nchannels = ["newsletter"]\nformat = "each"\n'


@dataclass
class Newsletter:
    """A site with one email channel, its database and the SMTP server it mails."""

    config: Config
    channels: dict[str, Channel]
    db: Database
    smtp: SmtpServer

    def subscribe(self, *addresses: str) -> None:
        for address in addresses:
            add_subscriber(self.db, address, "newsletter")

    def run(self, n: int = 0) -> JobOutcome:
        job = self.config.job("pagi")
        return run_job(
            self.db, self.config, self.channels, job, scheduled_for=SLOT + timedelta(hours=n)
        )

    def deliver(
        self, wait: float = 0, policy: DeliveryPolicy = QUICK, status_clock: Clock = time.monotonic
    ) -> dict[str, int]:
        outcomes = deliver_due(
            self.db,
            self.config,
            self.channels,
            policy=policy,
            wait_for_retries=timedelta(seconds=wait),
            status_clock=status_clock,
        )
        return dict(asyncio.run(outcomes))

    def rows(self) -> dict[str, Delivery]:
        with self.db.session() as session:
            return {row.target: row for row in session.scalars(select(Delivery))}

    def received(self) -> list[EmailMessage]:
        return [message.message for message in self.smtp.messages]

    def links(self) -> Links:
        return Links(self.config.site.base_url, site_secret(self.db, None))


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator:
    opened: list[tuple[Database, SmtpServer]] = []

    def make(
        extra: str = "",
        *,
        job: str = DIGEST,
        feed: Path | None = None,
        locale: str = "id",
        smtp: SmtpServer | None = None,
    ) -> Newsletter:
        server = (smtp or SmtpServer()).start()
        feed = feed or write_sample_feed(tmp_path / "feed.xml")
        (tmp_path / "jobs").mkdir(exist_ok=True)
        (tmp_path / "jobs" / "pagi.toml").write_text(job, encoding="utf-8")
        settings = tmp_path / "syndicate.toml"
        settings.write_text(
            SETTINGS.format(
                locale=locale,
                folder=tmp_path.as_posix(),
                feed_url=feed.as_uri(),
                smtp_url=server.url,
                extra=extra,
            ),
            encoding="utf-8",
        )
        config = load_config(settings)
        db = open_database(config.database_url)
        opened.append((db, server))
        reports = asyncio.run(poll_sources(db, config.sources))
        assert [report.error for report in reports] == [None]
        return Newsletter(config, build_channels(config), db, server)

    yield make
    for db, server in opened:
        db.dispose()
        server.stop()


# -- the message ------------------------------------------------------------------------


def test_delivered_digest_has_the_one_click_pair_and_a_matching_mailto(make_site) -> None:
    site = make_site('unsubscribe_mailto = "berhenti@kabarpilihan.example.id"')
    site.subscribe("sari@example.org", "budi@example.org")
    assert site.run().queued == 2

    assert site.deliver() == {"sent": 2}

    rows = site.rows()
    with site.db.session() as session:
        ids = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
    for received in site.smtp.messages:
        message = received.message
        (address,) = received.envelope_to
        assert message["To"].addresses[0].addr_spec == address
        assert message["Subject"] == "Kabar pagi"
        assert message["From"].addresses[0].addr_spec == "redaksi@kabarpilihan.example.id"
        assert message["Message-ID"] == f"<{rows[address].external_id}>"
        assert message["Message-ID"].endswith("@kabarpilihan.example.id>")
        assert message["List-Id"] == "Kabar Pilihan <newsletter.kabarpilihan.example.id>"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Date"].endswith("+0700")  # the site's zone, Asia/Jakarta
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = re.fullmatch(
            r"<(https://[^>]+)>, <(mailto:[^>]+)>", message["List-Unsubscribe"]
        ).groups()
        token = https.rsplit("/", 1)[1]
        assert https == f"https://kabarpilihan.example.id/unsubscribe/{token}"
        assert site.links().read_unsubscribe(token) == (ids[address], "newsletter")
        assert mailto == f"mailto:berhenti@kabarpilihan.example.id?subject=unsubscribe%20{token}"
        assert b"=?" not in received.data.split(b"\r\n\r\n", 1)[0]  # no encoded words at all
        assert message.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in message.iter_parts()] == [
            "text/plain",
            "text/html",
        ]
        text = message.get_body(("plain",)).get_content()
        assert f"Berhenti berlangganan: {https}" in text
        assert f"Email ini dikirim ke {address}." in text


def test_feed_title_with_cr_lf_adds_no_header(make_site, tmp_path: Path) -> None:
    published = (datetime.now(UTC) - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    feed = tmp_path / "sneaky.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Warta</title><link>https://warta.example.org/</link>"
        "<item><title>Harga naik&#13;&#10;Bcc: korban@example.com&#13;&#10;X-Evil: 1"
        "&#13;&#10;&#13;&#10;badan palsu</title>"
        "<link>https://warta.example.org/harga</link><guid>harga-1</guid>"
        f"<pubDate>{published}</pubDate><description>Isi berita.</description></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    site = make_site(job=EACH, feed=feed)
    site.subscribe("sari@example.org")
    assert site.run().queued == 1

    assert site.deliver() == {"sent": 1}

    (received,) = site.smtp.messages
    names = [name.lower() for name in received.message]
    assert "bcc" not in names and "x-evil" not in names
    assert received.envelope_to == ["sari@example.org"]
    assert received.message["Subject"].startswith("Harga naik Bcc: korban@example.com")
    assert "\n" not in received.message["Subject"]


def test_english_site_sends_english_labels_and_dates_in_its_zone(make_site) -> None:
    site = make_site(locale="en")
    site.subscribe("sari@example.org")
    site.run()

    assert site.deliver() == {"sent": 1}

    text = site.received()[0].get_body(("plain",)).get_content()
    assert "Unsubscribe: https://kabarpilihan.example.id/unsubscribe/" in text
    assert "Read more: https://" in text
    assert "Berhenti berlangganan" not in text
    now_in_jakarta = datetime.now(UTC).astimezone(site.config.site.timezone)
    assert f"{now_in_jakarta:%A}, {now_in_jakarta.day} {now_in_jakarta:%B %Y}" in text


# -- SMTP outcomes ----------------------------------------------------------------------


def test_451_on_data_is_retried_and_then_sent_once(make_site) -> None:
    site = make_site()
    site.subscribe("sari@example.org", "budi@example.org")
    site.run()
    site.smtp.fail_next("DATA", "451 4.7.1 Greylisted, come back later")

    assert site.deliver(wait=5) == {"sent": 2}  # each row counted once, where it ended

    assert Counter(to for m in site.smtp.messages for to in m.envelope_to) == {
        "sari@example.org": 1,
        "budi@example.org": 1,
    }
    assert {row.state for row in site.rows().values()} == {DeliveryState.SENT}


def test_the_counts_of_a_run_with_retries_add_up_to_the_deliveries(make_site) -> None:
    site = make_site("connections = 1")
    addresses = [f"pembaca{n}@example.org" for n in range(7)]
    site.subscribe(*addresses)
    site.run()
    site.smtp.fail_next("RCPT", "451 4.3.0 Try again later", times=14)

    counts = site.deliver(wait=10)

    assert sum(counts.values()) == 7, counts
    assert counts == {"sent": 7}


def test_550_on_one_recipient_of_many_fails_only_that_one_and_bounces_it(make_site) -> None:
    site = make_site("bounce_after = 1\nconnections = 1")
    addresses = [f"pembaca{n}@example.org" for n in range(6)]
    site.subscribe(*addresses)
    site.run()
    site.smtp.fail_next("RCPT", "550 5.1.1 <pembaca2@example.org>: no such user", after=2)

    assert site.deliver() == {"sent": 5, "failed": 1}

    rows = site.rows()
    assert rows["pembaca2@example.org"].state == DeliveryState.FAILED
    assert "550 5.1.1" in (rows["pembaca2@example.org"].error or "")
    assert sorted(to for m in site.smtp.messages for to in m.envelope_to) == sorted(
        set(addresses) - {"pembaca2@example.org"}
    )
    bounced, kept = (subscription_statuses(site.db, f"pembaca{n}@example.org") for n in (2, 3))
    assert bounced == {"newsletter": SubscriberStatus.BOUNCED}  # a 5xx bounces at once
    assert kept == {"newsletter": SubscriberStatus.ACTIVE}


def test_connection_dropped_mid_batch_loses_nothing_and_resends_only_the_unconfirmed(
    make_site,
) -> None:
    site = make_site("connections = 1")
    addresses = [f"pembaca{n}@example.org" for n in range(10)]
    site.subscribe(*addresses)
    site.run()
    # The 4th message is taken, then the line dies before the 250; the 7th RCPT dies.
    site.smtp.fail_next("DATA", ACCEPT_THEN_DROP, after=3)
    site.smtp.fail_next("RCPT", DROP, after=6)

    assert site.deliver(wait=10) == {"sent": 10}
    assert site.deliver(wait=1) == {}  # nothing left to send, nothing sent again

    rows = site.rows()
    assert {row.state for row in rows.values()} == {DeliveryState.SENT}
    # A line lost after the body: the server may have the message, and SMTP's rule is to
    # send it again (RFC 5321 6.1); both copies carry one Message-ID for the receiver.
    received = Counter(to for m in site.smtp.messages for to in m.envelope_to)
    assert received == Counter(addresses) + Counter(["pembaca3@example.org"])
    copies = {
        m.message["Message-ID"]
        for m in site.smtp.messages
        if m.envelope_to == ["pembaca3@example.org"]
    }
    assert len(copies) == 1
    # Neither drop was an answer about a message: no row counted an attempt for it.
    assert {row.attempts for row in rows.values()} == {1}
    assert site.smtp.connections == 3


def test_server_that_hangs_up_every_few_messages_gets_each_message_once(make_site) -> None:
    site = make_site("connections = 2", smtp=SmtpServer(close_after=3))
    addresses = [f"pembaca{n}@example.org" for n in range(20)]
    site.subscribe(*addresses)
    site.run()

    assert site.deliver(wait=5) == {"sent": 20}

    received = Counter(to for m in site.smtp.messages for to in m.envelope_to)
    assert received == Counter(addresses)
    assert site.smtp.connections >= 7  # ceil(20 / 3): dropped connections were replaced


# -- fan-out, pool and rate limit -------------------------------------------------------


@pytest.mark.slow
def test_thousand_subscribers_get_exactly_one_message_each_over_the_pool(
    make_site, tmp_path: Path
) -> None:
    site = make_site("connections = 4")
    csv = tmp_path / "readers.csv"
    addresses = [f"pembaca{n:04d}@example.org" for n in range(1002)]
    csv.write_text("email,name\n" + "".join(f"{a},Pembaca {a[7:11]}\n" for a in addresses))
    import_csv(site.db, csv, "newsletter")
    remove_subscriber(site.db, "pembaca0000@example.org")  # left before the edition
    assert site.run().queued == 1001
    remove_subscriber(site.db, "pembaca0001@example.org")  # left before the send

    assert site.deliver() == {"sent": 1000, "skipped": 1}

    messages = site.smtp.messages
    assert len(messages) == 1000
    recipients = [to for m in messages for to in m.envelope_to]
    assert sorted(recipients) == addresses[2:]
    assert len({m.message["Message-ID"] for m in messages}) == 1000
    assert all(m.message["To"].addresses[0].addr_spec == m.envelope_to[0] for m in messages)
    rows = site.rows()
    assert rows["pembaca0001@example.org"].state == DeliveryState.SKIPPED
    assert "pembaca0000@example.org" not in rows
    sent = [row for row in rows.values() if row.state == DeliveryState.SENT]
    assert len(sent) == 1000
    assert {f"<{row.external_id}>" for row in sent} == {m.message["Message-ID"] for m in messages}
    # The pool: several connections at once, never more than configured, each reused.
    assert 2 <= site.smtp.most_open <= 4
    assert site.smtp.connections <= 4


def test_per_second_limit_is_never_exceeded_at_the_server(make_site) -> None:
    site = make_site("connections = 4\nmax_per_second = 20")
    site.subscribe(*(f"pembaca{n}@example.org" for n in range(70)))
    site.run()

    assert site.deliver() == {"sent": 70}

    times = sorted(message.received_at for message in site.smtp.messages)
    # Any 21 consecutive arrivals span at least one second: no second holds more than 20.
    assert all(times[i + 20] - times[i] >= 1.0 for i in range(len(times) - 20))


def test_per_hour_limit_sends_that_many_and_keeps_the_rest_for_the_next_hour(make_site) -> None:
    site = make_site("max_per_hour = 3")
    site.subscribe(*(f"pembaca{n}@example.org" for n in range(5)))
    site.run()
    before = datetime.now(UTC)

    outcomes = site.deliver()

    assert outcomes["sent"] == 3 and len(site.smtp.messages) == 3
    waiting = [row for row in site.rows().values() if row.state == DeliveryState.QUEUED]
    assert len(waiting) == 2
    for row in waiting:
        assert row.next_attempt_at.replace(tzinfo=UTC) > before + timedelta(minutes=55)
        assert row.attempts <= 1
    assert any("rate limit" in (row.error or "") for row in waiting)


# -- DKIM -------------------------------------------------------------------------------


def _rsa_key(folder: Path) -> tuple[Path, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_verifies_against_the_public_key(make_site, tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="cryptography makes the test key")
    _path, record = _rsa_key(tmp_path)
    site = make_site(
        'dkim_private_key = "dkim.pem"\ndkim_selector = "kabar"\n'
        'unsubscribe_mailto = "berhenti@kabarpilihan.example.id"'
    )
    site.subscribe("sari@example.org")
    site.run()
    assert site.deliver() == {"sent": 1}
    lookups: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        lookups.append(name)
        return record if name == b"kabar._domainkey.kabarpilihan.example.id." else b""

    (received,) = site.smtp.messages
    assert dkim.verify(received.data, dnsfunc=dns)
    assert lookups == [b"kabar._domainkey.kabarpilihan.example.id."]
    signature = received.message["DKIM-Signature"]
    signed = {name.strip() for name in re.search(r"h=([^;]+)", signature).group(1).split(":")}
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post", "to"} <= signed
    assert {"message-id", "date", "list-id"} <= signed
    assert "d=kabarpilihan.example.id" in signature
    tampered = received.data.replace(b"Subject: Kabar pagi", b"Subject: Kabar sore", 1)
    assert tampered != received.data
    assert not dkim.verify(tampered, dnsfunc=dns)
    unsubscribe = received.data.index(b"List-Unsubscribe:")
    added = received.data[:unsubscribe] + b"List-Unsubscribe: <https://evil.example/>\r\n"
    assert not dkim.verify(added + received.data[unsubscribe:], dnsfunc=dns)


def test_dkim_oversigns_every_signed_header_and_always_signs_reply_to(
    make_site, tmp_path: Path
) -> None:
    pytest.importorskip("cryptography", reason="cryptography makes the test key")
    _path, record = _rsa_key(tmp_path)
    site = make_site(
        'dkim_private_key = "dkim.pem"\ndkim_selector = "kabar"\n'
        'reply_to = "redaksi@kabarpilihan.example.id"'
    )
    site.subscribe("sari@example.org")
    site.run()
    assert site.deliver() == {"sent": 1}
    (received,) = site.smtp.messages

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"kabar._domainkey.kabarpilihan.example.id." else b""

    assert dkim.verify(received.data, dnsfunc=dns)
    signature = " ".join(received.message["DKIM-Signature"].split())
    listed = [name.strip() for name in re.search(r"h=([^;]+)", signature).group(1).split(":")]
    for header in ("from", "to", "subject", "date", "reply-to", "content-type", "message-id"):
        assert listed.count(header) == 2, (header, listed)  # once present, once more
    head = received.data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    body = received.data[len(head) :]
    for added in (
        b"Subject: Hadiah untuk Anda\r\n",
        b"Reply-To: penipu@evil.example\r\n",
        b"To: lain@example.org\r\n",
        b"Content-Type: text/plain\r\n",
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n",
    ):
        assert not dkim.verify(head + added + body, dnsfunc=dns), added


def test_dkim_keys_under_1024_bits_are_refused_in_one_sentence(make_site, tmp_path: Path) -> None:
    # cryptography refuses to make so short a key; openssl still does.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl makes the 512-bit test key")
    key = subprocess.run([openssl, "genrsa", "512"], capture_output=True, check=True).stdout
    (tmp_path / "dkim.pem").write_bytes(key)
    with pytest.raises(ConfigError) as caught:
        make_site('dkim_private_key = "dkim.pem"\ndkim_selector = "kabar"')
    message = str(caught.value)
    assert "dkim_private_key" in message and "512-bit" in message and "2048" in message
    assert len(message.strip().splitlines()) == 1


def test_a_new_process_tries_rows_left_waiting_for_their_server_at_once(make_site) -> None:
    """A fresh `run --once` after an outage does not sit out the old process's back-off."""
    site = make_site()
    site.subscribe("sari@example.org", "budi@example.org")
    assert site.run().queued == 2
    site.smtp.down()
    slow = DeliveryPolicy(outage_backoff_base=timedelta(minutes=10))
    asyncio.run(deliver_due(site.db, site.config, site.channels, policy=slow))
    rows = site.rows().values()
    assert {row.state for row in rows} == {"queued"}
    assert all((row.error or "").startswith("waiting:") for row in rows)
    site.smtp.up()
    fresh = build_channels(site.config)  # what a new process has: no memory of the outage
    outcomes = asyncio.run(deliver_due(site.db, site.config, fresh, policy=slow))
    assert outcomes["sent"] == 2 and {row.state for row in site.rows().values()} == {"sent"}


def _pem(kind: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    private = serialization.PrivateFormat.PKCS8
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "public":
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    encryption = (
        serialization.BestAvailableEncryption(b"rahasia")
        if kind == "encrypted"
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, private, encryption)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("public", "it is a public key"),
        ("encrypted", "protected by a passphrase"),
        ("ed25519", "it is an Ed25519 key"),
        ("ecdsa", "elliptic-curve"),
    ],
)
def test_a_dkim_key_that_cannot_sign_is_one_sentence_saying_what_it_is(
    make_site, tmp_path: Path, kind: str, said: str
) -> None:
    (tmp_path / "dkim.pem").write_bytes(_pem(kind))
    with pytest.raises(ConfigError) as caught:
        make_site('dkim_private_key = "dkim.pem"\ndkim_selector = "kabar"')
    message = str(caught.value).strip()
    assert len(message.splitlines()) == 1, message
    assert "dkim.pem" in message and said in message, message
    assert message.count("(") == message.count(")"), message
    assert "Unparsable" not in message and "truncated" not in message


def test_deliveries_say_why_queued_rows_wait_and_when_they_are_tried_next(
    make_site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from syndicate.cli import main
    from syndicate.report import waiting_deliveries

    site = make_site("connections = 1")
    site.subscribe("sari@example.org", "budi@example.org")
    site.run()
    site.smtp.down()
    assert site.deliver() == {"waiting for their server": 2}

    (waiting,) = waiting_deliveries(site.db, site.config)
    assert (waiting.job, waiting.channel, waiting.count) == ("pagi", "newsletter", 2)
    assert waiting.why.startswith("its server was last seen unreachable at ")
    assert "cannot reach" in waiting.why
    rows = site.rows().values()
    assert waiting.next_try == min(row.next_attempt_at for row in rows)

    capsys.readouterr()
    assert main(["deliveries", "--config", str(tmp_path / "syndicate.toml")]) == 0
    shown = capsys.readouterr().out
    assert "Waiting (times in " in shown and "next try" in shown
    line = next(line for line in shown.splitlines() if "last seen unreachable at" in line)
    assert line.split()[:3] == ["pagi", "newsletter", "2"]
    assert re.search(r"  (now|in \d+ s|in \d+ min)  .*unreachable at \d\d:\d\d: ", line), line

    site.smtp.up()
    assert site.deliver(wait=10) == {"sent": 2}
    assert waiting_deliveries(site.db, site.config) == []


def test_a_row_waiting_for_its_retry_says_the_answer_it_got(make_site) -> None:
    from syndicate.report import waiting_deliveries

    site = make_site()
    site.subscribe("sari@example.org")
    site.run()
    site.smtp.fail_next("RCPT", "451 4.3.0 Mailbox busy, try later")
    # A pass sends every row whose time has come, a retry too: QUICK's jittered wait of up
    # to 50 ms can run out before the pass claims again, and the row would go out.
    assert site.deliver(policy=DeliveryPolicy(backoff_base=timedelta(minutes=10))) == {"queued": 1}
    (waiting,) = waiting_deliveries(site.db, site.config)
    assert waiting.why.startswith("to be retried after:") and "451 4.3.0" in waiting.why
    assert waiting.next_try == next(iter(site.rows().values())).next_attempt_at


def test_a_finished_fan_out_is_told_once_with_its_counts(make_site) -> None:
    from syndicate.report import finished_fanouts

    site = make_site("bounce_after = 1")
    site.subscribe("sari@example.org", "budi@example.org", "wulan@example.org")
    outcome = site.run()
    since, told = datetime.now(UTC), set()
    site.smtp.fail_next("RCPT", "550 5.1.1 No such user")
    assert finished_fanouts(site.db, since, told) == []  # nothing touched yet

    assert site.deliver() == {"sent": 2, "failed": 1}

    (fanout,) = finished_fanouts(site.db, since, told)
    assert (fanout.job, fanout.edition_id, fanout.channel) == (
        "pagi",
        outcome.edition_id,
        "newsletter",
    )
    assert fanout.counts == {"sent": 2, "failed": 1}
    assert finished_fanouts(site.db, since, told) == []


def test_parsed_back_messages_are_plain_email_objects(make_site) -> None:
    site = make_site()
    site.subscribe("sari@example.org")
    site.run()
    site.deliver()
    (received,) = site.smtp.messages
    again = email.message_from_bytes(received.data, policy=policy.default)
    assert again["Subject"] == "Kabar pagi"


def test_a_server_that_is_down_costs_no_attempt_and_the_mail_waits_for_it(make_site) -> None:
    site = make_site("connections = 1")
    site.subscribe("sari@example.org", "budi@example.org")
    site.run()
    site.smtp.down()

    assert site.deliver() == {"waiting for their server": 2}
    rows = site.rows()
    assert {(row.state, row.attempts) for row in rows.values()} == {(DeliveryState.QUEUED, 0)}
    assert all(
        "waiting" in (row.error or "") and "cannot reach" in (row.error or "")
        for row in rows.values()
    )

    site.smtp.up()
    assert site.deliver(wait=10) == {"sent": 2}
    received = Counter(to for m in site.smtp.messages for to in m.envelope_to)
    assert received == Counter(["sari@example.org", "budi@example.org"])
    assert {row.attempts for row in site.rows().values()} == {1}


def test_one_run_that_waits_sends_once_the_server_is_back(make_site) -> None:
    # `syndicate send` waits for retries: the server that was down when it started comes
    # back while it waits, and the channel is opened again (it was not, once).
    site = make_site("connections = 1")
    site.subscribe("sari@example.org", "budi@example.org")
    site.run()
    site.smtp.down()
    back = threading.Timer(1.0, site.smtp.up)  # after the channel's first tries failed
    back.start()
    try:
        assert site.deliver(wait=30, policy=QUICK_OUTAGES) == {"sent": 2}
    finally:
        back.join()
    assert {row.attempts for row in site.rows().values()} == {1}


def test_connecting_to_the_smtp_server_is_logged_once_a_run(
    make_site, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site("connections = 4\nmax_per_second = 1000")
    site.subscribe(*(f"pembaca{n}@example.org" for n in range(12)))
    site.run()
    with caplog.at_level("INFO", logger="syndicate.channels.email"):
        assert site.deliver() == {"sent": 12}
    assert site.smtp.connections > 1  # the pool opened several
    connected = [r for r in caplog.records if "connected to" in r.getMessage()]
    assert [r.levelname for r in connected].count("INFO") == 1


def test_a_reader_who_leaves_or_is_forgotten_while_the_batch_is_sent_is_not_mailed(
    make_site,
) -> None:
    site = make_site("connections = 1")
    addresses = [f"c{n}@example.org" for n in range(10)]
    site.subscribe(*addresses)
    site.run()
    clock = SkippingClock()

    def leave_during_the_send(message: object) -> None:
        if len(site.smtp.messages) == 2:  # the whole batch is claimed by now
            remove_subscriber(site.db, "c7@example.org", list_name="newsletter")
            forget_subscriber(site.db, "C8@example.org")
            clock.skip(STATUS_FRESH_SECONDS + 0.1)  # as slow as a rate limit would send

    site.smtp.on_message = leave_during_the_send
    assert site.deliver(status_clock=clock) == {"sent": 8, "skipped": 2}
    mailed = sorted(to for m in site.smtp.messages for to in m.envelope_to)
    assert mailed == sorted(set(addresses) - {"c7@example.org", "c8@example.org"})


def test_policy_blocks_full_mailboxes_and_data_refusals_are_soft_bounces_that_add_up(
    make_site,
) -> None:
    site = make_site("bounce_after = 1\nconnections = 1")
    addresses = ["blok@example.org", "penuh@example.org", "isi@example.org", "ada@example.org"]
    site.subscribe(*addresses)
    site.run()
    site.smtp.replies = {
        "blok@example.org": "550 5.7.1 Service unavailable; client host blocked using Spamhaus",
        "penuh@example.org": "552 5.2.2 <penuh@example.org>: mailbox full",
    }
    site.smtp.fail_next("DATA", "554 5.7.1 content rejected")  # the first DATA: isi's

    assert site.deliver() == {"sent": 1, "failed": 3}

    lines = recent_bounces(site.db)
    assert sorted((line.email, line.kind) for line in lines) == sorted(
        (address, "soft") for address in addresses[:3]
    )
    assert all(line.source == "smtp" for line in lines)
    for address in addresses[:3]:  # bounce_after = 1: one soft bounce is enough
        assert subscription_statuses(site.db, address) == {"newsletter": "bounced"}
    assert subscription_statuses(site.db, "ada@example.org") == {"newsletter": "active"}
