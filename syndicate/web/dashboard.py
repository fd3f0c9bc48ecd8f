"""The editor's dashboard at /admin: health, schedule, previews, deliveries, subscribers.

Everything here needs a login (`[web] admin_user` / `admin_password`); without them the
dashboard is off. A preview runs the job's own preview (select and render, record
nothing) and shows each email as a subscriber sees it, in a sandboxed frame, and each
social post the way Telegram shows it.
"""

from __future__ import annotations

import email
import json
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from syndicate.bounces.report import edition_rates
from syndicate.db.models import Delivery, DeliveryState
from syndicate.jobs import preview_job
from syndicate.ratelimit import RateLimiter
from syndicate.report import waiting_deliveries
from syndicate.slots import next_fire_times
from syndicate.subscribers import ImportReport, SubscriberError, import_csv
from syndicate.types import DELIVERY_STATES
from syndicate.web import overview
from syndicate.web.archive import TelegramBubble, telegram_bubble
from syndicate.web.chart import STATE_COLOURS, delivery_chart
from syndicate.web.editors import end_sessions, session_generation
from syndicate.web.pages import (
    DEVICE_COOKIE,
    PREVIEW_POLICY,
    SESSION_COOKIE,
    Pages,
    editor_pages,
    email_frame,
    row_id,
    whole_number,
)
from syndicate.web.security import DEVICE_LIFETIME, check_password
from syndicate.web.subscriber_pages import mailing_lists

__all__ = ["ROUTES", "Preview", "make_preview"]

PREVIEW_FRESH_FOR = 120.0  # seconds: the frame shows the preview its page was made with


@dataclass(frozen=True)
class Preview:
    job: str
    emails: list[tuple[str, str, str]] = field(default_factory=list)  # channel, subject, html
    posts: list[tuple[str, TelegramBubble]] = field(default_factory=list)  # channel, bubble
    made_at: float = 0.0


def make_preview(pages: Pages, job: str) -> Preview:
    """What `job` would send now, read back from the files its preview writes."""
    preview = Preview(job, made_at=time.monotonic())
    with tempfile.TemporaryDirectory(prefix="syndicate-preview-") as folder:
        root = Path(folder)
        paths = preview_job(pages.db, pages.config, pages.channels, pages.config.job(job), root)
        for path in paths:
            channel = path.relative_to(root).parts[0]
            if path.suffix == ".eml":
                message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
                body = message.get_body(("html",))
                html = body.get_content() if body is not None else ""
                preview.emails.append((channel, str(message["Subject"] or ""), html))
            elif path.suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
                preview.posts.append((channel, telegram_bubble(data)))
    return preview


async def login_form(request: Request) -> Response:
    pages = editor_pages(request, login=False)
    return pages.page(request, "login.html")


async def login(request: Request) -> Response:
    pages = editor_pages(request, login=False)
    form = await pages.form(request)
    client = pages.client(request)
    if not pages.login_by_client.allow(client):
        raise _too_many(pages.login_by_client, client, "Too many login attempts")
    web = pages.config.web
    assert web is not None and web.admin_user and web.admin_password and pages.sessions
    user, password = str(form.get("user") or ""), str(form.get("password") or "")
    # Names that are not the editor's share one key: made-up names cannot fill the limiter.
    account = user if user == web.admin_user else ""
    # A browser the editor logged in with before counts its own wrong passwords, so that a
    # stranger's wrong passwords for this name do not lock the editor out.
    device = pages.devices.read(request.cookies.get(DEVICE_COOKIE), user) if account else None
    key = f"device:{device}" if device else account
    if pages.failed_logins_by_user.blocked(key):
        raise _too_many(pages.failed_logins_by_user, key, "Too many wrong passwords for this name")
    valid = await _check_password(pages, web.admin_password, password)
    if not (valid and user == web.admin_user):
        pages.failed_logins_by_user.add(key)
        return pages.page(request, "login.html", status=401, problem="Wrong name or password.")
    generation = await pages.call(session_generation, pages.db, user)
    response = RedirectResponse(pages.path("/admin"), status_code=303)

    def set_cookie(name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=pages.path("/admin"),
            httponly=True,
            samesite="strict",
            secure=pages.secure_cookies,
        )

    set_cookie(SESSION_COOKIE, pages.sessions.make(user, generation))
    set_cookie(DEVICE_COOKIE, pages.devices.make(user), max_age=DEVICE_LIFETIME)
    return response


def _too_many(limiter: RateLimiter, key: str, what: str) -> HTTPException:
    """429, saying when to try again (also in Retry-After)."""
    seconds = limiter.retry_after(key)
    wait = f"{math.ceil(seconds / 60)} minutes" if seconds > 90 else f"{seconds} seconds"
    return HTTPException(
        429, f"{what}; try again in {wait}.", headers={"retry-after": str(seconds)}
    )


async def _check_password(pages: Pages, setting: str, given: str) -> bool:
    """The password check, when one of the few slots for it is free; 429 at once if not."""
    if not pages.password_checks.try_enter():
        raise HTTPException(
            429,
            "Many logins are being checked right now; try again shortly.",
            headers={"retry-after": "1"},
        )
    try:
        return await pages.call(check_password, setting, given)
    finally:
        pages.password_checks.leave()


