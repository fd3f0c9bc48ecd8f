"""What `syndicate init` writes: the example settings and jobs, made to pass `check` at once.

The example settings name a Telegram bot whose token a new site does not have yet; the
written copy keeps that table commented, with the guide above it, and the example jobs
that post to Telegram write their posts to the `preview` outbox until it is set up.
"""

from __future__ import annotations

import re

__all__ = ["starter_job", "starter_settings"]

_FIRST_LINE = "# syndicate settings. Copy this file to syndicate.toml and adapt it."
_OWN_FIRST_LINE = "# syndicate settings for this site: adapt them, then run `syndicate check`."
_TELEGRAM_TABLE = re.compile(r"^\[channels\.telegram\]\n(?:[^\n]+\n)*", re.MULTILINE)
_TELEGRAM_JOB = re.compile(r'^channels = \["telegram"\]$', re.MULTILINE)


def starter_settings(example: str) -> str:
    """The example settings with the Telegram channel commented out."""
    text = example.replace(_FIRST_LINE, _OWN_FIRST_LINE, 1)
    return _TELEGRAM_TABLE.sub(_commented, text, count=1)


def starter_job(text: str) -> str:
    """An example job that posts to Telegram, writing to the preview outbox instead."""
    return _TELEGRAM_JOB.sub(
        'channels = ["preview"]   # "telegram" once [channels.telegram] is set up', text
    )


def _commented(table: re.Match[str]) -> str:
    lines = table.group(0).splitlines(keepends=True)
    return "".join(line if line.startswith("#") else f"# {line}" for line in lines)
