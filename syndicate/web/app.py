"""The Starlette application: its routes, its middleware, and how its error pages answer.

`create_app` wires the subscriber pages, the archive, the click redirect and the editor's
dashboard onto one `Pages` object (`syndicate.web.pages`) that knows the settings, the
database, the channels and the site's signing secret.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match, Route, Router

from syndicate.channels.base import Channel
from syndicate.config import Config, bundled_path
from syndicate.db.session import Database
from syndicate.render.locale import N_
from syndicate.tokens import site_secret
from syndicate.web import archive, dashboard, provider_hooks, review_pages, subscriber_pages
from syndicate.web.gate import Gate
from syndicate.web.pages import Pages, closes_its_form, pages_of
from syndicate.web.security import (
    SecurityHeaders,
)

__all__ = ["create_app"]


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
    pages = Pages(config, db, channels, secret or site_secret(db, config.site.secret_key))
    pages.fetch_sns = fetch_sns or provider_hooks.fetch_from_sns
    routes = [
        Route("/", subscriber_pages.home),
        Route("/static/web.css", stylesheet),
        *subscriber_pages.ROUTES,
        *archive.ROUTES,
        *dashboard.ROUTES,
        *review_pages.ROUTES,
        *provider_hooks.ROUTES,
    ]
    app = Starlette(
        routes=[_closing_its_form(route) for route in routes],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(Gate, base_url=config.site.base_url, web=config.web),
        ],
        exception_handlers={HTTPException: _error_page, Exception: _crash_page},
    )
    app.state.pages = pages
    # Starlette's own trailing-slash redirect names the Host the client sent, and the
    # scheme of the hop before the proxy: this one names only the path.
    app.router.redirect_slashes = False
    app.router.default = partial(_slash_redirect, app.router, pages.base_path)
    return app


def _closing_its_form(route: Route) -> Route:
    return Route(
        route.path, closes_its_form(route.endpoint), methods=route.methods, name=route.name
    )


async def _slash_redirect(
    router: Router, base_path: str, scope: Any, receive: Any, send: Any
) -> None:
    """A 307 to the same path with its final slash added or taken off, when that one is a
    page; the Location is relative (under base_url's path), so it keeps the scheme and host
    the client used. Otherwise 404."""
    path = scope["path"]
    if scope["type"] == "http" and path != "/":
        other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        if any(route.matches(other)[0] is not Match.NONE for route in router.routes):
            query = scope.get("query_string", b"").decode("latin-1")
            location = f"{base_path}{other['path']}" + (f"?{query}" if query else "")
            location = "/" + location.lstrip("/")  # never "//host": that names a host
            await RedirectResponse(location, status_code=307)(scope, receive, send)
            return
    await router.not_found(scope, receive, send)


async def stylesheet(request: Request) -> Response:
    css = (bundled_path("templates") / "web" / "web.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})


async def _error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    pages = pages_of(request)
    if 300 <= error.status_code < 400 and error.headers and "location" in error.headers:
        return RedirectResponse(error.headers["location"], status_code=error.status_code)
    titles = {
        403: N_("Not allowed"),
        404: N_("Not found"),
        405: N_("Not allowed"),
        429: N_("Too many tries"),
    }
    # The standard reason phrases starlette gives when a page says nothing more.
    plain = {"Not Found": N_("There is no such page."), "Method Not Allowed": N_("Not allowed")}
    response = pages.page(
        request,
        "message.html",
        status=error.status_code,
        title=titles.get(error.status_code, N_("Something is wrong")),
        message=plain.get(error.detail, error.detail),
    )
    if error.headers and "retry-after" in error.headers:  # a 429 says when to come back
        response.headers["retry-after"] = error.headers["retry-after"]
    return response


async def _crash_page(request: Request, error: Exception) -> Response:
    pages = pages_of(request)
    _ = pages.translate
    title, text = _("Error"), _("Something went wrong on our side.")
    return HTMLResponse(
        f'<!doctype html><html lang="{html.escape(pages.lang)}"><title>{html.escape(title)}'
        f"</title><p>{html.escape(text)}</p></html>",
        status_code=500,
    )
