"""The SMTP channel: hands finished email messages to a mail server, one recipient at a time.

Settings (one ``[channels.NAME]`` table with ``type = "email"``)::

    smtp_url = "smtp+starttls://user:pass%40word@mail.example.org:587"
    from     = "Kabar Pilihan <kabar@example.org>"
    list     = "newsletter"          # the subscriber list mailed (default "newsletter")
    reply_to = "redaksi@example.org" # optional
    timeout  = 30                    # seconds (default 30)
    ca_file  = "certs/ca.pem"        # optional: trust this CA instead of the system's
    connections    = 4               # SMTP connections used at once (default 4)
    max_per_second = 10              # optional: messages in any one second (below 1: one
                                     # message every 1/n seconds)
    max_per_hour   = 20000           # optional: messages in any one hour
    bounce_after   = 3               # hard bounces before an address is marked bounced
    unsubscribe_mailto = "unsubscribe@example.org"   # optional: a mailto in List-Unsubscribe
    dkim_private_key   = "dkim.pem"  # optional: sign with DKIM (RSA key, PEM)
    dkim_selector      = "kabar"     # required with a key: the DNS name is
                                     # kabar._domainkey.<dkim_domain>
    dkim_domain        = "example.org"  # default: the From address's domain

``smtp://`` speaks plain SMTP and upgrades with STARTTLS when the server offers it (like
Postfix's "may" level: encrypted, but the certificate is not checked unless `ca_file` is
given); ``smtp+starttls://`` insists on STARTTLS with a checked certificate; ``smtps://``
is TLS from the first byte (port 465). A login (AUTH) is never sent unencrypted: when an
``smtp://`` server offers no STARTTLS and the URL has a user, the channel refuses, unless
the URL says ``smtp+insecure://`` (a relay on a network you trust).

Connections are pooled: each send takes an idle connection (or opens one, up to
`connections`), uses it alone, and gives it back; a connection the server closed is
replaced. The rate limits count every message handed to the server, in a sliding window,
from the moment the server answered, so the server never sees more than the limit in any
second or hour (per process). A wait of more than `_LONGEST_WAIT` seconds (an hourly limit
used up) is not waited out inside `send`: it is a `TransientError` with `retry_after`, so the
delivery layer puts the channel's messages back until then.

How SMTP outcomes map onto the channel errors:

- a server that cannot be reached (refused, reset, timed out, silent), 421 at any point,
  or a 4xx to the greeting, EHLO or the sender → `ChannelDown`: the server, not the
  message, is the problem, so the channel waits and no message counts an attempt;
- a 4xx to the recipient or to the body → `TransientError` for that message alone;
- a 5xx reply → `PermanentError`; for the recipient's address ("550 5.1.1 no such user",
  551, 553) → `TargetGone` (a hard bounce); a full mailbox (5.2.2) or a policy or content
  block (5.7.x) of the recipient or of the body → `RecipientRefused` (a soft bounce);
- the connection lost after the body was sent, before the server's final reply →
  `ChannelDown(maybe_sent=True)`: the server may have taken the message, and email is
  sent again (the Message-ID lets the receiver drop a copy);
- a refused login, an untrusted certificate, a missing STARTTLS → `ChannelRefused`
  naming the channel and user, never the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit

from syndicate.channels.base import (
    AfterCrash,
    Channel,
    ChannelDown,
    ChannelError,
    ChannelRefused,
    EmailMessage,
    Message,
    PermanentError,
    RecipientRefused,
    SendResult,
    TargetGone,
    TransientError,
)
from syndicate.channels.dkim import DkimSigner, read_dkim_signer
from syndicate.config import ConfigError
from syndicate.ratelimit import Clock, SlidingWindow
from syndicate.render.email import parse_mailbox

if TYPE_CHECKING:
    from syndicate.config import ConfigTable

__all__ = ["EmailChannel", "SendRate", "SmtpServerAddress"]

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465, "smtp+insecure": 25}
_ENHANCED_STATUS = re.compile(r"^5\.(\d{1,3})\.(\d{1,3})\b")
# Longer waits for the rate limit are left to the delivery layer (a retry_after), so a
# claimed row never sits in `send` for longer than its lease.
_LONGEST_WAIT = 30.0


@dataclass(frozen=True)
class SmtpServerAddress:
    """Where and how to reach the mail server, read from an ``smtp_url``."""

    scheme: str  # "smtp", "smtp+starttls", "smtps" or "smtp+insecure"
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpServerAddress:
        """Read an smtp_url; a `ConfigError`'s message is one sentence that hides the password."""
        shown = _redact(url)
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ConfigError(
                f'"{shown}" must start with smtp://, smtp+starttls://, smtps:// or smtp+insecure://.'
            )
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:  # urllib's complaint about the port
            raise ConfigError(
                f'"{shown}" has a port that is not a number from 1 to 65535.'
            ) from None
        if not parts.hostname:
            raise ConfigError(f'"{shown}" names no server, as in smtp://mail.example.org:587.')
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f'"{shown}" must not have a path or query after the server.')
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if user is not None and password is None:
            raise ConfigError(f'"{shown}" gives the user "{user}" but no password.')
        return cls(scheme, parts.hostname, port, user, password)


