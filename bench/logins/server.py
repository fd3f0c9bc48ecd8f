"""`syndicate serve` with the password gate set to N slots: the benchmark's server and peer.

    python -m bench.logins.server SLOTS SETTINGS

SLOTS 2 is what syndicate runs with; the peer opens the gate wide (every login's password
check runs at once, as before the gate existed). Everything else is `serve` itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import syndicate.web.server as server
from syndicate.channels.registry import build_channels
from syndicate.config import load_config
from syndicate.db.session import open_database
from syndicate.web.security import PasswordGate


def main() -> int:
    slots, settings = int(sys.argv[1]), Path(sys.argv[2])
    config = load_config(settings)
    real_create_app = server.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = real_create_app(*args, **kwargs)
        app.state.pages.password_checks = PasswordGate(slots)
        return app

    server.create_app = create_app  # type: ignore[assignment]
    server.serve(config, open_database(config.database_url), build_channels(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
