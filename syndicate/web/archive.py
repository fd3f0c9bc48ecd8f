"""The public archive (editions per job, each edition's page, an Atom feed) and tracked clicks.

An edition's page is the email as it was sent, filled in for an anonymous reader: no
name, no address, and the unsubscribe link pointing at the subscribe page. A Telegram-only
edition shows its posts. A click link (`/r/<token>`) is signed for one post and one job,
is recorded, and redirects only to that post's own address: never an open redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

import nh3
from sqlalchemy import func, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from syndicate.db.insert import insert_new
from syndicate.db.models import Click, Edition, EditionPost, EditionState, Post, Rendering, utcnow
from syndicate.db.session import Database
from syndicate.jobs import archive_copy
from syndicate.render.email import TOKENS
from syndicate.render.locale import N_
from syndicate.tokens import TokenError
from syndicate.web.gate import client_identity
from syndicate.web.pages import Pages, pages_of, row_id
from syndicate.web.security import EMAIL_FRAME_POLICY

__all__ = ["ROUTES", "TelegramBubble", "fill_for_reader", "record_click", "telegram_bubble"]

ARCHIVE_PAGE = 50
# User agents of link scanners, preview fetchers and crawlers (mail security gateways open
# every link of a message before the reader does).
_SCANNERS = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scan|preview|fetch|proofpoint|mimecast|barracuda|"
    r"safelinks|urldefense|forcepoint|symantec|trendmicro|sophos|fortiguard|"
    r"facebookexternalhit|whatsapp|telegrambot|slackbot|discordbot|skypeuripreview|"
    r"curl/|wget/",
    re.IGNORECASE,
)
_VIEW_BLOCK = re.compile(f"{TOKENS['view_begin']}.*?{TOKENS['view_end']}", re.DOTALL)
# What Telegram's HTML parse mode knows; anything else is dropped before showing a post.
_TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_TELEGRAM_TAGS |= {"blockquote", "span", "tg-spoiler"}


@dataclass(frozen=True)
class TelegramBubble:
    """A social post as Telegram shows it: photo, text, and the link preview's site."""

    html: str
    photo: str | None
    link: str | None
    link_host: str | None


def telegram_bubble(body: dict[str, Any]) -> TelegramBubble:
    text = str(body.get("text") or "")
    if body.get("parse_mode", "HTML") == "HTML":
        html = nh3.clean(text, tags=_TELEGRAM_TAGS, attributes={"a": {"href"}}, link_rel=None)
    else:
        html = nh3.clean_text(text)
    photo = _http(body.get("photo"))
    link = _http(body.get("link"))
    host = urlsplit(link).hostname if link and body.get("link_preview", True) else None
    return TelegramBubble(html, photo, link, host)


def fill_for_reader(body: dict[str, Any], subscribe_url: str) -> str:
    """An edition's stored email HTML with the per-subscriber parts filled anonymously."""
    html = _VIEW_BLOCK.sub("", str(body.get("html", "")))
    fills = {
        TOKENS["unsubscribe_url"]: subscribe_url,
        TOKENS["greeting"]: str(body.get("greeting_anonymous", "")),
        TOKENS["recipient"]: "…",
        TOKENS["view_url"]: "",
    }
    for token, value in fills.items():
        html = html.replace(token, escape(value))
    return html


def record_click(
    db: Database, post_id: int, job: str, client: str | None = None, now: datetime | None = None
) -> str | None:
    """Return the post's own address (None for an unknown post), and record the click.

    `client` is a hash naming who clicked: a click counts once per client, post and UTC
    day; None records nothing (a scanner, a prefetch, a HEAD request).
    """
    now = now or utcnow()
    with db.session() as session:
        post = session.get(Post, post_id)
        url = _http(post.url) if post is not None else None
        if url is None:
            return None
        if client is not None:
            row = {"post_id": post_id, "job": job, "at": now, "client": client, "day": now.date()}
            insert_new(session, Click, [row], ("post_id", "client", "day"))
        return url


def clicker(request: Request, secret: bytes) -> str | None:
    """Who clicks, as a keyed hash of the client address; None when this is no reader.

    Link scanners of mail services, prefetching browsers and HEAD requests open links
    nobody chose to follow: they must not make a post trend.
    """
    if request.method != "GET":
        return None
    purpose = " ".join(
        request.headers.get(name, "") for name in ("purpose", "sec-purpose", "x-purpose", "x-moz")
    )
    agent = request.headers.get("user-agent", "")
    if "prefetch" in purpose.lower() or "preview" in purpose.lower():
        return None
    if not agent.strip() or _SCANNERS.search(agent):
        return None
    address = client_identity(request.client.host) if request.client else "unknown"
    return hmac.new(secret, f"click:{address}".encode(), hashlib.sha256).hexdigest()[:32]


async def click(request: Request) -> Response:
    pages = pages_of(request)
    try:
        post_id, job = pages.links.read_click(request.path_params["token"])
    except TokenError:
        raise HTTPException(404, N_("This link is not valid.")) from None
    who = clicker(request, pages.secret)
    url = await pages.call(record_click, pages.db, post_id, job, who)
    if url is None:
        raise HTTPException(404, N_("This post is no longer here."))
    return RedirectResponse(url, status_code=302, headers={"cache-control": "no-store"})


async def archive_index(request: Request) -> Response:
    pages = pages_of(request)
    return pages.page(request, "archive_index.html", jobs=sorted(pages.config.jobs))


async def job_archive(request: Request) -> Response:
    pages = pages_of(request)
    job = _job(pages, request)
    editions = await pages.call(_editions, pages.db, job, ARCHIVE_PAGE)
    return pages.page(request, "archive.html", job=job, editions=editions)


