"""Where the shared corpus of real feeds lives: ../shared/corpus beside the checkout.

CI clones the project into a fresh folder with a copy of shared/ beside it; a developer's
checkout has it at the same place. SYNDICATE_CORPUS, when set, names it instead.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CORPUS"]

_REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    given = os.environ.get("SYNDICATE_CORPUS")
    corpus = Path(given) if given else _REPO.parent / "shared" / "corpus"
    if not corpus.is_dir():
        where = "SYNDICATE_CORPUS" if given else "../shared/corpus beside the checkout"
        raise RuntimeError(
            f"The shared corpus of feeds is missing: {corpus} ({where}) is not a folder; "
            "put shared/ beside the checkout or set SYNDICATE_CORPUS."
        )
    return corpus


CORPUS = _find()
