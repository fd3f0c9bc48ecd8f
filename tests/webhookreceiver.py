"""A local HTTP server that receives webhooks: syndicate's signed JSON, Slack and Discord.

`WebhookReceiver` answers at ``http://127.0.0.1:<port>``:

- ``/json``: syndicate's own format. It checks ``X-Syndicate-Signature`` as the README
  tells receivers to (HMAC-SHA256 under `secret` of ``<timestamp>.<body>``, compared in
  constant time) and refuses a timestamp more than five minutes away: ``401``. The
  body must be JSON with ``type`` "post" or "edition".
- ``/slack``: a Slack incoming webhook. ``400 invalid_payload`` for a body that is not
  JSON or has neither ``text`` nor ``blocks``; ``400 invalid_blocks`` for more than 50
  blocks, a section text over 3000 characters or a header over 150.
- ``/discord``: a Discord execute-webhook. ``400 {"code": 50035, "message": "Invalid
  Form Body"}`` for content over 2000 characters, more than 10 embeds, an embed title
  over 256, a description over 4096, embeds over 6000 characters together, or neither
  content nor embeds; with ``?wait=true`` it answers 200 and the message with its
  ``id``, else 204.
- ``/hooks/<id>``: a Mattermost incoming webhook: ``400`` without ``text`` or with more
  than 16383 characters.
- anything else: ``404 {"code": 10015, "message": "Unknown Webhook"}``.

Accepted bodies are in `WebhookReceiver.received` (path, headers, parsed JSON).
`fail_next(path, kind)`: "429" (Retry-After: 4), "503", "500", "drop_after".
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from tests.mastodonapi import LocalServer, Request, json_answer

__all__ = ["TEST_SECRET", "WebhookReceiver"]

TEST_SECRET = "s3cret-for-tests"
Answer = tuple[int, dict[str, str], bytes] | None


def text_answer(status: int, text: str) -> Answer:
    return status, {"Content-Type": "text/plain"}, text.encode()


class WebhookReceiver(LocalServer):
    def __init__(self, secret: str = TEST_SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self._ids = itertools.count(1_100_000_000_000_000_000)

    def handle(self, request: Request) -> Answer:
        path, _, query = request.path.partition("?")
        fault = self.take_fault(path)
        if fault in ("429", "503", "500"):
            return json_answer(
                int(fault), {"message": "later", "retry_after": 4}, **{"Retry-After": "4"}
            )
        answer = self._route(request, path, query)
        return None if fault == "drop_after" else answer

    def _route(self, request: Request, path: str, query: str) -> Answer:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if path == "/json":
            problem = self._signature_problem(request)
            if problem:
                return text_answer(401, problem)
            if not isinstance(body, dict) or body.get("type") not in ("post", "edition"):
                return text_answer(400, "not a syndicate body")
        elif path == "/slack":
            if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
                return text_answer(400, "invalid_payload")
            if _slack_problem(body.get("blocks") or []):
                return text_answer(400, "invalid_blocks")
        elif path.startswith("/hooks/"):  # Mattermost
            if not isinstance(body, dict) or not 0 < len(body.get("text") or "") <= 16383:
                return json_answer(400, {"id": "web.incoming_webhook.text.app_error"})
        elif path == "/discord":
            if not isinstance(body, dict) or _discord_problem(body):
                return json_answer(400, {"code": 50035, "message": "Invalid Form Body"})
        else:
            return json_answer(404, {"code": 10015, "message": "Unknown Webhook"})
        with self.lock:
            self.received.append((path, request.headers, body))
        if path == "/discord":
            if "wait=true" in query:
                return json_answer(200, {"id": str(next(self._ids)), **body})
            return 204, {}, b""
        return text_answer(200, "ok")

    def _signature_problem(self, request: Request) -> str | None:
        stamp = request.headers.get("x-syndicate-timestamp", "")
        given = request.headers.get("x-syndicate-signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return "stale or missing timestamp"
        mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
        if not hmac.compare_digest(given, f"sha256={mac.hexdigest()}"):
            return "bad signature"
        return None


def _slack_problem(blocks: list[dict[str, Any]]) -> bool:
    if len(blocks) > 50:
        return True
    for block in blocks:
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "section" and not 0 < len(text) <= 3000:
            return True
        if block.get("type") == "header" and not 0 < len(text) <= 150:
            return True
    return False


def _discord_problem(body: dict[str, Any]) -> bool:
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if len(content) > 2000 or len(embeds) > 10 or not (content or embeds):
        return True
    total = 0
    for embed in embeds:
        title, description = embed.get("title", ""), embed.get("description", "")
        if len(title) > 256 or len(description) > 4096:
            return True
        total += len(title) + len(description) + len((embed.get("footer") or {}).get("text", ""))
    return total > 6000
