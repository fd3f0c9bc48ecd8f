"""The Bluesky channel: 300 graphemes, link facets at exact byte offsets, card, session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.channels.base import PermanentError, SocialPost, TransientError, UnknownOutcome
from syndicate.channels.bluesky import BlueskyChannel
from syndicate.channels.registry import build_channels
from syndicate.config import load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from syndicate.render.bluesky import (
    LINK_FACET,
    graphemes,
    link_text,
    render_bluesky_digest,
    render_bluesky_post,
)
from syndicate.render.templates import template_environment
from syndicate.types import EditionView
from tests import atprotoapi
from tests.atprotoapi import TEST_APP_PASSWORD, TEST_HANDLE, AtprotoServer
from tests.test_mastodon import FEED, JPEG, TEXT, URLS, WORDS, a_post

ENV = template_environment()


def check_facets(text: str, facets: list[dict]) -> list[tuple[str, str]]:
    """(the bytes each facet covers, decoded; its uri), after the PDS's own checks."""
    data = text.encode()
    covered = []
    for facet in facets:
        assert atprotoapi._facet_problem(facet, data) is None
        index = facet["index"]
        [feature] = facet["features"]
        assert feature["$type"] == LINK_FACET
        covered.append((data[index["byteStart"] : index["byteEnd"]].decode(), feature["uri"]))
    return covered


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.lists(WORDS, min_size=1, max_size=6).map(" ".join), excerpt=TEXT, url=URLS)
def test_a_fitted_post_fits_and_its_facets_point_exactly_at_its_links(
    title: str, excerpt: str, url: str
) -> None:
    post = a_post(title, excerpt, url)
    fitted = render_bluesky_post(post, env=ENV, locale="id")
    text = fitted.text
    assert graphemes(text) <= 300 and len(text.encode()) <= 3000
    extras = json.loads(fitted.fallback_text or "{}")
    covered = check_facets(text, extras["facets"])
    # The post's own link: shown short, the facet carrying the full address, at the end.
    assert (link_text(url), url) in covered
    assert text.endswith(link_text(url))
    # Any full address left in the text is a link, covering exactly that address.
    for shown, uri in covered:
        assert shown == uri or (shown, uri) == (link_text(url), url)
    assert "Inilah.com via Repelita Online" in text
    frame = render_bluesky_post(replace(post, excerpt=""), env=ENV, locale="id").text
    if frame.split("\n")[0] == " ".join(title.split()):
        assert text.split("\n")[0] == " ".join(title.split())  # the title, whole
    assert extras["card"] == {
        "uri": url,
        "title": " ".join(title.split()),
        "description": extras["card"]["description"],
    }


@settings(max_examples=40, deadline=None)
@given(
    titles=st.lists(st.lists(WORDS, min_size=1, max_size=5).map(" ".join), min_size=1, max_size=9)
)
def test_a_digest_is_split_between_items_and_links_each_one(titles: list[str]) -> None:
    posts = tuple(
        replace(a_post(title, "", f"https://www.repelita.net/{n}.html"), key=f"p{n}")
        for n, title in enumerate(titles)
    )
    edition = EditionView(
        "e1", "pagi", "Kabar pagi ☀️", "Kabar Pilihan", "https://kabar.example.org", "id",
        "Asia/Jakarta", datetime(2026, 1, 5, tzinfo=UTC), posts,
    )  # fmt: skip
    messages = render_bluesky_digest(edition, env=ENV)
    uris = []
    for message in messages:
        assert graphemes(message.text) <= 300
        covered = check_facets(message.text, json.loads(message.fallback_text or "{}")["facets"])
        uris += [uri for _, uri in covered]
    assert [u for u in uris if "repelita" in u] == [p.url for p in posts]  # each once, in order
    assert uris[-1] == "https://kabar.example.org"  # the footer links the site


