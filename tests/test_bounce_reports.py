"""Reading what comes back: DSNs and plain bounces, ARF and JMRP complaints, VERP tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.bounces.reports import read_report
from syndicate.bounces.verp import read_verp, verp_address
from syndicate.config import ConfigError, load_config
from tests.bouncemail import KINDS, sample

SECRET = b"a-site-secret-for-verp-tests"
VERP = verp_address("bounces@example.org", 4242, SECRET)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_senders_format_is_read_with_kind_recipient_message_id_and_verp(name: str) -> None:
    raw = sample(
        name, recipient="Hilang@Example.net", return_path=VERP, message_id="syn.e7.abc@example.org"
    )

    report = read_report(raw)

    assert report is not None
    assert report.kind == KINDS[name]
    assert read_verp([report.raw_text], "bounces@example.org", SECRET) == 4242
    assert "syn.e7.abc@example.org" in report.message_ids
    if "arf" not in name:  # Yahoo's feedback loop redacts the recipient
        assert report.recipients == ("hilang@example.net",)


def test_a_verp_token_signed_with_another_secret_or_for_another_delivery_is_not_read() -> None:
    forged = verp_address("bounces@example.org", 4242, b"someone else's secret")
    other = VERP.replace("+4242-", "+4243-")
    assert read_verp([f"To: {forged}"], "bounces@example.org", SECRET) is None
    assert read_verp([f"To: {other}"], "bounces@example.org", SECRET) is None
    assert read_verp([f"To: {VERP.upper()}"], "bounces@example.org", SECRET) == 4242
    # The token only counts on the configured address, not on another local part or domain.
    assert read_verp([VERP.replace("bounces+", "x+")], "bounces@example.org", SECRET) is None
    assert (
        read_verp([VERP.replace("example.org", "evil.test")], "bounces@example.org", SECRET) is None
    )


def test_a_reply_from_a_reader_is_not_a_report() -> None:
    reply = (
        b"From: Sari <sari@example.net>\r\nTo: redaksi@example.org\r\nSubject: Re: Kabar pagi\r\n"
        b"Message-ID: <r1@example.net>\r\n\r\nTerima kasih, 550 berita bagus.\r\n"
    )
    assert read_report(reply) is None


def test_mail_to_the_unsubscribe_address_is_an_unsubscribe_with_its_token() -> None:
    mail = (
        b"From: Sari <Sari@Example.net>\r\nTo: unsubscribe@example.org\r\n"
        b"Subject: unsubscribe NDI6bmV3c2xldHRlcg.abcdEFGH12345678\r\n\r\n\r\n"
    )
    report = read_report(mail, ("unsubscribe@example.org",))
    assert report is not None and report.kind == "unsubscribe"
    assert report.unsubscribe_token == "NDI6bmV3c2xldHRlcg.abcdEFGH12345678"
    assert report.recipients == ("sari@example.net",)
    assert read_report(mail) is None  # without an unsubscribe address it is nobody's


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 5000,
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n"
        b"Status: 9.9.9.9\r\nFinal-Recipient: ;;;\r\n--x--",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/feedback-report\r\n\r\n\x00\x01\r\n--x--",
        b"From: MAILER-DAEMON@x\r\nSubject: Undelivered Mail\r\nContent-Type: text/plain; "
        b"charset=no-such-charset\r\n\r\n\xff\xfe 550 <a@b.example>",
        b"X-Failed-Recipients: " + b"a" * 100_000 + b"\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + b"--x\r\n" * 20_000,
    ],
)
def test_hostile_mail_is_read_as_nothing_or_a_report_never_an_error(raw: bytes) -> None:
    report = read_report(raw)
    assert report is None or report.kind in ("hard", "soft", "complaint", "")


SITE = """\
[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "sqlite:///site.db"
"""


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[bounces]\naddress = "bounces+x@example.org"\n', "address"),
        ('[bounces]\nmailbox_url = "http://mail.example.org"\n', "imaps://"),
        ('[bounces]\nmailbox_url = "pop3s://b@mail.example.org"\nmove_to = "Done"\n', "POP3"),
        ('[bounces]\nmove_too = "Done"\n', 'did you mean "move_to"'),
        ('[bounces.postmark]\nuser = "postmark"\n', "password_env"),
        ("[bounces.ses]\ntopic_arns = 3\n", "topic_arns"),
        ('[bounces]\nimap_url = "pop3s://b@mail.example.org"\n', "imaps://, imap://"),
        ('[bounces]\npop3_url = "imaps://b@mail.example.org"\n', "pop3s://, pop3://"),
        (
            '[bounces]\nimap_url = "imaps://b@m.example.org"\n'
            'pop3_url = "pop3s://b@m.example.org"\n',
            "not both",
        ),
        ('[bounces]\ntrusted_authserv_id = "mx example"\n', "trusted_authserv_id"),
    ],
)
def test_a_mistake_in_bounces_settings_is_one_sentence(
    tmp_path: Path, table: str, words: str
) -> None:
    settings = tmp_path / "syndicate.toml"
    settings.write_text(SITE + table, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(settings)
    message = str(caught.value)
    assert words in message and "syndicate.toml" in message and "\n" not in message


def test_bounces_settings_read_with_their_defaults(tmp_path: Path) -> None:
    settings = tmp_path / "syndicate.toml"
    (tmp_path / "jobs").mkdir()
    settings.write_text(
        SITE
        + '[bounces]\naddress = "Bounces@Example.org"\nmailbox_url = "imaps://b@m.example.org"\n'
        '[bounces.mailgun]\nsigning_key_env = "MG"\n',
        encoding="utf-8",
    )
    bounces = load_config(settings).bounces
    assert bounces.address == "bounces@example.org"
    assert bounces.password_env == "SYNDICATE_BOUNCES_PASSWORD"
    assert bounces.interval.total_seconds() == 300 and bounces.move_to is None
    assert bounces.webhooks == ("mailgun",)


@pytest.mark.parametrize(
    "header",
    ["X-Original-To", "Envelope-To", "X-Envelope-To", "Return-Path", "Original-Recipient"],
)
def test_a_verp_address_found_in_any_envelope_header_alone_is_read(header: str) -> None:
    # To and Delivered-To name only the plain bounce address; the VERP is in one header.
    raw = (
        f"{header}: <{VERP}>\nDelivered-To: bounces@example.org\nTo: bounces@example.org\n"
        "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="B"\n\n--B\nContent-Type: text/plain\n\nreport\n\n--B\n'
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; hilang@example.net\nAction: failed\nStatus: 5.1.1\n\n--B--\n"
    ).encode()
    report = read_report(raw)
    assert report is not None and report.kind == "hard"
    assert read_verp([report.raw_text], "bounces@example.org", SECRET) == 4242


@pytest.mark.parametrize(
    ("key", "url"),
    [("imap_url", "imaps://b@m.example.org/INBOX"), ("pop3_url", "pop3s://b@m.example.org")],
)
def test_the_bounce_mailbox_is_named_by_imap_url_or_pop3_url(
    tmp_path: Path, key: str, url: str
) -> None:
    settings = tmp_path / "syndicate.toml"
    (tmp_path / "jobs").mkdir()
    settings.write_text(
        SITE + f'[bounces]\n{key} = "{url}"\ntrusted_authserv_id = "MX.example.org"\n',
        encoding="utf-8",
    )
    bounces = load_config(settings).bounces
    assert bounces.mailbox_url == url and bounces.trusted_authserv_id == "mx.example.org"
