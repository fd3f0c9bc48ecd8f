"""Webhook bodies: a post or an edition as JSON for a generic receiver, Slack or Discord.

Each body is rendered once, at the job run, and is the exact request body the webhook
channel sends (`SocialPost.text`, with `parse_mode` naming the format):

- "json": `{"type": "post", "post": {...}}` or `{"type": "edition", "edition": {...,
  "posts": [...]}}`, every field of the post (title, url, excerpt, credit, publisher,
  origin, image_url, published_at), nothing shortened;
- "slack": an incoming-webhook message, `text` (the notification line) and `blocks`
  (a section per post: the linked title and excerpt, then the credit); section texts
  stay under Slack's 3000 characters, a message under 50 blocks (a long digest is
  split), and `<`, `>` and `&` are escaped so a feed cannot mention `@channel`;
- "discord": an execute-webhook message, `content` (title, credit, link; at most 2000
  characters) and one embed per post (title ≤ 256, description ≤ 4096, at most 10
  embeds and 6000 characters in a message), with `allowed_mentions` empty so a feed
  cannot ping `@everyone`.

The frame — title, credit, link — is never cut; excerpts shorten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from syndicate.render.safety import safe_image_url, safe_url
from syndicate.render.social import credits, one_line
from syndicate.render.text import shorten
from syndicate.types import Credit, EditionView, PostView, SocialPost

__all__ = ["FORMATS", "render_webhook_digest", "render_webhook_post"]

FORMATS = ("json", "slack", "discord")
SLACK_SECTION_LIMIT = 3000
SLACK_HEADER_LIMIT = 150
SLACK_ITEMS_PER_MESSAGE = 20  # two blocks an item, a header and a footer: under 50
DISCORD_CONTENT_LIMIT = 2000
DISCORD_TITLE_LIMIT = 256
DISCORD_EMBED_LIMIT = 10
DISCORD_EMBED_TOTAL = 6000
DISCORD_EXCERPT_LIMIT = 500  # an embed is a teaser; 4096 is Discord's ceiling
EXCERPT_LIMIT = 500


def render_webhook_post(post: PostView, *, fmt: str) -> SocialPost:
    """One post as the request body of format `fmt`."""
    body = {"json": _json_post, "slack": _slack_post, "discord": _discord_post}[fmt](post)
    return _message(body, fmt, safe_url(post.url), safe_image_url(post.image_url))


def render_webhook_digest(edition: EditionView, *, fmt: str) -> list[SocialPost]:
    """An edition as one request body ("json"), or as few Slack / Discord messages as fit."""
    link = safe_url(edition.site_url)
    if fmt == "json":
        return [_message(_json_edition(edition), fmt, link, None)]
    size = SLACK_ITEMS_PER_MESSAGE if fmt == "slack" else DISCORD_EMBED_LIMIT
    build: Callable[[EditionView, bool, bool], dict[str, Any]] = (
        _slack_digest if fmt == "slack" else _discord_digest
    )
    posts = list(edition.posts)
    groups = [posts[i : i + size] for i in range(0, len(posts), size)] or [[]]
    bodies = []
    for index, group in enumerate(groups):
        part = EditionView(**{**edition.__dict__, "posts": tuple(group)})
        body = build(part, index == 0, index == len(groups) - 1)
        if fmt == "discord":
            bodies.extend(_discord_within_total(body))
        else:
            bodies.append(body)
    return [_message(body, fmt, link, None) for body in bodies]


def _message(body: dict[str, Any], fmt: str, link: str | None, photo: str | None) -> SocialPost:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return SocialPost(target="", text=text, parse_mode=fmt, link=link, photo=photo)


# -- json ------------------------------------------------------------------------------


def _credit(credit: Credit | None) -> dict[str, Any] | None:
    return None if credit is None else {"name": credit.name, "url": safe_url(credit.url)}


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _json_fields(post: PostView) -> dict[str, Any]:
    return {
        "key": post.key,
        "title": post.title,
        "url": safe_url(post.url),
        "excerpt": post.excerpt,
        "credit": post.credit_line,
        "publisher": _credit(post.publisher),
        "origin": _credit(post.origin),
        "image_url": safe_image_url(post.image_url),
        "published_at": _time(post.published_at),
        "also": [_credit(site) for site in post.also],  # other sites that carried the story
    }


def _json_post(post: PostView) -> dict[str, Any]:
    return {"type": "post", "post": _json_fields(post)}


def _json_edition(edition: EditionView) -> dict[str, Any]:
    return {
        "type": "edition",
        "edition": {
            "key": edition.key,
            "job": edition.job,
            "subject": edition.subject,
            "site_name": edition.site_name,
            "site_url": safe_url(edition.site_url),
            "locale": edition.locale,
            "created_at": _time(edition.created_at),
            "posts": [_json_fields(post) for post in edition.posts],
        },
    }


# -- slack -----------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    label = _slack_escape(one_line(label)).replace("|", "¦")
    return f"<{url.replace('|', '%7C')}|{label}>" if url else label


def _slack_credit(post: PostView) -> str:
    return " via ".join(_slack_link(safe_url(c.url), c.name) for c in credits(post))


def _slack_blocks(post: PostView, excerpt_limit: int) -> list[dict[str, Any]]:
    head = f"*{_slack_link(safe_url(post.url), post.title)}*"
    room = SLACK_SECTION_LIMIT - len(head) - 1
    fitted = shorten(
        post.excerpt.strip(), min(excerpt_limit, room), measure=lambda t: len(_slack_escape(t))
    )
    excerpt = _slack_escape(fitted)
    text = f"{head}\n{excerpt}" if excerpt else head
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"📰 {_slack_credit(post)}"}]},
    ]


def _slack_post(post: PostView) -> dict[str, Any]:
    notice = f"{_slack_escape(one_line(post.title))} ({_slack_escape(post.credit_line)})"
    blocks = _slack_blocks(post, EXCERPT_LIMIT)
    image = safe_image_url(post.image_url)
    if image:
        blocks[0]["accessory"] = {
            "type": "image",
            "image_url": image,
            "alt_text": one_line(post.title)[:2000],
        }
    return {"text": notice, "blocks": blocks, "unfurl_links": False}


def _slack_digest(edition: EditionView, first: bool, last: bool) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if first:
        header = shorten(one_line(edition.subject), SLACK_HEADER_LIMIT)
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
    for post in edition.posts:
        blocks.extend(_slack_blocks(post, 200))
    if last:
        site = _slack_link(safe_url(edition.site_url), edition.site_name)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"🔗 {site}"}]})
    return {
        "text": _slack_escape(one_line(edition.subject)),
        "blocks": blocks,
        "unfurl_links": False,
    }


# -- discord ---------------------------------------------------------------------------

_DISCORD_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\*_~`|>#[]()-"})


def _discord_escape(text: str) -> str:
    return text.translate(_DISCORD_MARKDOWN)


def _discord_embed(post: PostView, excerpt_limit: int) -> dict[str, Any]:
    embed: dict[str, Any] = {
        "title": shorten(one_line(post.title), DISCORD_TITLE_LIMIT),
        "description": shorten(post.excerpt.strip(), excerpt_limit),
        "footer": {"text": f"📰 {one_line(post.credit_line)}"[:2048]},
    }
    url = safe_url(post.url)
    if url:
        embed["url"] = url
    image = safe_image_url(post.image_url)
    if image:
        embed["image"] = {"url": image}
    if post.published_at is not None:
        embed["timestamp"] = post.published_at.isoformat()
    return embed


def _discord_post(post: PostView) -> dict[str, Any]:
    url = safe_url(post.url) or ""
    tail = f"\n📰 {_discord_escape(one_line(post.credit_line))}\n🔗 <{url}>" if url else ""
    title = f"**{_discord_escape(one_line(post.title))}**"
    if len(title) + len(tail) > DISCORD_CONTENT_LIMIT:  # the last resort: the title shortens
        title = shorten(title, DISCORD_CONTENT_LIMIT - len(tail))
    return {
        "content": title + tail,
        "embeds": [_discord_embed(post, DISCORD_EXCERPT_LIMIT)],
        "allowed_mentions": {"parse": []},
    }


def _discord_digest(edition: EditionView, first: bool, last: bool) -> dict[str, Any]:
    lines = [f"**{_discord_escape(one_line(edition.subject))}**"] if first else []
    if last and safe_url(edition.site_url):
        lines.append(f"🔗 {_discord_escape(edition.site_name)}: <{safe_url(edition.site_url)}>")
    return {
        "content": "\n".join(lines)[:DISCORD_CONTENT_LIMIT],
        "embeds": [_discord_embed(post, 200) for post in edition.posts],
        "allowed_mentions": {"parse": []},
    }


def _embed_size(embed: dict[str, Any]) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("footer", {}).get("text", ""))
    )


def _discord_within_total(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`body` split so that no message's embeds together pass Discord's 6000 characters."""
    messages: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for embed in body["embeds"]:
        if current and sum(map(_embed_size, current)) + _embed_size(embed) > DISCORD_EMBED_TOTAL:
            messages.append(
                {**body, "embeds": current, "content": body["content"] if not messages else ""}
            )
            current = []
        current.append(embed)
    messages.append({**body, "embeds": current, "content": body["content"] if not messages else ""})
    return messages
