"""The web side: subscribe, unsubscribe, archive, click redirect and the editor's dashboard.

`syndicate serve` runs `serve`; tests and other ASGI servers use `create_app`.
"""

from __future__ import annotations

from syndicate.channels.base import Channel
from syndicate.config import Config, ConfigError
from syndicate.db.session import Database
from syndicate.web.app import create_app

__all__ = ["create_app", "serve"]


def serve(config: Config, db: Database, channels: dict[str, Channel]) -> None:
    """Answer on `[web] host:port` until stopped."""
    import uvicorn

    if config.web is None:
        raise ConfigError(
            f"{config.file}: there is no [web] table, so there are no pages to serve "
            "(add one with host and port, see config.example.toml)."
        )
    _check_port_free(config.web.host, config.web.port, config.file)
    app = create_app(config, db, channels)
    uvicorn.run(app, host=config.web.host, port=config.web.port, log_level="info")


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
