"""The Mastodon channel: fitting to an instance's budget, pictures, Idempotency-Key, errors."""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.channels.base import PermanentError, SocialPost, TargetGone, TransientError
from syndicate.channels.mastodon import MastodonChannel
from syndicate.channels.registry import build_channels
from syndicate.cli import main
from syndicate.config import ConfigError, load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from syndicate.render.mastodon import mastodon_length, render_mastodon_post
from syndicate.render.templates import template_environment
from syndicate.types import Credit, PostView
from tests import mastodonapi
from tests.mastodonapi import TEST_ACCESS_TOKEN, MastodonServer

ENV = template_environment()
JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 50

# Text from every corner of Unicode a newsroom meets.
WORDS = st.sampled_from(
    [
        "harga", "cabai", "🌶️", "👩🏽‍🚒", "🇮🇩", "東京", "新闻报道", "سلام", "עברית",
        "e\u0301\u0302", "ﷺ", "naïve", "Ḁ̈", "\u200d", "🏳️‍🌈", "ไทย", "한국어",
        "https://www.kompas.com/read/2026/11/18/" + "panjang-" * 12,
        "http://a.co", "(https://inilah.com/x).", "x" * 40,
    ]
)  # fmt: skip
TEXT = st.lists(WORDS, max_size=120).map(" ".join)
URLS = st.sampled_from(
    [
        "https://www.repelita.net/2026/11/harga.html",
        "https://berita.example.org/" + "a-very-long-slug-" * 15 + ".html?utm=1",
        "https://www.wartanusantara.example/2026/11/lokal.html",
        "https://東京.jp/記事/1",
    ]
)


def a_post(title: str, excerpt: str, url: str, **changes: object) -> PostView:
    post = PostView(
        key="p1",
        title=title,
        url=url,
        excerpt=excerpt,
        publisher=Credit("Repelita Online", "https://www.repelita.net"),
        origin=Credit("Inilah.com", "https://www.inilah.com"),
        image_url="https://img.example.org/a.jpg",
    )
    return replace(post, **changes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.lists(WORDS, min_size=1, max_size=6).map(" ".join),
    excerpt=TEXT,
    url=URLS,
    limit=st.sampled_from([200, 500, 1000]),
)
def test_a_fitted_status_keeps_its_frame_and_fits_the_budget(
    title: str, excerpt: str, url: str, limit: int
) -> None:
    post = a_post(title, excerpt, url)
    fitted = render_mastodon_post(post, env=ENV, locale="id", limit=limit)
    text = fitted.text
    # Our count (code points, links 23) and Mastodon's (graphemes, links 23) both fit.
    assert mastodon_length(text) <= limit
    assert mastodonapi.mastodon_length(text) <= limit
    frame = render_mastodon_post(replace(post, excerpt=""), env=ENV, locale="id", limit=10**6)
    if mastodon_length(frame.text) <= limit:
        assert " ".join(title.split()) in text  # the frame, whole
    else:  # the last resort: the title shortened, nothing else
        assert text.split("\n")[0].endswith("…")
    assert "Inilah.com via Repelita Online" in text
    assert text.endswith(url)
    assert json.loads(fitted.fallback_text or "{}")["alt"] == " ".join(title.split())


@given(excerpt=TEXT)
@settings(max_examples=60, deadline=None)
def test_only_the_excerpt_shortens_and_it_ends_on_a_whole_grapheme(excerpt: str) -> None:
    post = a_post("Judul", excerpt, "https://www.repelita.net/a.html")
    text = render_mastodon_post(post, env=ENV, locale="id", limit=200).text
    body = text.split("\n\n")[1] if text.count("\n\n") == 2 else ""
    if body:
        assert body == excerpt.strip() or (body.endswith("…") and len(body) <= len(excerpt) + 1)
        start = body.removesuffix("…")
        assert excerpt.strip().startswith(start)  # a prefix, cut between graphemes
        following = excerpt.strip()[len(start) : len(start) + 1]
        assert not following or not ("\u0300" <= following <= "\u036f" or following == "\u200d")


def test_a_link_counts_23_whatever_its_length() -> None:
    long = "https://www.repelita.net/" + "x" * 300
    assert mastodon_length(f"a {long} b") == 2 + 23 + 2
    assert mastodon_length("see https://www.repelita.net/a.") == 4 + 23 + 1  # the dot is text
    # A host Mastodon does not take for a link counts at its length.
    assert mastodon_length("http://localhost:8080/x") == len("http://localhost:8080/x")


def test_an_absurd_title_is_shortened_but_credit_and_link_stay() -> None:
    post = a_post("Judul " * 200, "isi", "https://www.repelita.net/a.html")
    text = render_mastodon_post(post, env=ENV, locale="id", limit=500).text
    assert mastodon_length(text) <= 500
    assert "Inilah.com via Repelita Online" in text and text.endswith("/a.html")


