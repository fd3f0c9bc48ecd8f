"""Webhooks of mail providers at /hooks/ses, /hooks/sendgrid, /hooks/postmark, /hooks/mailgun.

Each is off (404) until its `[bounces.*]` table is configured, and answers 403 to a request
its provider did not sign. What a signed request reports goes through the same matching
as the bounce mailbox (`syndicate.bounces.intake`), by VERP address, Message-ID, or the
recipient's latest delivery.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import httpx
from sqlalchemy import delete
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syndicate.bounces import providers
from syndicate.bounces.intake import Intake
from syndicate.bounces.reports import Report
from syndicate.db.insert import insert_new
from syndicate.db.models import WebhookToken, utcnow
from syndicate.web.gate import HOOK_LIMIT
from syndicate.web.pages import Pages, pages_of

__all__ = ["ROUTES", "fetch_from_sns"]

log = logging.getLogger(__name__)

LARGEST_BODY = HOOK_LIMIT
_CERTIFICATES: dict[str, bytes] = {}


def fetch_from_sns(url: str) -> bytes:
    """GET an SNS certificate or confirmation URL (already checked to be on AWS's host)."""
    if url.endswith(".pem") and url in _CERTIFICATES:
        return _CERTIFICATES[url]
    response = httpx.get(url, timeout=10, follow_redirects=False)
    response.raise_for_status()
    if url.endswith(".pem"):
        _CERTIFICATES[url] = response.content[:65536]
    return response.content[:65536]


async def hook(request: Request) -> Response:
    pages = pages_of(request)
    provider = request.path_params["provider"]
    if provider not in pages.config.bounces.webhooks:
        raise HTTPException(404)
    body = await _body(request)
    try:
        reports = await pages.call(_reports, pages, provider, body, request.headers)
    except providers.WebhookRefused as error:
        log.warning("webhook %s refused: %s", provider, error)
        return JSONResponse({"error": str(error)}, status_code=403)
    except providers.WebhookUnreadable as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    intake = await pages.call(Intake.for_site, pages.db, pages.config, pages.channels)
    matched = 0
    for report in reports:
        outcome = await pages.call(intake.apply, report, provider, by_address=True)
        matched += int(outcome.matched)
    return JSONResponse({"events": len(reports), "matched": matched})


def _reports(pages: Pages, provider: str, body: bytes, headers: Mapping[str, str]) -> list[Report]:
    settings, now = pages.config.bounces, utcnow()
    get = headers.get
    if provider == "ses":
        return providers.ses_reports(body, settings.ses_topics, pages.fetch_sns, now)
    if provider == "sendgrid":
        return providers.sendgrid_reports(
            body,
            settings.sendgrid_public_key or "",
            get("x-twilio-email-event-webhook-signature"),
            get("x-twilio-email-event-webhook-timestamp"),
            now,
        )
    if provider == "postmark":
        password = _secret(settings.postmark_password_env)
        return providers.postmark_reports(
            body, get("authorization"), settings.postmark_user or "", password
        )
    key = _secret(settings.mailgun_signing_key_env)
    return providers.mailgun_reports(body, key, lambda token: _take(pages, token), now)


def _take(pages: Pages, token: str) -> bool:
    """Store a Mailgun token; False when some request (of any process) took it already."""
    now = utcnow()
    with pages.db.session() as session:
        session.execute(
            delete(WebhookToken).where(WebhookToken.at < now - 2 * providers.MAILGUN_FRESH)
        )
        return insert_new(session, WebhookToken, [{"token": token, "at": now}], ("token",)) == 1


def _secret(env: str | None) -> str:
    value = os.environ.get(env or "")
    if not value:
        raise providers.WebhookRefused(f"the environment variable {env} is not set")
    return value


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > LARGEST_BODY:
            raise HTTPException(413, "The request is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


ROUTES: Sequence[Route] = (Route("/hooks/{provider}", hook, methods=["POST"]),)
