"""A real SMTP server on 127.0.0.1 for tests: it keeps what it receives and fails on request.

Usage::

    with SmtpServer() as server:                       # plain SMTP on a free port
        channel = EmailChannel(..., url=server.url)    # "smtp://127.0.0.1:PORT"
        ...
        received = server.messages[0]
        assert received.envelope_to == ["sari@example.org"]
        assert received.message["Subject"] == "Kabar pagi"

    with SmtpServer(user="kabar", password="rahasia", tls=make_tls_files(tmp_path)) as server:
        ...                                            # STARTTLS, then AUTH PLAIN/LOGIN

    server.fail_next("RCPT", "451 4.3.0 Try again later")      # the next RCPT only
    server.fail_next("RCPT", "550 5.1.1 No such user", times=3)
    server.fail_next("DATA", "421 4.3.2 Shutting down")
    server.fail_next("DATA", DROP)   # close the connection after the body, without a reply
    server.fail_next("DATA", ACCEPT_THEN_DROP, after=3)  # the 4th DATA: keep it, then hang up

    SmtpServer(close_after=3)        # hang up (after the 250) every 3 messages on a connection

    server.fault = "greeting-421"    # until set back to None: 421 instead of the greeting;
                                     # "command-421" (MAIL), "hang-before-data" (MAIL never
                                     # answered), "hang-after-data" (the body, no reply)
    server.refuse = {"x@example.org"}   # 550 5.1.1 for these recipients
    server.down(); server.up()       # stop listening, then listen again on the same port

Failures are answered in the order they were queued, per command; `after=n` lets n
commands through first. `connections` counts client sessions, `most_open` the most open
at once, and every `ReceivedMessage` has the server's `received_at` (time.monotonic()).
The server runs aiosmtpd in its own thread, so synchronous and asyncio tests can both use it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import socket
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = [
    "ACCEPT_THEN_DROP",
    "DROP",
    "FAULTS",
    "ReceivedMessage",
    "SmtpServer",
    "TlsFiles",
    "make_tls_files",
]

DROP = "DROP"  # a reply that closes the connection instead of answering
ACCEPT_THEN_DROP = "ACCEPT_THEN_DROP"  # DATA only: keep the message, then close, no reply
FAULTS = ("greeting-421", "command-421", "hang-before-data", "hang-after-data")


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted: the envelope, the raw bytes, the parsed message."""

    envelope_from: str
    envelope_to: list[str]
    data: bytes
    message: EmailMessage
    authenticated_as: str | None
    received_at: float = 0.0  # time.monotonic() when the server took it


@dataclass(frozen=True)
class TlsFiles:
    """A certificate and its key, as files, for 127.0.0.1 and localhost."""

    cert: Path
    key: Path


