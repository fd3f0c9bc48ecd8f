"""Links given to subscribers: unsubscribe, view in browser, archive, tracked clicks.

Every link starts with `[site] base_url`. Links that name a subscriber or a post carry a
signed token (see `tokens.py`), so nobody can make one for someone else. Pages behind
archive and click links exist only when `syndicate serve` runs (a `[web]` table); without
it those links are not given out.

URL scheme (the web pages answer exactly these)::

    /unsubscribe/<token>          GET: a page with a button; POST: one-click unsubscribe
    /archive/<job>                the job's editions;  /archive/<job>/feed.atom  as Atom
    /archive/<job>/<edition id>   one edition: the email's "view in browser" page
    /r/<token>                    a tracked click, redirected to the post's own URL
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from syndicate.tokens import TokenError, make_token, read_token

__all__ = ["Links", "TokenError"]

UNSUBSCRIBE = "unsubscribe"
CLICK = "click"


@dataclass(frozen=True)
class Links:
    base_url: str
    secret: bytes
    web: bool = False  # pages are served: archive and click links lead somewhere

    def unsubscribe(self, subscriber_id: int, list_name: str) -> str:
        token = make_token(self.secret, UNSUBSCRIBE, f"{subscriber_id}:{list_name}")
        return f"{self.base_url}/unsubscribe/{token}"

    def read_unsubscribe(self, token: str) -> tuple[int, str]:
        """(subscriber id, list name) of an unsubscribe token; TokenError if forged."""
        subscriber, _, list_name = read_token(self.secret, UNSUBSCRIBE, token).partition(":")
        if not subscriber.isdigit() or not list_name:
            raise TokenError("the link is not valid")
        return int(subscriber), list_name

    def archive(self, job: str) -> str | None:
        return f"{self.base_url}/archive/{quote(job)}" if self.web else None

    def view(self, job: str, edition_id: int) -> str | None:
        return f"{self.base_url}/archive/{quote(job)}/{edition_id}" if self.web else None

    def click(self, post_id: int, job: str) -> str:
        token = make_token(self.secret, CLICK, f"{post_id}:{job}")
        return f"{self.base_url}/r/{token}"

    def read_click(self, token: str) -> tuple[int, str]:
        """(post id, job) of a click token; TokenError if forged."""
        post, _, job = read_token(self.secret, CLICK, token).partition(":")
        if not post.isdigit() or not job:
            raise TokenError("the link is not valid")
        return int(post), job
