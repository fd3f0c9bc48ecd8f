"""Channel types: the built-in ones, and adapters installed under `syndicate.channels`."""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.channels.base import Channel
from syndicate.channels.registry import (
    AdapterFailed,
    build_channels,
    channel_class,
    channel_types,
)
from syndicate.cli import main
from syndicate.config import Config, ConfigError, load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.demo import write_sample_feed
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import NoRenderer, preview_job, render_parts, run_job
from syndicate.types import Credit, EditionView, PostView

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


# The adapter with a 300-character budget, as a network with short messages has.
ADAPTER_300 = ADAPTER.replace(
    '    medium = "pigeon"\n', '    medium = "pigeon"\n    text_limit = 300\n'
)

# The adapter with bugs of its own: it raises where it should answer.
ADAPTER_RAISING = (
    ADAPTER
    + """

class BuggyPigeon(PigeonChannel):
    @classmethod
    def from_config(cls, name, table):
        if table.text("bug", "") == "settings":
            raise RuntimeError("boom\\nsecond line")
        return super().from_config(name, table)

    def fit_post(self, post, *, env, locale, timezone):
        raise KeyError("missing")


PigeonChannel = BuggyPigeon
"""
)

# An adapter that renders single posts only.
ADAPTER_POSTS_ONLY = (
    ADAPTER_WITHOUT_RENDERER
    + """

    def fit_post(self, post, *, env, locale, timezone):
        from syndicate.channels.base import SocialPost

        return SocialPost(target="", text=post.title)
"""
)


@pytest.fixture
def installed_adapter(tmp_path: Path) -> Iterator[None]:
    """A package with a `syndicate.channels` entry point, installed on sys.path."""
    yield from _install(tmp_path, ADAPTER)


@pytest.fixture
def adapter_without_renderer(tmp_path: Path) -> Iterator[None]:
    yield from _install(tmp_path, ADAPTER_WITHOUT_RENDERER)


def _install(tmp_path: Path, source: str) -> Iterator[None]:
    """Install `source` as the pigeon adapter while in use."""
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


installed = contextmanager(_install)


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
        '"pigeon" renders no messages at all: its adapter needs its own fit_post and '
        "fit_digest, or to derive from PlainTextFallback (syndicate.channels.plain); until "
        "then, send this job to another channel."
    )