class SendRate:
    """At most `count` messages in any `period` seconds, for every (count, period) given.

    A message counts from the moment its send finished (the server has answered by then),
    and a message still in flight counts as if it had just finished; so however the
    network delays each one, the server never receives more than `count` in any window of
    `period` seconds. One instance is shared by the sends of one channel in one process.
    """

    def __init__(self, limits: list[tuple[int, float]], *, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._windows = [SlidingWindow(count, period, clock=clock) for count, period in limits]
        self._clock = clock
        self._lock = threading.Lock()  # sends may come from several event loops

    def __bool__(self) -> bool:
        return bool(self.limits)

    async def acquire(self, longest_wait: float = _LONGEST_WAIT) -> None:
        """Wait for room; past `longest_wait`, raise TransientError with the wait asked."""
        while (wait := self._reserve()) is not None:
            if wait > longest_wait:
                raise TransientError(
                    f"the rate limit is used up for the next {math.ceil(wait)} seconds",
                    retry_after=wait,
                    scope="channel",
                )
            await asyncio.sleep(wait)

    def release(self) -> None:
        with self._lock:
            now = self._clock()
            for window in self._windows:
                window.finish(now)

    def _reserve(self) -> float | None:
        """Take a place and return None, or return how long to wait before trying again."""
        with self._lock:
            now = self._clock()
            # Only sends still in flight filling a window: look again soon.
            wait = max((window.wait(now, poll=0.005) for window in self._windows), default=0.0)
            if wait > 0:
                return wait
            for window in self._windows:
                window.take()
            return None


class _ConnectionPool:
    """Up to `size` SMTP connections; each used by one send at a time, reused afterwards."""

    def __init__(self, size: int, connect: Any) -> None:
        self.size = size
        self._connect = connect
        self._idle: list[_TrackingSMTP] = []
        self._open = 0
        self._changed = threading.Condition()

    def take(self) -> tuple[_TrackingSMTP, bool]:
        """An idle open connection, or a new one (True) when fewer than `size` are open."""
        with self._changed:
            while True:
                while self._idle:
                    smtp = self._idle.pop()
                    if smtp.sock is not None:
                        return smtp, False
                    self._open -= 1
                if self._open < self.size:
                    self._open += 1
                    break
                self._changed.wait()
        try:
            return self._connect(), True  # outside the lock: connections open in parallel
        except BaseException:
            with self._changed:
                self._open -= 1
                self._changed.notify()
            raise

    def give_back(self, smtp: _TrackingSMTP) -> None:
        with self._changed:
            self._idle.append(smtp)
            self._changed.notify()

    def discard(self, smtp: _TrackingSMTP) -> None:
        _quietly_close(smtp)
        with self._changed:
            self._open -= 1
            self._changed.notify()

    def close_idle(self) -> None:
        with self._changed:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._changed.notify_all()
        for smtp in idle:
            if smtp.sock is not None:
                with contextlib.suppress(OSError):  # SMTPException is an OSError
                    smtp.quit()
            _quietly_close(smtp)


class EmailChannel(Channel):
    """Mails a subscriber list through one SMTP server, over a pool of reused connections."""

    type: ClassVar[str] = "email"
    # A crashed send is sent again: the deterministic Message-ID lets receivers drop a copy.
    after_crash: ClassVar[AfterCrash] = "requeue"
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
        connections: int = 4,
        max_per_second: float | None = None,
        max_per_hour: int | None = None,
        bounce_after: int | None = None,
        unsubscribe_mailto: str | None = None,
        dkim: DkimSigner | None = None,
    ) -> None:
        super().__init__(name)
        self.server = server
        self._sender = str(parse_mailbox(sender))
        self._list_name = list_name
        self.reply_to = str(parse_mailbox(reply_to)) if reply_to else None
        self.timeout = timeout
        self.ca_file = ca_file
        self.concurrency = connections
        self.bounce_limit = bounce_after
        self.unsubscribe_mailto = (
            parse_mailbox(unsubscribe_mailto).addr_spec if unsubscribe_mailto else None
        )
        self.dkim = dkim
        self._told_connected = False  # said once a run; each further connection at DEBUG
        self.rate = SendRate(_limits(max_per_second, max_per_hour))
        self._pool = _ConnectionPool(connections, self._connect)

    @classmethod
    def from_config(cls, name: str, table: ConfigTable) -> EmailChannel:
        url = table.text("smtp_url")
        sender = table.text("from")
        list_name = table.text("list", "newsletter")
        reply_to = table.text("reply_to", None)
        timeout = table.raw("timeout", 30)
        ca_file = table.path("ca_file", None)
        connections = table.integer("connections", 4, minimum=1)
        max_per_second = table.raw("max_per_second", None)
        max_per_hour = table.integer("max_per_hour", None, minimum=1)
        bounce_after = table.integer("bounce_after", None, minimum=1)
        mailto = table.text("unsubscribe_mailto", None)
        key_file = table.path("dkim_private_key", None)
        selector = table.text("dkim_selector", None)
        dkim_domain = table.text("dkim_domain", None)
        table.text("type", None)  # the registry's key, read here so done() accepts it
        table.done()
        try:
            server = SmtpServerAddress.parse(url)
        except ConfigError as error:
            table.fail("smtp_url", str(error).rstrip("."))
        for key, value in (
            ("from", sender),
            ("reply_to", reply_to),
            ("unsubscribe_mailto", mailto),
        ):
            if value is None:
                continue
            try:
                parse_mailbox(value)
            except ValueError as error:
                table.fail(key, str(error).rstrip("."))
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            table.fail("timeout", f"expected a number of seconds above 0, found {timeout!r}")
        if max_per_second is not None and (
            isinstance(max_per_second, bool)
            or not isinstance(max_per_second, int | float)
            or max_per_second <= 0
        ):
            table.fail("max_per_second", f"expected a number above 0, found {max_per_second!r}")
        if ca_file is not None and not ca_file.is_file():
            table.fail("ca_file", f"the file {ca_file} does not exist")
        signer = read_dkim_signer(table, key_file, selector, dkim_domain or _domain(sender))
        return cls(
            name,
            server=server,
            sender=sender,
            list_name=list_name,
            reply_to=reply_to,
            timeout=float(timeout),
            ca_file=ca_file,
            connections=connections,
            max_per_second=max_per_second,
            max_per_hour=max_per_hour,
            bounce_after=bounce_after,
            unsubscribe_mailto=mailto,
            dkim=signer,
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
        """Open one connection now, so a wrong password or address shows before any send."""
        smtp, _fresh = await asyncio.to_thread(self._pool.take)
        self._pool.give_back(smtp)

    async def send(self, message: Message) -> SendResult:
        if not isinstance(message, EmailMessage):
            raise PermanentError(f'Email channel "{self.name}" can only send email messages.')
        if not self.rate:
            return await asyncio.to_thread(self._send_blocking, message)
        try:
            await self.rate.acquire()
        except TransientError as error:
            raise TransientError(
                f'Email channel "{self.name}": {error}.',
                error.retry_after,
                scope="channel",
                attempted=False,
            ) from None
        try:
            return await asyncio.to_thread(self._send_blocking, message)
        finally:
            self.rate.release()

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.close_idle)

    def _send_blocking(self, message: EmailMessage) -> SendResult:
        data = self.dkim.sign(message.data) if self.dkim is not None else message.data
        # A reused connection may have been closed by the server since; each such one is
        # dropped and the message tried on another, at worst a new one.
        for _ in range(self._pool.size + 1):
            smtp, fresh = self._pool.take()
            smtp.body_sent = False
            try:
                smtp.sendmail(message.sender, [message.recipient], data)
            except smtplib.SMTPRecipientsRefused as error:
                self._after_refusal(smtp)
                code, reply = next(iter(error.recipients.values()))
                stage = f"the recipient {message.recipient}"
                raise self._refusal(code, reply, stage) from None
            except smtplib.SMTPSenderRefused as error:
                self._after_refusal(smtp)
                if error.smtp_code == 421 and not fresh:
                    # "421 too many messages on this connection": a new one will do.
                    logger.info(
                        "%s: the server closed a reused connection; reconnecting", self.name
                    )
                    continue
                stage = f"the sender {message.sender}"
                raise self._refusal(error.smtp_code, error.smtp_error, stage) from None
            except smtplib.SMTPResponseException as error:  # DATA refused, HELO refused
                self._after_refusal(smtp)
                stage = f"the message to {message.recipient}"
                raise self._refusal(error.smtp_code, error.smtp_error, stage) from None
            except OSError as error:  # includes SMTPServerDisconnected and timeouts
                self._pool.discard(smtp)
                if smtp.body_sent:
                    raise ChannelDown(
                        f'Email channel "{self.name}": the connection to {self._where} was '
                        f"lost after the message to {message.recipient} was sent, before "
                        f"the server confirmed it ({_describe(error)}).",
                        maybe_sent=True,
                    ) from None
                if not fresh:
                    logger.info("%s: an SMTP connection went stale; reconnecting", self.name)
                    continue
                raise ChannelDown(
                    f'Email channel "{self.name}": the connection to {self._where} was lost '
                    f"before the message to {message.recipient} was sent "
                    f"({_describe(error)})."
                ) from None
            except BaseException:
                self._pool.discard(smtp)
                raise
            self._pool.give_back(smtp)
            code, answer = smtp.last_reply
            logger.debug("%s: %s accepted %s", self.name, self._where, message.message_id)
            return SendResult(external_id=message.message_id, detail=f"{code} {answer}")
        raise AssertionError("unreachable")

    def _after_refusal(self, smtp: _TrackingSMTP) -> None:
        """smtplib sent RSET after a refusal; a connection that still answers is reused."""
        if smtp.sock is None or smtp.last_reply[0] == 421:
            self._pool.discard(smtp)
        else:
            self._pool.give_back(smtp)

    def _refusal(self, code: int, reply: bytes | str, stage: str) -> ChannelError:
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
        text = " ".join(text.split())
        sentence = (
            f'Email channel "{self.name}": {self._where} refused {stage} with "{code} {text}".'
        )
        if 400 <= code < 500:
            # A busy or greylisted mailbox, or a body put off for now, delays only its own
            # message; 421 and a refusal of the connection or the sender mean the server
            # itself wants everyone to wait.
            if stage.startswith(("the recipient", "the message")) and code != 421:
                return TransientError(sentence, scope="message")
            return ChannelDown(sentence)
        about_recipient = stage.startswith(("the recipient", "the message"))
        if about_recipient and 500 <= code < 600:
            # Classified as a bounce report would be: 5.1.x is a hard bounce; a full
            # mailbox (5.2.2) or a policy block (5.7.x) a soft one; a bare 550-553
            # refusal of the address is hard, of the body soft.
            if _address_gone(code, text, body=stage.startswith("the message")):
                return TargetGone(sentence)
            return RecipientRefused(sentence)
        if stage == "the connection" and 500 <= code < 600:
            return ChannelRefused(sentence)
        if 500 <= code < 600:
            return PermanentError(sentence)
        return TransientError(sentence)

    @property
    def _where(self) -> str:
        return f"the SMTP server {self.server.host}:{self.server.port}"

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
        except ChannelRefused:
            _quietly_close(smtp)
            raise
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(smtp)
            raise ChannelRefused(
                f'Email channel "{self.name}": {self._where} refused the login of user '
                f'"{server.user}" ({error.smtp_code}); check the user and password in smtp_url.'
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            _quietly_close(smtp)
            what = "STARTTLS" if "STARTTLS" in str(error).upper() else "AUTH (login)"
            raise ChannelRefused(
                f'Email channel "{self.name}": {self._where} does not offer {what}.'
            ) from None
        except ssl.SSLCertVerificationError as error:
            _quietly_close(smtp)
            raise ChannelRefused(
                f'Email channel "{self.name}": the TLS certificate of {self._where} is not '
                f"trusted ({error.verify_message}); set ca_file or fix the certificate."
            ) from None
        except smtplib.SMTPResponseException as error:
            _quietly_close(smtp)
            raise self._refusal(error.smtp_code, error.smtp_error, "the connection") from None
        except OSError as error:
            _quietly_close(smtp)
            raise ChannelDown(
                f'Email channel "{self.name}": cannot reach {self._where} ({_describe(error)}).'
            ) from None
        level = logging.DEBUG if self._told_connected else logging.INFO
        self._told_connected = True
        logger.log(level, "%s: connected to %s", self.name, self._where)
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
        elif self.server.user is not None and self.server.scheme != "smtp+insecure":
            raise ChannelRefused(
                f'Email channel "{self.name}": {self._where} offers no STARTTLS, so logging in '
                "would send the password unencrypted; nothing was sent (use a server with TLS, "
                "or write smtp+insecure:// in smtp_url to allow it on a network you trust)."
            )
        elif self.server.user is not None:
            logger.warning(
                "%s: %s offers no STARTTLS; logging in without encryption (smtp+insecure)",
                self.name,
                self._where,
            )

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.server.scheme in ("smtp", "smtp+insecure") and self.ca_file is None:
            # Opportunistic STARTTLS: encrypt against eavesdroppers, accept any certificate.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _limits(per_second: float | None, per_hour: int | None) -> list[tuple[int, float]]:
    limits: list[tuple[int, float]] = []
    if per_second is not None:
        # 0.5 per second means one message in any two seconds.
        limits.append((int(per_second), 1.0) if per_second >= 1 else (1, 1.0 / per_second))
    if per_hour is not None:
        limits.append((per_hour, 3600.0))
    return limits


def _domain(sender: str) -> str:
    try:
        return parse_mailbox(sender).domain
    except ValueError:
        return ""  # from_config has already said what is wrong with it


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


def _address_gone(code: int, reply: str, *, body: bool = False) -> bool:
    """A 5xx that says the mailbox does not exist (rather than "full", "spam", "policy")."""
    enhanced = _ENHANCED_STATUS.match(reply)
    if enhanced:
        subject, detail = int(enhanced.group(1)), int(enhanced.group(2))
        return subject == 1 or (subject, detail) == (2, 1)
    return not body and code in (550, 551, 553)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