async def job_feed(request: Request) -> Response:
    pages = pages_of(request)
    job = _job(pages, request)
    editions = await pages.call(_editions, pages.db, job, ARCHIVE_PAGE, with_posts=True)
    body = pages.env.get_template("web/feed.xml").render(
        site_name=pages.config.site.name,
        base_url=pages.base_url,
        job=job,
        editions=editions,
        contents={edition.id: _feed_content(edition) for edition in editions},
        updated=editions[0].created_at if editions else None,
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


async def edition_page(request: Request) -> Response:
    pages = pages_of(request)
    job = _job(pages, request)
    edition_id = row_id(request.path_params["edition"], Edition.__table__.c.id)
    if edition_id is None:
        raise HTTPException(404)
    found = await pages.call(_edition_parts, pages.db, job, edition_id)
    if found is None:
        raise HTTPException(404)
    edition, renderings = found
    media = {name: channel.medium for name, channel in pages.channels.items()}
    emails = [r for r in renderings if media.get(r.channel) == "email"]
    part = _part_number(request, len(emails))
    if emails:
        body = emails[part].body
        job_config = pages.config.jobs[job]
        if job_config.format == "digest" and _cut(body, edition.post_count):
            # The email showed the first posts and linked "N more" here: show them all.
            whole = await pages.call(archive_copy, pages.db, pages.config, job_config, edition.id)
            body = whole or emails[part].body
        html = fill_for_reader(body, pages.path("/subscribe"))
        return HTMLResponse(
            html,
            headers={
                "content-security-policy": EMAIL_FRAME_POLICY.replace(
                    "frame-ancestors 'self'", "frame-ancestors 'none'"
                ),
                "cache-control": "no-cache",
            },
        )
    social = [r for r in renderings if media.get(r.channel) not in (None, "email")]
    seen: set[str] = set()
    bubbles = []
    for rendering in social:  # one post per part, whichever channel posted it
        if rendering.part not in seen:
            seen.add(rendering.part)
            bubbles.append(telegram_bubble(rendering.body))
    return pages.page(
        request,
        "edition_posts.html",
        job=job,
        edition=edition,
        bubbles=bubbles,
        remote_images=True,
    )


@dataclass(frozen=True)
class EditionEntry:
    id: int
    subject: str
    created_at: datetime
    posts: tuple[tuple[str, str], ...] = ()  # (title, url)
    post_count: int = 0


def _cut(body: dict[str, Any], post_count: int) -> bool:
    """Whether a stored digest email shows fewer posts than its edition carries."""
    shown = body.get("posts_shown")
    if not isinstance(shown, int):  # stored before the count was kept: one <h2> a post
        shown = str(body.get("html", "")).count("<h2")
    return shown < post_count


def _feed_content(edition: EditionEntry) -> str:
    """The edition's posts as HTML text; the template escapes it once more, as Atom wants."""
    items = "".join(
        f'<li><a href="{escape(url)}">{escape(title)}</a></li>'
        if url
        else f"<li>{escape(title)}</li>"
        for title, url in edition.posts
    )
    return f"<ul>{items}</ul>"


def _editions(db: Database, job: str, limit: int, with_posts: bool = False) -> list[EditionEntry]:
    with db.sessions() as session:
        rows = list(
            session.scalars(
                # Held editions are not public until sent; discarded ones never are.
                select(Edition)
                .where(Edition.job == job, Edition.state == EditionState.SENT)
                .order_by(Edition.id.desc())
                .limit(limit)
            )
        )
        posts: dict[int, list[tuple[str, str]]] = {}
        if with_posts and rows:
            query = (
                select(EditionPost.edition_id, Post.title, Post.url)
                .join(Post, Post.id == EditionPost.post_id)
                .where(EditionPost.edition_id.in_([row.id for row in rows]))
                .order_by(EditionPost.edition_id, EditionPost.position)
            )
            for edition_id, title, url in session.execute(query):
                posts.setdefault(edition_id, []).append((title, _http(url) or ""))
        return [
            EditionEntry(row.id, row.subject, row.created_at, tuple(posts.get(row.id, ())))
            for row in rows
        ]


def _edition_parts(
    db: Database, job: str, edition_id: int
) -> tuple[EditionEntry, list[Rendering]] | None:
    with db.sessions() as session:
        edition = session.get(Edition, edition_id)
        if edition is None or edition.job != job or edition.state != EditionState.SENT:
            return None
        renderings = list(
            session.scalars(
                select(Rendering).where(Rendering.edition_id == edition_id).order_by(Rendering.id)
            )
        )
        post_count = session.scalar(
            select(func.count())
            .select_from(EditionPost)
            .where(EditionPost.edition_id == edition_id)
        )
        entry = EditionEntry(edition.id, edition.subject, edition.created_at, (), post_count or 0)
        return entry, renderings


def _part_number(request: Request, count: int) -> int:
    try:
        number = int(request.query_params.get("part", "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), max(count, 1)) - 1


def _job(pages: Pages, request: Request) -> str:
    name = request.path_params["job"]
    if name not in pages.config.jobs:
        raise HTTPException(404)
    return name


def _http(url: Any) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    if urlsplit(url).scheme.lower() not in ("http", "https") or any(c in url for c in "\r\n"):
        return None
    return url


ROUTES: Sequence[Route] = (
    Route("/archive", archive_index),
    Route("/archive/{job}", job_archive),
    Route("/archive/{job}/feed.atom", job_feed),
    Route("/archive/{job}/{edition}", edition_page),
    Route("/r/{token}", click),
)
