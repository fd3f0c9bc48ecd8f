"""A real IMAP and POP3 server for the bounce mailbox tests: Debian's dovecot, run by the test.

`Dovecot` writes its own configuration, certificate and mail folder into a temporary
folder and starts `dovecot -F` on free ports of 127.0.0.1: IMAP (STARTTLS) and IMAPS,
POP3 (STLS) and POP3S, one user with a password. It runs as the current user when that
is not root; as root, dovecot's own unprivileged users run it. `require_dovecot()` skips
the test with the reason when dovecot is not installed, or fails it when
SYNDICATE_REQUIRE_DOVECOT=1 (CI installs it: `.ci/run`).
"""

from __future__ import annotations

import datetime
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Dovecot", "require_dovecot"]

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "sandi-kotak-pantul"


def require_dovecot() -> None:
    if Path(DOVECOT).exists():
        return
    reason = "dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)"
    if os.environ.get("SYNDICATE_REQUIRE_DOVECOT") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


class Dovecot:
    """dovecot on free ports with its own folder; use it as a context manager."""

    def __init__(self, folder: Path) -> None:
        # As root, dovecot's own users must reach the folder: pytest's are private to root.
        self._own_folder = os.getuid() == 0
        self.folder = (
            Path(tempfile.mkdtemp(prefix="syndicate-dovecot-")) if self._own_folder else folder
        )
        self.ports = {name: _free_port() for name in ("imap", "imaps", "pop3", "pop3s")}
        self.ca_file = self.folder / "ca.pem"
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, scheme: str, folder: str = "") -> str:
        path = f"/{folder}" if folder else ""
        return f"{scheme}://{USER}@127.0.0.1:{self.ports[scheme]}{path}"

    def __enter__(self) -> Dovecot:
        require_dovecot()
        self._write_files()
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.folder / "dovecot.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not all(_listening(port) for port in self.ports.values()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self._process.stdout.read().decode() if self._process.stdout else ""
                log = (
                    (self.folder / "dovecot.log").read_text()
                    if (self.folder / "dovecot.log").exists()
                    else ""
                )
                self.__exit__()
                raise RuntimeError(f"dovecot did not start: {output} {log}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- the mailbox, as the tests see it -----------------------------------------------

    def imap(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"], ssl_context=context)
        imap.login(USER, PASSWORD)
        return imap

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        imap = self.imap()
        try:
            for message in messages:
                kind, data = imap.append(folder, "", None, message)
                assert kind == "OK", data
        finally:
            imap.logout()

    def subjects(self, folder: str = "INBOX") -> list[str]:
        """The Subject of each message in `folder` (empty when there is no such folder)."""
        imap = self.imap()
        try:
            kind, _ = imap.select(f'"{folder}"', readonly=True)
            if kind != "OK":
                return []
            _, data = imap.search(None, "UNDELETED")
            found = []
            for number in (data[0] or b"").split():
                _, parts = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                header = next(p[1] for p in parts if isinstance(p, tuple)).decode()
                found.append(header.partition(":")[2].strip())
            return found
        finally:
            imap.logout()

    def seen_flags(self, folder: str = "INBOX") -> list[bool]:
        imap = self.imap()
        try:
            imap.select(f'"{folder}"', readonly=True)
            _, data = imap.fetch("1:*", "(FLAGS)")
            return [b"\\Seen" in item for item in data if isinstance(item, bytes)]
        finally:
            imap.logout()

    # --- setup ---------------------------------------------------------------------------

    def _write_files(self) -> None:
        for name in ("run", "state", "mail", "home"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        _write_certificates(self.folder)
        mail_user = _mail_user()
        (self.folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        if os.getuid() == 0:
            for path in (self.folder / "mail", self.folder / "home"):
                os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
            os.chmod(self.folder, 0o755)
        me = pwd.getpwuid(os.getuid()).pw_name
        login_user = "dovenull" if os.getuid() == 0 else me
        internal_user = "dovecot" if os.getuid() == 0 else me
        (self.folder / "dovecot.conf").write_text(
            CONFIG.format(
                folder=self.folder,
                login_user=login_user,
                internal_user=internal_user,
                uid=mail_user.pw_uid,
                gid=mail_user.pw_gid,
                **self.ports,
            )
        )


CONFIG = """\
protocols = imap pop3
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {uid}
last_valid_uid = {uid}
ssl = required
ssl_cert = <{folder}/server.pem
ssl_key = <{folder}/server.key
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
auth_failure_delay = 0
mail_location = maildir:{folder}/mail/%u
pop3_uidl_format = %g
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={folder}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _mail_user() -> pwd.struct_passwd:
    if os.getuid() != 0:
        return pwd.getpwuid(os.getuid())
    return pwd.getpwnam("dovecot")


def _write_certificates(folder: Path) -> None:
    """A CA (trusted by the client through `ca_file`) and a server certificate for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syndicate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(folder / "server.key", 0o600)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
