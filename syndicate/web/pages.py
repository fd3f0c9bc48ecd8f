"""What every page shares: the `Pages` object and the helpers the page modules use.

`Pages` knows the settings, the database, the channels and the site's signing secret; the
application keeps one in `app.state.pages`, and each page module takes it from the request
with `pages_of` (or `editor_pages`, for the editor's pages behind the login).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial, wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

import jinja2
from sqlalchemy import Column
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from syndicate.channels.base import Channel
from syndicate.config import Config
from syndicate.db.fit import holds
from syndicate.db.session import Database
from syndicate.links import Links
from syndicate.ratelimit import RateLimiter
from syndicate.render.locale import N_, Translate, format_datetime, translator
from syndicate.render.templates import template_environment
from syndicate.web.editors import session_generation
from syndicate.web.gate import client_identity
from syndicate.web.security import (
    EMAIL_FRAME_POLICY,
    PAGE_POLICY,
    DeviceCookies,
    EditorSession,
    PasswordGate,
    Sessions,
    csrf_matches,
    csrf_token,
)

__all__ = [
    "CSRF_COOKIE",
    "DEVICE_COOKIE",
    "PREVIEW_POLICY",
    "REMOTE_IMAGES_POLICY",
    "SESSION_COOKIE",
    "Endpoint",
    "Pages",
    "closes_its_form",
    "editor_pages",
    "email_frame",
    "pages_of",
    "row_id",
    "whole_number",
]

MAX_DIGITS = 19  # of a number in a URL or a form: the largest 64-bit integer has 19
CSRF_COOKIE = "syn_csrf"
SESSION_COOKIE = "syn_admin"
DEVICE_COOKIE = "syn_device"
T = TypeVar("T")
REMOTE_IMAGES_POLICY = PAGE_POLICY.replace(
    "img-src 'self' data:", "img-src 'self' http: https: data:"
)
# The dashboard's preview page frames its own email preview.
PREVIEW_POLICY = REMOTE_IMAGES_POLICY + "; frame-src 'self'"


@dataclass
class Pages:
    """What every page needs: settings, database, channels, secret, templates, limits."""

    config: Config
    db: Database
    channels: dict[str, Channel]
    secret: bytes
    env: jinja2.Environment = field(init=False)
    links: Links = field(init=False)
    sessions: Sessions | None = field(init=False)
    devices: DeviceCookies = field(init=False)
    # Per client address (the real one, see `gate`); how often one mailbox may be mailed
    # is kept in the database (`syndicate.web.confirmations`).
    subscribe_by_client: RateLimiter = field(default_factory=lambda: RateLimiter(10, 3600))
    login_by_client: RateLimiter = field(default_factory=lambda: RateLimiter(10, 600))
    # Wrong passwords per account, whatever address they come from; from a browser the
    # editor logged in with before (its device cookie), per that browser instead.
    failed_logins_by_user: RateLimiter = field(default_factory=lambda: RateLimiter(20, 900))
    password_checks: PasswordGate = field(default_factory=PasswordGate)
    previews: dict[str, Any] = field(default_factory=dict)
    # How /hooks/ses fetches SNS certificates (tests serve them locally; the host check
    # before any fetch is not configurable).
    fetch_sns: Callable[[str], bytes] = field(default=lambda url: b"")

    def __post_init__(self) -> None:
        self.env = template_environment(self.config.site.templates_dir)
        self.links = Links(self.config.site.base_url, self.secret, web=True)
        self.devices = DeviceCookies(self.secret)
        web = self.config.web
        password = web.admin_password if web is not None and web.admin_user else None
        self.sessions = Sessions(self.secret, password) if password else None

    @property
    def base_url(self) -> str:
        return self.config.site.base_url

    @property
    def base_path(self) -> str:
        """base_url's path ("" at the root): links in pages start with it and name no
        host, so a page works at every address it is served at."""
        return urlsplit(self.base_url).path.rstrip("/")

    def path(self, path: str) -> str:
        return f"{self.base_path}{path}"

    @property
    def lang(self) -> str:
        """The site's language as <html lang> wants it: "id", "en-GB"."""
        return self.config.site.locale.strip().replace("_", "-") or "en"

    @property
    def translate(self) -> Translate:
        """`_` in the site's language, for every word a reader sees."""
        return translator(self.config.site.locale)

    def language(self) -> dict[str, Any]:
        """What every template needs to speak the site's language: lang, _ and local_time."""
        return {"lang": self.lang, "_": self.translate, "local_time": self.local_time}

    def local_time(self, moment: datetime | None) -> str:
        """A date and time in the site's zone and language: "9 Maret 2023 08.30"."""
        if moment is None:
            return "—"
        site = self.config.site
        return format_datetime(moment, site.locale, site.timezone.key)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking database or file work off the event loop."""
        return await run_in_threadpool(partial(function, *args, **kwargs))

    def page(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        remote_images: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        """A page from templates/web/, with a CSRF token for its forms.

        `remote_images`: the page shows pictures from other sites (a post's photo).
        """
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        fresh = len(cookie) != 32
        value = secrets.token_hex(16) if fresh else cookie
        session = self.editor_session(request)
        body = self.env.get_template(f"web/{template}").render(
            site_name=self.config.site.name,
            base_url=self.base_path,
            **self.language(),
            csrf=csrf_token(self.secret, value, session.session_id if session else ""),
            admin=session.user if session else None,
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        response.headers["cache-control"] = "no-store"
        if remote_images:
            response.headers["content-security-policy"] = REMOTE_IMAGES_POLICY
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                value,
                httponly=True,
                samesite="strict",
                secure=self.secure_cookies,
                path="/",
            )
        return response

    async def form(self, request: Request) -> FormData:
        """The posted form, after its CSRF token was checked; 403 when it does not match.

        An uploaded file in it is closed when the page has been answered (`closes_its_form`).
        """
        form = await request.form(max_files=1, max_fields=50)
        field_value = form.get("csrf")
        session = self.editor_session(request)
        if not csrf_matches(
            self.secret,
            request.cookies.get(CSRF_COOKIE),
            field_value if isinstance(field_value, str) else None,
            session.session_id if session else "",
        ):
            raise HTTPException(
                403, N_("This form has expired. Go back, reload the page, try again.")
            )
        return form

    def admin_user(self, request: Request) -> str | None:
        session = self.editor_session(request)
        return session.user if session else None

    def editor_session(self, request: Request) -> EditorSession | None:
        """The editor's session, while its cookie is genuine and no logout has ended it.

        The generation is read from the database on the loop (one primary-key read, only
        for requests carrying a genuine session cookie), once per request.
        """
        if self.sessions is None:
            return None
        if "editor_session" not in request.scope:
            session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
            if session and session.generation != session_generation(self.db, session.user):
                session = None
            request.scope["editor_session"] = session
        found: EditorSession | None = request.scope["editor_session"]
        return found

    def client(self, request: Request) -> str:
        """Who limits count this request as (an IPv6 client by its /64, see `gate`)."""
        return client_identity(request.client.host) if request.client else "unknown"


Endpoint = Callable[[Request], Awaitable[Response]]


def closes_its_form(endpoint: Endpoint) -> Endpoint:
    """`endpoint`, closing the form it read once it has answered.

    Starlette keeps a posted file in a SpooledTemporaryFile that only `Request.close`
    closes, and calls it for no one; `create_app` wraps every route in this.
    """

    @wraps(endpoint)
    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        finally:
            await request.close()

    return answer


def row_id(text: str, column: Column[Any]) -> int | None:
    """`text` (from a path or a form) as an id `column` can hold, else None: a page then
    answers 404, never a database error over an id of twenty-three digits."""
    value = whole_number(text)
    return value if value is not None and holds(column, value) else None


def whole_number(text: str) -> int | None:
    """`text` as a whole number in ASCII digits, at most `MAX_DIGITS` of them, else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        return None
    return int(text)


def pages_of(request: Request) -> Pages:
    """The site's `Pages`, as the application keeps it."""
    pages: Pages = request.app.state.pages
    return pages


def editor_pages(request: Request, *, login: bool = True) -> Pages:
    """The pages, once the dashboard is on and (unless `login` is False) someone logged in."""
    pages = pages_of(request)
    if pages.sessions is None:
        raise HTTPException(404, "The dashboard is off: set admin_user and admin_password.")
    if login and pages.admin_user(request) is None:
        raise _LoginNeeded(pages.path("/admin/login"))
    return pages


class _LoginNeeded(HTTPException):
    def __init__(self, login_path: str) -> None:
        super().__init__(303, headers={"location": login_path})


def email_frame(html: str) -> HTMLResponse:
    """An email shown in the dashboard's sandboxed frame, its links opening outside it."""
    html = html.replace("<head>", '<head><base target="_blank">', 1)
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": EMAIL_FRAME_POLICY,
            "x-frame-options": "SAMEORIGIN",
            "cache-control": "no-store",
        },
    )
