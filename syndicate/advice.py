"""What `syndicate check` warns about: settings that work today but will hurt someone later.

Each warning is one sentence naming the file or key and what to do; none stops anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path

from syndicate.channels.base import Channel
from syndicate.config import Config

__all__ = ["MIN_PLAIN_PASSWORD", "warnings"]

MIN_PLAIN_PASSWORD = 12  # characters, for an admin_password written as plain text
_HASHED = ("scrypt:", "pbkdf2:")
# Digests of this many posts are far below the limit with the shipped templates (about
# 50 long posts fit); only longer ones are rendered to find out.
_SURELY_FITS = 25


def warnings(config: Config, channels: Mapping[str, Channel]) -> list[str]:
    """Every warning about these settings, jobs and channels, in a stable order."""
    return [
        *_dkim_keys(channels),
        *_weak_admin_password(config),
        *_ignored_job_files(config.jobs_dir),
        *_review_settings_without_review(config),
        *_digests_that_could_be_clipped(config, channels),
    ]


def _dkim_keys(channels: Mapping[str, Channel]) -> Iterator[str]:
    for name, channel in channels.items():
        signer = getattr(channel, "dkim", None)
        if signer is not None and signer.bits < signer.GOOD_BITS:
            yield (
                f"[channels.{name}] dkim_private_key is a {signer.bits}-bit key: Gmail and "
                f"RFC 8301 ask for {signer.GOOD_BITS} bits (`openssl genrsa -out dkim.pem "
                f"{signer.GOOD_BITS}`, then publish the new public key)."
            )


def _weak_admin_password(config: Config) -> Iterator[str]:
    password = config.web.admin_password if config.web is not None else None
    if password is None or password.startswith(_HASHED):
        return
    if len(password) < MIN_PLAIN_PASSWORD:
        yield (
            f"[web] admin_password is only {_characters(len(password))}: anyone who guesses "
            f"it runs the dashboard; use at least {MIN_PLAIN_PASSWORD}, or a passphrase "
            "hashed with `syndicate serve --hash-password`."
        )


def _ignored_job_files(jobs_dir: Path) -> Iterator[str]:
    if not jobs_dir.is_dir():
        return
    for path in sorted(jobs_dir.iterdir()):
        if path.is_file() and path.suffix.lower() != ".toml" and not path.name.startswith("."):
            yield (
                f"{_shown(path)} is not read: only files ending in .toml are jobs "
                f"(rename it to {path.stem}.toml to use it)."
            )


def _review_settings_without_review(config: Config) -> Iterator[str]:
    """`review_before` or `if_not_approved` in a job that has no `review = true`: the
    editor meant the job to be reviewed, and it sends on its own."""
    import tomllib

    for job in config.jobs.values():
        if job.review:
            continue
        try:
            given = tomllib.loads(job.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key in ("review_before", "if_not_approved"):
            if key in given:
                yield (
                    f"{_shown(job.file)}: {key} does nothing without review = true: "
                    "the job sends at its slots without an editor's approval."
                )


def _digests_that_could_be_clipped(
    config: Config, channels: Mapping[str, Channel]
) -> Iterator[str]:
    for job in config.jobs.values():
        emails = [
            name for name in job.channels if getattr(channels.get(name), "medium", "") == "email"
        ]
        most = job.selection.new + job.selection.trending
        if job.format != "digest" or not emails or most <= _SURELY_FITS:
            continue
        if most <= _posts_that_fit(config):
            continue
        from syndicate.render.email import EXCERPT_WORDS

        rest = (
            "links the rest on the edition's archive page"
            if config.web is not None
            else "keeps the rest for the next edition (no [web] archive to link them)"
        )
        yield (
            f"{_shown(job.file)}: up to {most} posts could pass the {_limit_kb()} KB of HTML "
            f"that Gmail shows in full; the digest then shows at least "
            f"{_posts_that_fit(config)} (measured with long posts, each with a picture, a "
            f"{EXCERPT_WORDS}-word excerpt and long links; shorter posts fit more) and {rest}; "
            "lower `new` to send them all."
        )


@functools.cache
def _fit_cache(templates_dir: Path | None, locale: str) -> int:
    from syndicate.render.email import posts_that_fit
    from syndicate.render.templates import template_environment

    return posts_that_fit(template_environment(templates_dir), locale)


def _posts_that_fit(config: Config) -> int:
    return _fit_cache(config.site.templates_dir, config.site.locale)


def _limit_kb() -> int:
    from syndicate.render.email import HTML_LIMIT

    return HTML_LIMIT // 1000


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _characters(number: int) -> str:
    return "1 character" if number == 1 else f"{number} characters"
