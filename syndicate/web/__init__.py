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
    app = create_app(config, db, channels)
    uvicorn.run(app, host=config.web.host, port=config.web.port, log_level="info")