def test_the_facet_offsets_count_bytes_not_characters() -> None:
    post = a_post("🇮🇩 東京 naïve", "", "https://www.repelita.net/a.html")
    fitted = render_bluesky_post(post, env=ENV, locale="id")
    [facet] = json.loads(fitted.fallback_text or "{}")["facets"]
    start = facet["index"]["byteStart"]
    assert start == len(fitted.text.encode()) - len(b"repelita.net/a.html")
    assert start > len(fitted.text) - len("repelita.net/a.html")  # multi-byte text before it


@pytest.fixture
def pds() -> Iterator[AtprotoServer]:
    with AtprotoServer() as server:
        yield server


def channel_for(server: AtprotoServer, password: str = TEST_APP_PASSWORD) -> BlueskyChannel:
    return BlueskyChannel("langit", TEST_HANDLE, password, pds_url=server.base_url, timeout=2)


async def fit_and_send(channel: BlueskyChannel, *posts: object, close: bool = True) -> list:
    results = []
    try:
        for post in posts:
            if not isinstance(post, SocialPost):
                fitted = channel.fit_post(post, env=ENV, locale="id", timezone="UTC")  # type: ignore[arg-type]
                post = replace(fitted, target=TEST_HANDLE)
            results.append(await channel.send(post))
    finally:
        if close:
            await channel.close()
    return results


def test_a_post_goes_out_with_its_facets_and_a_card_with_a_thumbnail(pds: AtprotoServer) -> None:
    picture = pds.picture_url("cabai.jpg", JPEG)
    post = replace(
        a_post("Harga Cabai 🌶️ Turun", "kata " * 100, "https://www.repelita.net/c"),
        image_url=picture,
    )
    [result] = asyncio.run(fit_and_send(channel_for(pds), post))
    [record] = pds.posts
    assert result.external_id == record["uri"]
    assert graphemes(record["text"]) <= 300 and record["langs"] == ["id"]
    assert ("repelita.net/c", "https://www.repelita.net/c") in check_facets(
        record["text"], record["facets"]
    )
    external = record["embed"]["external"]
    assert external["uri"] == "https://www.repelita.net/c"
    assert external["title"] == "Harga Cabai 🌶️ Turun"
    assert external["description"].startswith("kata kata")
    assert pds.blobs[external["thumb"]["ref"]["$link"]]["data"] == JPEG


def test_a_picture_too_large_for_a_thumbnail_leaves_the_card_without_one(
    pds: AtprotoServer,
) -> None:
    picture = pds.picture_url("big.jpg", b"\xff" * 1_000_001)
    post = replace(a_post("A", "b", "https://www.repelita.net/c"), image_url=picture)
    [result] = asyncio.run(fit_and_send(channel_for(pds), post))
    assert "thumb" not in pds.posts[0]["embed"]["external"]
    assert "card without a picture" in result.detail


def test_an_expired_session_is_refreshed_and_the_post_made_once(pds: AtprotoServer) -> None:
    channel = channel_for(pds)
    first = a_post("Satu", "", "https://www.repelita.net/1", image_url=None)
    second = a_post("Dua", "", "https://www.repelita.net/2", image_url=None)

    async def both() -> None:
        await fit_and_send(channel, first, close=False)
        pds.expire_access()
        await fit_and_send(channel, second)

    asyncio.run(both())
    assert [p["text"].split("\n")[0] for p in pds.posts] == ["Satu", "Dua"]
    assert pds.refreshes == 1 and pds.sessions_created == 1


def test_when_the_refresh_token_is_gone_too_the_channel_logs_in_again(pds: AtprotoServer) -> None:
    channel = channel_for(pds)
    post = a_post("Satu", "", "https://www.repelita.net/1", image_url=None)

    async def run() -> None:
        await channel.open()
        pds.expire_access()
        pds._refresh.clear()  # the refresh token expired as well
        await fit_and_send(channel, post)

    asyncio.run(run())
    assert len(pds.posts) == 1 and pds.sessions_created == 2


