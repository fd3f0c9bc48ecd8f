"""Full text: fetch an article's page and extract its main text and metadata.

A feed that carries only a summary (or a source with `full_text = "always"`) gets its
article from the page itself. Pages are fetched politely — each URL once (cached), at most
`PER_HOST` requests to one site at a time, each within a deadline and a size cap, and only
from public addresses unless the source's `Reach` allows the host — and read with trafilatura
(comments off). What trafilatura keeps then goes through the same cleaning as feed HTML
(widgets, "Baca Juga:" lines, copyright footers, mojibake, lazy images), and the closing
credit line is lifted out. A page that cannot be fetched or read leaves the entry as the
feed gave it; why it could not be fetched is one sentence the poll records on the source.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import ClassVar
from urllib.parse import urljoin

import httpx
import lxml.etree
import lxml.html

from syndicate.ingest.addresses import Reach
from syndicate.ingest.attribution import choose_origin
from syndicate.ingest.clean import (
    best_source,
    break_runs,
    clean_article,
    html_to_text,
    usable_image,
)
from syndicate.ingest.dates import clamp, parse_date
from syndicate.ingest.entries import FeedEntry, wants_page
from syndicate.ingest.fetch import FetchError, download, http_error
from syndicate.ingest.identity import normalize_url, strip_tracking
from syndicate.ingest.mojibake import repair_mojibake
from syndicate.printable import shortened
from syndicate.types import Credit

__all__ = [
    "MAX_PAGE_BYTES",
    "MAX_PAGE_TAGS",
    "PAGE_DEADLINE",
    "PER_HOST",
    "Article",
    "ArticleFetcher",
    "Completed",
    "complete_entries",
    "extract_article",
]

logger = logging.getLogger(__name__)

PER_HOST = 2  # requests to one site at a time
PAGE_DEADLINE = 20.0  # seconds for a whole page, redirects included: [ingest] page_timeout
MAX_PAGE_BYTES = 5 * 1024 * 1024  # on the wire and unpacked
MAX_PAGE_TAGS = 50_000  # the pages of the shared corpus have at most about 3,300
_CACHE_SIZE = 1024
_CACHE_SECONDS = 6 * 3600
_LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-orig-file")


@dataclass(frozen=True)
class Article:
    """What an article page says, cleaned."""

    url: str  # the page's address after redirects
    title: str | None
    content_html: str  # sanitized, widgets and credit line removed
    excerpt: str  # plain text of content_html
    published_at: datetime | None  # aware UTC, never in the future
    image_url: str | None
    site_name: str | None  # og:site_name
    canonical_url: str | None
    credit: Credit | None  # the credit line lifted from the text


def extract_article(
    page: bytes | str, url: str, *, zone: tzinfo | None = None, now: datetime | None = None
) -> Article | None:
    """Read an article page; None when it holds no article text."""
    import trafilatura  # slow to import: only when a page is really read

    text = page if isinstance(page, str) else _decode(page)
    text = repair_mojibake(text)
    # trafilatura's own reading of the page: lxml.html's loses paragraphs it would keep.
    tree = trafilatura.load_html(text)
    if tree is None:
        return None
    meta = _metadata(tree)
    _promote_lazy_images(tree)
    picture = _page_image(tree, url)
    break_runs(tree)
    body = _main_text(tree, url)
    if not body:
        return None
    title = _title(meta)
    article = clean_article(_body_of(body, title), url, title=title)
    content, excerpt, credit = article.html, article.text, article.credit
    if not excerpt:
        return None
    published = parse_date(meta.get("published"), zone)
    return Article(
        url=url,
        title=title,
        content_html=content,
        excerpt=excerpt,
        published_at=clamp(published, now or datetime.now(UTC)),
        image_url=_image(meta.get("image"), url) or picture,
        site_name=meta.get("site_name"),
        canonical_url=_absolute(meta.get("canonical"), url),
        credit=credit,
    )


# trafilatura's precise reading, unless its other readings show it lost the article: the
# precise one now and then keeps a notice and drops the story (below half of what the
# ordinary reading finds), or loses the words before a link (keeping links, it finds
# clearly less than without them). Measured on the article-extraction benchmark.
_LOST_ARTICLE = 0.5
_LOST_WORDS = 0.95


def _main_text(tree: lxml.html.HtmlElement, url: str) -> str | None:
    """The article's HTML as trafilatura finds it, its links kept where that costs no text."""
    precise = _trafilatura(tree, url, favor_precision=True, include_links=True)
    length = len(html_to_text(precise or ""))
    ordinary = _trafilatura(tree, url, favor_precision=False, include_links=True)
    if len(html_to_text(ordinary or "")) * _LOST_ARTICLE > length and not (
        precise and _flattened(ordinary or "")
    ):
        return ordinary
    if "<a " not in (precise or ""):
        return precise
    plain = _trafilatura(tree, url, favor_precision=True, include_links=False)
    if len(html_to_text(plain or "")) * _LOST_WORDS > length:
        return plain
    return precise


