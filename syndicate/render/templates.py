"""The Jinja2 environment: the site's templates first, then the shipped ones."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from syndicate.config import bundled_path

__all__ = ["template_environment"]


@lru_cache(maxsize=8)
def template_environment(templates_dir: Path | None = None) -> Environment:
    """An environment that looks in `templates_dir`, then in the shipped templates.

    A site can override one template (say `email/digest.html`) by putting a file of the
    same name in its own folder; everything else comes from the shipped set.
    """
    folders = [bundled_path("templates")]
    if templates_dir is not None and templates_dir.resolve() != folders[0].resolve():
        folders.insert(0, templates_dir)
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in folders]),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