def test_a_wrong_app_password_fails_at_open(pds: AtprotoServer) -> None:
    with pytest.raises(PermanentError, match="refused the handle or app password"):
        asyncio.run(channel_for(pds, password="nope").open())


def test_the_pds_refuses_a_post_too_long_or_with_a_bad_facet(pds: AtprotoServer) -> None:
    too_long = SocialPost(target=TEST_HANDLE, text="é" * 301, parse_mode="plain")
    facet = {
        "index": {"byteStart": 1, "byteEnd": 3},
        "features": [{"$type": LINK_FACET, "uri": "https://x.org"}],
    }
    bad_facet = SocialPost(
        target=TEST_HANDLE,
        text="éé",
        parse_mode="plain",
        fallback_text=json.dumps({"facets": [facet]}),
    )
    with pytest.raises(PermanentError, match="longer than 300 graphemes"):
        asyncio.run(fit_and_send(channel_for(pds), too_long))
    with pytest.raises(PermanentError, match="inside a UTF-8 character"):
        asyncio.run(fit_and_send(channel_for(pds), bad_facet))
    assert pds.posts == []


def test_a_lost_answer_is_an_unknown_outcome_and_throttling_a_wait(pds: AtprotoServer) -> None:
    post = a_post("A", "", "https://www.repelita.net/1", image_url=None)
    pds.fail_next("com.atproto.repo.createRecord", "drop_after")
    with pytest.raises(UnknownOutcome):
        asyncio.run(fit_and_send(channel_for(pds), post))
    assert len(pds.posts) == 1  # it was made: sending again would have made a copy
    pds.fail_next("com.atproto.repo.createRecord", "429")
    with pytest.raises(TransientError) as raised:
        asyncio.run(fit_and_send(channel_for(pds), post))
    assert raised.value.retry_after == 9.0 and len(pds.posts) == 1


@pytest.mark.parametrize("fmt", ["each", "digest"])
def test_a_site_delivers_its_job_to_bluesky(pds: AtprotoServer, tmp_path: Path, fmt: str) -> None:
    picture = pds.picture_url("jembatan.jpg", JPEG)
    long = "Warga kini tidak perlu memutar sejauh sembilan kilometer. " * 30
    (tmp_path / "feed.xml").write_text(FEED.format(picture=picture, long=long), encoding="utf-8")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "kilat.toml").write_text(
        f'every = "10m"\nchannels = ["langit"]\nformat = "{fmt}"\n[select]\nnew = 5\n'
        'window = "100000d"\n',
        encoding="utf-8",
    )
    (tmp_path / "syndicate.toml").write_text(
        f'[site]\nname = "Kabar Pilihan"\nlocale = "id"\n\n[[sources]]\nname = "lokal"\n'
        f'url = "{(tmp_path / "feed.xml").as_uri()}"\n\n[channels.langit]\ntype = "bluesky"\n'
        f'handle = "@{TEST_HANDLE}"\napp_password = "{TEST_APP_PASSWORD}"\n'
        f'pds_url = "{pds.base_url}"\ntimeout = 2\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "syndicate.toml")
    channels = build_channels(config)
    db = open_database(config.database_url)
    try:
        asyncio.run(poll_sources(db, config.sources))
        outcome = run_job(db, config, channels, config.job("kilat"))
        counts = asyncio.run(deliver_due(db, config, channels))
    finally:
        db.dispose()
    assert counts["sent"] == outcome.queued == len(pds.posts) >= 1
    uris = {f["features"][0]["uri"] for p in pds.posts for f in p.get("facets", [])}
    assert {
        "https://www.repelita.net/2026/11/jembatan.html",
        "https://www.repelita.net/2026/11/pasar.html",
    } <= uris
    if fmt == "each":
        assert any("thumb" in p["embed"]["external"] for p in pds.posts)