def _flattened(html: str) -> bool:
    """Whether trafilatura fell back to the whole page's text in one paragraph, its lines
    (menus, search box, byline, article) kept apart only by line breaks: what it does when
    the article it found is short. Then its precise reading of the short article is it."""
    paragraphs = re.findall(r"<(?:p|h[1-6]|li|blockquote|pre|table)\b", html)
    if len(paragraphs) > 1:
        return False
    inner = re.sub(r"<[^>]*>", "", html).strip()
    return inner.count("\n") >= 3


def _trafilatura(
    tree: lxml.html.HtmlElement, url: str, *, favor_precision: bool, include_links: bool
) -> str | None:
    import trafilatura

    # Pictures are chosen apart (og:image, else the page's first real one): asked to keep
    # them, trafilatura keeps their captions and galleries too, which are not the article.
    return trafilatura.extract(
        tree,  # trafilatura reads a copy: the tree serves the next reading unchanged
        url=url,
        output_format="html",
        include_comments=False,
        include_images=False,
        include_tables=True,
        favor_precision=favor_precision,
        include_links=include_links,
    )


def _decode(page: bytes) -> str:
    head = page[:4096].decode("ascii", "replace").lower()
    declared = re.search(r"charset=[\"']?([\w-]+)", head)
    for encoding in (declared.group(1) if declared else None, "utf-8", "cp1252"):
        if not encoding:
            continue
        try:
            return page.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return page.decode("utf-8", "replace")


def _metadata(tree: lxml.html.HtmlElement) -> dict[str, str]:
    found: dict[str, str] = {}

    def first(*paths: str) -> str | None:
        for path in paths:
            for value in tree.xpath(path):
                value = " ".join(str(value).split())
                if value:
                    return value
        return None

    pairs = {
        "title": ("//meta[@property='og:title']/@content",),
        "page_title": ("//title/text()",),
        "site_name": ("//meta[@property='og:site_name']/@content",),
        "canonical": ("//link[@rel='canonical']/@href",),
        "image": ("//meta[@property='og:image']/@content",),
        "published": (
            "//meta[@property='article:published_time']/@content",
            "//meta[@itemprop='datePublished']/@content",
            "//*[@itemprop='datePublished']/@datetime",
            "//time[@datetime]/@datetime",
            "//abbr[contains(@class, 'published')]/@title",
        ),
    }
    for name, paths in pairs.items():
        value = first(*paths)
        if value:
            found[name] = value
    if "published" not in found:
        found.update(_json_ld_date(tree))
    return found


def _json_ld_date(tree: lxml.html.HtmlElement) -> dict[str, str]:
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and isinstance(item.get("datePublished"), str):
                return {"published": item["datePublished"]}
    return {}


