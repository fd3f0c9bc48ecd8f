"""Where the shared corpus of real feeds lives: ../shared/corpus beside the checkout.

CI clones the project into a fresh folder with a copy of shared/ beside it; a developer's
checkout has it at the same place. SYNDICATE_CORPUS overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CORPUS"]

_REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    candidates = [_REPO.parent / "shared" / "corpus", Path("/work/shared/corpus")]
    if os.environ.get("SYNDICATE_CORPUS"):
        candidates.insert(0, Path(os.environ["SYNDICATE_CORPUS"]))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise RuntimeError(
        "The shared corpus of feeds is missing: expected ../shared/corpus beside the "
        "checkout (or set SYNDICATE_CORPUS)."
    )


CORPUS = _find()
