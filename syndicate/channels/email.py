"""The SMTP channel: hands finished email messages to a mail server, one recipient at a time.

Settings (one ``[channels.NAME]`` table with ``type = "email"``)::

    smtp_url = "smtp+starttls://user:pass%40word@mail.example.org:587"
    from     = "Kabar Pilihan <kabar@example.org>"
    list     = "newsletter"          # the subscriber list mailed (default "newsletter")
    reply_to = "redaksi@example.org" # optional
    timeout  = 30                    # seconds (default 30)
    ca_file  = "certs/ca.pem"        # optional: trust this CA instead of the system's

``smtp://`` speaks plain SMTP and upgrades with STARTTLS when the server offers it (like
Postfix's "may" level: encrypted, but the certificate is not checked unless `ca_file` is
given); ``smtp+starttls://`` insists on STARTTLS with a checked certificate; ``smtps://``
is TLS from the first byte (port 465).

How SMTP outcomes map onto the channel errors:

- a 4xx reply, or a connection refused, reset or timed out before the message body was
  sent → `TransientError`;
- a 5xx reply → `PermanentError`; for the recipient's address ("550 5.1.1 no such user",
  551, 553) → `TargetGone`;
- the connection lost after the body was sent, before the server's final reply →
  `UnknownOutcome` (the server may have taken the message);
- a refused login → `PermanentError` naming the channel and user, never the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit

from syndicate.channels.base import (
    Channel,
    ChannelError,
    EmailMessage,
    Message,
    PermanentError,
    SendResult,
    TargetGone,
    TransientError,
    UnknownOutcome,
)
from syndicate.render.email import parse_mailbox

if TYPE_CHECKING:
    from syndicate.config import ConfigTable

__all__ = ["EmailChannel", "SmtpServerAddress"]

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
_ENHANCED_STATUS = re.compile(r"^5\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class SmtpServerAddress:
    """Where and how to reach the mail server, read from an ``smtp_url``."""

    scheme: str  # "smtp", "smtp+starttls" or "smtps"
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpServerAddress:
        """Read an smtp_url; a ValueError's message is one sentence that hides the password."""
        shown = _redact(url)
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f'"{shown}" must start with smtp://, smtp+starttls:// or smtps://.')
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise ValueError(
                f'"{shown}" has a port that is not a number from 1 to 65535.'
            ) from None
        if not parts.hostname:
            raise ValueError(f'"{shown}" names no server, as in smtp://mail.example.org:587.')
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f'"{shown}" must not have a path or query after the server.')
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if user is not None and password is None:
            raise ValueError(f'"{shown}" gives the user "{user}" but no password.')
        return cls(scheme, parts.hostname, port, user, password)


