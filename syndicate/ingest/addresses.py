"""Which network addresses a fetch may reach, checked where the connection is made.

A feed's entries link wherever their author likes, and a page or a redirect may point at
an address inside the network syndicate runs in (a router's admin page, a cloud metadata
service, an intranet). What syndicate fetched there would be mailed to the subscribers. So
every connection is made here, by the address that was checked:

- the host name is resolved once (its addresses are kept a minute), every address it
  resolves to is checked, and the connection goes to one of those addresses (never to a
  second resolution, which a hostile name server could answer differently); the request
  keeps the name in its Host header and in TLS, so certificates are checked against the
  name as usual;
- an address that is not public (loopback, private, link-local, multicast, reserved) is
  refused unless the request's `Reach` allows its host: the host of the feed the editor
  configured (a feed on localhost is theirs to choose), and the hosts listed in
  `[ingest] private_hosts`;
- a request is checked before it is sent, as a connection kept alive (perhaps opened for
  a request that was allowed more) may carry it, and checked again by the address its
  answer came from.

Redirects pass through the same transport, so every hop is checked. Through a proxy named
in the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, as httpx reads them), the proxy
makes the connection: the name is still resolved and checked before the request is sent,
but the proxy resolves it again. The resolver is a seam: tests give names their own
addresses.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpcore
import httpx

from syndicate.errors import SyndicateError

__all__ = [
    "REACH",
    "AddressRefused",
    "GuardedTransport",
    "Reach",
    "Resolver",
    "SystemResolver",
    "address_kind",
]

REACH = "syndicate.reach"  # the request extension that carries its Reach

_REMEMBER = 60.0  # seconds a name's addresses are used before it is resolved again

_reach: contextvars.ContextVar[Reach] = contextvars.ContextVar("reach")


class Resolver(Protocol):
    """Turns a host name into the addresses to connect to, best first."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo, in a thread)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        if _literal(host) is not None:
            return [host]
        loop = asyncio.get_running_loop()
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


@dataclass(frozen=True)
class Reach:
    """The hosts one request may find on an address that is not public."""

    hosts: frozenset[str] = frozenset()

    @classmethod
    def around(cls, url: str, private_hosts: Iterable[str] = ()) -> Reach:
        """A source's reach: its own host, and the hosts listed in private_hosts."""
        hosts = {urlsplit(url).hostname or "", *private_hosts}
        return cls(frozenset(_ascii(host) for host in hosts) - {""})

    def allows(self, host: str) -> bool:
        return _ascii(host) in self.hosts


class AddressRefused(SyndicateError):
    """A request would have reached an address that is not public; `reason` says so."""

    def __init__(self, url: str, address: str, kind: str) -> None:
        self.url, self.address, self.kind = url, address, kind
        super().__init__(f"{url} is on a {kind} address ({address})")

    def reason(self, asked: str) -> str:
        """One sentence's end, for a fetch that asked for `asked` (the first hop)."""
        # httpx writes the URL its own way (the host in lower case, the port dropped
        # when it is the default): only another URL is a redirect.
        same = self.url == asked or _written_by_httpx(self.url) == _written_by_httpx(asked)
        where = "it is" if same else f"it redirects to {self.url}, which is"
        return (
            f"{where} on a {self.kind} address ({self.address}); list its host in "
            "[ingest] private_hosts to allow it."
        )


def _written_by_httpx(url: str) -> str:
    try:
        return str(httpx.URL(url))
    except httpx.InvalidURL:
        return url


def address_kind(address: str) -> str | None:
    """None for a public address, else what it is ("loopback", "private network", ...)."""
    ip = _literal(address)
    if ip is None:
        return "malformed"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or ip.is_reserved:
        return "reserved"
    return None if ip.is_global else "private network"


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves a name once (for `_REMEMBER` seconds), checks every address, and connects
    to a checked one."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()
        self._resolved: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, as resolved at most `_REMEMBER` seconds ago."""
        now = time.monotonic()
        known = self._resolved.get((host, port))
        if known is not None and now - known[0] < _REMEMBER:
            return known[1]
        try:
            addresses = await self.resolver.resolve(host, port)
        except OSError as error:  # as httpcore says it when it resolves
            raise httpcore.ConnectError(str(error)) from error
        self._resolved[(host, port)] = (now, addresses)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.addresses(host, port)
        _check(host, addresses, _reach.get(Reach()))
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as failed:
                error = failed
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("syndicate fetches over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _Refusal(Exception):
    """Raised where the URL is not known; the transport names the URL."""

    def __init__(self, address: str, kind: str) -> None:
        super().__init__(address, kind)
        self.address, self.kind = address, kind


def _check(host: str, addresses: list[str], reach: Reach) -> None:
    if reach.allows(host):
        return
    for address in addresses:
        if kind := address_kind(address):
            raise _Refusal(address, kind)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, connecting through the check above.

    The request's `Reach` travels in its extensions (`REACH`), which httpx carries to
    every redirect; without one, only public addresses are reached. A request is checked
    before it is sent (a connection kept alive may be used for it), its connection when it
    is made, and the address its answer came from.
    """

    def __init__(
        self, resolver: Resolver | None = None, *, limits: httpx.Limits, proxy: str | None = None
    ) -> None:
        super().__init__(limits=limits, proxy=proxy)
        self._backend = _GuardedBackend(resolver or SystemResolver())
        # Through a proxy, the proxy connects: only the check before sending is ours.
        self._proxied = proxy is not None
        if not self._proxied:
            # httpx offers no parameter for the network backend: its pool is made again.
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(),
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=self._backend,
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reach = request.extensions.get(REACH, Reach())
        url, host = str(request.url), request.url.host
        token = _reach.set(reach)
        try:
            if not reach.allows(host):
                port = request.url.port or (443 if request.url.scheme == "https" else 80)
                _check(host, await self._backend.addresses(host, port), reach)
            response = await super().handle_async_request(request)
        except _Refusal as refusal:
            raise AddressRefused(url, refusal.address, refusal.kind) from None
        except httpcore.ConnectError as error:
            raise httpx.ConnectError(str(error), request=request) from error
        finally:
            _reach.reset(token)
        peer = None if self._proxied else _peer(response)
        kind = address_kind(peer) if peer else None
        if kind and not reach.allows(host):
            await response.aclose()
            raise AddressRefused(url, peer or "", kind)
        return response


def _peer(response: httpx.Response) -> str | None:
    """The address the response came from (None when the stream does not say)."""
    stream = response.extensions.get("network_stream")
    where = stream.get_extra_info("server_addr") if stream is not None else None
    return str(where[0]) if where else None


def _ascii(host: str) -> str:
    """A host as it goes on the wire: lowercased, international names in punycode."""
    host = host.strip("[]").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None
