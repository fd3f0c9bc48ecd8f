"""Channel types: the built-in ones, and adapters installed under `syndicate.channels`."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicate.channels.registry import build_channels, channel_types
from syndicate.cli import main
from syndicate.config import ConfigError, load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import NoRenderer, run_job

ADAPTER = '''
from __future__ import annotations

import json
from pathlib import Path

from syndicate.channels.base import SendResult
from syndicate.channels.plain import PlainTextFallback


class PigeonChannel(PlainTextFallback):
    """Writes each post to a loft file: a stand-in for a network an adapter adds."""

    type = "pigeon"
    medium = "pigeon"

    def __init__(self, name, loft, chats):
        super().__init__(name)
        self.loft, self.chats = loft, chats

    @classmethod
    def from_config(cls, name, table):
        channel = cls(name, table.path("loft"), tuple(table.str_list("chat_id")))
        table.done()
        return channel

    def targets(self):
        return self.chats

    async def send(self, message):
        with Path(self.loft).open("a", encoding="utf-8") as loft:
            loft.write(json.dumps({"target": message.target, "text": message.text}) + "\\n")
        return SendResult(external_id="coo")
'''


# The same adapter without a renderer: it neither fits posts itself nor opts into the
# plain-text fallback, so no job can send it anything.
ADAPTER_WITHOUT_RENDERER = ADAPTER.replace(
    "from syndicate.channels.plain import PlainTextFallback",
    "from syndicate.channels.base import Channel",
).replace("(PlainTextFallback)", "(Channel)")


@pytest.fixture
def installed_adapter(tmp_path: Path) -> Iterator[None]:
    """A package with a `syndicate.channels` entry point, installed on sys.path."""
    yield from _install(tmp_path, ADAPTER)


@pytest.fixture
def adapter_without_renderer(tmp_path: Path) -> Iterator[None]:
    yield from _install(tmp_path, ADAPTER_WITHOUT_RENDERER)


def _install(tmp_path: Path, source: str) -> Iterator[None]:
    site = tmp_path / "site-packages"
    (site / "syndicate_pigeon").mkdir(parents=True)
    (site / "syndicate_pigeon" / "__init__.py").write_text(source, encoding="utf-8")
    info = site / "syndicate_pigeon-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: syndicate-pigeon\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[syndicate.channels]\npigeon = syndicate_pigeon:PigeonChannel\n", encoding="utf-8"
    )
    sys.path.insert(0, str(site))
    try:
        yield
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("syndicate_pigeon", None)


def write_site(folder: Path, channel: str) -> Path:
    feed = write_sample_feed(folder / "feed.xml")
    (folder / "jobs").mkdir(exist_ok=True)
    (folder / "jobs" / "kilat.toml").write_text(
        'every = "10m"\nchannels = ["birds"]\nformat = "each"\n[select]\nnew = 2\n',
        encoding="utf-8",
    )
    settings = folder / "syndicate.toml"
    settings.write_text(
        textwrap.dedent(
            f"""\
            [[sources]]
            name = "warta"
            url = "{feed.as_uri()}"

            [channels.birds]
            {channel}
            """
        ),
        encoding="utf-8",
    )
    return settings


def test_built_in_types_are_known() -> None:
    assert channel_types()[:3] == ["email", "telegram", "outbox"]


def test_an_installed_adapter_is_found_and_delivers(
    installed_adapter: None, tmp_path: Path
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    config = load_config(settings)
    channels = build_channels(config)
    assert "pigeon" in channel_types()
    db = open_database(config.database_url)
    asyncio.run(poll_sources(db, config.sources))
    outcome = run_job(db, config, channels, config.job("kilat"))
    counts = asyncio.run(deliver_due(db, config, channels))
    db.dispose()
    lines = (tmp_path / "loft.jsonl").read_text(encoding="utf-8").splitlines()
    assert outcome.queued == 2 and counts["sent"] == 2 and len(lines) == 2
    assert all('"target": "@kabar"' in line and "Warta Nusantara Online" in line for line in lines)


def test_check_refuses_a_job_whose_channel_cannot_render_it(
    adapter_without_renderer: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    assert main(["--config", str(settings), "check"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        'syndicate: Job "kilat" sends each post on its own to channel "birds", whose type '
        '"pigeon" cannot render them: set format = "digest" in kilat.toml or send this job '
        "to another channel."
    )


def test_a_job_never_renders_with_another_networks_renderer(
    adapter_without_renderer: None, tmp_path: Path
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    config = load_config(settings)
    channels = build_channels(config)
    db = open_database(config.database_url)
    try:
        asyncio.run(poll_sources(db, config.sources))
        with pytest.raises(NoRenderer, match='type "pigeon" cannot render them'):
            run_job(db, config, channels, config.job("kilat"))
    finally:
        db.dispose()
    assert not (tmp_path / "loft.jsonl").exists()


def test_an_adapter_checks_its_own_keys(installed_adapter: None, tmp_path: Path) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@k"\nwings = 2')
    with pytest.raises(ConfigError, match=r"\[channels\.birds\] wings: unknown key"):
        build_channels(load_config(settings))


def test_an_unknown_type_lists_the_known_ones(tmp_path: Path) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"')
    with pytest.raises(ConfigError) as error:
        build_channels(load_config(settings))
    message = str(error.value)
    assert '[channels.birds] type: "pigeon" is not a channel type' in message
    assert '"email"' in message and '"telegram"' in message