@pytest.fixture
def instance() -> Iterator[MastodonServer]:
    with MastodonServer(max_characters=300) as server:
        yield server


def channel_for(server: MastodonServer, token: str = TEST_ACCESS_TOKEN) -> MastodonChannel:
    return MastodonChannel("toot", server.base_url, token, visibility="unlisted", timeout=2)


async def fit_and_send(channel: MastodonChannel, post: PostView) -> tuple[SocialPost, object]:
    fitted = channel.fit_post(post, env=ENV, locale="id", timezone="Asia/Jakarta")
    message = replace(fitted, target=channel.targets()[0])
    try:
        return message, await channel.send(message)
    finally:
        await channel.close()


def test_the_budget_is_the_instances_and_the_status_goes_out_with_its_described_picture(
    instance: MastodonServer,
) -> None:
    picture = instance.picture_url("cabai.jpg", JPEG)
    post = a_post("Harga Cabai Turun", "kata " * 200, "https://www.repelita.net/c.html")
    post = replace(post, image_url=picture)
    message, result = asyncio.run(fit_and_send(channel_for(instance), post))
    assert mastodon_length(message.text) <= 300 < mastodon_length(message.text) + 30
    [status] = instance.statuses
    assert status["content"] == message.text and status["visibility"] == "unlisted"
    assert status["language"] == "id"
    assert status["media_attachments"][0]["description"] == "Harga Cabai Turun"
    [upload] = instance.media.values()
    assert upload["data"] == JPEG
    assert result.external_id == status["id"]  # type: ignore[attr-defined]


def test_a_picture_still_processing_is_waited_for() -> None:
    with MastodonServer(processing_polls=2) as server:
        post = replace(a_post("A", "b", "https://x.org/"), image_url=server.picture_url("p", JPEG))
        channel = channel_for(server)
        channel.media_poll_interval = 0.01
        asyncio.run(fit_and_send(channel, post))
        assert len(server.statuses[0]["media_attachments"]) == 1
        assert sum(r.path.startswith("/api/v1/media/") for r in server.requests) == 3


def test_an_unreachable_picture_is_left_out_and_said_so(instance: MastodonServer) -> None:
    post = replace(a_post("A", "b", "https://x.org/"), image_url=f"{instance.base_url}/pictures/no")
    _, result = asyncio.run(fit_and_send(channel_for(instance), post))
    assert instance.statuses[0]["media_attachments"] == []
    assert "without the picture" in result.detail  # type: ignore[attr-defined]


def test_a_retried_status_with_the_same_idempotency_key_is_posted_once(
    instance: MastodonServer,
) -> None:
    channel = channel_for(instance)
    post = a_post("Sekali Saja", "isi", "https://www.repelita.net/s.html", image_url=None)
    instance.fail_next("/api/v1/statuses", "drop_after")  # taken, but the answer is lost
    with pytest.raises(TransientError) as first:
        asyncio.run(fit_and_send(channel, post))
    assert first.value.retry_after is not None
    assert len(instance.statuses) == 1
    _, result = asyncio.run(fit_and_send(channel, post))
    assert len(instance.statuses) == 1  # the retry found the status made the first time
    assert result.external_id == instance.statuses[0]["id"]  # type: ignore[attr-defined]
    keys = {r.headers["idempotency-key"] for r in instance.requests if r.path.endswith("statuses")}
    assert len(keys) == 1


def test_a_status_over_the_limit_is_refused_permanently_with_mastodons_words(
    instance: MastodonServer,
) -> None:
    channel = channel_for(instance)

    async def send() -> None:
        try:
            await channel.send(SocialPost(target="x", text="kata " * 100, parse_mode="plain"))
        finally:
            await channel.close()

    with pytest.raises(PermanentError, match="character limit of 300 exceeded"):
        asyncio.run(send())
    assert instance.statuses == []


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        ("429", TransientError, 7.0),
        ("503", TransientError, 7.0),
        ("drop_before", TransientError, 30.0),
    ],
)
def test_throttling_and_lost_connections_are_retried_later(
    instance: MastodonServer, fault: str, error: type[Exception], retry_after: float
) -> None:
    instance.fail_next("/api/v1/statuses", fault)
    post = a_post("A", "b", "https://x.org/", image_url=None)
    with pytest.raises(error) as raised:
        asyncio.run(fit_and_send(channel_for(instance), post))
    assert raised.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert instance.statuses == []


def test_a_refused_token_fails_at_open(instance: MastodonServer) -> None:
    channel = channel_for(instance, token="wrong")
    with pytest.raises(PermanentError, match="refused the access token") as raised:
        asyncio.run(channel.open())
    assert not isinstance(raised.value, TargetGone)


def test_settings_are_checked_in_one_sentence(tmp_path: Path) -> None:
    settings_file = write_site(tmp_path, "https://mastodon.social", extra='visibility = "loud"')
    with pytest.raises(ConfigError, match=r'\[channels\.toot\] visibility: "loud" is not one of'):
        build_channels(load_config(settings_file))


FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Warta Lokal</title><link>https://www.repelita.net/</link>
<description>x</description>
<item><title>Jembatan Gantung Rampung 🌉</title>
<link>https://www.repelita.net/2026/11/jembatan.html</link>
<guid>j1</guid><pubDate>Tue, 17 Nov 2026 12:05:00 +0000</pubDate>
<enclosure url="{picture}" type="image/jpeg" length="100"/>
<description>{long}</description></item>
<item><title>Pasar Induk Ramai Jelang Akhir Pekan</title>
<link>https://www.repelita.net/2026/11/pasar.html</link>
<guid>j2</guid><pubDate>Tue, 17 Nov 2026 13:05:00 +0000</pubDate>
<description>Pedagang menyambut ramainya pembeli. Sumber: Kompas.com</description></item>
</channel></rss>
"""


def write_site(folder: Path, instance_url: str, *, extra: str = "", fmt: str = "each") -> Path:
    (folder / "jobs").mkdir(exist_ok=True)
    (folder / "jobs" / "kilat.toml").write_text(
        f'every = "10m"\nchannels = ["toot"]\nformat = "{fmt}"\n[select]\nnew = 5\n'
        'window = "100000d"\n',
        encoding="utf-8",
    )
    settings_file = folder / "syndicate.toml"
    settings_file.write_text(
        textwrap.dedent(
            f"""\
            [site]
            name = "Kabar Pilihan"
            locale = "id"

            [[sources]]
            name = "lokal"
            url = "{(folder / "feed.xml").as_uri()}"

            [channels.toot]
            type = "mastodon"
            instance_url = "{instance_url}"
            access_token = "{TEST_ACCESS_TOKEN}"
            timeout = 2
            """
        )
        + extra
        + "\n",
        encoding="utf-8",
    )
    return settings_file


@pytest.mark.parametrize("fmt", ["each", "digest"])
def test_a_site_delivers_its_job_to_mastodon(
    instance: MastodonServer, tmp_path: Path, fmt: str
) -> None:
    picture = instance.picture_url("jembatan.jpg", JPEG)
    long = "Warga kini tidak perlu memutar sejauh sembilan kilometer. " * 30
    (tmp_path / "feed.xml").write_text(FEED.format(picture=picture, long=long), encoding="utf-8")
    config = load_config(write_site(tmp_path, instance.base_url, fmt=fmt))
    channels = build_channels(config)
    db = open_database(config.database_url)
    try:
        asyncio.run(poll_sources(db, config.sources))
        outcome = run_job(db, config, channels, config.job("kilat"))
        counts = asyncio.run(deliver_due(db, config, channels))
    finally:
        db.dispose()
    assert counts["sent"] == outcome.queued == len(instance.statuses) >= 1
    texts = [status["content"] for status in instance.statuses]
    assert all(mastodonapi.mastodon_length(text) <= 300 for text in texts)
    joined = "\n".join(texts)
    assert "https://www.repelita.net/2026/11/jembatan.html" in joined
    assert "https://www.repelita.net/2026/11/pasar.html" in joined
    if fmt == "each":
        assert len(instance.statuses) == 2
        assert any(s["media_attachments"] for s in instance.statuses)


def test_check_stays_offline_and_a_failed_ask_for_the_limit_is_not_repeated(
    tmp_path: Path,
) -> None:
    with socket.socket() as instance_that_never_answers:
        instance_that_never_answers.bind(("127.0.0.1", 0))
        instance_that_never_answers.listen(8)
        url = f"http://127.0.0.1:{instance_that_never_answers.getsockname()[1]}"
        settings = write_site(tmp_path, url, fmt="digest")
        (tmp_path / "jobs" / "pagi.toml").write_text(
            'every = "1h"\nchannels = ["toot"]\nformat = "each"\n', encoding="utf-8"
        )
        assert main(["--config", str(settings), "check"]) == 0
        asked_by_check = _knocks(instance_that_never_answers)
        channel = build_channels(load_config(settings))["toot"]
        post = a_post("Harga cabai naik", "Pedagang mengeluh.", "https://www.repelita.net/a")
        for _ in range(3):
            channel.fit_post(post, env=ENV, locale="id", timezone="Asia/Jakarta")
        asked_by_fitting = _knocks(instance_that_never_answers)
    assert asked_by_check == 0
    assert asked_by_fitting == 1, "a failed ask is remembered, not made again at each fit"


def _knocks(listener: socket.socket) -> int:
    """How many connections wait on `listener`, taken (and closed) now."""
    listener.setblocking(False)
    count = 0
    try:
        while True:
            connection, _ = listener.accept()
            connection.close()
            count += 1
    except BlockingIOError:
        return count
    finally:
        listener.setblocking(True)
