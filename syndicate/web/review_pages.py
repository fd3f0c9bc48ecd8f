"""The dashboard's review pages: editions waiting for an editor, and one edition to change.

/admin/editions lists the editions; /admin/editions/N shows one with its posts (drop,
move up or down, pin by URL or post number), its subject, every change with who made it,
and a preview exactly as it will be sent: each email (HTML in a sandboxed frame, and its
text), each social post of each channel. Every form carries the version the page showed,
so a change made meanwhile by another editor is refused with a sentence, not lost.
"""

from __future__ import annotations

import email
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syndicate.db.fit import holds
from syndicate.db.models import Edition, Post
from syndicate.jobs import preview_edition
from syndicate.printable import printable, shortened
from syndicate.review import (
    ReviewError,
    approve,
    discard,
    drop_post,
    edition_detail,
    list_editions,
    move_post,
    pin_post,
    set_subject,
)
from syndicate.web.archive import TelegramBubble, telegram_bubble
from syndicate.web.pages import (
    PREVIEW_POLICY,
    Pages,
    editor_pages,
    email_frame,
    row_id,
    whole_number,
)

__all__ = ["ROUTES"]


@dataclass
class EditionPreview:
    emails: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # channel, subject, html, text
    posts: list[tuple[str, TelegramBubble]] = field(default_factory=list)


def edition_preview(pages: Pages, edition_id: int) -> EditionPreview:
    """The edition as it will be sent, read back from the files its preview writes."""
    preview = EditionPreview()
    with tempfile.TemporaryDirectory(prefix="syndicate-review-") as folder:
        root = Path(folder)
        for path in preview_edition(pages.db, pages.config, pages.channels, edition_id, root):
            channel = path.relative_to(root).parts[0]
            if path.suffix == ".eml":
                message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
                html = message.get_body(("html",))
                text = message.get_body(("plain",))
                preview.emails.append(
                    (
                        channel,
                        str(message["Subject"] or ""),
                        html.get_content() if html is not None else "",
                        text.get_content() if text is not None else "",
                    )
                )
            elif path.suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
                preview.posts.append((channel, telegram_bubble(data)))
    return preview


async def editions_page(request: Request) -> Response:
    pages = editor_pages(request)
    rows = await pages.call(list_editions, pages.db, limit=100)
    return pages.page(request, "editions.html", rows=rows, timezone=pages.config.site.timezone)


async def edition_page(
    request: Request, *, problem: str | None = None, status: int = 200
) -> Response:
    pages = editor_pages(request)
    edition_id = _edition_id(request)
    try:
        detail = await pages.call(edition_detail, pages.db, edition_id)
    except ReviewError:
        raise HTTPException(404) from None
    preview = await pages.call(edition_preview, pages, edition_id)
    response = pages.page(
        request,
        "edition.html",
        status=status,
        detail=detail,
        edition=detail.summary,
        preview=preview,
        problem=problem,
        done=request.query_params.get("done"),
        timezone=pages.config.site.timezone,
    )
    response.headers["content-security-policy"] = PREVIEW_POLICY
    return response


async def edition_frame(request: Request) -> Response:
    """One email of the edition's preview, alone, for its sandboxed frame."""
    pages = editor_pages(request)
    edition_id = _edition_id(request)
    preview = await pages.call(edition_preview, pages, edition_id)
    number = whole_number(request.path_params["number"])
    if number is None or not 1 <= number <= len(preview.emails):
        raise HTTPException(404)
    return email_frame(preview.emails[number - 1][2])


async def edition_action(request: Request) -> Response:
    """One editor's act on the edition; refused acts show the page again with the reason."""
    pages = editor_pages(request)
    form = await pages.form(request)
    edition_id = _edition_id(request)
    editor = pages.admin_user(request) or "an editor"
    fields = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    version = whole_number(fields.get("version", ""))
    act = request.path_params["action"]
    try:
        done = await _act(pages, act, edition_id, editor, version, fields)
    except ReviewError as error:
        return await edition_page(request, problem=str(error), status=409)
    path = pages.path(f"/admin/editions/{edition_id}")
    from urllib.parse import quote

    return RedirectResponse(f"{path}?done={quote(done)}", status_code=303)


async def _act(
    pages: Pages,
    act: str,
    edition_id: int,
    editor: str,
    version: int | None,
    fields: dict[str, str],
) -> str:
    if version is None or not holds(Edition.__table__.c.version, version):
        raise ReviewError("This form is out of date; reload the page.")
    if act == "drop":
        post = _post_of(fields.get("post", ""), edition_id)
        return await pages.call(drop_post, pages.db, edition_id, post, editor, version)
    if act == "move":
        post = _post_of(fields.get("post", ""), edition_id)
        position = _position_of(fields.get("position", ""))
        return await pages.call(move_post, pages.db, edition_id, post, position, editor, version)
    if act == "pin":
        from syndicate.pinning import post_to_pin

        given = fields.get("url", "").strip()
        if not given:
            raise ReviewError("Give a web address or a post number to pin.")
        post_id = await post_to_pin(pages.db, pages.config, given)
        position = whole_number(fields.get("position", "")) or 1
        return await pages.call(pin_post, pages.db, edition_id, post_id, editor, version, position)
    if act == "subject":
        subject = fields.get("subject", "")
        return await pages.call(set_subject, pages.db, edition_id, subject, editor, version)
    if act == "approve":
        sentence, _queued = await pages.call(
            approve, pages.db, pages.config, pages.channels, edition_id, editor, version
        )
        return sentence
    if act == "discard":
        return await pages.call(discard, pages.db, edition_id, editor, version)
    raise HTTPException(404)


def _post_of(given: str, edition_id: int) -> int:
    """The post number a form names, or the sentence the command line would give."""
    given = given.strip()
    post = row_id(given, Post.__table__.c.id)
    if post is not None:
        return post
    shown = shortened(printable(given), 30)
    if given.isascii() and given.isdigit():
        raise ReviewError(
            f"Post {shown} is not in edition {edition_id} "
            f"(see `syndicate edition show {edition_id}`)."
        )
    raise ReviewError(f'"{shown}" is not a post number (see the numbers on the edition\'s page).')


def _position_of(given: str) -> int:
    """The position a form asks for, as sent (so "-5" is said back as -5)."""
    given = given.strip()
    if re.fullmatch(r"[+-]?[0-9]{1,18}", given):
        return int(given)
    raise ReviewError(
        f'The position must be a whole number, not "{shortened(printable(given), 30)}".'
    )


def _edition_id(request: Request) -> int:
    edition_id = row_id(request.path_params["edition"], Edition.__table__.c.id)
    if edition_id is None:
        raise HTTPException(404)
    return edition_id


ROUTES: Sequence[Route] = (
    Route("/admin/editions", editions_page, methods=["GET"]),
    Route("/admin/editions/{edition}", edition_page, methods=["GET"]),
    Route("/admin/editions/{edition}/email/{number}", edition_frame, methods=["GET"]),
    Route("/admin/editions/{edition}/{action}", edition_action, methods=["POST"]),
)