def _promote_lazy_images(tree: lxml.html.HtmlElement) -> None:
    """Lazy-loading themes put the picture in data-src and a placeholder in src."""
    for img in tree.iter("img"):
        src = (img.get("src") or "").strip()
        real = src and not src.startswith("data:") and "placeholder" not in src
        if real and "lazy" not in src and usable_image(src, img.get("width"), img.get("height")):
            continue
        for attr in _LAZY_ATTRS:
            if lazy := (img.get(attr) or "").strip():
                img.set("src", lazy)
                break
        else:
            # Given by srcset only, or a 1-pixel stand-in inside a <picture>: the real one.
            offered = best_source(img)
            if offered:
                img.set("src", offered)
                for size in ("width", "height", "style"):
                    img.attrib.pop(size, None)


def _page_image(tree: lxml.etree._Element, base: str) -> str | None:
    """The first real picture inside the page's article (else its main part), full size."""
    for scope in ("//article", "//main", "//*[@itemprop='articleBody']", "//body"):
        for holder in tree.xpath(scope)[:1]:
            for img in holder.iter("img"):
                src = (img.get("src") or "").strip()
                if usable_image(src, img.get("width"), img.get("height")):
                    return strip_tracking(urljoin(base, src))
    return None


def _title(meta: dict[str, str]) -> str | None:
    """og:title, else the page's <title> without the " | Site Name" it ends with."""
    if meta.get("title"):
        return meta["title"]
    title = meta.get("page_title")
    site = meta.get("site_name")
    if title and site:
        title = re.sub(rf"\s+[|\-–—:]\s+{re.escape(site)}$", "", title, flags=re.IGNORECASE)
    return title


def _body_of(html: str, title: str | None) -> str:
    """The inside of trafilatura's output, without a leading repeat of the title or date.

    Themes put the headline and the date line inside the article container; the post shows
    both already.
    """
    root = lxml.html.document_fromstring(html)
    body = root.find("body")
    node = body if body is not None else root
    children = list(node)
    while children and _is_heading_or_date(children[0], title):
        children.pop(0)
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in children)


def _is_heading_or_date(element: lxml.html.HtmlElement, title: str | None) -> bool:
    text = " ".join(element.text_content().split())
    if not text or element.find(".//img") is not None:
        return False
    if parse_date(text) is not None:
        return True
    return title is not None and _letters(text) == _letters(title)


def _letters(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _image(link: str | None, base: str) -> str | None:
    return strip_tracking(urljoin(base, link)) if link and usable_image(link) else None


def _absolute(link: str | None, base: str) -> str | None:
    return strip_tracking(urljoin(base, link)) if link else None


class ArticleFetcher:
    """Fetches article pages politely: cached by URL, `PER_HOST` at a time, each within
    `deadline` seconds and `MAX_PAGE_BYTES`.

    The cache outlives one poll (it is the class's), so two sources linking the same
    article, or the same entry seen again, cost one request. A page is kept apart by
    whether its host could be reached on a private address, so a page one source may read
    (its own intranet's) is never handed to another source that may not.
    """

    _cache: ClassVar[OrderedDict[tuple[str, bool], tuple[float, Article | None]]] = OrderedDict()

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        per_host: int = PER_HOST,
        deadline: float = PAGE_DEADLINE,
    ) -> None:
        self.client = client
        self.per_host = per_host
        self.deadline = deadline
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def article(
        self, url: str, *, zone: tzinfo | None = None, reach: Reach | None = None
    ) -> Article | None:
        """The page's article (None when it holds none, or is not HTML); a page that cannot
        be fetched is a `FetchError`. Only public addresses are reached, and the hosts
        `reach` allows."""
        reach = reach or Reach()
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as error:  # too long, a port out of range, an odd address
            raise FetchError(url, f"this is not a usable URL ({error}).") from None
        key = (normalize_url(url), reach.allows(host))
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        limit = self._hosts.setdefault(host, asyncio.Semaphore(self.per_host))
        async with limit:
            page = await self._download(url, reach)
        article = None
        if page is not None:
            body, final_url = page
            if body.count(b"<") > MAX_PAGE_TAGS:
                # Reading costs grow faster than the page: a 5 MB page of nothing but
                # tags took minutes and a gigabyte. Real articles have a few thousand.
                raise FetchError(
                    url, f"the page has more than {MAX_PAGE_TAGS:,} HTML tags; none is read."
                )
            article = await asyncio.to_thread(extract_article, body, final_url, zone=zone)
        self._remember(key, article)
        return article

    async def _download(self, url: str, reach: Reach) -> tuple[bytes, str] | None:
        headers = {"Accept": "text/html,*/*;q=0.5"}
        answer = await download(self.client, url, headers, self.deadline, reach, MAX_PAGE_BYTES)
        response = answer.response
        if response.status_code >= 400:
            raise http_error(url, response)
        kind = response.headers.get("Content-Type", "text/html")
        if response.status_code != 200 or "html" not in kind:
            logger.info("article page %s: %s, %s", url, response.status_code, kind)
            return None
        return answer.body, str(response.url)

    def _remember(self, key: tuple[str, bool], article: Article | None) -> None:
        self._cache[key] = (time.monotonic(), article)
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)


