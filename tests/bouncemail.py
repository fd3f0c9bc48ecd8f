"""Bounce and complaint samples (tests/data/bounces), filled in for one delivery."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).parent / "data" / "bounces"

# Each sample: what it must be read as.
KINDS = {
    "gmail-dsn-550-5.1.1.eml": "hard",
    "outlook-dsn-550-5.5.0.eml": "hard",
    "yahoo-plain-554.eml": "hard",
    "yahoo-arf-abuse.eml": "complaint",
    "postfix-dsn-550-5.1.1.eml": "hard",
    "postfix-dsn-552-5.2.2.eml": "soft",
    "postfix-dsn-delayed.eml": "",
    "exim-plain-550.eml": "hard",
    "outlook-jmrp-abuse.eml": "complaint",
}


def sample(name: str, *, recipient: str, return_path: str, message_id: str) -> bytes:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    for key, value in (
        ("RECIPIENT", recipient),
        ("RETURN_PATH", return_path),
        ("MESSAGE_ID", message_id),
    ):
        text = text.replace("{{" + key + "}}", value)
    return text.replace("\n", "\r\n").encode()
