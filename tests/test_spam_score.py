"""Digests of 1, 10 and 30 posts go through Debian's SpamAssassin (local rules only): no rule
that is the message's own doing may fire.

CI (.ci/run) installs spamassassin and sets SYNDICATE_REQUIRE_SPAMASSASSIN=1: a missing one
is then a failure; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.render.email import Recipient, make_message_id, personalize, render_edition
from syndicate.render.templates import template_environment
from tests.test_render_email import SENDER, make_edition

SPAMASSASSIN = shutil.which("spamassassin")
REQUIRED = os.environ.get("SYNDICATE_REQUIRE_SPAMASSASSIN") == "1"

# Rules about where the test's copy came from, not about what syndicate wrote:
ENVIRONMENTAL = {
    # The test hands the message over directly, or through the one relay line below:
    "NO_RECEIVED",
    "NO_RELAYS",
    # That relay line names a documentation address (203.0.113.7) without reverse DNS: a
    # sending host's DNS is the operator's business, and this is the worst case on purpose.
    "RCVD_ILLEGAL_IP",
    "RDNS_NONE",
    "RDNS_DYNAMIC",
    # Informational, 0 points: "the message has an HTML part", true of every HTML digest.
    "HTML_MESSAGE",
}
# Network rules (DNSBL, URIBL, SPF, DKIM key lookups, Razor, Pyzor) cannot fire: -L keeps
# SpamAssassin local, and the DKIM key of a test is not in any DNS.
RELAY_LINE = (
    "Received: from mail.kabarpilihan.example.id (unknown [203.0.113.7])\r\n"
    "\tby mx.example.org (Postfix) with ESMTPS id 4F1A2B3C\r\n"
    "\tfor <sari@example.org>; {date}\r\n"
)


def _message(posts: int, preheader_style: str | None = None) -> bytes:
    edition = make_edition()
    many = tuple(
        replace(edition.posts[i % 3], key=f"p{i}", title=f"{edition.posts[i % 3].title} ({i})")
        for i in range(posts)
    )
    rendered = render_edition(replace(edition, posts=many), env=template_environment())
    if preheader_style is not None:
        html = re.sub(
            r'(class="preheader" style=")[^"]*', rf"\g<1>{preheader_style}", rendered.html
        )
        assert html != rendered.html
        rendered = replace(rendered, html=html)
    now = datetime.now(UTC)
    message = personalize(
        rendered,
        recipient=Recipient("sari@example.org", "Sari Dewi"),
        sender=SENDER,
        list_id="newsletter.kabarpilihan.example.id",
        message_id=make_message_id("e7", "s1", SENDER),
        date=now,
        unsubscribe_url="https://kabarpilihan.example.id/unsubscribe/abc.def",
        view_url="https://kabarpilihan.example.id/archive/pagi/7",
        extra_headers={"Reply-To": "redaksi@kabarpilihan.example.id"},
    )
    relay = RELAY_LINE.format(date=now.strftime("%a, %d %b %Y %H:%M:%S +0000"))
    return relay.encode() + message.data


def _rules_fired(report: str) -> set[str]:
    status = re.search(r"^X-Spam-Status: .*?tests=(.*?)\sautolearn=", report, re.M | re.S)
    assert status is not None, report[:2000]
    return {name for name in re.split(r"[,\s]+", status.group(1)) if name and name != "none"}


@pytest.fixture(scope="module")
def spamassassin(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if SPAMASSASSIN is None:
        if REQUIRED:
            pytest.fail("SpamAssassin is required here but missing (apt-get install spamassassin).")
        pytest.skip("spamassassin is not installed (apt-get install spamassassin).")
    home = tmp_path_factory.mktemp("spamassassin")
    # -L: local tests only; its own user folder, so nothing is learnt between runs.
    return [SPAMASSASSIN, "-L", "-t", "--siteconfigpath=/etc/spamassassin", f"-p{home}/prefs"]


def test_digests_of_1_10_and_30_posts_fire_no_rule_of_their_own(
    spamassassin: list[str], tmp_path: Path
) -> None:
    runs = {}
    for posts in (1, 10, 30):
        runs[posts] = subprocess.Popen(
            spamassassin, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert runs[posts].stdin is not None
        runs[posts].stdin.write(_message(posts))
        runs[posts].stdin.close()
    for posts, run in runs.items():
        assert run.stdout is not None
        report = run.stdout.read().decode("utf-8", "replace")
        run.wait(timeout=120)
        fired = _rules_fired(report)
        assert fired, report[:2000]
        own = fired - ENVIRONMENTAL
        assert not own, f"{posts} posts: SpamAssassin rules fired by the message itself: {own}"


def test_the_old_hidden_preheader_would_have_been_caught(spamassassin: list[str]) -> None:
    # The check above can fail: the preheader the digest used to have (background colour,
    # 1 px font) fires the hidden-text rules.
    old = "font-size:1px; line-height:1px; color:#f3f4f6; opacity:0"
    run = subprocess.run(spamassassin, input=_message(1, old), capture_output=True, timeout=120)
    fired = _rules_fired(run.stdout.decode("utf-8", "replace"))
    assert "HTML_FONT_LOW_CONTRAST" in fired - ENVIRONMENTAL


@pytest.mark.parametrize("locale", ["id", "en"])
def test_the_confirmation_mail_fires_no_rule_of_its_own(
    spamassassin: list[str], locale: str
) -> None:
    from syndicate.optin import confirmation_message

    now = datetime.now(UTC)
    message = confirmation_message(
        template_environment(),
        site_name="Kabar Pilihan",
        sender=SENDER,
        recipient="sari@example.org",
        lists=["newsletter"],
        confirm_url="https://kabarpilihan.example.id/confirm/abc.def",
        now=now,
        locale=locale,
    )
    relay = RELAY_LINE.format(date=now.strftime("%a, %d %b %Y %H:%M:%S +0000")).encode()
    run = subprocess.run(spamassassin, input=relay + message.data, capture_output=True, timeout=120)
    fired = _rules_fired(run.stdout.decode("utf-8", "replace"))
    assert not fired - ENVIRONMENTAL, fired - ENVIRONMENTAL
