"""The bundled sample feed: a fictional Indonesian Blogger news site, for the offline demo."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLE_FEED"]

# Atom as Blogger serves it at /feeds/posts/default, widgets and credit lines included.
SAMPLE_FEED: Path = Path(__file__).with_name("kabar-sample.xml")
