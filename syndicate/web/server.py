"""`syndicate serve`: uvicorn with the limits a public server needs.

- A request's headers must arrive within `[web] header_timeout`, and a client that has
  its answer but keeps dribbling a body is cut off: slow clients (slow-loris) cannot hold
  connections open. The body's own deadline is the gate's (`body_timeout`).
- At most `max_connections` connections at once, and at most `max_connections_per_client`
  from one client address (an IPv6 client: its /64; the trusted proxies are exempt), so
  one client cannot take every connection. A connection over either is answered 503 as
  soon as it is made and closed; the ones admitted are served.
- Forwarding headers are the gate's business (only from `trusted_proxies`), never uvicorn's.
- A log line repeated faster than `LOG_BURST` a minute is left out, and the next one that
  goes through says how many were: abuse fills no disk.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from typing import Any

from syndicate.channels.base import Channel
from syndicate.config import Config, ConfigError, Web
from syndicate.db.session import Database
from syndicate.ratelimit import RateLimiter
from syndicate.web.app import create_app
from syndicate.web.gate import client_identity, within

__all__ = ["RepeatedLines", "serve"]

LOG_BURST = 30  # lines of one kind a minute
log = logging.getLogger("uvicorn.error")  # the server's own log, shown at INFO


class RepeatedLines(logging.Filter):
    """Lets at most `LOG_BURST` lines of one kind through a minute (bounded memory)."""

    def __init__(self) -> None:
        super().__init__()
        self._limiter = RateLimiter(LOG_BURST, 60, max_keys=2000)
        self._left_out: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        # An access line is "of one kind" per client address (its port left out); other
        # lines per message template.
        first = str(args[0]).rsplit(":", 1)[0] if args else ""
        kind = f"{record.name}|{record.levelno}|{record.msg}|{first}"
        if not self._limiter.allow(kind):
            if len(self._left_out) < 2000 or kind in self._left_out:
                self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return False
        left_out = self._left_out.pop(kind, 0)
        if left_out:
            record.msg = f"{record.msg} ({left_out} more like it left out of the log)"
        return True


def serve(config: Config, db: Database, channels: dict[str, Channel]) -> None:
    """Answer on `[web] host:port` until stopped; says where the pages are first."""
    import uvicorn

    web = config.web
    if web is None:
        raise ConfigError(
            f"{config.file}: there is no [web] table, so there are no pages to serve "
            "(add one with host and port, see config.example.toml)."
        )
    _check_port_free(web.host, web.port, config.file)
    app = create_app(config, db, channels)
    server_config = uvicorn.Config(
        app,
        host=web.host,
        port=web.port,
        log_level="info",
        http=_protocol(web),
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
    )
    _quiet_repeats()
    listening = f"[{web.host}]:{web.port}" if ":" in web.host else f"{web.host}:{web.port}"
    print(
        f"Serving {config.site.name} at {config.site.base_url} (listening on {listening}); "
        "press Ctrl+C to stop.",
        flush=True,
    )
    # "::" is every address, IPv4 too: asyncio would make it IPv6 only.
    sockets = [_dual_stack(config, web.port)] if web.host == "::" else None
    uvicorn.Server(server_config).run(sockets=sockets)


def _dual_stack(config: Config, port: int) -> socket.socket:
    """A socket listening on every IPv6 and IPv4 address (IPv4 clients as ::ffff:a.b.c.d)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind(("::", port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"{config.file}: [web] cannot listen on [::]:{port}: {error.strerror}."
        ) from None
    return sock


def _quiet_repeats() -> None:
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            handler.addFilter(RepeatedLines())
        logger.addFilter(_not_the_listen_address)


def _not_the_listen_address(record: logging.LogRecord) -> bool:
    # uvicorn's "Uvicorn running on http://127.0.0.1:8080" names an address that may not be
    # served (the base_url is): the line printed by `serve` replaces it.
    return not str(record.msg).startswith("Uvicorn running on")


ALL = "*"  # the key under which all admitted connections are counted (no address reads so)
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 45\r\nretry-after: 5\r\nconnection: close\r\n\r\n"
    b"Too many connections at once; try again soon."
)


def _protocol(web: Web) -> type[Any]:
    """uvicorn's h11 protocol with the header timeout and the connection caps (imported
    here: uvicorn loads only when something is served)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    header_timeout = web.header_timeout.total_seconds()
    per_client = web.connections_per_client
    open_from: Counter[str] = Counter()  # client → its open connections (admitted ones)

    class TimedH11Protocol(H11Protocol):
        """uvicorn's h11 protocol, closing connections whose client is too slow, and
        answering 503 at once to connections over the caps."""

        _timer: asyncio.TimerHandle | None = None
        _admitted = False
        _counted: str | None = None  # the client it counts for, unless exempt

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, tuple) else ""
            who = client_identity(address)
            exempt = not address or within(address, web.trusted_proxies)
            # Counted here, not from uvicorn's set of connections: that one also holds
            # the refused ones until they are gone.
            over_all = open_from[ALL] >= web.max_connections
            if over_all or (not exempt and open_from[who] >= per_client):
                transport.write(BUSY)
                transport.close()
                # The reason first: `RepeatedLines` then lets 30 a minute of each through,
                # however many addresses there are.
                reason = "max_connections" if over_all else "max_connections_per_client"
                log.info("A connection answered 503: over %s (from %s)", reason, who)
                return
            self._admitted = True
            open_from[ALL] += 1
            if not exempt:
                self._counted = who
                open_from[who] += 1
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._timer is not None:
                self._timer.cancel()
            if self._admitted:
                open_from[ALL] -= 1
                self._admitted = False
            if self._counted is not None:
                open_from[self._counted] -= 1
                if open_from[self._counted] <= 0:
                    del open_from[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(header_timeout, self._check)

        def _check(self) -> None:
            if self.transport.is_closing():
                return
            waiting_for_headers = self.conn.their_state is h11.IDLE
            answered = self.cycle is not None and self.cycle.response_complete
            dribbling = self.conn.their_state is h11.SEND_BODY and answered
            if waiting_for_headers or dribbling:
                self.transport.close()
            else:  # a request is being worked on: look again later
                self._arm()

    return TimedH11Protocol


def _check_port_free(host: str, port: int, settings: object) -> None:
    """A port already taken is said in one sentence, not as uvicorn's "[Errno 98]"."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise ConfigError(
                    f"{settings}: [web] cannot listen on {host}:{port} ({error.strerror})."
                ) from None
            raise ConfigError(
                f"Port {port} on {host} is already in use (another `syndicate serve`, or "
                f"another program): stop that one, or set another [web] port in {settings}."
            ) from None
