"""The built wheel: it carries everything it needs, installs, and works outside the checkout."""

from __future__ import annotations

import email
import html
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from syndicate.cli import main

REPO = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--no-input", "--disable-pip-version-check", "-q"]
OFFLINE = ["--no-index", "--no-deps"]  # nothing is downloaded, whatever pip's settings say

COMMANDS = [
    ("demo",),
    ("init",),
    ("run",),
    ("fetch",),
    ("preview",),
    ("send",),
    ("deliveries",),
    ("retry",),
    ("subscribers",),
    ("subscribers", "add"),
    ("subscribers", "import"),
    ("subscribers", "list"),
    ("subscribers", "remove"),
    ("check",),
    ("db", "upgrade"),
]


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    build = _run(
        [*PIP, "wheel", *OFFLINE, "--no-build-isolation", "-w", str(folder), str(REPO)],
        cwd=folder,
    )
    assert build.returncode == 0, build.stderr
    (built,) = folder.glob("syndicate-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own; returns that folder (for PYTHONPATH)."""
    site = tmp_path_factory.mktemp("installed") / "site"
    install = _run(
        [*PIP, "install", *OFFLINE, "--target", str(site), str(wheel)],
        cwd=wheel.parent,
    )
    assert install.returncode == 0, install.stderr
    return site


def test_wheel_carries_templates_jobs_example_settings_migrations_and_sample(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "syndicate/_bundled/templates/email/digest.html",
        "syndicate/_bundled/templates/email/digest.txt",
        "syndicate/_bundled/templates/social/telegram_post.html",
        "syndicate/_bundled/templates/social/telegram_digest.html",
        "syndicate/_bundled/jobs/pagi.toml",
        "syndicate/_bundled/config.example.toml",
        "syndicate/db/migrations/env.py",
        "syndicate/db/migrations/script.py.mako",
        "syndicate/sample/kabar-sample.xml",
    ):
        assert name in names, name
    in_repo = sorted(p.name for p in (REPO / "syndicate/db/migrations/versions").glob("*.py"))
    in_wheel = sorted(
        Path(n).name for n in names if n.startswith("syndicate/db/migrations/versions/")
    )
    assert in_repo and in_wheel == in_repo


def test_wheel_declares_the_syndicate_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [
            n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")
        ]
        text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "syndicate = syndicate.cli:run" in text


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_from_its_own_files(installed: Path, tmp_path: Path) -> None:
    where = _run(
        [sys.executable, "-c", "import syndicate; print(syndicate.__file__)"],
        cwd=tmp_path,
        PYTHONPATH=str(installed),
    )
    assert Path(where.stdout.strip()).is_relative_to(installed), where
    templates = _run(
        [sys.executable, "-c", "from syndicate.config import bundled_path as b; print(b('jobs'))"],
        cwd=tmp_path,
        PYTHONPATH=str(installed),
    )
    assert Path(templates.stdout.strip()) == installed / "syndicate" / "_bundled" / "jobs"

    demo = _run(
        [sys.executable, "-m", "syndicate", "demo"], cwd=tmp_path, PYTHONPATH=str(installed)
    )

    assert demo.returncode == 0, demo.stderr
    outbox = tmp_path / "syndicate-demo" / "outbox"
    emails = sorted((outbox / "newsletter").glob("*.eml"))
    assert emails
    for path in emails:
        message = email.message_from_bytes(path.read_bytes())
        assert message.get_content_type() == "multipart/alternative"
        parts = [part.get_content_type() for part in message.get_payload()]
        assert parts[0] == "text/plain" and "text/html" in parts
    posts = [json.loads(p.read_text()) for p in sorted((outbox / "telegram").glob("*.json"))]
    assert posts
    # What a reader sees: Telegram shows the HTML text without its tags.
    shown = [html.unescape(re.sub(r"<[^>]+>", "", post["text"])) for post in posts]
    assert all("via Warta Nusantara Online" in text for text in shown)


def test_help_answers_from_the_module_and_the_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "syndicate"
    for command in ([sys.executable, "-m", "syndicate"], [str(script)]):
        result = _run([*command, "--help"], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for name in ("demo", "init", "run", "preview", "send", "subscribers", "check", "db"):
            assert name in result.stdout, (command, name)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: syndicate {' '.join(command)}")
