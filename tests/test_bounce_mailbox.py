"""The bounce mailbox, read for real from dovecot over IMAP and POP3.

Digests go out through the real SMTP server with a VERP envelope sender; what comes back
is written from the Gmail, Outlook, Yahoo, Postfix and Exim samples for those very
messages and put into dovecot's mailbox; the site reads it as the scheduler does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from syndicate.bounces.intake import Intake
from syndicate.bounces.mailbox import MailboxError, check_mailbox
from syndicate.bounces.verp import verp_address
from syndicate.cli import main
from syndicate.db.models import SubscriberStatus
from syndicate.scheduler import Clock
from syndicate.subscribers import add_subscriber
from syndicate.tokens import site_secret
from tests.bouncemail import sample
from tests.mailserver import PASSWORD, Dovecot, require_dovecot
from tests.sites import Site, job_toml
from tests.smtpserver import ReceivedMessage

PASSWORD_ENV = "SYNDICATE_TEST_BOUNCES_PASSWORD"
READERS = (
    "hilang@gmail.example",
    "Penuh@Example.net",
    "marah@yahoo.example",
    "outlook@outlook.example",
    "sari@example.org",
)

TAIL = """
[channels.surat]
type = "email"
smtp_url = "{smtp_url}"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"
timeout = 5
bounce_after = 2
unsubscribe_mailto = "berhenti@example.org"

[bounces]
address = "bounces@example.org"
mailbox_url = "{mailbox_url}"
password_env = "{password_env}"
ca_file = "{ca_file}"
{more}
"""


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the matching is plain SQL that test_bounce_webhooks runs on both."""
    return f"sqlite:///{tmp_path / 'syndicate.db'}"


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    require_dovecot()
    with Dovecot(tmp_path / "dovecot") as server:
        yield server


