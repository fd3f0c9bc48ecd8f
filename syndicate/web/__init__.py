"""The web side: subscribe, unsubscribe, archive, click redirect and the editor's dashboard.

`syndicate serve` runs `serve`; tests and other ASGI servers use `create_app`.
"""

from __future__ import annotations

from syndicate.web.app import create_app
from syndicate.web.server import serve

__all__ = ["create_app", "serve"]
