"""Entry identity: decorated links to the same article get the same key."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.ingest.identity import content_hash, entry_key, normalize_url, resolve_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("HTTPS://Example.COM:443/a/b?x=1#top", "https://example.com/a/b?x=1"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&id=7",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?fbclid=IwAR0&gclid=1&mc_cid=2&mc_eid=3", "https://example.com/a"),
        ("https://example.com/a?igshid=x&ref=twitter", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        (
            "https://kabar.blogspot.com/2026/11/x.html?m=1",
            "https://kabar.blogspot.com/2026/11/x.html",
        ),
        ("https://news.example/read/123/amp", "https://news.example/read/123"),
        ("https://news.example/read/123/amp/", "https://news.example/read/123"),
        ("https://news.example/read/123?amp=1", "https://news.example/read/123"),
        ("https://news.example/read/123?amp", "https://news.example/read/123"),
        ("https://news.example/read?page=2&m=5", "https://news.example/read?m=5&page=2"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_normalize_url_survives_garbage() -> None:
    assert normalize_url("http://[broken") == "http://[broken"


def test_entry_key_prefers_link_then_guid_then_hash() -> None:
    digest = content_hash("Judul", "Isi")
    assert entry_key("https://a.example/x?utm_source=y", "g-1", digest) == "https://a.example/x"
    assert entry_key(None, "g-1", digest) == "guid:g-1"
    assert entry_key("  ", None, digest) == f"hash:{digest}"
    assert len(digest) == 64


_LINK_PIECES = st.sampled_from(
    ["http://", "https://", "HTTP://", "//", "/", "a", "b.example", ":8080", "..", ".", "?",
     "#", "=", "&", ";", " ", "\t", "%20", "[::1]", "@", "ä", "mailto:", "x"]
)  # fmt: skip


@pytest.mark.parametrize(
    "link", ["http://a.example/b;", "http://a.example/b;?q", "http://http://;", "https://a/b;p=1"]
)
def test_resolve_url_keeps_urljoin_s_way_with_params(link: str) -> None:
    base = "https://kabar.example/dir/page.html"
    assert resolve_url(base, link) == urljoin(base, link)


@given(st.lists(_LINK_PIECES, max_size=8).map("".join))
@settings(max_examples=2000)
def test_resolve_url_gives_what_urljoin_gives(link: str) -> None:
    """Its shortcut for links that are absolute already changes no result."""
    for base in ("https://kabar.example/dir/page.html", "http://kabar.example:8080/"):
        try:
            expected = urljoin(base, link)
        except ValueError:
            expected = link
        assert resolve_url(base, link) == expected
