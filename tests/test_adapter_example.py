"""The example adapter under examples/: installed with pip, found by its entry point, delivering."""

from __future__ import annotations

import ast
import asyncio
import importlib
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import syndicate
from syndicate.channels import base
from syndicate.channels.registry import build_channels, channel_types
from syndicate.config import load_config
from syndicate.db.session import open_database
from syndicate.delivery import deliver_due
from syndicate.ingest.poll import poll_sources
from syndicate.jobs import run_job
from tests.test_webhook import write_site
from tests.webhookreceiver import WebhookReceiver

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "syndicate-example-adapter"


def test_the_example_adapter_imports_only_the_public_surface() -> None:
    source = (EXAMPLE / "syndicate_mattermost" / "__init__.py").read_text(encoding="utf-8")
    imports = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("syndicate")
    ]
    assert imports
    for node in imports:
        assert node.module is not None
        assert f"`{node.module}`" in (syndicate.__doc__ or ""), node.module
        public = importlib.import_module(node.module).__all__
        assert {alias.name for alias in node.names} <= set(public), node.module


def test_every_type_a_channel_receives_or_returns_is_named_in_channels_base() -> None:
    def named(hint: object) -> Iterator[type]:
        if isinstance(hint, type):
            yield hint
        for argument in typing.get_args(hint):
            yield from named(argument)

    for view in (base.PostView, base.EditionView, base.SocialPost, base.SendResult):
        for hint in typing.get_type_hints(view).values():
            for kind in named(hint):
                if kind.__module__ == "syndicate.types":
                    assert kind.__name__ in base.__all__, f"{view.__name__}: {kind.__name__}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The example package installed by pip into a folder put on sys.path."""
    target = tmp_path_factory.mktemp("site-packages")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE)],
        check=True,
        cwd=build,
    )  # fmt: skip
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("syndicate_mattermost", None)


def test_the_example_adapter_installs_and_delivers_through_a_site(
    installed: None, tmp_path: Path
) -> None:
    assert "mattermost" in channel_types()
    with WebhookReceiver() as mattermost:
        channel = f'type = "mattermost"\nurl = "{mattermost.base_url}/hooks/abc123"'
        config = load_config(write_site(tmp_path, channel))
        channels = build_channels(config)
        assert type(channels["hook"]).__module__ == "syndicate_mattermost"
        db = open_database(config.database_url)
        try:
            asyncio.run(poll_sources(db, config.sources))
            outcome = run_job(db, config, channels, config.job("kilat"))
            counts = asyncio.run(deliver_due(db, config, channels))
        finally:
            db.dispose()
        texts = [body["text"] for _, _, body in mattermost.received]
    assert counts["sent"] == outcome.queued == len(texts) == 3
    assert all(text.startswith("**[") and "📰 " in text for text in texts)
    assert all(len(text) <= 4000 for text in texts)


def test_the_example_adapter_refuses_an_unknown_key(installed: None, tmp_path: Path) -> None:
    from syndicate.config import ConfigError

    channel = 'type = "mattermost"\nurl = "https://chat.example.org/hooks/x"\nicon = "x"'
    with pytest.raises(ConfigError, match=r"\[channels\.hook\] icon: unknown key"):
        build_channels(load_config(write_site(tmp_path, channel)))