def test_a_job_never_renders_with_another_networks_renderer(
    adapter_without_renderer: None, tmp_path: Path
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    config = load_config(settings)
    channels = _built_unchecked(config)
    db = open_database(config.database_url)
    try:
        asyncio.run(poll_sources(db, config.sources))
        with pytest.raises(NoRenderer, match='type "pigeon" renders no messages'):
            run_job(db, config, channels, config.job("kilat"))
        # A preview stands an outbox in for the channel: the sentence names the channel's type.
        with pytest.raises(NoRenderer, match='channel "birds", whose type "pigeon"'):
            preview_job(db, config, channels, config.job("kilat"), tmp_path / "preview")
    finally:
        db.dispose()
    assert not (tmp_path / "loft.jsonl").exists()


def _built_unchecked(config: Config) -> dict[str, Channel]:
    """The channels as an adapter makes them, without build_channels's refusal."""
    return {
        name: channel_class(table).from_config(name, table.table)
        for name, table in config.channels.items()
    }


def test_run_refuses_a_job_its_channel_cannot_render_as_check_does(
    adapter_without_renderer: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    assert main(["--config", str(settings), "check"]) == 2
    refused = capsys.readouterr().err.strip()
    for command in (["run", "--once"], ["preview", "kilat"]):
        assert main(["--config", str(settings), *command]) == 2
        assert capsys.readouterr().err.strip() == refused
    assert not (tmp_path / "loft.jsonl").exists()


def test_a_digest_job_to_a_channel_of_single_posts_is_told_to_send_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with installed(tmp_path, ADAPTER_POSTS_ONLY):
        settings = write_site(tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@kabar"')
        job = tmp_path / "jobs" / "kilat.toml"
        job.write_text(job.read_text().replace('"each"', '"digest"'), encoding="utf-8")
        assert main(["--config", str(settings), "check"]) == 2
    assert capsys.readouterr().err.strip() == (
        'syndicate: Job "kilat" sends digests to channel "birds", whose type "pigeon" cannot '
        'render them: set format = "each" in kilat.toml or send this job to another channel.'
    )


def test_a_post_whose_link_outgrows_a_channel_is_left_out_there_and_the_rest_go(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with installed(tmp_path, ADAPTER_300):
        settings = write_site(tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@kabar"')
        config = load_config(settings)
        channel = build_channels(config)["birds"]
        job = config.job("kilat")
        long = _post("p9", "Banjir di Kota", "https://example.org/" + "a" * 405)
        view = _edition((long, _post("p10", "Harga beras turun", "https://example.org/b")))
        each = render_parts(config, channel, job, view)
        digest = render_parts(config, channel, replace(job, format="digest"), view)
    assert [part.item for part in each] == ["post:10"]
    assert len(digest) == 1 and "Harga beras turun" in digest[0].body["text"]
    assert "Banjir" not in digest[0].body["text"]
    left_out = [r.getMessage() for r in caplog.records if "leaves post 9" in r.getMessage()]
    assert (
        left_out
        == [
            'job "kilat" leaves post 9 ("Banjir di Kota") out on channel "birds": its credit '
            "and link alone are longer than a message there may be (300).",
        ]
        * 2
    )


def _post(key: str, title: str, url: str) -> PostView:
    return PostView(
        key=key,
        title=title,
        url=url,
        excerpt="Sebuah kabar.",
        publisher=Credit("Warta", "https://example.org/"),
    )


def _edition(posts: tuple[PostView, ...]) -> EditionView:
    return EditionView(
        key="e3",
        job="kilat",
        subject="Kilat",
        site_name="Kabar",
        site_url="https://kabar.example/",
        locale="id",
        timezone="Asia/Jakarta",
        created_at=datetime(2024, 3, 12, tzinfo=UTC),
        posts=posts,
    )


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


def test_run_once_goes_on_with_the_other_jobs_when_an_adapter_fails_in_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    with settings.open("a", encoding="utf-8") as extra:
        extra.write('\n[channels.box]\ntype = "outbox"\npath = "box"\nmedium = "telegram"\n')
    (tmp_path / "jobs" / "pagi.toml").write_text(
        'every = "1h"\nchannels = ["box"]\nformat = "each"\n[select]\nnew = 2\n',
        encoding="utf-8",
    )
    with installed(tmp_path, ADAPTER_RAISING):
        code = main(["--config", str(settings), "run", "--once"])
    errors = capsys.readouterr().err.splitlines()
    assert code == 1
    failed = re.compile(
        r'syndicate: channel "birds" \(adapter "pigeon"\) failed rendering post \d+ of job '
        r'"kilat": \'missing\' \(KeyError\)\.'
    )
    assert len([line for line in errors if failed.fullmatch(line)]) == 1
    assert len(list((tmp_path / "box").glob("*.json"))) == 2, "job pagi still ran and sent"


# The adapter raising where syndicate asks it something: in renders(), and with one of
# syndicate's own errors, over two lines, in from_config and fit_post.
ADAPTER_ASKED_WRONGLY = (
    ADAPTER
    + """

class AskedWrongly(PigeonChannel):
    @classmethod
    def from_config(cls, name, table):
        from syndicate.channels.base import PermanentError

        if table.text("bug", "") == "settings":
            raise PermanentError("refused\\nline two")
        return super().from_config(name, table)

    def renders(self, format):
        if Path(self.loft).name == "renders":
            raise ValueError("no idea")
        return True

    def fit_post(self, post, *, env, locale, timezone):
        from syndicate.channels.base import PermanentError

        raise PermanentError("refused\\nline two")

    def fit_digest(self, edition, *, env, locale, timezone):
        raise KeyError("missing")


PigeonChannel = AskedWrongly
"""
)


def test_an_adapter_whose_renders_raises_is_told_in_one_line_by_check_and_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with installed(tmp_path, ADAPTER_ASKED_WRONGLY):
        settings = write_site(tmp_path, 'type = "pigeon"\nloft = "renders"\nchat_id = "@k"')
        errors = []
        for command in (["check"], ["preview", "kilat"]):
            code = main(["--config", str(settings), *command])
            errors.append((code, capsys.readouterr().err))
    failed = (
        'syndicate: channel "birds" (adapter "pigeon") failed answering whether it renders '
        'format "each": no idea (ValueError).\n'
    )
    assert errors == [(2, failed), (2, failed)]


def test_reading_commands_run_while_a_channel_cannot_render_its_job_and_worker_refuses(
    adapter_without_renderer: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = write_site(tmp_path, 'type = "pigeon"\nloft = "loft.jsonl"\nchat_id = "@kabar"')
    for command in (["deliveries"], ["bounces"], ["subscribers", "list"], ["editions"]):
        assert main(["--config", str(settings), *command]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["--config", str(settings), "worker"]) == 2
    assert 'whose type "pigeon" renders no messages at all' in capsys.readouterr().err


@pytest.mark.parametrize(
    ("adapter", "error"),
    [
        pytest.param(
            ADAPTER_RAISING,
            ("boom second line (RuntimeError)", "'missing' (KeyError)"),
            id="python",
        ),
        pytest.param(
            ADAPTER_ASKED_WRONGLY,
            ("refused line two (PermanentError)", "refused line two (PermanentError)"),
            id="syndicate",
        ),
    ],
)
def test_an_adapter_that_raises_is_told_in_one_line_naming_channel_and_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], adapter: str, error: tuple[str, str]
) -> None:
    """Python's own errors and syndicate's alike, raised in `from_config` or in `fit_post`,
    multi-line or not: one line naming the channel and the adapter."""
    in_settings, in_fit = error
    with installed(tmp_path, adapter):
        settings = write_site(
            tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@kabar"\nbug = "settings"'
        )
        assert main(["--config", str(settings), "check"]) == 2
        from_config = capsys.readouterr().err
        config = load_config(write_site(tmp_path, 'type = "pigeon"\nloft = "l"\nchat_id = "@k"'))
        channel = build_channels(config)["birds"]
        view = _edition((_post("p9", "Banjir", "https://example.org/a"),))
        with pytest.raises(AdapterFailed) as fit_post:
            render_parts(config, channel, config.job("kilat"), view)
    assert from_config == (
        'syndicate: channel "birds" (adapter "pigeon") failed reading its settings: '
        f"{in_settings}.\n"
    )
    assert str(fit_post.value) == (
        f'channel "birds" (adapter "pigeon") failed rendering post 9 of job "kilat": {in_fit}.'
    )
