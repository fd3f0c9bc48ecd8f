"""Tests for the SMTP channel against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate.channels.base import (
    ChannelDown,
    ChannelRefused,
    EmailMessage,
    PermanentError,
    SendResult,
    TargetGone,
    TransientError,
)
from syndicate.channels.email import EmailChannel, SmtpServerAddress
from syndicate.config import ConfigError, ConfigTable
from syndicate.render.email import Recipient, RenderedEdition, make_message_id, personalize
from tests.smtpserver import DROP, SmtpServer, TlsFiles, make_tls_files

pytestmark = [
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated"),
    # aiosmtpd cannot see that an implicit-TLS socket is encrypted, and says so.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

SENDER = "Kabar Pilihan <kabar@kabarpilihan.example.id>"
CONFIG_FILE = Path("syndicate.toml")


def channel_for(server: SmtpServer, **settings: Any) -> EmailChannel:
    table = ConfigTable(
        {"type": "email", "smtp_url": server.url, "from": SENDER, **settings},
        CONFIG_FILE,
        "channels.newsletter",
    )
    return EmailChannel.from_config("newsletter", table)


def message_to(address: str, name: str | None = "Sari") -> EmailMessage:
    rendered = RenderedEdition(
        subject="Kabar pagi", html="<p>SYNDICATEx7GREETING</p>", text="SYNDICATEx7GREETING\n"
    )
    return personalize(
        rendered,
        recipient=Recipient(address, name),
        sender=SENDER,
        list_id="newsletter.kabarpilihan.example.id",
        message_id=make_message_id("e7", address, SENDER),
        date=datetime(2023, 3, 9, tzinfo=UTC),
        unsubscribe_url="https://kabarpilihan.example.id/u/1",
        view_url=None,
    )


async def send_all(channel: EmailChannel, *messages: EmailMessage) -> list[SendResult]:
    try:
        return [await channel.send(message) for message in messages]
    finally:
        await channel.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def test_messages_reach_the_server_over_one_reused_connection() -> None:
    with SmtpServer() as server:
        channel = channel_for(server)
        messages = [message_to(f"reader{n}@example.org") for n in range(3)]
        results = asyncio.run(send_all(channel, *messages))
        assert server.connections == 1
        assert [r.external_id for r in results] == [m.message_id for m in messages]
        assert results[0].detail.startswith("250 ")
        received = server.messages[0]
        assert received.envelope_from == "kabar@kabarpilihan.example.id"
        assert received.envelope_to == ["reader0@example.org"]
        assert received.message["Subject"] == "Kabar pagi"
        assert received.message["Message-ID"] == f"<{messages[0].message_id}>"
        assert received.message["To"].addresses[0].display_name == "Sari"


def test_a_dropped_connection_is_reopened_for_the_next_send() -> None:
    with SmtpServer() as server:
        channel = channel_for(server)

        async def scenario() -> None:
            await channel.send(message_to("a@example.org"))
            (idle,) = channel._pool._idle
            idle.sock.close()  # the server hung up while we were idle
            await channel.send(message_to("b@example.org"))
            await channel.close()

        asyncio.run(scenario())
        assert [m.envelope_to for m in server.messages] == [["a@example.org"], ["b@example.org"]]


def test_login_over_starttls_with_a_checked_certificate(tls_files: TlsFiles) -> None:
    with SmtpServer(user="kabar", password="p@ss:word", tls=tls_files) as server:
        url = f"smtp+starttls://kabar:p%40ss%3Aword@{server.host}:{server.port}"
        channel = channel_for(server, smtp_url=url, ca_file=str(tls_files.cert))
        asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert server.messages[0].authenticated_as == "kabar"


def test_plain_smtp_upgrades_to_starttls_when_offered(tls_files: TlsFiles) -> None:
    with SmtpServer(user="kabar", password="rahasia", tls=tls_files) as server:
        url = f"smtp://kabar:rahasia@{server.host}:{server.port}"
        channel = channel_for(server, smtp_url=url)  # self-signed: opportunistic accepts it
        asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert server.messages[0].authenticated_as == "kabar"


def test_a_password_is_never_sent_to_a_server_without_starttls() -> None:
    with SmtpServer(user="kabar", password="rahasia") as server:  # no TLS offered at all
        url = f"smtp://kabar:rahasia@{server.host}:{server.port}"
        channel = channel_for(server, smtp_url=url)
        with pytest.raises(ChannelRefused, match="unencrypted") as refused:
            asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert "smtp+insecure://" in str(refused.value)
        assert "rahasia" not in str(refused.value)
        assert server.messages == []


def test_smtp_insecure_says_plain_auth_is_meant_and_logs_in() -> None:
    with SmtpServer(user="kabar", password="rahasia") as server:
        url = f"smtp+insecure://kabar:rahasia@{server.host}:{server.port}"
        channel = channel_for(server, smtp_url=url)
        asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert server.messages[0].authenticated_as == "kabar"


def test_implicit_tls_on_smtps(tls_files: TlsFiles) -> None:
    with SmtpServer(user="kabar", password="rahasia", tls=tls_files, implicit_tls=True) as server:
        url = f"smtps://kabar:rahasia@{server.host}:{server.port}"
        channel = channel_for(server, smtp_url=url, ca_file=str(tls_files.cert))
        asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert len(server.messages) == 1


def test_untrusted_certificate_is_a_permanent_error(tls_files: TlsFiles) -> None:
    with SmtpServer(tls=tls_files) as server:
        channel = channel_for(server, smtp_url=f"smtp+starttls://{server.host}:{server.port}")
        with pytest.raises(PermanentError, match="certificate"):
            asyncio.run(send_all(channel, message_to("sari@example.org")))


def test_wrong_password_names_the_channel_but_not_the_password(tls_files: TlsFiles) -> None:
    with SmtpServer(user="kabar", password="rahasia", tls=tls_files) as server:
        url = f"smtp+starttls://kabar:salah-sekali@{server.host}:{server.port}"
        channel = channel_for(server, smtp_url=url, ca_file=str(tls_files.cert))
        with pytest.raises(ChannelRefused) as caught:
            asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert '"newsletter"' in str(caught.value) and "kabar" in str(caught.value)
        assert "salah-sekali" not in str(caught.value)
        assert not server.messages


def test_required_starttls_missing_is_a_permanent_error() -> None:
    with SmtpServer() as server:
        channel = channel_for(server, smtp_url=f"smtp+starttls://{server.host}:{server.port}")
        with pytest.raises(PermanentError, match="does not offer STARTTLS"):
            asyncio.run(send_all(channel, message_to("sari@example.org")))


def test_451_on_the_recipient_is_transient_and_the_next_send_works() -> None:
    with SmtpServer() as server:
        server.fail_next("RCPT", "451 4.3.0 Mailbox busy, try again later")
        channel = channel_for(server)

        async def scenario() -> None:
            with pytest.raises(TransientError, match=r"451 4\.3\.0 Mailbox busy"):
                await channel.send(message_to("sari@example.org"))
            await channel.send(message_to("sari@example.org"))
            await channel.close()

        asyncio.run(scenario())
        assert len(server.messages) == 1
        assert server.connections == 1


def test_550_no_such_user_means_the_target_is_gone() -> None:
    with SmtpServer() as server:
        server.fail_next("RCPT", "550 5.1.1 <nobody@example.org>: no such user")
        channel = channel_for(server)
        with pytest.raises(TargetGone, match="no such user"):
            asyncio.run(send_all(channel, message_to("nobody@example.org")))


def test_550_for_policy_is_permanent_but_the_address_is_not_gone() -> None:
    with SmtpServer() as server:
        server.fail_next("RCPT", "550 5.7.1 Message rejected as spam")
        channel = channel_for(server)
        with pytest.raises(PermanentError) as caught:
            asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert not isinstance(caught.value, TargetGone)


def test_421_after_data_means_the_server_is_down_not_the_message() -> None:
    with SmtpServer() as server:
        server.fail_next("DATA", "421 4.3.2 Service shutting down")
        channel = channel_for(server)
        with pytest.raises(ChannelDown, match="421"):
            asyncio.run(send_all(channel, message_to("sari@example.org")))


def test_connection_lost_after_the_body_may_have_sent_it_and_is_the_servers_fault() -> None:
    with SmtpServer() as server:
        server.fail_next("DATA", DROP)
        channel = channel_for(server)
        with pytest.raises(ChannelDown, match="lost after the message") as caught:
            asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert caught.value.maybe_sent


def test_connection_lost_before_data_means_the_server_is_down() -> None:
    with SmtpServer() as server:
        server.fail_next("RCPT", DROP)
        channel = channel_for(server)
        with pytest.raises(ChannelDown, match="before the message") as caught:
            asyncio.run(send_all(channel, message_to("sari@example.org")))
        assert not caught.value.maybe_sent


def test_connection_refused_means_the_server_is_down() -> None:
    server = SmtpServer()  # never started: nothing listens on its port
    channel = channel_for(server, timeout=2)
    with pytest.raises(ChannelDown, match="cannot reach"):
        asyncio.run(send_all(channel, message_to("sari@example.org")))


def test_channel_exposes_list_sender_and_reply_to() -> None:
    with SmtpServer() as server:  # started and stopped: its event loop is closed after
        channel = channel_for(server, list="pagi", reply_to="redaksi@kabarpilihan.example.id")
        default = channel_for(server)
    assert channel.list_name == "pagi"
    assert channel.sender == SENDER
    assert channel.headers == {"Reply-To": "redaksi@kabarpilihan.example.id"}
    assert default.list_name == "newsletter"
    assert channel.type == "email" and channel.medium == "email"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"smtp_url": "http://mail.example.org"},
            r'^syndicate\.toml: \[channels\.newsletter\] smtp_url: "http://mail\.example\.org" '
            r"must start with smtp://, smtp\+starttls://, smtps:// or smtp\+insecure://\.$",
        ),
        ({"smtp_url": "smtp://:25"}, r"smtp_url: .* names no server"),
        ({"smtp_url": "smtp://mail.example.org:abc"}, r"smtp_url: .* port that is not a number"),
        ({"smtp_url": "smtp://kabar:rahasia@mail.example.org/x"}, r"kabar:\*\*\*@"),
        ({"from": "Kabar Pilihan"}, r'from: "Kabar Pilihan" is not one email address'),
        ({"reply_to": "a@b.org, c@d.org"}, r"reply_to: .* is not one email address"),
        ({"timeout": 0}, r"timeout: expected a number of seconds above 0"),
        ({"smtp_sever": "x"}, r'smtp_sever: unknown key \(did you mean "smtp_url"\?\)\.$'),
    ],
)
def test_config_mistakes_are_one_sentence(settings: dict[str, Any], expected: str) -> None:
    table = ConfigTable(
        {"type": "email", "smtp_url": "smtp://mail.example.org", "from": SENDER, **settings},
        CONFIG_FILE,
        "channels.newsletter",
    )
    with pytest.raises(ConfigError, match=expected) as caught:
        EmailChannel.from_config("newsletter", table)
    assert "rahasia" not in str(caught.value)


def test_smtp_url_credentials_are_percent_decoded_and_ports_defaulted() -> None:
    address = SmtpServerAddress.parse("smtp+starttls://kabar%40example.org:p%2Fw@mail.example.org")
    assert (address.user, address.password, address.port) == ("kabar@example.org", "p/w", 587)
    assert SmtpServerAddress.parse("smtps://mail.example.org").port == 465
    assert SmtpServerAddress.parse("smtp://mail.example.org").port == 25
