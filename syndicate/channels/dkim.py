"""DKIM signing for the email channel: the signer and how its settings are read.

An email channel with `dkim_private_key` and `dkim_selector` signs every message it hands
to the server (RFC 6376, rsa-sha256, relaxed/relaxed, made with dkimpy). A key that would
not work — too short, public instead of private, protected by a passphrase, not RSA —
is refused when the settings are read, in one sentence that says how to make a good one
(a `ConfigError`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import dkim

from syndicate.config import ConfigError

if TYPE_CHECKING:
    from syndicate.config import ConfigTable

__all__ = ["DkimSigner", "read_dkim_signer"]

_DNS_LABELS = re.compile(r"(?i)^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*$")


@dataclass(frozen=True)
class DkimSigner:
    """Adds a DKIM-Signature (RFC 6376, rsa-sha256, relaxed/relaxed) made with dkimpy.

    Every header below is signed, and oversigned: listed once more than it occurs, so
    nobody can add a second Subject or a Reply-To (absent or not) without breaking the
    signature. A key shorter than `MIN_BITS` is refused; `check` warns below `GOOD_BITS`.
    """

    selector: str
    domain: str
    private_key: bytes  # PEM

    SIGNED: ClassVar[tuple[str, ...]] = (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "List-Archive",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
    )
    MIN_BITS: ClassVar[int] = 1024  # RFC 8301: verifiers must not accept less
    GOOD_BITS: ClassVar[int] = 2048  # what Gmail and RFC 8301 recommend

    def __post_init__(self) -> None:
        for what, value in (("selector", self.selector), ("domain", self.domain)):
            if not _DNS_LABELS.match(value):
                raise ConfigError(f'"{value}" is not a DKIM {what} (letters, digits, -, _ and .).')
        if self.bits < self.MIN_BITS:
            raise ConfigError(
                f"it is a {self.bits}-bit key, and receivers ignore DKIM keys under "
                f"{self.MIN_BITS} bits; make a {self.GOOD_BITS}-bit one with "
                f"`openssl genrsa -out dkim.pem {self.GOOD_BITS}` and publish its public key."
            )

    @property
    def bits(self) -> int:
        """The length of the key's modulus in bits."""
        try:
            key = dkim.crypto.parse_pem_private_key(self.private_key)
        except (dkim.crypto.UnparsableKeyError, ValueError, IndexError):
            raise ConfigError(_key_problem(self.private_key)) from None
        return int(key["modulus"]).bit_length()

    def sign(self, data: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        names = [
            line.split(b":", 1)[0].strip().lower()
            for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            if line[:1] not in (b" ", b"\t") and b":" in line
        ]
        signed = []
        for name in self.SIGNED:
            lowered = name.lower().encode()
            signed += [lowered] * (names.count(lowered) + 1)
        signature = dkim.sign(
            data,
            self.selector.encode(),
            self.domain.encode(),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=signed,
        )
        return signature + data


_MAKE_KEY = "make one with `openssl genrsa -out dkim.pem 2048` and publish its public key"
# Algorithm identifiers (DER-encoded OIDs) inside a PKCS#8 "PRIVATE KEY".
_KEY_KINDS = {
    b"\x06\x03\x2b\x65\x70": "an Ed25519 key",
    b"\x06\x03\x2b\x65\x71": "an Ed448 key",
    b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01": "an elliptic-curve (ECDSA) key",
}


def _key_problem(pem: bytes) -> str:
    """What a file that is not a usable RSA private key is, in one sentence."""
    text = pem.decode("ascii", "replace")
    if "PUBLIC KEY" in text and "PRIVATE KEY" not in text:
        return (
            "it is a public key; DKIM signs with the private one (the public key goes in "
            "DNS): point dkim_private_key at the private key file"
        )
    if "ENCRYPTED" in text:
        return (
            "the key is protected by a passphrase, which nothing can type in when mail is "
            "sent; save it without one: `openssl pkey -in KEY -out dkim.pem`"
        )
    if "EC PRIVATE KEY" in text:
        kind = "an elliptic-curve (ECDSA) key"
    else:
        body = "".join(line for line in text.splitlines() if line and "-----" not in line)
        try:
            der = base64.b64decode(body, validate=False)
        except (ValueError, binascii.Error):
            der = b""
        kind = next((name for oid, name in _KEY_KINDS.items() if oid in der[:40]), "")
    if kind:
        return (
            f"it is {kind}, and DKIM here signs with RSA (Gmail and Outlook verify no "
            f"other kind, so mail signed only with it counts as unsigned); {_MAKE_KEY}"
        )
    return f"it is not an RSA private key in PEM form; {_MAKE_KEY}"


def read_dkim_signer(
    table: ConfigTable, key_file: Path | None, selector: str | None, domain: str
) -> DkimSigner | None:
    """The signer an email channel's dkim_* keys describe, or None without a key; a
    mistake fails `table` in one sentence naming the key."""
    if key_file is None:
        if selector is not None:
            table.fail("dkim_selector", "is set but dkim_private_key is not")
        return None
    if selector is None:
        table.fail("dkim_selector", "is required with dkim_private_key")
    try:
        key = key_file.read_bytes()
    except OSError as error:
        table.fail("dkim_private_key", f"cannot read {key_file} ({error.strerror})")
    try:
        return DkimSigner(selector=selector, domain=domain, private_key=key)
    except ConfigError as error:
        name = "dkim_private_key"
        text = str(error).rstrip(".")
        if "selector" in text:
            name = "dkim_selector"
        elif "domain" in text:
            name = "dkim_domain"
        else:
            text = f"{key_file}: {text}"
        table.fail(name, text)
    raise AssertionError("unreachable")
