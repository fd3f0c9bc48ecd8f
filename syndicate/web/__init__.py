"""The web side: subscribe, unsubscribe, archive, click redirect and the editor's dashboard.

`syndicate serve` runs `syndicate.web.server.serve`; tests and other ASGI servers use
`syndicate.web.app.create_app`. This file imports nothing: the page modules import
each other as `from syndicate.web import overview`, which runs this file first, so an
import here would be a circle.
"""