class EmailChannel(Channel):
    """Mails a subscriber list through one SMTP server, reusing one connection."""

    type: ClassVar[str] = "email"
    # A crashed send is sent again: the deterministic Message-ID lets receivers drop a copy.
    after_crash: ClassVar[str] = "requeue"
    medium: ClassVar[str] = "email"

    def __init__(
        self,
        name: str,
        *,
        server: SmtpServerAddress,
        sender: str,
        list_name: str = "newsletter",
        reply_to: str | None = None,
        timeout: float = 30.0,
        ca_file: Path | None = None,
    ) -> None:
        super().__init__(name)
        self.server = server
        self._sender = str(parse_mailbox(sender))
        self._list_name = list_name
        self.reply_to = str(parse_mailbox(reply_to)) if reply_to else None
        self.timeout = timeout
        self.ca_file = ca_file
        self._smtp: _TrackingSMTP | None = None
        self._lock = threading.Lock()  # smtplib is not thread-safe; sends take turns

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> EmailChannel:
        url = table.str("smtp_url")
        sender = table.str("from")
        list_name = table.str("list", "newsletter")
        reply_to = table.str("reply_to", None)
        timeout = table.raw("timeout", 30)
        ca_file = table.path("ca_file", None)
        table.str("type", None)  # the registry's key, read here so done() accepts it
        table.done()
        try:
            server = SmtpServerAddress.parse(url)
        except ValueError as error:
            table.fail("smtp_url", str(error).rstrip("."))
        for key, value in (("from", sender), ("reply_to", reply_to)):
            if value is None:
                continue
            try:
                parse_mailbox(value)
            except ValueError as error:
                table.fail(key, str(error).rstrip("."))
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            table.fail("timeout", f"expected a number of seconds above 0, found {timeout!r}")
        if ca_file is not None and not ca_file.is_file():
            table.fail("ca_file", f"the file {ca_file} does not exist")
        return cls(
            name,
            server=server,
            sender=sender,
            list_name=list_name,
            reply_to=reply_to,
            timeout=float(timeout),
            ca_file=ca_file,
        )

    @property
    def list_name(self) -> str:
        return self._list_name

    @property
    def sender(self) -> str:
        return self._sender

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra headers every message of this channel carries (pass to `personalize`)."""
        return MappingProxyType({"Reply-To": self.reply_to} if self.reply_to else {})

    async def open(self) -> None:
        await asyncio.to_thread(self._connected)

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, EmailMessage):
            raise PermanentError(f'Email channel "{self.name}" can only send email messages.')
        return await asyncio.to_thread(self._send_blocking, message)

    async def close(self) -> None:
        await asyncio.to_thread(self._close_blocking)

    def _connected(self) -> _TrackingSMTP:
        with self._lock:
            return self._connection()[0]

    def _send_blocking(self, message: EmailMessage) -> SendResult:
        with self._lock:
            for attempt in (1, 2):
                smtp, fresh = self._connection()
                smtp.body_sent = False
                try:
                    smtp.sendmail(message.sender, [message.recipient], message.data)
                except smtplib.SMTPRecipientsRefused as error:
                    code, reply = next(iter(error.recipients.values()))
                    stage = f"the recipient {message.recipient}"
                    raise self._refusal(code, reply, stage) from None
                except smtplib.SMTPSenderRefused as error:
                    stage = f"the sender {message.sender}"
                    raise self._refusal(error.smtp_code, error.smtp_error, stage) from None
                except smtplib.SMTPResponseException as error:  # DATA refused, HELO refused
                    stage = f"the message to {message.recipient}"
                    raise self._refusal(error.smtp_code, error.smtp_error, stage) from None
                except OSError as error:  # includes SMTPServerDisconnected and timeouts
                    self._drop()
                    if smtp.body_sent:
                        raise UnknownOutcome(
                            f'Email channel "{self.name}": the connection to {self._where} was '
                            f"lost after the message to {message.recipient} was sent, before "
                            f"the server confirmed it ({_describe(error)})."
                        ) from None
                    if not fresh and attempt == 1:
                        logger.info("%s: the SMTP connection went stale; reconnecting", self.name)
                        continue
                    raise TransientError(
                        f'Email channel "{self.name}": the connection to {self._where} was lost '
                        f"before the message to {message.recipient} was sent "
                        f"({_describe(error)})."
                    ) from None
                code, reply = smtp.last_reply
                logger.debug("%s: %s accepted %s", self.name, self._where, message.message_id)
                return SendResult(external_id=message.message_id, detail=f"{code} {reply}")
        raise AssertionError("unreachable")

    def _refusal(self, code: int, reply: bytes | str, stage: str) -> ChannelError:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
        text = " ".join(text.split())
        sentence = (
            f'Email channel "{self.name}": {self._where} refused {stage} with "{code} {text}".'
        )
        if 400 <= code < 500:
            return TransientError(sentence)
        if stage.startswith("the recipient") and _address_gone(code, text):
            return TargetGone(sentence)
        if 500 <= code < 600:
            return PermanentError(sentence)
        return TransientError(sentence)

    @property
    def _where(self) -> str:
        return f"the SMTP server {self.server.host}:{self.server.port}"

    def _connection(self) -> tuple[_TrackingSMTP, bool]:
        """The open connection, or a new one; True when it was just made."""
        if self._smtp is not None and self._smtp.sock is not None:
            return self._smtp, False
        self._smtp = None
        self._smtp = self._connect()
        return self._smtp, True

    def _connect(self) -> _TrackingSMTP:
        server = self.server
        smtp: _TrackingSMTP | None = None
        try:
            if server.scheme == "smtps":
                smtp = _TrackingSMTPS(
                    server.host, server.port, timeout=self.timeout, context=self._tls_context()
                )
            else:
                smtp = _TrackingSMTP(server.host, server.port, timeout=self.timeout)
            smtp.ehlo()
            self._start_tls(smtp)
            if server.user is not None:
                smtp.login(server.user, server.password or "")
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(smtp)
            raise PermanentError(
                f'Email channel "{self.name}": {self._where} refused the login of user '
                f'"{server.user}" ({error.smtp_code}); check the user and password in smtp_url.'
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            _quietly_close(smtp)
            what = "STARTTLS" if "STARTTLS" in str(error).upper() else "AUTH (login)"
            raise PermanentError(
                f'Email channel "{self.name}": {self._where} does not offer {what}.'
            ) from None
        except ssl.SSLCertVerificationError as error:
            _quietly_close(smtp)
            raise PermanentError(
                f'Email channel "{self.name}": the TLS certificate of {self._where} is not '
                f"trusted ({error.verify_message}); set ca_file or fix the certificate."
            ) from None
        except smtplib.SMTPResponseException as error:
            _quietly_close(smtp)
            raise self._refusal(error.smtp_code, error.smtp_error, "the connection") from None
        except OSError as error:
            _quietly_close(smtp)
            raise TransientError(
                f'Email channel "{self.name}": cannot reach {self._where} ({_describe(error)}).'
            ) from None
        logger.info("%s: connected to %s", self.name, self._where)
        return smtp

    def _start_tls(self, smtp: _TrackingSMTP) -> None:
        if self.server.scheme == "smtps":
            return
        offered = smtp.has_extn("starttls")
        if self.server.scheme == "smtp+starttls" and not offered:
            raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
        if offered:
            smtp.starttls(context=self._tls_context())
            smtp.ehlo()
        elif self.server.user is not None:
            logger.warning(
                "%s: %s offers no STARTTLS; logging in without encryption", self.name, self._where
            )

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.server.scheme == "smtp" and self.ca_file is None:
            # Opportunistic STARTTLS: encrypt against eavesdroppers, accept any certificate.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _drop(self) -> None:
        _quietly_close(self._smtp)
        self._smtp = None

    def _close_blocking(self) -> None:
        with self._lock:
            if self._smtp is not None and self._smtp.sock is not None:
                with contextlib.suppress(OSError):  # SMTPException is an OSError
                    self._smtp.quit()
            self._drop()


class _TrackingSMTP(smtplib.SMTP):
    """smtplib.SMTP that remembers whether the message body went out, and the last reply.

    smtplib's `sendmail` raises the same `SMTPServerDisconnected` whether the connection
    died before or after the body was sent; only the second case may have delivered.
    """

    body_sent = False
    last_reply: tuple[int, str] = (0, "")

    def send(self, s: Any) -> None:
        super().send(s)
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.body_sent = True

    def getreply(self) -> tuple[int, bytes]:
        code, reply = super().getreply()
        self.last_reply = (code, " ".join(reply.decode(errors="replace").split()))
        return code, reply


class _TrackingSMTPS(_TrackingSMTP, smtplib.SMTP_SSL):
    """The same, over TLS from the first byte."""


def _address_gone(code: int, reply: str) -> bool:
    """A 5xx that says the mailbox does not exist (rather than "spam", "policy", ...)."""
    enhanced = _ENHANCED_STATUS.match(reply)
    if enhanced:
        subject, detail = int(enhanced.group(1)), int(enhanced.group(2))
        return subject == 1 or (subject, detail) == (2, 1)
    return code in (550, 551, 553)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
