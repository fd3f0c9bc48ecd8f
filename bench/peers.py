"""The programs the benchmarks run: syndicate's own command, and the peers' in their virtualenv.

The peers (rss2email 3.14, reader 3.26) and the plotting library (matplotlib) live in a
virtualenv of their own, made from PyPI on first use, so syndicate's environment is left
as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = [
    "DEFAULT_VENV",
    "PEER_PACKAGES",
    "ensure_venv",
    "has_reader",
    "r2e_command",
    "reader_command",
    "syndicate_command",
]

# feedparser imports `sgmllib`, which some indexes resolve to a package without it.
PEER_PACKAGES = ("rss2email==3.14", "reader==3.26", "sgmllib3k", "matplotlib")
DEFAULT_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "syndicate-bench" / "venv"
)


def syndicate_command() -> list[str]:
    """`syndicate` as installed beside this Python (the console script users run)."""
    script = Path(sys.executable).parent / "syndicate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "syndicate"]


def r2e_command(venv: Path) -> list[str]:
    return [str(venv / "bin" / "r2e")]


def reader_command(venv: Path) -> list[str]:
    """One poll by reader (`bench/reader_peer.py`, run by the venv's Python)."""
    return [str(venv_python(venv)), str(Path(__file__).with_name("reader_peer.py"))]


def has_reader(venv: Path) -> bool:
    return _imports(venv, "reader")


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path | None = None) -> Path:
    """The bench virtualenv, made and filled with the peers if it is not there yet."""
    venv = (venv or DEFAULT_VENV).expanduser()
    if not (venv / "bin" / "r2e").exists() or not _imports(venv, "matplotlib", "reader", "sgmllib"):
        print(f"making the bench virtualenv {venv} ({', '.join(PEER_PACKAGES)})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv_python(venv)), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True
        )
    return venv


def _imports(venv: Path, *modules: str) -> bool:
    python = venv_python(venv)
    if not python.exists():
        return False
    found = subprocess.run([str(python), "-c", f"import {', '.join(modules)}"], capture_output=True)
    return found.returncode == 0
