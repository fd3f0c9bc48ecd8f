"""What every request passes before a page sees it: served host, real client, body limits.

- **Host.** Pages answer only at the host of `base_url`, the `[web] aliases`, and, while
  the server listens on loopback, the loopback names (`localhost`, `127.0.0.1`, `[::1]`).
  Any other Host gets 400 and a page naming the address to use; the Host given is never
  written into an answer (no poisoned redirects or links).
- **Client.** The client is the connection's peer. Only a peer listed in `[web]
  trusted_proxies` may name another one, through `X-Forwarded-For` (or `Forwarded`): the
  client is then the last address in it that is not itself a trusted proxy. Everyone
  else's forwarding headers are ignored, so nobody escapes a limit by making up an address.
- **Body.** A form may be 64 KB, the dashboard's CSV upload `max_upload_mb`. A larger
  Content-Length is refused before a byte is read; a body that grows past its cap while
  streaming, or does not arrive within `body_timeout`, is refused as soon as that happens,
  and the connection is closed, so nothing big or slow is ever spooled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from syndicate.config import Web

__all__ = ["FORM_LIMIT", "Gate", "client_address", "served_hosts"]

FORM_LIMIT = 64 * 1024
UPLOAD_PATH = "/admin/subscribers/import"
# Bounce providers batch their events into one POST to /hooks/PROVIDER.
HOOK_PROVIDERS = ("ses", "sendgrid", "postmark", "mailgun")
HOOK_LIMIT = 1_000_000
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Networks = tuple[IPv4Network | IPv6Network, ...]


def served_hosts(base_url: str, web: Web | None) -> frozenset[str]:
    """The host names pages answer at (lowercase, without port; IPv6 in brackets)."""
    names = {_bracketed(urlsplit(base_url).hostname or "")}
    if web is not None:
        names.update(web.aliases)
        if _is_loopback(web.host):
            names.update(LOOPBACK_NAMES)
    return frozenset(name for name in names if name)


def client_address(peer: str, headers: dict[str, str], trusted: Networks) -> str:
    """The real client: `peer`, unless a trusted proxy forwarded the request for another."""
    if not trusted or not _within(peer, trusted):
        return peer
    chain = _forwarded_chain(headers)
    for hop in reversed(chain):
        if not _within(hop, trusted):
            return hop
    return chain[0] if chain else peer


class BodyRefused(Exception):
    """The request body is too large or too slow; answered with `status`."""

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status, self.sentence = status, sentence


class Gate:
    """ASGI middleware: the checks in this module's docstring, in that order."""

    def __init__(self, app: App, *, base_url: str, web: Web | None) -> None:
        self.app, self.base_url = app, base_url
        self.hosts = served_hosts(base_url, web)
        self.trusted: Networks = web.trusted_proxies if web else ()
        # The paths that take more than a form, and how much (everything else: FORM_LIMIT).
        self.larger_bodies = {UPLOAD_PATH: (web.max_upload_mb if web else 50) * 1024 * 1024}
        # Bounce providers batch their events: a webhook may carry up to LARGEST_BODY.
        self.larger_bodies |= {f"/hooks/{name}": HOOK_LIMIT for name in HOOK_PROVIDERS}
        self.body_timeout = web.body_timeout.total_seconds() if web else 60.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if _host(headers.get("host", "")) not in self.hosts:
            await _answer(send, 400, self._wrong_host_page())
            return
        if scope.get("client"):
            peer, port = scope["client"]
            scope["client"] = (client_address(peer, headers, self.trusted), port)
        limit = self.larger_bodies.get(scope["path"], FORM_LIMIT)
        length = headers.get("content-length", "0").strip() or "0"
        if not length.isdigit() or int(length) > limit:
            await _answer(send, 413, _too_large(limit))
            return
        await self._pass(scope, receive, send, limit)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        started = False
        received, done = 0, False
        deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def bounded_receive() -> Message:
            nonlocal received, done
            if done:
                return await receive()
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(left, 0.0))
            except TimeoutError:
                raise BodyRefused(408, "The request took too long to arrive.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                done = not message.get("more_body", False)
                if received > limit:
                    raise BodyRefused(413, _too_large(limit))
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, watched_send)
        except BodyRefused as refused:
            if not started:
                await _answer(send, refused.status, refused.sentence)

    def _wrong_host_page(self) -> str:
        address = escape(self.base_url)
        return (
            f'This site is served at <a href="{address}/">{address}</a>; open that address instead.'
        )


def _too_large(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return f"What was sent is larger than the {size} this page takes."


async def _answer(send: Send, status: int, sentence_html: str) -> None:
    """A short page, and the connection closed: a refused body is never read to its end."""
    titles = {400: "Wrong address", 408: "Too slow", 413: "Too large"}
    body = (
        f"<!doctype html><meta charset=utf-8><title>{titles.get(status, 'Error')}</title>"
        f"<p>{sentence_html}</p>\n"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        # Forwarding headers may come in several lines: they read as one list.
        found[key] = f"{found[key]}, {text}" if key in found else text
    return found


def _host(value: str) -> str:
    """The host name of a Host header, or "" for one that names none, or several."""
    value = value.strip().lower()
    if "," in value:
        return ""
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else ""
    return value.rsplit(":", 1)[0].rstrip(".") if value.count(":") <= 1 else ""


def _bracketed(name: str) -> str:
    name = name.lower()
    return f"[{name}]" if ":" in name else name


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _within(address: str, networks: Networks) -> bool:
    try:
        ip = ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _forwarded_chain(headers: dict[str, str]) -> list[str]:
    """The addresses a proxy chain reports, first hop first; anything not an address dropped."""
    if "x-forwarded-for" in headers:
        hops = [hop.strip() for hop in headers["x-forwarded-for"].split(",")]
    else:
        hops = []
        for element in headers.get("forwarded", "").split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    hop = value.strip('"')
                    hop = hop.split("]:")[0] if hop.startswith("[") else hop.split(":")[0]
                    hops.append(hop.strip("[]"))
    return [hop for hop in hops if _is_address(hop)]


def _is_address(text: str) -> bool:
    try:
        ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
