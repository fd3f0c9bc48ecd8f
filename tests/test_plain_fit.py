"""Fitting plain-text posts and digests: what is cut, what is told, what is left out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.channels.registry import AdapterFailed, build_channels
from syndicate.config import load_config
from syndicate.jobs import NoRenderer, render_parts
from syndicate.render.plain import render_text_digest, render_text_post
from syndicate.render.social import DoesNotFit
from syndicate.render.telegram import TELEGRAM_TEXT_LIMIT, render_telegram_digest
from syndicate.render.templates import template_environment
from syndicate.render.text import telegram_visible_length
from syndicate.types import Credit, EditionView, PostView
from tests.test_channel_registry import ADAPTER_300, installed, write_site

ENV = template_environment()

# The 300-character adapter, written by someone who assumes a digest has a post in it.
ADAPTER_300_ONE_POST_AT_LEAST = (
    ADAPTER_300
    + """

class FirstPostPigeon(PigeonChannel):
    def fit_digest(self, edition, *, env, locale, timezone):
        edition.posts[0]
        return super().fit_digest(edition, env=env, locale=locale, timezone=timezone)


PigeonChannel = FirstPostPigeon
"""
)


def _post(key: str, title: str, url: str = "https://example.org/a") -> PostView:
    return PostView(
        key=key,
        title=title,
        url=url,
        excerpt="Sebuah kabar.",
        publisher=Credit("Warta", "https://example.org/"),
    )


def _edition(posts: tuple[PostView, ...], subject: str = "Kilat") -> EditionView:
    return EditionView(
        key="e3",
        job="kilat",
        subject=subject,
        site_name="Kabar Pilihan",
        site_url="http://localhost:8080",
        locale="id",
        timezone="Asia/Jakarta",
        created_at=datetime(2024, 3, 12, tzinfo=UTC),
        posts=posts,
    )


def _shortening(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "shortening it" in r.getMessage()]


def test_a_digest_counts_its_footer_only_in_the_message_that_carries_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The subject takes about 90 of 300; a title of 130 fits beside it, not with the footer.
    long = ("Harga beras turun di pasar induk kota " * 5)[:130].strip()
    titles = [f"{long} {n}" for n in (1, 2, 3)]
    view = _edition(
        tuple(_post(f"p{n}", title) for n, title in enumerate(titles, 1)), "Kabar " * 800
    )
    messages = render_text_digest(view, env=ENV, limit=300)
    assert len(messages) > 1
    assert all(len(message.text) <= 300 for message in messages)
    assert titles[0] in messages[0].text  # header and item fit without the footer
    assert all(any(title in m.text for m in messages) for title in titles)
    assert "Selengkapnya di" not in messages[0].text
    assert "Selengkapnya di" in messages[-1].text
    assert [m for m in _shortening(caplog) if "title" in m] == []


def test_a_telegram_digest_counts_its_footer_only_in_the_last_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The subject takes half a message; the first title fits beside it, not with the footer.
    first = ("Banjir " * 400)[:2050]
    view = _edition((_post("p1", first.strip()), _post("p2", "Harga beras")), "Kabar " * 800)
    messages = render_telegram_digest(
        view, target="@kabar", env=ENV, locale="id", timezone="Asia/Jakarta"
    )
    assert all(telegram_visible_length(m.text) <= TELEGRAM_TEXT_LIMIT for m in messages)
    assert first.strip() in messages[0].text
    assert [m for m in _shortening(caplog) if "title" in m] == []


def test_a_post_left_out_for_its_link_does_not_blame_its_title(
    caplog: pytest.LogCaptureFixture,
) -> None:
    post = _post("p1", "Banjir", "https://example.org/" + "a" * 405)
    with pytest.raises(DoesNotFit):
        render_text_post(post, env=ENV, locale="id", limit=300)
    assert _shortening(caplog) == []


def test_a_digest_whose_every_post_is_left_out_is_not_asked_of_the_adapter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with installed(tmp_path, ADAPTER_300_ONE_POST_AT_LEAST):
        settings = write_site(tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@kabar"')
        config = load_config(settings)
        channel = build_channels(config)["birds"]
        job = replace(config.job("kilat"), format="digest")
        view = _edition((_post("p9", "Banjir", "https://example.org/" + "a" * 405),))
        parts = render_parts(config, channel, job, view)
    assert parts == []
    assert any("leaves post 9" in r.getMessage() for r in caplog.records)


def test_an_adapter_failing_with_a_sentence_is_told_with_one_full_stop() -> None:
    failed = AdapterFailed("birds", "pigeon", "rendering edition 3", DoesNotFit("p1", 10))
    assert str(failed) == (
        'channel "birds" (adapter "pigeon") failed rendering edition 3: p1: the credit and '
        "link alone are over the network's limit of 10 (DoesNotFit)."
    )


# An adapter that says it renders both formats and renders neither.
ADAPTER_CLAIMING = (
    ADAPTER_300
    + """

class ClaimingPigeon(PigeonChannel):
    def renders(self, format):
        return True

    def fit_post(self, post, *, env, locale, timezone):
        return None

    def fit_digest(self, edition, *, env, locale, timezone):
        return None


PigeonChannel = ClaimingPigeon
"""
)


@pytest.mark.parametrize(("format", "method"), [("each", "fit_post"), ("digest", "fit_digest")])
def test_an_adapter_claiming_a_format_it_does_not_render_is_told_so(
    tmp_path: Path, format: str, method: str
) -> None:
    with installed(tmp_path, ADAPTER_CLAIMING):
        settings = write_site(tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@kabar"')
        config = load_config(settings)
        channel = build_channels(config)["birds"]
        job = replace(config.job("kilat"), format=format)
        view = _edition((_post("p9", "Banjir"),))
        with pytest.raises(NoRenderer) as refused:
            render_parts(config, channel, job, view)
    assert str(refused.value) == (
        'channel "birds" (adapter "pigeon") claimed a format it did not render: its '
        f'renders("{format}") answered True, but its {method} returned nothing for job "kilat".'
    )
