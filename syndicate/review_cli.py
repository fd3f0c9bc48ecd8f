"""The review commands of `syndicate`: editions, edition show/drop/move/pin/subject,
approve, discard. Thin shells over `syndicate.review`; `syndicate.cli` adds them."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syndicate.console import (
    counts_sentence,
    deliver_showing_progress,
    echo,
    print_table,
    shown_path,
)
from syndicate.site import Site

__all__ = ["add_review_commands"]

EDITOR_HELP = "your name, recorded with the change (default: your login name)"
VERSION_HELP = (
    "the edition's version you looked at (`edition show`): the change is refused if "
    "someone changed it since"
)


def add_review_commands(command: Callable[..., argparse.ArgumentParser], common: Any) -> None:
    editions = command(
        "editions",
        _editions,
        "List the latest editions and their state: held, approved, sent, discarded.",
        "Editions of a job with `review = true` are held until an editor approves them;\n"
        "see them with `syndicate edition show N`, approve with `syndicate approve N`.",
    )
    editions.add_argument("--open", action="store_true", help="only held and approved ones")
    editions.add_argument("--limit", type=int, default=30, help="how many (default: 30)")

    approve = command(
        "approve",
        _approve,
        "Approve a held edition: it goes out at its slot, or at once if the slot has come.",
        "Approving an edition that is already being sent sends nothing again.",
    )
    approve.add_argument("edition", type=int, help="the edition's number")
    _who(approve)
    discard = command(
        "discard",
        _discard,
        "Discard a held edition: nothing of it is sent; its posts are new again.",
    )
    discard.add_argument("edition", type=int, help="the edition's number")
    _who(discard)

    edition = command("edition", None, "Look at or change one held edition.")

    def show_help(args: argparse.Namespace) -> int:
        edition.print_help()
        return 2

    edition.set_defaults(handler=show_help)
    sub = edition.add_subparsers(title="commands", metavar="COMMAND")

    def action(name: str, handler: Any, summary: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=summary, description=summary, parents=[common])
        parser.set_defaults(handler=handler)
        parser.add_argument("edition", type=int, help="the edition's number")
        return parser

    show = action("show", _show, "Show an edition: its state, posts, and every change made.")
    show.add_argument(
        "--preview",
        metavar="FOLDER",
        help="also write it as it will be sent into FOLDER: each email (.eml, HTML and "
        "text) and each social post (.json), per channel",
    )
    drop = action("drop", _drop, "Take a post out (it stays new for the next edition).")
    drop.add_argument("post", type=int, help="the post's number (see `edition show`)")
    _who(drop)
    move = action("move", _move, "Move a post to a position (1 is the top).")
    move.add_argument("post", type=int)
    move.add_argument("position", type=int)
    _who(move)
    pin = action(
        "pin",
        _pin,
        "Add a post: a post number, the URL of a stored post, or any article's URL "
        "(fetched, cleaned and credited like a feed's posts).",
    )
    pin.add_argument("url", metavar="URL_OR_POST")
    pin.add_argument("--position", type=int, default=1, help="where (default: 1, the top)")
    _who(pin)
    subject = action("subject", _subject, "Change the edition's subject.")
    subject.add_argument("subject")
    _who(subject)


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--editor", help=EDITOR_HELP)
    parser.add_argument("--version", type=int, dest="seen_version", metavar="V", help=VERSION_HELP)


def _editor(args: argparse.Namespace) -> str:
    if args.editor and args.editor.strip():
        return args.editor.strip()
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): say so rather than invent one
        return os.environ.get("USER") or "an editor at the command line"


def _site(args: argparse.Namespace, *, channels: bool = False) -> Site:
    """The site; with `channels`, for a command that renders or sends (a preview, approve)."""
    return Site.load(args, channels=channels, sending=channels)


def _editions(args: argparse.Namespace) -> int:
    from syndicate.review import list_editions

    site = _site(args)
    rows = list_editions(site.db, open_only=args.open, limit=max(args.limit, 1))
    if not rows:
        echo("No editions yet." if not args.open else "No edition waits for review.")
        return 0
    zone = site.config.site.timezone
    print_table(
        ("edition", "job", "state", "posts", "goes out", "subject"),
        [
            (
                row.id,
                row.job,
                row.state,
                row.posts,
                row.slot.astimezone(zone).strftime("%Y-%m-%d %H:%M") if row.slot else "—",
                row.subject,
            )
            for row in rows
        ],
    )
    for row in rows:
        if row.untold:
            echo(f"Edition {row.id}: editors not told: {row.untold}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from syndicate.review import edition_detail
    from syndicate.review_notice import edition_link

    site = _site(args, channels=bool(args.preview))
    detail = edition_detail(site.db, args.edition)
    edition, zone = detail.summary, site.config.site.timezone

    def when(moment: Any) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"

    echo(f"Edition {edition.id} of {edition.job}: {edition.state} (version {edition.version})")
    echo(f"  subject:  {edition.subject}")
    echo(f"  goes out: {when(edition.slot)}")
    if edition.released_at:
        echo(f"  released: {when(edition.released_at)}")
    if detail.deliveries:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(detail.deliveries.items()))
        echo(f"  deliveries: {counts}")
    echo(f"  page:     {edition_link(site.config, edition.id)}")
    if edition.untold:
        echo(f"  editors not told: {edition.untold} (tried again every few minutes)")
    echo("Posts:")
    for position, post in enumerate(detail.posts, start=1):
        echo(f"  {position}. [post {post.post_id}] {post.title} ({post.source})")
    if not detail.posts:
        echo("  (none)")
    if detail.changes:
        echo("Changes:")
        for change in detail.changes:
            echo(f"  {when(change.at)}  {change.editor}: {change.action}, {change.detail}")
    if args.preview:
        from syndicate.jobs import preview_edition

        paths = preview_edition(
            site.db, site.config, site.channels, edition.id, Path(args.preview).resolve()
        )
        echo("As it will be sent (nothing was sent):")
        for path in paths:
            echo(f"  {shown_path(path)}")
    return 0


def _drop(args: argparse.Namespace) -> int:
    from syndicate.review import drop_post

    site = _site(args)
    return _say(drop_post(site.db, args.edition, args.post, _editor(args), args.seen_version))


def _move(args: argparse.Namespace) -> int:
    from syndicate.review import move_post

    site = _site(args)
    editor = _editor(args)
    return _say(
        move_post(site.db, args.edition, args.post, args.position, editor, args.seen_version)
    )


def _pin(args: argparse.Namespace) -> int:
    from syndicate.pinning import post_to_pin
    from syndicate.review import pin_post

    site = _site(args)
    post_id = asyncio.run(post_to_pin(site.db, site.config, args.url))
    editor = _editor(args)
    return _say(pin_post(site.db, args.edition, post_id, editor, args.seen_version, args.position))


def _subject(args: argparse.Namespace) -> int:
    from syndicate.review import set_subject

    site = _site(args)
    return _say(set_subject(site.db, args.edition, args.subject, _editor(args), args.seen_version))


def _discard(args: argparse.Namespace) -> int:
    from syndicate.review import discard

    site = _site(args)
    return _say(discard(site.db, args.edition, _editor(args), args.seen_version))


def _approve(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from syndicate.db.session import DatabaseError
    from syndicate.delivery import deliver_due
    from syndicate.review import approve

    site = _site(args, channels=True)
    sentence, queued = approve(
        site.db, site.config, site.channels, args.edition, _editor(args), args.seen_version
    )
    _say(sentence)
    if not queued:
        return 0
    try:
        with site.db.sending_lock():
            wait = timedelta(seconds=30)
            counts = asyncio.run(
                deliver_showing_progress(site, args, wait=wait, deliver=deliver_due)
            )
    except DatabaseError:
        echo("The running syndicate is sending it.")
        return 0
    if not args.quiet:
        echo(counts_sentence(counts))
    return 0


def _say(sentence: str) -> int:

    echo(sentence)
    return 0
