"""Rendering: posts and editions turned into emails and social posts.

Renderers know nothing of the database: they take the plain views of `syndicate.types`
(named here too, for code that imported them from this package).
"""

from __future__ import annotations

from syndicate.types import Credit, EditionView, PostView

__all__ = ["Credit", "EditionView", "PostView"]
