"""Telegram's chats as the settings file names them: one reader for `chat_id`.

Both a Telegram channel and an outbox set up with medium = "telegram" read their chats
here, so the two accept and refuse the same values, in the same words. It imports no
Telegram library: an outbox never needs one.
"""

from __future__ import annotations

import re

from syndicate.config import ConfigTable, describe_value, expand_env

__all__ = ["read_chat_ids"]

_CHAT_ID = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20}")
_WHAT = 'a chat such as "@kabarpilihan" or -1001234567890'


def read_chat_ids(table: ConfigTable) -> tuple[str, ...]:
    """The chats of `chat_id`: one chat or a list of them, each a "@name" in quotes or a
    number (quoted or not); the same chat written twice counts once."""
    raw = table.raw("chat_id")
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        table.fail("chat_id", "must name at least one chat")
    chat_ids = [_chat_id(table, value, listed=isinstance(raw, list)) for value in values]
    return tuple(dict.fromkeys(chat_ids))


def _chat_id(table: ConfigTable, value: object, *, listed: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # chat_id = -1001234567890, unquoted
    if not isinstance(value, str):
        found = describe_value(value) + (" in the list" if listed else "")
        table.fail("chat_id", f"expected {_WHAT}, or a list of them, found {found}")
    chat_id = expand_env(value, lambda problem: table.fail("chat_id", problem))
    if not _CHAT_ID.fullmatch(chat_id):
        table.fail(
            "chat_id", f'"{chat_id}" is not a chat such as "@kabarpilihan" or "-1001234567890"'
        )
    return chat_id
