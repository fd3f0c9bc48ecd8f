"""The subscriber's pages: subscribe (double opt-in), confirm, unsubscribe, preferences.

The subscribe answer is the same whoever the address belongs to, so the form tells nobody
who is subscribed. Confirming is a button, not the link itself: mail scanners that open
every link in a message must not subscribe anyone. The unsubscribe POST is RFC 8058's
one-click: it needs no cookie and no form token, and answers 200 without a redirect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from syndicate.channels.base import Channel, ChannelError
from syndicate.db.models import utcnow
from syndicate.optin import (
    ConfirmationRequest,
    confirm,
    confirm_token,
    confirmation_message,
    preferences_token,
    read_preferences_token,
    request_subscription,
    set_lists,
    subscriber_lists,
    unsubscribe,
)
from syndicate.render.locale import N_
from syndicate.tokens import TokenError
from syndicate.web.confirmations import may_send_confirmation
from syndicate.web.pages import Pages, pages_of

__all__ = ["ROUTES", "home", "mailing_lists"]

# Why a confirmation link failed (optin's TokenError), as a sentence for the reader.
_LINK_PROBLEMS = {
    "the link is not valid": N_("The link is not valid. Subscribe again to get a new one."),
    "the link has expired": N_("The link has expired. Subscribe again to get a new one."),
    "the link was already used, or is out of date": N_(
        "The link was already used, or is out of date. Subscribe again to get a new one."
    ),
}

log = logging.getLogger(__name__)


def mailing_lists(channels: dict[str, Channel]) -> dict[str, Channel]:
    """Each subscriber list and the email channel that mails it (SMTP before an outbox)."""
    found: dict[str, Channel] = {}
    for channel in sorted(channels.values(), key=lambda c: c.type != "email"):
        if channel.medium == "email" and channel.list_name and channel.list_name not in found:
            found[channel.list_name] = channel
    return dict(sorted(found.items()))


async def home(request: Request) -> Response:
    return RedirectResponse(pages_of(request).path("/subscribe"), status_code=303)


async def subscribe_form(request: Request) -> Response:
    pages = pages_of(request)
    return pages.page(request, "subscribe.html", lists=list(mailing_lists(pages.channels)))


async def subscribe(request: Request) -> Response:
    pages = pages_of(request)
    form = await pages.form(request)
    lists = mailing_lists(pages.channels)
    chosen = [name for name in form.getlist("list") if name in lists]
    if len(lists) == 1:
        chosen = list(lists)
    email = str(form.get("email") or "").strip()
    problem = None if chosen else N_("Choose at least one list.")
    client = pages.client(request)
    if not pages.subscribe_by_client.allow(client):
        seconds = pages.subscribe_by_client.retry_after(client)
        raise HTTPException(
            429,
            N_("Too many subscribe requests from here; try again later."),
            headers={"retry-after": str(seconds)},
        )
    try:
        request_made = await pages.call(request_subscription, pages.db, email, chosen)
    except ValueError:
        wrong = N_("That is not an email address.")
        if not email.rpartition("@")[0].isascii():
            wrong = N_("Mail cannot be sent to letters such as é before the @: use plain letters.")
        request_made, problem = None, problem or wrong
    if problem or request_made is None:
        return pages.page(
            request, "subscribe.html", status=400, lists=list(lists), problem=problem, email=email
        )
    task = None
    if not request_made.suppressed and await pages.call(
        may_send_confirmation, pages.db, pages.secret, request_made.email, utcnow()
    ):
        task = BackgroundTask(_send_confirmations, pages, request_made, lists)
    response = pages.page(request, "check_inbox.html", email=email)
    response.background = task
    return response


async def _send_confirmations(
    pages: Pages, request: ConfirmationRequest, lists: dict[str, Channel]
) -> None:
    """One mail, through the email channel of the first list chosen, confirming them all.

    One link for all lists: confirming changes the subscriber, which retires every
    earlier link, so a second mail's link would not work once the first was used.
    """
    channel = lists[request.lists[0]]
    now = utcnow()
    url = f"{pages.base_url}/confirm/{confirm_token(pages.secret, request, now)}"
    message = confirmation_message(
        pages.env,
        site_name=pages.config.site.name,
        sender=channel.sender or f"{pages.config.site.name} <noreply@localhost>",
        recipient=request.email,
        lists=request.lists,
        confirm_url=url,
        now=now,
        locale=pages.config.site.locale,
    )
    try:
        await channel.send(message)
    except ChannelError as error:
        log.warning("confirmation mail through %s failed: %s", channel.name, error)
    finally:
        await channel.close()


async def confirm_page(request: Request) -> Response:
    pages = pages_of(request)
    return pages.page(request, "confirm.html", token=request.path_params["token"])


async def confirm_post(request: Request) -> Response:
    pages = pages_of(request)
    await pages.form(request)
    try:
        subscriber_id, lists = await pages.call(
            confirm, pages.db, pages.secret, request.path_params["token"], utcnow()
        )
    except TokenError as error:
        return pages.page(
            request,
            "message.html",
            status=400,
            title=N_("This link does not work"),
            message=_LINK_PROBLEMS.get(str(error), _LINK_PROBLEMS["the link is not valid"]),
            link=pages.path("/subscribe"),
        )
    return pages.page(
        request,
        "confirmed.html",
        lists=lists,
        preferences=_preferences_url(pages, subscriber_id),
    )


async def unsubscribe_page(request: Request) -> Response:
    pages = pages_of(request)
    subscriber_id, list_name = _read_unsubscribe(pages, request)
    return pages.page(
        request,
        "unsubscribe.html",
        list_name=list_name,
        action=pages.path(f"/unsubscribe/{request.path_params['token']}"),
        preferences=_preferences_url(pages, subscriber_id),
    )


async def unsubscribe_post(request: Request) -> Response:
    """RFC 8058 one-click (and the page's button): 200, no redirect, no cookie set."""
    pages = pages_of(request)
    subscriber_id, list_name = _read_unsubscribe(pages, request)
    one_click = b"List-Unsubscribe=One-Click" in (await request.body())[:4096]
    how = "one-click" if one_click else "web"
    await pages.call(unsubscribe, pages.db, subscriber_id, list_name, how)
    body = pages.env.get_template("web/unsubscribed.html").render(
        site_name=pages.config.site.name,
        base_url=pages.base_path,
        list_name=list_name,
        preferences=_preferences_url(pages, subscriber_id),
        admin=None,
        **pages.language(),
    )
    return HTMLResponse(body, headers={"cache-control": "no-store"})


async def preferences_page(request: Request) -> Response:
    pages = pages_of(request)
    subscriber_id = _read_preferences(pages, request)
    found = await pages.call(subscriber_lists, pages.db, subscriber_id)
    if found is None:
        raise HTTPException(404)
    email, on = found
    return pages.page(
        request,
        "preferences.html",
        email=email,
        lists=[(name, name in on) for name in mailing_lists(pages.channels)],
        action=_preferences_url(pages, subscriber_id),
    )


async def preferences_post(request: Request) -> Response:
    pages = pages_of(request)
    subscriber_id = _read_preferences(pages, request)
    form = await pages.form(request)
    offered = set(mailing_lists(pages.channels))
    chosen = {name for name in form.getlist("list") if name in offered}
    await pages.call(set_lists, pages.db, subscriber_id, chosen, offered)
    return RedirectResponse(_preferences_url(pages, subscriber_id) + "?saved=1", status_code=303)


def _read_unsubscribe(pages: Pages, request: Request) -> tuple[int, str]:
    try:
        return pages.links.read_unsubscribe(request.path_params["token"])
    except TokenError:
        raise HTTPException(404, N_("This unsubscribe link is not valid.")) from None


def _read_preferences(pages: Pages, request: Request) -> int:
    try:
        return read_preferences_token(pages.secret, request.path_params["token"])
    except TokenError:
        raise HTTPException(404, N_("This link is not valid.")) from None


def _preferences_url(pages: Pages, subscriber_id: int) -> str:
    return pages.path(f"/preferences/{preferences_token(pages.secret, subscriber_id)}")


ROUTES: Sequence[Route] = (
    Route("/subscribe", subscribe_form, methods=["GET"]),
    Route("/subscribe", subscribe, methods=["POST"]),
    Route("/confirm/{token}", confirm_page, methods=["GET"]),
    Route("/confirm/{token}", confirm_post, methods=["POST"]),
    Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
    Route("/unsubscribe/{token}", unsubscribe_post, methods=["POST"]),
    Route("/preferences/{token}", preferences_page, methods=["GET"]),
    Route("/preferences/{token}", preferences_post, methods=["POST"]),
)