async def logout(request: Request) -> Response:
    """End every session of this editor, in every browser, not only this cookie."""
    pages = editor_pages(request, login=False)
    await pages.form(request)
    session = pages.editor_session(request)
    if session is not None:
        await pages.call(end_sessions, pages.db, session.user)
    response = RedirectResponse(pages.path("/admin/login"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=pages.path("/admin"))
    return response


async def dashboard(request: Request) -> Response:
    pages = editor_pages(request)
    config = pages.config
    jobs = sorted(config.jobs)
    return pages.page(
        request,
        "dashboard.html",
        sources=await pages.call(overview.source_health, pages.db, config),
        jobs=[config.jobs[name] for name in jobs],
        next_fire=next_fire_times(config),
        editions=(editions := await pages.call(overview.recent_editions, pages.db, jobs)),
        rates=await pages.call(
            edition_rates, pages.db, [e.id for found in editions.values() for e in found]
        ),
        counts=await pages.call(overview.delivery_counts, pages.db),
        chart=delivery_chart(await pages.call(overview.daily_counts, pages.db)),
        colours=STATE_COLOURS,
        states=DELIVERY_STATES,
        problems=await pages.call(overview.problem_deliveries, pages.db),
        waiting=await pages.call(waiting_deliveries, pages.db, config),
        requeued=request.query_params.get("requeued"),
        timezone=config.site.timezone,
    )


async def preview_page(request: Request) -> Response:
    pages = editor_pages(request)
    preview = await _preview(pages, request, fresh=True)
    response = pages.page(request, "preview.html", preview=preview)
    response.headers["content-security-policy"] = PREVIEW_POLICY
    return response


async def preview_frame(request: Request) -> Response:
    """One email of a preview, alone, for the preview page's sandboxed frame."""
    pages = editor_pages(request)
    preview = await _preview(pages, request, fresh=False)
    number = whole_number(request.path_params["number"])
    if number is None or not 1 <= number <= len(preview.emails):
        raise HTTPException(404)
    return email_frame(preview.emails[number - 1][2])


async def requeue(request: Request) -> Response:
    pages = editor_pages(request)
    form = await pages.form(request)
    delivery_id = row_id(str(form.get("delivery") or ""), Delivery.__table__.c.id)
    count = 0
    if delivery_id is not None:
        count = int(await pages.call(overview.requeue_delivery, pages.db, delivery_id))
    elif form.get("state") in (DeliveryState.FAILED, DeliveryState.UNKNOWN):
        from syndicate.delivery import requeue as requeue_state

        count = await pages.call(requeue_state, pages.db, str(form.get("state")))
    return RedirectResponse(pages.path(f"/admin?requeued={count}#problems"), status_code=303)


async def subscribers_page(request: Request) -> Response:
    pages = editor_pages(request)
    text = request.query_params.get("q", "")
    rows = await pages.call(overview.search_subscribers, pages.db, text)
    return pages.page(
        request,
        "subscribers.html",
        query=text,
        rows=rows,
        lists=list(mailing_lists(pages.channels)),
    )


async def subscribers_import(request: Request) -> Response:
    pages = editor_pages(request)
    form = await pages.form(request)
    upload, list_name = form.get("csv"), str(form.get("list") or "")
    lists = list(mailing_lists(pages.channels))
    problem, report = None, None
    limit = (pages.config.web.max_upload_mb if pages.config.web else 50) * 2**20
    if list_name not in lists:
        problem = "Choose a list."
    elif upload is None or isinstance(upload, str):
        problem = "Choose a CSV file."
    else:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            problem = (
                f"The file is larger than {limit // 2**20} MB; import it with "
                "`syndicate subscribers import`."
            )
        else:
            try:
                report = await pages.call(_import, pages, data, list_name, upload.filename)
            except SubscriberError as error:
                problem = str(error)
    return pages.page(
        request,
        "subscribers.html",
        status=400 if problem else 200,
        query="",
        rows=await pages.call(overview.search_subscribers, pages.db, ""),
        lists=lists,
        problem=problem,
        report=report,
        imported_to=list_name,
    )


def _import(pages: Pages, data: bytes, list_name: str, filename: str | None) -> ImportReport:
    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        file.write(data)
        file.flush()
        try:
            return import_csv(pages.db, Path(file.name), list_name)
        except SubscriberError as error:
            # The sentence names the uploaded file, once, as its sender knows it.
            shown = f'"{filename}"' if filename else "The file"
            raise SubscriberError(str(error).replace(file.name, shown, 1)) from None


async def _preview(pages: Pages, request: Request, *, fresh: bool) -> Preview:
    job = request.path_params["job"]
    if job not in pages.config.jobs:
        raise HTTPException(404)
    cached: Preview | None = pages.previews.get(job)
    if not fresh and cached is not None and time.monotonic() - cached.made_at <= PREVIEW_FRESH_FOR:
        return cached
    made = await pages.call(make_preview, pages, job)
    pages.previews[job] = made
    return made


ROUTES: Sequence[Route] = (
    Route("/admin/login", login_form, methods=["GET"]),
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin", dashboard, methods=["GET"]),
    Route("/admin/preview/{job}", preview_page, methods=["GET"]),
    Route("/admin/preview/{job}/email/{number}", preview_frame, methods=["GET"]),
    Route("/admin/requeue", requeue, methods=["POST"]),
    Route("/admin/subscribers", subscribers_page, methods=["GET"]),
    Route("/admin/subscribers/import", subscribers_import, methods=["POST"]),
)
