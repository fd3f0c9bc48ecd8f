"""`syndicate preview` shows each network's own post, not Telegram's, for every channel."""

from __future__ import annotations

import json
from pathlib import Path

from syndicate.channels.registry import build_channels
from syndicate.config import load_config
from syndicate.db.session import open_database
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import preview_job

SETTINGS = """\
[[sources]]
name = "warta"
url = "{feed}"

[channels.toot]
type = "mastodon"
instance_url = "http://127.0.0.1:9"
access_token = "token-for-a-preview"
visibility = "public"
"""


def test_a_mastodon_preview_is_fitted_the_mastodon_way(tmp_path: Path) -> None:
    import asyncio

    feed = write_sample_feed(tmp_path / "feed.xml")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "kilat.toml").write_text(
        'every = "10m"\nchannels = ["toot"]\nformat = "each"\n[select]\nnew = 2\n',
        encoding="utf-8",
    )
    settings = tmp_path / "syndicate.toml"
    settings.write_text(SETTINGS.format(feed=feed.as_uri()), encoding="utf-8")
    config = load_config(settings)
    channels = build_channels(config)
    db = open_database(config.database_url)
    asyncio.run(poll_sources(db, config.sources))
    paths = preview_job(db, config, channels, config.job("kilat"), tmp_path / "preview")
    db.dispose()
    posts = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    assert len(posts) == 2
    for post in posts:
        assert "<b>" not in post["text"] and "<a " not in post["text"]
        assert post["parse_mode"] != "HTML"
        assert len(post["text"]) <= 500
        assert "Warta Nusantara Online" in post["text"]
