"""Email channel settings and the per-subscriber message options: pool size, rate limits,
bounce_after, DKIM keys, the mailto unsubscribe, test copies and the edition's locale."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

import pytest

from syndicate.channels.email import EmailChannel
from syndicate.config import ConfigError, ConfigTable
from syndicate.render.email import (
    Recipient,
    RenderedEdition,
    make_message_id,
    personalize,
    render_edition,
)
from syndicate.render.templates import template_environment
from syndicate.types import EditionView
from tests.test_render_email import check_golden, make_edition

SENDER = "Kabar Pilihan <kabar@kabarpilihan.example.id>"
LONG_TOKEN = "MTIzNDU2Nzg5Om5ld3NsZXR0ZXI" + "." + "x" * 43


def channel(tmp_path: Path, **settings: Any) -> EmailChannel:
    table = ConfigTable(
        {"type": "email", "smtp_url": "smtp://mail.example.org", "from": SENDER, **settings},
        tmp_path / "syndicate.toml",
        "channels.newsletter",
    )
    return EmailChannel.from_config("newsletter", table)


def message(**overrides: Any) -> email.message.EmailMessage:
    arguments: dict[str, Any] = {
        "recipient": Recipient("sari@example.org", "Sari"),
        "sender": SENDER,
        "list_id": "newsletter.kabarpilihan.example.id",
        "message_id": make_message_id("e7", "s1", SENDER),
        "date": datetime(2023, 3, 9, tzinfo=UTC),
        "unsubscribe_url": f"https://kabarpilihan.example.id/unsubscribe/{LONG_TOKEN}",
        "view_url": None,
    }
    arguments.update(overrides)
    rendered = RenderedEdition(subject="Kabar pagi", html="<p>x</p>", text="x")
    built = personalize(rendered, **arguments)
    return email.message_from_bytes(built.data, policy=policy.default)


def test_pool_size_rate_and_bounce_settings_reach_the_channel(tmp_path: Path) -> None:
    configured = channel(
        tmp_path, connections=6, max_per_second=0.5, max_per_hour=900, bounce_after=2
    )
    assert configured.concurrency == 6
    assert configured.bounce_limit == 2
    assert configured.rate.limits == [(1, 2.0), (900, 3600.0)]
    plain = channel(tmp_path)
    assert plain.concurrency == 4 and plain.bounce_limit is None and not plain.rate


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"connections": 0}, r"connections: must be at least 1"),
        ({"max_per_second": "fast"}, r"max_per_second: expected a number above 0"),
        ({"max_per_hour": 0}, r"max_per_hour: must be at least 1"),
        ({"bounce_after": 0}, r"bounce_after: must be at least 1"),
        ({"unsubscribe_mailto": "berhenti"}, r"unsubscribe_mailto: .* not one email address"),
        ({"dkim_selector": "kabar"}, r"dkim_selector: is set but dkim_private_key is not"),
        ({"dkim_private_key": "dkim.pem"}, r"dkim_selector: is required with dkim_private_key"),
        (
            {"dkim_private_key": "missing.pem", "dkim_selector": "kabar"},
            r"dkim_private_key: cannot read .*missing\.pem",
        ),
        (
            {"dkim_private_key": "dkim.pem", "dkim_selector": "kabar"},
            r"dkim_private_key: .*dkim\.pem: it is not an RSA private key",
        ),
        (
            {"dkim_private_key": "dkim.pem", "dkim_selector": "a b"},
            r'dkim_selector: "a b" is not a DKIM selector',
        ),
    ],
)
def test_setting_mistakes_are_one_sentence(
    tmp_path: Path, settings: dict[str, Any], expected: str
) -> None:
    (tmp_path / "dkim.pem").write_text("not a key\n")
    with pytest.raises(ConfigError, match=expected) as caught:
        channel(tmp_path, **settings)
    assert str(caught.value).endswith(".")


def test_long_unsubscribe_url_stays_a_link_and_the_mailto_carries_its_token() -> None:
    parsed = message(unsubscribe_mailto="berhenti@kabarpilihan.example.id")
    assert parsed["List-Unsubscribe"] == (
        f"<https://kabarpilihan.example.id/unsubscribe/{LONG_TOKEN}>, "
        f"<mailto:berhenti@kabarpilihan.example.id?subject=unsubscribe%20{LONG_TOKEN}>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_without_a_mailto_only_the_https_link_is_given() -> None:
    parsed = message()
    assert (
        parsed["List-Unsubscribe"] == f"<https://kabarpilihan.example.id/unsubscribe/{LONG_TOKEN}>"
    )


def test_test_copy_is_marked_in_the_subject_and_has_its_own_message_id() -> None:
    real = message()
    copy = message(test=True)
    assert copy["Subject"] == "[TEST] Kabar pagi"
    assert real["Subject"] == "Kabar pagi"
    assert copy["Message-ID"] != real["Message-ID"]
    assert copy["Message-ID"].endswith("@kabarpilihan.example.id>")
    assert message(test=True)["Message-ID"] != copy["Message-ID"]


def test_quoted_printable_lines_stay_within_76_characters() -> None:
    long_line = "kata " * 200 + "=" * 10 + " é"
    rendered = RenderedEdition(subject="s", html=f"<p>{long_line}</p>", text=long_line)
    built = personalize(
        rendered,
        recipient=Recipient("sari@example.org", 'Sari "Dewi", S.Kom'),
        sender=SENDER,
        list_id="newsletter.kabarpilihan.example.id",
        message_id="m1@kabarpilihan.example.id",
        date=datetime(2023, 3, 9, tzinfo=UTC),
        unsubscribe_url="https://kabarpilihan.example.id/u",
        view_url=None,
    )
    assert b"\n" not in built.data.replace(b"\r\n", b"")  # CRLF line ends only
    assert max(len(line) for line in built.data.split(b"\r\n")) <= 78
    parsed = email.message_from_bytes(built.data, policy=policy.default)
    assert parsed.get_body(("plain",)).get_content().rstrip("\r\n") == long_line
    assert parsed["To"].addresses[0].display_name == 'Sari "Dewi", S.Kom'


def english(edition: EditionView) -> EditionView:
    return EditionView(**{**edition.__dict__, "locale": "en"})


def test_english_digest_matches_golden_files() -> None:
    rendered = render_edition(english(make_edition()), env=template_environment())
    check_golden("digest.en.html", rendered.html)
    check_golden("digest.en.txt", rendered.text)
    assert "Thursday, 9 March 2023" in rendered.html
    assert "Read more" in rendered.html and "Baca selengkapnya" not in rendered.html


@pytest.mark.parametrize(
    ("locale", "expected"), [("id", "Kamis, 9 Maret 2023"), ("en", "Thursday, 9 March 2023")]
)
def test_edition_date_is_the_day_in_the_site_zone_not_in_utc(locale: str, expected: str) -> None:
    # 20:30 UTC on Wednesday is already Thursday 03:30 in Jakarta.
    late = EditionView(
        **{
            **make_edition().__dict__,
            "locale": locale,
            "created_at": datetime(2023, 3, 8, 20, 30, tzinfo=UTC),
        }
    )
    rendered = render_edition(late, env=template_environment())
    assert expected in rendered.html and expected in rendered.text
    assert rendered.timezone == "Asia/Jakarta"
    built = personalize(
        rendered,
        recipient=Recipient("sari@example.org"),
        sender=SENDER,
        list_id="newsletter.kabarpilihan.example.id",
        message_id="m1@kabarpilihan.example.id",
        date=datetime(2023, 3, 8, 20, 30, tzinfo=UTC),
        unsubscribe_url="https://kabarpilihan.example.id/u",
        view_url=None,
    )
    parsed = email.message_from_bytes(built.data, policy=policy.default)
    assert parsed["Date"] == "Thu, 09 Mar 2023 03:30:00 +0700"


def test_one_click_goes_only_with_an_https_link_and_over_http_the_mailto_goes_alone() -> None:
    http = f"http://localhost:8080/unsubscribe/{LONG_TOKEN}"
    alone = message(unsubscribe_url=http, unsubscribe_mailto="berhenti@kabarpilihan.example.id")
    assert str(alone["List-Unsubscribe"]).startswith("<mailto:berhenti@kabarpilihan.example.id?")
    assert "http://" not in str(alone["List-Unsubscribe"])
    assert alone["List-Unsubscribe-Post"] is None
    bare = message(unsubscribe_url=http)
    assert str(bare["List-Unsubscribe"]) == f"<{http}>"
    assert bare["List-Unsubscribe-Post"] is None
    assert message()["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
