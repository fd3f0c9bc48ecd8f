"""The webhook channel: signed JSON, Slack and Discord bodies, and the receivers' answers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.channels.base import (
    PermanentError,
    SendResult,
    SocialPost,
    TargetGone,
    TransientError,
    UnknownOutcome,
)
from syndicate.channels.registry import build_channels
from syndicate.channels.webhook import WebhookChannel, sign
from syndicate.config import ConfigError, load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from syndicate.render.webhook import render_webhook_digest
from syndicate.types import EditionView
from tests.test_mastodon import a_post
from tests.webhookreceiver import TEST_SECRET, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def send(channel: WebhookChannel, *messages: SocialPost) -> list[SendResult]:
    async def run() -> list[SendResult]:
        try:
            return [await channel.send(replace(m, target=channel.targets()[0])) for m in messages]
        finally:
            await channel.close()

    return asyncio.run(run())


def fitted(channel: WebhookChannel, **changes: object) -> SocialPost:
    post = a_post(
        "Harga <Cabai> & @everyone", "Isi *berita* " * 30, "https://www.repelita.net/c", **changes
    )
    return channel.fit_post(post, env=None, locale="id", timezone="UTC")  # type: ignore[arg-type]


def test_a_json_post_is_signed_and_the_receiver_verifies_it(receiver: WebhookReceiver) -> None:
    channel = WebhookChannel("hook", f"{receiver.base_url}/json", secret=TEST_SECRET)
    send(channel, fitted(channel))
    [(_, headers, body)] = receiver.received
    assert body["type"] == "post"
    assert body["post"]["title"] == "Harga <Cabai> & @everyone"
    assert body["post"]["credit"] == "Inilah.com via Repelita Online"
    assert body["post"]["origin"] == {"name": "Inilah.com", "url": "https://www.inilah.com"}
    request = receiver.requests[-1]
    stamp = headers["x-syndicate-timestamp"]
    assert headers["x-syndicate-signature"] == sign(TEST_SECRET, stamp, request.body)
    assert len(headers["x-syndicate-delivery"]) == 64


def test_a_wrong_secret_is_refused_for_good(receiver: WebhookReceiver) -> None:
    channel = WebhookChannel("hook", f"{receiver.base_url}/json", secret="not-the-secret")
    with pytest.raises(PermanentError, match="401: bad signature"):
        send(channel, fitted(channel))
    assert receiver.received == []


def test_slack_gets_text_and_blocks_with_feed_text_escaped(receiver: WebhookReceiver) -> None:
    channel = WebhookChannel("hook", f"{receiver.base_url}/slack", fmt="slack")
    send(channel, fitted(channel))
    [(_, _, body)] = receiver.received
    section = body["blocks"][0]["text"]["text"]
    assert section.startswith("*<https://www.repelita.net/c|Harga &lt;Cabai&gt; &amp; @everyone>*")
    assert (
        "<https://www.inilah.com|Inilah.com> via <https://www.repelita.net|Repelita Online>"
        in (body["blocks"][1]["elements"][0]["text"])
    )
    assert body["blocks"][0]["accessory"]["image_url"] == "https://img.example.org/a.jpg"


def test_discord_gets_content_and_an_embed_and_no_mentions(receiver: WebhookReceiver) -> None:
    channel = WebhookChannel("hook", f"{receiver.base_url}/discord", fmt="discord")
    [result] = send(channel, fitted(channel))
    [(_, _, body)] = receiver.received
    assert body["allowed_mentions"] == {"parse": []}
    assert len(body["content"]) <= 2000 and "🔗 <https://www.repelita.net/c>" in body["content"]
    assert body["embeds"][0]["url"] == "https://www.repelita.net/c"
    assert (result.external_id or "").isdigit()  # the message id Discord gave (wait=true)


@pytest.mark.parametrize("fmt", ["slack", "discord"])
def test_a_long_digest_is_split_within_each_services_limits(
    receiver: WebhookReceiver, fmt: str
) -> None:
    posts = tuple(
        replace(
            a_post(f"Berita {n} " + "panjang " * 40, "isi " * 300, f"https://x.org/{n}"),
            key=f"p{n}",
        )
        for n in range(45)
    )
    edition = EditionView(
        "e1", "pagi", "Kabar pagi", "Kabar Pilihan", "https://kabar.example.org", "id", "UTC",
        datetime(2026, 1, 5, tzinfo=UTC), posts,
    )  # fmt: skip
    messages = render_webhook_digest(edition, fmt=fmt)
    channel = WebhookChannel("hook", f"{receiver.base_url}/{fmt}", fmt=fmt)
    send(channel, *messages)
    assert len(receiver.received) == len(messages) > 1  # every part accepted
    text = json.dumps([body for _, _, body in receiver.received])
    linked = re.findall(r"https://x\.org/(\d+)(?=[|\"])", text)
    assert sorted(set(map(int, linked))) == list(range(45))  # every post, none lost


@pytest.mark.parametrize(
    ("path", "fault", "error"),
    [
        ("/json", "429", TransientError),
        ("/json", "503", TransientError),
        ("/json", "500", UnknownOutcome),
        ("/json", "drop_after", UnknownOutcome),
        ("/deleted", None, TargetGone),
    ],
)
def test_the_receivers_answers_map_onto_the_error_tree(
    receiver: WebhookReceiver, path: str, fault: str | None, error: type[Exception]
) -> None:
    if fault:
        receiver.fail_next(path, fault)
    channel = WebhookChannel("hook", f"{receiver.base_url}{path}", secret=TEST_SECRET)
    with pytest.raises(error) as raised:
        send(channel, fitted(channel))
    if error is TransientError:
        assert raised.value.retry_after == 4.0  # type: ignore[attr-defined]


def test_a_json_webhook_without_a_secret_is_a_settings_error(tmp_path: Path) -> None:
    settings = write_site(tmp_path, 'type = "webhook"\nurl = "https://hooks.example.org/x"')
    with pytest.raises(ConfigError, match=r"\[channels\.hook\] secret: this key is required"):
        build_channels(load_config(settings))


def write_site(folder: Path, channel: str, fmt: str = "each") -> Path:
    feed = write_sample_feed(folder / "feed.xml")
    (folder / "jobs").mkdir(exist_ok=True)
    (folder / "jobs" / "kilat.toml").write_text(
        f'every = "10m"\nchannels = ["hook"]\nformat = "{fmt}"\n[select]\nnew = 3\n',
        encoding="utf-8",
    )
    settings = folder / "syndicate.toml"
    settings.write_text(
        f'[[sources]]\nname = "warta"\nurl = "{feed.as_uri()}"\n\n[channels.hook]\n{channel}\n',
        encoding="utf-8",
    )
    return settings


@pytest.mark.parametrize("fmt", ["each", "digest"])
def test_a_site_delivers_its_job_to_a_signed_webhook(
    receiver: WebhookReceiver, tmp_path: Path, fmt: str
) -> None:
    channel = f'type = "webhook"\nurl = "{receiver.base_url}/json"\nsecret = "{TEST_SECRET}"'
    config = load_config(write_site(tmp_path, channel, fmt))
    channels = build_channels(config)
    db = open_database(config.database_url)
    try:
        asyncio.run(poll_sources(db, config.sources))
        outcome = run_job(db, config, channels, config.job("kilat"))
        counts = asyncio.run(deliver_due(db, config, channels))
    finally:
        db.dispose()
    assert counts["sent"] == outcome.queued == len(receiver.received) == (3 if fmt == "each" else 1)
    bodies = [body for _, _, body in receiver.received]
    if fmt == "digest":
        assert bodies[0]["type"] == "edition" and len(bodies[0]["edition"]["posts"]) == 3
    else:
        assert {body["type"] for body in bodies} == {"post"}
