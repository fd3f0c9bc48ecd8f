"""How often the subscribe page may mail one mailbox: the guard against subscription bombing.

Anyone can type someone else's address into a subscribe form, and `victim+1@…` to
`victim+40@…` are forty addresses but one mailbox. So for this count only, an address is
folded to its mailbox: the plus-tag goes, and for providers that ignore dots in the name
(Gmail) the dots go too. A mailbox then gets a confirmation mail only when none was sent
to it within `PENDING_FOR` (the one pending confirmation is still on its way or waiting
to be opened), and at most `PER_DAY` in a day. The subscribe page answers the same
either way: nobody learns whether an address is known, or was mailed.

The table keeps only a keyed hash of the folded mailbox, and only for a day.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from syndicate.db.models import ConfirmationMail
from syndicate.db.session import Database

__all__ = ["PENDING_FOR", "PER_DAY", "mailbox_of", "may_send_confirmation"]

PENDING_FOR = timedelta(hours=1)
PER_DAY = 3
DAY = timedelta(days=1)
# Providers that deliver "f.i.r.s.t@" to "first@"; googlemail.com is gmail.com.
DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# One process checks and records one mailbox at a time (two requests racing past the
# check would both mail it).
_lock = threading.Lock()


def mailbox_of(address: str) -> str:
    """The mailbox an address delivers to, as far as we can tell: for counting only."""
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if domain in DOTS_IGNORED:
        local, domain = local.replace(".", ""), DOTS_IGNORED[domain]
    return f"{local}@{domain}"


def may_send_confirmation(db: Database, secret: bytes, address: str, now: datetime) -> bool:
    """True (and counted) when `address`'s mailbox may get a confirmation mail now."""
    key = hmac.new(secret, mailbox_of(address).encode(), hashlib.sha256).hexdigest()
    with _lock, db.session() as session:
        session.execute(delete(ConfirmationMail).where(ConfirmationMail.sent_at < now - DAY))
        sent = list(
            session.scalars(
                select(ConfirmationMail.sent_at).where(
                    ConfirmationMail.mailbox == key, ConfirmationMail.sent_at >= now - DAY
                )
            )
        )
        if len(sent) >= PER_DAY or any(at > now - PENDING_FOR for at in sent):
            return False
        session.add(ConfirmationMail(mailbox=key, sent_at=now))
        return True