@dataclass(frozen=True)
class Completed:
    """Entries completed from their pages, and one sentence per page that was not fetched."""

    entries: list[FeedEntry]
    problems: list[str]


async def complete_entries(
    entries: Sequence[FeedEntry],
    fetcher: ArticleFetcher,
    *,
    full_text: str = "auto",
    zone: tzinfo | None = None,
    reach: Reach | None = None,
) -> Completed:
    """The entries, those that need it completed from their article page.

    `full_text` is the source's setting: "auto" reads the page of summary-only entries,
    "always" of every entry, "never" of none. `reach` says which hosts may be on private
    addresses (the source's own, and [ingest] private_hosts).
    """
    if full_text == "never":
        return Completed(list(entries), [])
    problems: list[str] = []

    async def one(entry: FeedEntry) -> FeedEntry:
        if not wants_page(entry, full_text) or entry.url is None:  # (None: for the type checker)
            return entry
        try:
            article = await fetcher.article(entry.url, zone=zone, reach=reach)
        except FetchError as error:
            shown = shortened(entry.url, 200)
            problems.append(f"the article page {shown} was not fetched: {error.reason}")
            logger.info("%s", problems[-1])
            return entry
        except Exception:  # a page that breaks the extractor keeps the feed's text
            logger.exception("article page %s could not be read", shortened(entry.url, 200))
            return entry
        return with_article(entry, article) if article is not None else entry

    completed = list(await asyncio.gather(*(one(entry) for entry in entries)))
    return Completed(completed, problems)


_TEASER_MARK = re.compile(r"\s*(?:\[\s*(?:…|\.\.\.)\s*\]|\((?:…|\.\.\.)\)|…|\.\.\.)\W{0,3}$")


def with_article(entry: FeedEntry, article: Article) -> FeedEntry:
    """The entry with the page's text, picture, date and attribution where the feed lacked them."""
    # A teaser's "[…]" is no text: a short page that says all of it is the article.
    teaser = _TEASER_MARK.sub("", entry.excerpt)
    longer = len(article.excerpt) > len(entry.excerpt) or (
        len(teaser) < len(entry.excerpt) and len(article.excerpt) >= len(teaser)
    )
    origin = choose_origin(
        feed=entry.origin,
        credit_line=article.credit,
        canonical_url=article.canonical_url,
        page_url=article.url,
    )
    return replace(
        entry,
        content_html=article.content_html if longer else entry.content_html,
        excerpt=article.excerpt if longer else entry.excerpt,
        summary_only=entry.summary_only and not longer,
        # The page's own picture is full size; a feed's is often a thumbnail.
        image_url=article.image_url or entry.image_url,
        published_at=entry.published_at or article.published_at,
        origin=origin,
    )
