"""Rendering: posts and editions turned into emails and social posts.

Renderers know nothing of the database: they take the plain views below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Credit", "EditionView", "PostView"]


@dataclass(frozen=True)
class Credit:
    """Who published something: a name to show and a link to their site or article."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class PostView:
    """One post as every renderer sees it."""

    key: str  # stable identity, e.g. "p42"
    title: str
    url: str
    excerpt: str  # plain text, already cleaned of widgets and the credit line
    publisher: Credit  # the site we read it from
    origin: Credit | None = None  # the outlet that wrote it, when the publisher copied it
    image_url: str | None = None
    published_at: datetime | None = None  # aware
    also: tuple[Credit, ...] = ()  # the other sites that carried the same story

    @property
    def credit_line(self) -> str:
        """ "Inilah.com via Repelita Online", or just "Repelita Online"."""
        if self.origin and self.origin.name.casefold() != self.publisher.name.casefold():
            return f"{self.origin.name} via {self.publisher.name}"
        return self.publisher.name


@dataclass(frozen=True)
class EditionView:
    """One job run's selection, as a digest shows it."""

    key: str  # stable identity, e.g. "e7"
    job: str
    subject: str
    site_name: str
    site_url: str
    locale: str
    timezone: str
    created_at: datetime  # aware
    posts: tuple[PostView, ...] = field(default_factory=tuple)
    archive_url: str | None = None  # the edition's web copy, when the site serves one