class _Handler:
    """aiosmtpd hooks: store accepted messages, answer queued failures."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._server.fault == "command-421":
            return "421 4.3.2 Service shutting down, try again later"
        if self._server.fault == "greeting-421":  # going down: answer, hang up, greet no one
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.3.2 Service not available, closing the connection"
        while self._server.fault == "hang-before-data":
            await asyncio.sleep(0.05)
        if (reply := self._server._next_failure("MAIL", server)) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if (reply := self._server._next_failure("RCPT", server)) is not None:
            return reply
        if address in self._server.refuse:
            return f"550 5.1.1 <{address}>: no such user"
        if address in self._server.replies:
            return self._server.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._server.fault == "hang-after-data":
            while self._server.fault == "hang-after-data":
                await asyncio.sleep(0.05)
            if server.transport is None or server.transport.is_closing():
                # The client gave up waiting: like a server that crashed, it keeps nothing.
                return "451 4.3.0 Too late"
            # The client is still there: a slow answer, then the message is taken.
        reply = self._server._next_failure("DATA", server, accept_then_drop=True)
        if reply is not None and reply != ACCEPT_THEN_DROP:
            return reply
        data = bytes(envelope.original_content or b"")
        parsed = email.message_from_bytes(data, policy=policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self._server.messages.append(
            ReceivedMessage(
                envelope_from=envelope.mail_from or "",
                envelope_to=list(envelope.rcpt_tos),
                data=data,
                message=parsed,  # type: ignore[arg-type]
                authenticated_as=login,
                received_at=time.monotonic(),
            )
        )
        if self._server.on_message is not None:  # the test acts while the sender waits
            self._server.on_message(self._server.messages[-1])
        if reply == ACCEPT_THEN_DROP:
            assert server.transport is not None
            server.transport.abort()  # taken, but the client never hears so
            return "250 OK"
        accepted = getattr(session, "accepted", 0) + 1
        session.accepted = accepted  # type: ignore[attr-defined]
        limit = self._server.close_after
        if limit is not None and accepted % limit == 0 and server.transport is not None:
            # Like a server with a per-connection message limit: answer, then hang up.
            # call_soon runs after the reply is written; close() sends it before the FIN.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """A local SMTP server on a free port; use it as a context manager.

    `user`/`password` turn on AUTH (PLAIN and LOGIN) and make it required. `tls` offers
    STARTTLS with the given certificate; with `implicit_tls=True` the socket speaks TLS
    from the first byte instead (like port 465). With `tls` and AUTH together, AUTH is only
    accepted after STARTTLS, like a real submission server.
    """

    def __init__(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: TlsFiles | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        close_after: int | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port(self.host)
        self.fault: str | None = None  # one of FAULTS while it lasts
        self.refuse: set[str] = set()  # recipients answered 550 5.1.1
        self.replies: dict[str, str] = {}  # recipients answered this reply to RCPT
        self.messages: list[ReceivedMessage] = []
        # Called with each accepted message before the client hears "250".
        self.on_message: Callable[[ReceivedMessage], None] | None = None
        self.connections = 0  # how many client sessions the server has seen
        self.open_now = 0  # client sessions open right now
        self.most_open = 0  # the most client sessions open at once
        self.close_after = close_after
        self._user = user
        self._password = password
        self._implicit_tls = implicit_tls
        self._failures: dict[str, deque[str | None]] = defaultdict(deque)
        self._lock = threading.Lock()
        tls_context = _server_context(tls) if tls else None
        auth = user is not None
        options: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "smtp.test",
            "ready_timeout": 5.0,
            "auth_required": auth,
            # With implicit TLS aiosmtpd cannot tell the socket is encrypted, so it must
            # not insist on STARTTLS before AUTH.
            "auth_require_tls": auth and tls is not None and not implicit_tls,
            "authenticator": self._authenticate if auth else None,
        }
        if implicit_tls:
            options["ssl_context"] = tls_context
        else:
            options["tls_context"] = tls_context
            options["require_starttls"] = require_starttls
        self._options = options
        # Made by start(): a Controller opens its event loop at once, and only running
        # closes it, so a server that is never started (its port refuses) must not have one.
        self._controller: _CountingController | None = None

    @property
    def url(self) -> str:
        """The smtp_url a channel should use, without credentials."""
        scheme = "smtps" if self._implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    def fail_next(self, command: str, reply: str, times: int = 1, after: int = 0) -> None:
        """Answer `times` MAIL, RCPT or DATA commands with `reply`, after `after` pass."""
        command = command.upper()
        if command not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"fail_next takes MAIL, RCPT or DATA, not {command!r}.")
        if reply == ACCEPT_THEN_DROP and command != "DATA":
            raise ValueError("ACCEPT_THEN_DROP is a DATA reply.")
        with self._lock:
            self._failures[command].extend([None] * after + [reply] * times)

    def start(self) -> SmtpServer:
        self._controller = _CountingController(self, _Handler(self), **self._options)
        self._controller.start()
        self.connections = 0  # the Controller's own readiness check is not a client
        self.most_open = self.open_now
        return self

    def stop(self) -> None:
        assert self._controller is not None, "the SMTP server was never started"
        self._controller.stop()

    def down(self) -> None:
        """Stop listening (connections are refused) until `up()`."""
        self.stop()

    def up(self) -> None:
        """Listen again, on the same port, keeping what was received."""
        self._controller = _CountingController(self, _Handler(self), **self._options)
        connections = self.connections
        self._controller.start()
        self.connections = connections  # the readiness check is not a client

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_failure(
        self, command: str, server: SMTP, *, accept_then_drop: bool = False
    ) -> str | None:
        with self._lock:
            queue = self._failures[command]
            reply = queue.popleft() if queue else None
        if reply == ACCEPT_THEN_DROP and accept_then_drop:
            return reply
        if reply == DROP:
            assert server.transport is not None
            server.transport.abort()  # no reply at all: the client cannot know what happened
            return "250 OK"  # written to a closed transport: never reaches the client
        return reply

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (
            auth_data.login.decode() == self._user and auth_data.password.decode() == self._password
        )
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _CountingController(Controller):
    """The stock Controller, counting sessions so tests can see connection reuse."""

    def __init__(self, owner: SmtpServer, handler: _Handler, **options: Any) -> None:
        super().__init__(handler, **options)
        self._owner = owner

    def factory(self) -> SMTP:
        self._owner.connections += 1
        return _CountedSMTP(self._owner, self.handler, **self.SMTP_kwargs)


class _CountedSMTP(SMTP):
    """An aiosmtpd session that keeps the server's count of open sessions."""

    def __init__(self, owner: SmtpServer, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner

    async def _handle_client(self) -> None:
        if self._owner.fault == "greeting-421":
            await self.push("421 4.3.2 Service not available, try again later")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    def connection_made(self, transport: Any) -> None:
        with self._owner._lock:
            self._owner.open_now += 1
            self._owner.most_open = max(self._owner.most_open, self._owner.open_now)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        with self._owner._lock:
            self._owner.open_now -= 1
        super().connection_lost(error)


def make_tls_files(directory: Path) -> TlsFiles:
    """A fresh self-signed certificate for 127.0.0.1/localhost (needs `cryptography`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(cert=directory / "smtp-cert.pem", key=directory / "smtp-key.pem")
    files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    return context


def _free_port(host: str) -> int:
    # aiosmtpd's Controller connects to its own port to check that it is up, so it needs
    # a real port number rather than 0.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
