"""The Starlette application: routes, the shared state of every page, and how pages answer.

`create_app` wires the subscriber pages, the archive, the click redirect and the editor's
dashboard onto one `Pages` object that knows the settings, the database, the channels
and the site's signing secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import jinja2
from sqlalchemy import Column
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from syndicate.channels.base import Channel
from syndicate.config import Config, bundled_path
from syndicate.db.fit import holds
from syndicate.db.session import Database
from syndicate.links import Links
from syndicate.render.templates import template_environment
from syndicate.tokens import site_secret
from syndicate.web.security import (
    PAGE_POLICY,
    RateLimiter,
    SecurityHeaders,
    Sessions,
    csrf_matches,
    csrf_token,
)

__all__ = ["Pages", "create_app", "row_id", "whole_number"]

MAX_DIGITS = 19  # of a number in a URL or a form: the largest 64-bit integer has 19
CSRF_COOKIE = "syn_csrf"
SESSION_COOKIE = "syn_admin"
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
    # Per client address, and per email address (nobody gets mail-bombed through us).
    subscribe_by_client: RateLimiter = field(default_factory=lambda: RateLimiter(10, 600))
    subscribe_by_address: RateLimiter = field(default_factory=lambda: RateLimiter(3, 3600))
    login_by_client: RateLimiter = field(default_factory=lambda: RateLimiter(10, 600))
    previews: dict[str, Any] = field(default_factory=dict)
    # How /hooks/ses fetches SNS certificates (tests serve them locally; the host check
    # before any fetch is not configurable).
    fetch_sns: Callable[[str], bytes] = field(default=lambda url: b"")

    def __post_init__(self) -> None:
        self.env = template_environment(self.config.site.templates_dir)
        self.links = Links(self.config.site.base_url, self.secret, web=True)
        web = self.config.web
        admin = web is not None and web.admin_user and web.admin_password
        self.sessions = Sessions(self.secret, web.admin_password) if admin else None  # type: ignore[union-attr]

    @property
    def base_url(self) -> str:
        return self.config.site.base_url

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
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = not cookie or len(cookie) != 32
        value = secrets.token_hex(16) if fresh else cookie
        body = self.env.get_template(f"web/{template}").render(
            site_name=self.config.site.name,
            base_url=self.base_url,
            csrf=csrf_token(self.secret, value),
            admin=self.admin_user(request),
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
        """The posted form, after its CSRF token was checked; 403 when it does not match."""
        form = await request.form(max_files=1, max_fields=50)
        field_value = form.get("csrf")
        if not csrf_matches(
            self.secret,
            request.cookies.get(CSRF_COOKIE),
            field_value if isinstance(field_value, str) else None,
        ):
            raise HTTPException(403, "This form has expired. Go back, reload the page, try again.")
        return form

    def admin_user(self, request: Request) -> str | None:
        if self.sessions is None:
            return None
        return self.sessions.read(request.cookies.get(SESSION_COOKIE))

    def client(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"


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


def create_app(
    config: Config,
    db: Database,
    channels: dict[str, Channel],
    *,
    secret: bytes | None = None,
    fetch_sns: Callable[[str], bytes] | None = None,
) -> Starlette:
    """The web application of a site: subscriber pages, archive, clicks and the dashboard.

    `fetch_sns` replaces the HTTPS GET of SNS certificates and confirmation URLs.
    """
    from syndicate.web import archive, dashboard, provider_hooks, subscriber_pages

    pages = Pages(config, db, channels, secret or site_secret(db, config.site.secret_key))
    pages.fetch_sns = fetch_sns or provider_hooks.fetch_from_sns
    routes = [
        Route("/", subscriber_pages.home),
        Route("/static/web.css", stylesheet),
        *subscriber_pages.ROUTES,
        *archive.ROUTES,
        *dashboard.ROUTES,
        *provider_hooks.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _error_page, Exception: _crash_page},
    )
    app.state.pages = pages
    return app


async def stylesheet(request: Request) -> Response:
    css = (bundled_path("templates") / "web" / "web.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})


async def _error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    pages: Pages = request.app.state.pages
    if 300 <= error.status_code < 400 and error.headers and "location" in error.headers:
        return RedirectResponse(error.headers["location"], status_code=error.status_code)
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed", 429: "Too many tries"}
    return pages.page(
        request,
        "message.html",
        status=error.status_code,
        title=titles.get(error.status_code, "Something is wrong"),
        message=error.detail if error.detail != "Not Found" else "There is no such page.",
    )


async def _crash_page(request: Request, error: Exception) -> Response:
    return HTMLResponse(
        "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>",
        status_code=500,
    )
