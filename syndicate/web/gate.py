"""What every request passes before a page sees it: served host, real client, body limits.

- **Host.** Pages answer only at the host of `base_url`, the `[web] aliases`, and, while
  the server listens on loopback, the loopback names (`localhost`, `127.0.0.1`, `[::1]`).
  A Host header must be a name or a bracketed IPv6 address with an optional numeric port;
  anything else, or another name, gets 400 and a page naming the address to use. The Host
  given is never written into an answer: redirects name no host at all.
- **Path.** When `base_url` has a path (`https://example.org/news`), the pages answer
  under it; a proxy that strips that path before passing requests on works as well.
- **Client.** The client is the connection's peer. Only a peer listed in `[web]
  trusted_proxies` may name another one, through `X-Forwarded-For` (or `Forwarded`): the
  client is then the last address in it that is not itself a trusted proxy. Everyone
  else's forwarding headers are ignored, so nobody escapes a limit by making up an address.
  Such a proxy's `X-Forwarded-Proto` (or `Forwarded: proto=`) is the scheme pages see.
  Limits count a client by `client_identity`: an IPv6 client by its /64 network, which
  one subscriber line or machine usually holds whole.
- **Body.** A form may be 64 KB, the dashboard's CSV upload `max_upload_mb`. A larger
  Content-Length is refused before a byte is read; a body that grows past its cap while
  streaming, or does not arrive within `body_timeout`, is refused as soon as that happens,
  and the connection is closed, so nothing big or slow is ever spooled.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect

from syndicate.config import Web
from syndicate.errors import SyndicateError

__all__ = [
    "FORM_LIMIT",
    "Gate",
    "client_address",
    "client_identity",
    "served_hosts",
    "within",
]

# The server's own log (uvicorn's, shown at INFO by `serve`): where its lines about
# connections go.
log = logging.getLogger("uvicorn.error")

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
# A Host header: a name (letters, digits, dots, hyphens) or a bracketed IPv6 address, and
# an optional numeric port. Nothing else: no userinfo, path, fragment or second value.
_HOST = re.compile(
    r"(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)


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
    if not trusted or not within(peer, trusted):
        return peer
    chain = _forwarded_chain(headers)
    for hop in reversed(chain):
        if not within(hop, trusted):
            return hop
    return chain[0] if chain else peer


def client_identity(address: str) -> str:
    """Who a limit counts: an IPv4 address as itself (also when written IPv4-mapped, as
    ::ffff:192.0.2.1), an IPv6 address as its /64 network, anything else as given."""
    try:
        ip = ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class BodyRefused(SyndicateError):
    """The request body is too large or too slow; answered with `status`."""

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status, self.sentence = status, sentence


class Gate:
    """ASGI middleware: the checks in this module's docstring, in that order."""

    def __init__(self, app: App, *, base_url: str, web: Web | None) -> None:
        self.app, self.base_url = app, base_url
        self.base_path = urlsplit(base_url).path.rstrip("/")
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
            if self.trusted and within(peer, self.trusted):
                scope["scheme"] = _forwarded_proto(headers) or scope.get("scheme", "http")
        path = scope["path"]
        if self.base_path and (path == self.base_path or path.startswith(self.base_path + "/")):
            # Served under base_url's path: the routes see what follows it.
            scope["path"] = path[len(self.base_path) :] or "/"
            raw = scope.get("raw_path") or b""
            prefix = self.base_path.encode()
            rest = raw[len(prefix) :] if raw.startswith(prefix) else b""
            scope["raw_path"] = rest or scope["path"].encode()
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
        except ClientDisconnect:
            # Nobody is left to answer; one line, no traceback.
            log.info("A client went away while sending %s %s", scope["method"], scope["path"])

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
    """The host name of a Host header, or "" for one that is not a name (with an optional
    port) alone. A fully qualified name's final dot goes; an IP address has none."""
    match = _HOST.fullmatch(value.strip().lower())
    if match is None or int(match["port"] or 0) > 65535:
        return ""
    name = match["name"]
    if name.endswith("."):
        name = name[:-1]
        if _is_address(name):
            return ""
    return name


def _forwarded_proto(headers: dict[str, str]) -> str | None:
    """The scheme the client used, as the proxy nearest to us says; None when it says none."""
    if "x-forwarded-proto" in headers:
        proto = headers["x-forwarded-proto"].split(",")[-1].strip().lower()
    else:
        protos = [
            value.strip('"').lower()
            for element in headers.get("forwarded", "").split(",")
            for name, _, value in (pair.strip().partition("=") for pair in element.split(";"))
            if name.lower() == "proto"
        ]
        proto = protos[-1] if protos else ""
    return proto if proto in ("http", "https") else None


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


def within(address: str, networks: Networks) -> bool:
    """Is `address` in one of `networks`? An IPv4-mapped IPv6 address (a dual-stack
    socket's IPv4 client) is in them as that IPv4 address too."""
    try:
        ip = ip_address(address.strip("[]"))
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, IPv6Address) else None
    return any(ip in network or (mapped is not None and mapped in network) for network in networks)


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