@pytest.fixture
def mail_site(site: Site, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return site


def open_site(site: Site, dovecot: Dovecot, scheme: str, more: str = "") -> Site:
    tail = TAIL.format(
        smtp_url=site.smtp.url,
        mailbox_url=dovecot.url(scheme),
        password_env=PASSWORD_ENV,
        ca_file=dovecot.ca_file,
        more=more,
    )
    site.open(settings_tail=tail, pagi=job_toml("surat", new=1))
    for reader in READERS:
        add_subscriber(site.db, reader, "newsletter")
    return site


def sent(site: Site) -> dict[str, ReceivedMessage]:
    """The last message each reader got, by their address as stored."""
    return {message.envelope_to[0].lower(): message for message in site.smtp.messages}


def bounce_for(message: ReceivedMessage, name: str, *, return_path: str | None = None) -> bytes:
    return sample(
        name,
        recipient=message.envelope_to[0],
        return_path=return_path or message.envelope_from,
        message_id=message.message["Message-ID"].strip("<>"),
    )


def test_imap_bounces_and_complaints_end_subscriptions_and_are_moved_away(
    mail_site: Site, dovecot: Dovecot
) -> None:
    site = open_site(mail_site, dovecot, "imaps", 'move_to = "Handled"')
    site.run("pagi", 1)
    assert site.deliver() == {"sent": 5}
    first = sent(site)
    secret = site_secret(site.db, None)
    for row in site.rows():  # each digest left with its own signed envelope sender
        assert first[row.target.lower()].envelope_from == verp_address(
            "bounces@example.org", row.id, secret
        )
    dovecot.append(
        bounce_for(first["hilang@gmail.example"], "gmail-dsn-550-5.1.1.eml"),
        bounce_for(first["marah@yahoo.example"], "yahoo-arf-abuse.eml"),
        # Outlook's bounce came back to a plain address: matched by its Message-ID alone.
        bounce_for(
            first["outlook@outlook.example"],
            "outlook-dsn-550-5.5.0.eml",
            return_path="redaksi@example.org",
        ),
        bounce_for(first["penuh@example.net"], "postfix-dsn-552-5.2.2.eml"),
        bounce_for(first["sari@example.org"], "postfix-dsn-delayed.eml"),
        # Not ours: a forged VERP token and an unknown Message-ID; and a reader's reply.
        sample(
            "postfix-dsn-550-5.1.1.eml",
            recipient="sari@example.org",
            return_path=verp_address("bounces@example.org", 1, b"forged"),
            message_id="someone-else@example.org",
        ),
        b"From: Sari <sari@example.org>\r\nTo: bounces@example.org\r\n"
        b"Subject: Re: Kabar pagi\r\n\r\nTerima kasih!\r\n",
        # Hostile: a huge mail claiming to be a DSN, and bytes that are no mail at all.
        b"From: MAILER-DAEMON@evil.test\r\nSubject: Undelivered Mail\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        + b"--x\r\n"
        * 400_000,
        bytes(range(256)) * 64,
    )

    seen = check_mailbox(site.config.bounces, Intake.for_site(site.db, site.config, site.channels))

    assert (seen.read, seen.handled, seen.unmatched, seen.changed) == (9, 5, 4, 3)
    assert site.statuses("hilang@gmail.example") == {"newsletter": SubscriberStatus.BOUNCED}
    assert site.statuses("marah@yahoo.example") == {"newsletter": SubscriberStatus.COMPLAINED}
    assert site.statuses("outlook@outlook.example") == {"newsletter": SubscriberStatus.BOUNCED}
    assert site.statuses("penuh@example.net") == {"newsletter": SubscriberStatus.ACTIVE}
    assert dovecot.subjects()[:2] == ["Undelivered Mail Returned to Sender", "Re: Kabar pagi"]
    assert dovecot.seen_flags() == [False] * 4  # left exactly as they were
    assert len(dovecot.subjects("Handled")) == 5

    # A second soft bounce (bounce_after = 2) within 30 days ends Penuh's subscription too.
    second = site.run("pagi", 2)
    assert second.queued == 2  # sari and penuh are the only ones left
    assert site.deliver() == {"sent": 2}
    dovecot.append(bounce_for(sent(site)["penuh@example.net"], "postfix-dsn-552-5.2.2.eml"))
    again = check_mailbox(site.config.bounces, Intake.for_site(site.db, site.config, site.channels))
    # Only the new mail is read: the four left last time are not downloaded again.
    assert (again.read, again.handled, again.unmatched, again.changed) == (1, 1, 0, 1)
    assert site.statuses("penuh@example.net") == {"newsletter": SubscriberStatus.BOUNCED}
    assert site.run("pagi", 3).queued == 1


def test_pop3_with_stls_read_by_the_scheduler_unsubscribes_by_mail_and_deletes_handled_mail(
    mail_site: Site, dovecot: Dovecot, capsys: pytest.CaptureFixture[str]
) -> None:
    site = open_site(mail_site, dovecot, "pop3", 'trusted_authserv_id = "mx.example.org"')
    site.run("pagi", 1)
    site.deliver()
    first = sent(site)
    unsubscribe = first["sari@example.org"].message["List-Unsubscribe"]
    mailto = re.search(r"<mailto:([^?>]+)\?subject=([^>]+)>", unsubscribe)
    assert mailto and mailto.group(1) == "berhenti@example.org"
    dovecot.append(
        # What a mail program sends for the mailto: link of List-Unsubscribe.
        f"From: Sari <sari@example.org>\r\nTo: {mailto.group(1)}\r\n"
        f"Subject: {unquote(mailto.group(2))}\r\n\r\n".encode(),
        # Someone without the link writes in by hand from their own address; our
        # receiving server checked it came from there.
        b"Authentication-Results: mx.example.org; dkim=pass header.d=yahoo.example;\r\n"
        b" dmarc=pass (p=reject) header.from=yahoo.example\r\n"
        b"From: Marah <MARAH@yahoo.example>\r\nTo: berhenti@example.org\r\n"
        b"Subject: please stop\r\n\r\nStop.\r\n",
        # A forged From: no pass from our server (another server's claim does not count).
        b"Authentication-Results: evil.example; dmarc=pass header.from=example.net\r\n"
        b"Authentication-Results: mx.example.org; dmarc=fail header.from=example.net\r\n"
        b"From: Penuh <penuh@example.net>\r\nTo: berhenti@example.org\r\n"
        b"Subject: unsubscribe unsubscribed\r\n\r\n\r\n",
        bounce_for(first["hilang@gmail.example"], "exim-plain-550.eml"),
        b"From: someone@example.com\r\nTo: bounces@example.org\r\nSubject: hello\r\n\r\nhi\r\n",
    )

    asyncio.run(Clock(site.db, site.config, site.channels)._read_bounces())

    assert site.statuses("sari@example.org") == {"newsletter": SubscriberStatus.UNSUBSCRIBED}
    assert site.statuses("marah@yahoo.example") == {"newsletter": SubscriberStatus.UNSUBSCRIBED}
    assert site.statuses("hilang@gmail.example") == {"newsletter": SubscriberStatus.BOUNCED}
    assert site.statuses("penuh@example.net") == {"newsletter": SubscriberStatus.ACTIVE}
    # Handled mail deleted; the stranger's and the forged unsubscribe kept, unmatched.
    assert sorted(dovecot.subjects()) == ["hello", "unsubscribe unsubscribed"]
    settings = site.folder / "syndicate.toml"
    assert main(["--config", str(settings), "bounces"]) == 0
    listed = capsys.readouterr().out
    assert "unsubscribe\tmailbox\tsari@example.org\tnewsletter" in listed
    assert "hard\tmailbox\thilang@gmail.example\tnewsletter" in listed
    assert main(["--config", str(settings), "check"]) == 0
    checked = capsys.readouterr().out
    port = dovecot.ports["pop3"]
    assert f"bounce mailbox: pop3://***@127.0.0.1:{port}, read every 5m" in checked
    assert "digests are sent from bounces@example.org" in checked


def test_a_mailbox_that_cannot_be_read_is_one_sentence_and_changes_nothing(
    mail_site: Site,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = open_site(mail_site, dovecot, "imap")  # STARTTLS
    dovecot.append(b"Subject: kept\r\n\r\n")
    intake = Intake.for_site(site.db, site.config, site.channels)
    assert check_mailbox(site.config.bounces, intake).read == 1  # STARTTLS works

    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(MailboxError, match=PASSWORD_ENV):
        check_mailbox(site.config.bounces, intake)
    with caplog.at_level(logging.WARNING, logger="syndicate.scheduler"):
        asyncio.run(Clock(site.db, site.config, site.channels)._read_bounces())  # no raise
    assert f"environment variable {PASSWORD_ENV}, which is not set" in caplog.text
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    untrusted = site.config.bounces.__class__(
        mailbox_url=dovecot.url("pop3s"), password_env=PASSWORD_ENV
    )
    with pytest.raises(MailboxError, match="certificate is not trusted"):
        check_mailbox(untrusted, intake)
    assert dovecot.subjects() == ["kept"]
    assert dovecot.seen_flags() == [False]
    # Last: dovecot makes a client wait after a refused login.
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(MailboxError, match=r"cannot be read.*Authentication failed"):
        check_mailbox(site.config.bounces, intake)


class _OddServer:
    """A TCP server that greets each client with `greeting` (or says nothing) and waits."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                self.clients.append(client)
                if self.greeting:
                    client.sendall(self.greeting)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.listener.close()


def test_a_garbage_greeting_is_named_shortly_and_stopping_a_read_logs_no_error(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    garbage, silent = _OddServer(b"X" * 4000 + b"\r\n"), _OddServer(b"")
    try:
        tail = TAIL.format(
            smtp_url=site.smtp.url,
            mailbox_url=f"imap://b@127.0.0.1:{garbage.port}",
            password_env=PASSWORD_ENV,
            ca_file=site.folder / "none.pem",
            more='timeout = "3s"',
        ).replace(f'ca_file = "{site.folder / "none.pem"}"\n', "")
        site.open(settings_tail=tail)
        with caplog.at_level(logging.INFO):
            asyncio.run(Clock(site.db, site.config, site.channels)._read_bounces())
        (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert "cannot be read" in warning and "characters)" in warning
        assert len(warning) < 400

        site.open(settings_tail=tail.replace(str(garbage.port), str(silent.port)))
        caplog.clear()

        async def stopped_while_reading() -> None:
            reading = asyncio.create_task(
                Clock(site.db, site.config, site.channels)._read_bounces()
            )
            while not silent.clients:  # the read is under way, waiting for a greeting
                await asyncio.sleep(0.02)
            reading.cancel()
            await reading  # ends quietly, no CancelledError out of it

        with caplog.at_level(logging.INFO):
            asyncio.run(stopped_while_reading())
        assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert "reading the bounce mailbox was stopped" in caplog.text
    finally:
        garbage.close()
        silent.close()


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_mail_left_unmatched_is_downloaded_once_not_at_every_read(
    mail_site: Site, dovecot: Dovecot, scheme: str
) -> None:
    site = open_site(mail_site, dovecot, scheme)
    intake = Intake.for_site(site.db, site.config, site.channels)
    big = b"From: someone@example.com\r\nSubject: big\r\n\r\n" + (b"x" * 76 + b"\r\n") * 40_000
    dovecot.append(b"From: a@example.com\r\nSubject: hello\r\n\r\nhi\r\n", big)
    first = check_mailbox(site.config.bounces, intake)
    assert (first.read, first.unmatched) == (2, 2)
    again = check_mailbox(site.config.bounces, intake)
    assert (again.read, again.unmatched) == (0, 0)  # nothing downloaded again
    dovecot.append(b"From: b@example.com\r\nSubject: new\r\n\r\nhi\r\n")
    assert check_mailbox(site.config.bounces, intake).read == 1  # only the new one
    assert sorted(dovecot.subjects()) == ["big", "hello", "new"]  # all left in place
    assert dovecot.seen_flags() == [False, False, False]  # a person's \Seen untouched
