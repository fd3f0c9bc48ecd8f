"""`syndicate send JOB --to ADDRESS`: one test copy, marked, recorded nowhere."""

from __future__ import annotations

import pytest

from syndicate.cli import main
from tests.sites import Site, job_toml


def syndicate(site: Site, *command: str) -> int:
    return main(["--config", str(site.folder / "syndicate.toml"), *command])


def test_a_test_copy_is_marked_and_not_recorded(site: Site) -> None:
    site.open(pagi=job_toml("newsletter"))
    assert syndicate(site, "send", "pagi", "--to", "editor@example.org") == 0
    (received,) = site.smtp.messages
    assert received.envelope_to == ["editor@example.org"]
    assert received.message["Subject"] == "[TEST] Kabar Pilihan: pagi"
    assert "Harga Cabai Rawit" in received.message.get_body(("plain",)).get_content()
    assert site.rows() == []

    # After a real edition (nothing new left), the test copy shows the latest edition.
    site.run("pagi")
    site.deliver()
    assert syndicate(site, "send", "pagi", "--to", "editor@example.org") == 0
    latest = site.smtp.messages[-1].message
    assert latest["Subject"].startswith("[TEST]")
    assert "Harga Cabai Rawit" in latest.get_body(("plain",)).get_content()
    assert len(site.rows()) == 0  # no subscriber, so the real edition queued nothing either


def test_a_job_without_email_cannot_be_test_sent(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.open(kilat=job_toml("telegram"))
    assert syndicate(site, "send", "kilat", "--to", "editor@example.org") == 2
    assert "sends no email" in capsys.readouterr().err
    assert site.bot.messages == []


def test_a_bad_address_is_refused(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.open(pagi=job_toml("newsletter"))
    assert syndicate(site, "send", "pagi", "--to", "not-an-address") == 2
    assert "not a valid email address" in capsys.readouterr().err
    assert site.smtp.messages == []
