"""Settings and job files: read from TOML, checked, and turned into typed values.

Every mistake an editor can make in a file ends in one `ConfigError` whose message is a
single sentence naming the file, the key and the problem, e.g.
``jobs/pagi.toml: schedule: "0 7 * * 8" is not a valid cron expression (day of week: 8 is
outside 0-7).``
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syndicate.cron import CronError, CronLine, visible
from syndicate.errors import SyndicateError
from syndicate.languages import available_languages, language_of
from syndicate.printable import printable, shortened
from syndicate.types import JobFormat

__all__ = [
    "ChannelConfig",
    "Config",
    "ConfigError",
    "ConfigTable",
    "CreditName",
    "DeliverySettings",
    "IngestSettings",
    "Job",
    "ReviewSettings",
    "Selection",
    "Site",
    "Source",
    "Web",
    "bundled_path",
    "find_config_path",
    "format_duration",
    "load_config",
    "parse_duration",
]

CONFIG_ENV = "SYNDICATE_CONFIG"
DEFAULT_CONFIG_NAME = "syndicate.toml"
_MISSING: Any = object()
# ConfigTable's getters once named after the builtins they return, as third-party adapters
# may still call them.
_RENAMED_GETTERS = {"str": "text", "int": "integer", "bool": "boolean"}
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION_PATTERN = re.compile(r"(\d+)\s*(s|m|h|d|w)")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(SyndicateError):
    """A mistake in a settings or job file, told in one sentence."""


def bundled_path(name: str) -> Path:
    """The shipped copy of `templates`, `jobs` or `config.example.toml`.

    A wheel carries them inside the package (`syndicate/_bundled/`); a source checkout
    has them at the top level, next to the package.
    """
    package = Path(__file__).resolve().parent
    inside = package / "_bundled" / name
    return inside if inside.exists() else package.parent / name


def parse_duration(text: str) -> timedelta:
    """ "15m", "1h30m", "7d" → timedelta; raises ValueError on anything else."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION_PATTERN.sub("", compact):
        raise ValueError(text)
    seconds = sum(
        int(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PATTERN.findall(compact)
    )
    if seconds <= 0:
        raise ValueError(text)
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """timedelta → "1h30m", the way editors write durations."""
    seconds, parts = int(duration.total_seconds()), []
    for unit in ("w", "d", "h", "m", "s"):
        amount, seconds = divmod(seconds, _DURATION_UNITS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def expand_env(value: str, fail: Callable[[str], None]) -> str:
    """Replace ${NAME} (or ${NAME:-fallback}) with the environment's value."""

    def replace(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if fallback is not None:
            return fallback
        fail(f"the environment variable {name} is not set")
        return ""

    return _ENV_PATTERN.sub(replace, value)


class ConfigTable:
    """One TOML table being read: typed getters, and a complaint about leftover keys.

    Channel adapters read their own table through this, so their errors read like ours.
    """

    def __init__(self, data: dict[str, Any], file: Path, table: str = "") -> None:
        self._data = data
        self._seen: set[str] = set()
        self.file = file
        self.table = table
        self.base_dir = file.parent

    def fail(self, key: str, problem: str) -> NoReturn:
        where = f"[{self.table}] " if self.table else ""
        raise ConfigError(f"{_display(self.file)}: {where}{key}: {problem}.")

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def _get(self, key: str, default: Any) -> Any:
        self._seen.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            self.fail(key, "this key is required")
        return default

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and key not in self._data:
            return value
        if not isinstance(value, str):
            self.fail(key, f"expected text in quotes, found {describe_value(value)}")
        value = expand_env(value, lambda problem: self.fail(key, problem))
        if not value.strip():
            self.fail(key, "must not be empty")
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0) -> Any:
        value = self._get(key, default)
        if key not in self._data:
            return value
        if isinstance(value, float):  # 2.5: say which number, "a number" would puzzle
            self.fail(key, f"expected a whole number, found {value}")
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, found {describe_value(value)}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum}, found {value}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if key in self._data and not isinstance(value, bool):
            self.fail(key, f"expected true or false, found {describe_value(value)}")
        return value

    def str_list(self, key: str, default: Any = _MISSING) -> Any:
        """A list of text; a single text value is taken as a list of one."""
        value = self._get(key, default)
        if key not in self._data:
            return value
        if not isinstance(value, str | list):
            self.fail(
                key, f"expected text in quotes or a list of them, found {describe_value(value)}"
            )
        items = [value] if isinstance(value, str) else value
        for item in items:
            if not isinstance(item, str):
                found = f"{describe_value(item)} in the list"
                self.fail(key, f"expected text in quotes or a list of them, found {found}")
        expanded = [expand_env(item, lambda problem: self.fail(key, problem)) for item in items]
        if not expanded:
            self.fail(key, "must name at least one value")
        return expanded

    def choice(self, key: str, options: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if key in self._data and value not in options:
            allowed = ", ".join(f'"{option}"' for option in options)
            self.fail(key, f'"{value}" is not one of {allowed}')
        return value

    def duration(self, key: str, default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if key not in self._data:
            return parse_duration(value) if isinstance(value, str) else value
        try:
            return parse_duration(value)
        except ValueError:
            compact = value.strip().lower().replace(" ", "") if isinstance(value, str) else ""
            if compact and not _DURATION_PATTERN.sub("", compact):  # well formed, but 0
                self.fail(key, f'"{value}" must be longer than 0 seconds')
            self.fail(key, f'"{value}" is not a duration such as "15m", "2h" or "7d"')
        raise AssertionError  # unreachable: fail() raises

    def path(self, key: str, default: Any = _MISSING) -> Any:
        """A file or folder path; a relative one is taken from the config file's folder."""
        value = self.text(key, default)
        if value is None:
            return None
        return (self.base_dir / Path(value).expanduser()).resolve()

    def url(self, key: str, schemes: tuple[str, ...], default: Any = _MISSING) -> Any:
        value = self.text(key, default)
        if key not in self._data:
            return value
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            self.fail(key, f'"{value}" must start with {allowed}')
        return value

    def section(self, key: str) -> ConfigTable:
        """A sub-table such as [select]; an absent one reads as empty."""
        value = self._get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, found {describe_value(value)}")
        name = f"{self.table}.{key}" if self.table else key
        return ConfigTable(value, self.file, name)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default)

    def done(self) -> None:
        """Complain about the first key nobody asked for (a typo, most of the time)."""
        for key in self._data:
            if key not in self._seen:
                hint = difflib.get_close_matches(key, sorted(self._seen), n=1)
                suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
                self.fail(key, f"unknown key{suggestion}")

    if not TYPE_CHECKING:  # at run time only: mypy holds syndicate's own code to the new names

        def __getattr__(self, name: str) -> Any:
            """An adapter written before text, integer and boolean were named so still runs."""
            if name in _RENAMED_GETTERS:
                return getattr(self, _RENAMED_GETTERS[name])
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(frozen=True)
class Site:
    name: str
    base_url: str
    locale: str
    timezone: ZoneInfo
    secret_key: str | None
    templates_dir: Path


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    poll: timedelta
    site_name: str | None
    enabled: bool
    # "auto": fetch the article page when the feed carries only a summary;
    # "always": fetch it for every entry; "never": keep what the feed gives.
    full_text: str = "auto"
    timezone: ZoneInfo | None = None  # for dates the source writes without a zone


@dataclass(frozen=True)
class CreditName:
    """How a short credit ("inilah") is shown: a proper name and a site."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class DeliverySettings:
    """How deliveries are retried and how long a claimed row stays a worker's."""

    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=1)
    # A worker renews its rows' lease while it lives; a dead worker's rows are taken
    # over by another once the lease has run out.
    lease: timedelta = timedelta(seconds=30)
    batch_size: int = 200
    # A channel that cannot reach its server waits this long, then twice as long... (no
    # message counts an attempt meanwhile), but never longer than the cap.
    outage_backoff_base: timedelta = timedelta(seconds=2)
    outage_backoff_cap: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class IngestSettings:
    """How feeds and article pages are fetched ([ingest])."""

    # Each fetch ends within this, connecting, redirects and the whole body included.
    feed_timeout: timedelta = timedelta(seconds=30)
    page_timeout: timedelta = timedelta(seconds=20)
    # Hosts whose pages may be on private, loopback or link-local addresses (lowercased);
    # a source's own host may always be.
    private_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Web:
    """`syndicate serve`: where it listens and who may use the dashboard."""

    host: str = "127.0.0.1"
    port: int = 8080
    admin_user: str | None = None
    admin_password: str | None = None  # a hash ("scrypt:..." / "pbkdf2:...") or the word
    # Proxies (addresses or networks) whose X-Forwarded-For / Forwarded headers are believed;
    # from anyone else those headers are ignored and the connection's address is the client.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    aliases: tuple[str, ...] = ()  # more host names the pages answer at, beside base_url's
    max_upload_mb: int = 50  # the largest CSV upload on the dashboard
    header_timeout: timedelta = timedelta(seconds=10)  # a request's headers must arrive within
    body_timeout: timedelta = timedelta(seconds=60)  # and its body within this after them
    max_connections: int = 200  # open connections at once; more are answered 503
    # open connections from one client address (an IPv6 client: its /64) at once; the
    # trusted proxies are not limited by it. 0: a quarter of max_connections.
    max_connections_per_client: int = 0

    @property
    def connections_per_client(self) -> int:
        return self.max_connections_per_client or self.max_connections // 4


@dataclass(frozen=True)
class ReviewSettings:
    """`[review]`: whom to tell when an edition waits for an editor's approval."""

    notify: tuple[str, ...] = ()  # editors' addresses, mailed through `email_channel`
    email_channel: str | None = None
    telegram_channel: str | None = None  # posts to `telegram_chat` through this channel
    telegram_chat: str | None = None


@dataclass(frozen=True)
class BounceSettings:
    """`[bounces]`: the VERP return address, the bounce mailbox and provider webhooks."""

    # Envelope sender of every digest: "bounces@example.org" sends as
    # "bounces+TOKEN@example.org", TOKEN naming the delivery (signed).
    address: str | None = None
    mailbox_url: str | None = None  # imaps://, pop3s:// (or imap:// / pop3:// with STARTTLS)
    password_env: str = "SYNDICATE_BOUNCES_PASSWORD"
    move_to: str | None = None  # IMAP folder for handled mail; None: delete it
    interval: timedelta = timedelta(minutes=5)
    ca_file: Path | None = None
    timeout: timedelta = timedelta(seconds=30)
    # The receiving server whose Authentication-Results are believed: an unsubscribe by
    # mail without its token is honoured only when that server saw the sender pass DMARC,
    # or DKIM or SPF for the From domain. None: only mails with their token are honoured.
    trusted_authserv_id: str | None = None
    # Provider webhooks, each off until configured.
    ses_topics: tuple[str, ...] = ()  # SNS topic ARNs whose notifications are taken
    sendgrid_public_key: str | None = None  # the "verification key" SendGrid shows
    postmark_user: str | None = None  # basic auth on the webhook URL
    postmark_password_env: str | None = None
    mailgun_signing_key_env: str | None = None

    @property
    def webhooks(self) -> tuple[str, ...]:
        """The providers whose webhook is on."""
        on = {
            "ses": bool(self.ses_topics),
            "sendgrid": self.sendgrid_public_key is not None,
            "postmark": self.postmark_user is not None,
            "mailgun": self.mailgun_signing_key_env is not None,
        }
        return tuple(name for name, enabled in on.items() if enabled)


@dataclass(frozen=True)
class ChannelConfig:
    """A channel's table as written; the channel's own class reads and checks it."""

    name: str
    type: str
    table: ConfigTable


@dataclass(frozen=True)
class Selection:
    new: int
    window: timedelta | None
    sources: tuple[str, ...]
    trending: int = 0  # the most trending posts not yet sent, beside the `new` ones


@dataclass(frozen=True)
class Job:
    name: str
    file: Path
    channels: tuple[str, ...]
    format: JobFormat
    subject: str | None
    selection: Selection
    schedule: str | None = None
    every: timedelta | None = None
    enabled: bool = True
    skip_if_empty: bool = True
    description: str = ""
    # Trickle: at most one post per `spacing`; nothing during `quiet_hours` (site time,
    # "23:00-06:00"); a post still waiting after `max_delay` is dropped as skipped.
    spacing: timedelta | None = None
    quiet_hours: tuple[time, time] | None = None
    max_delay: timedelta | None = None
    # Deliver the digest at the scheduled hour of each subscriber's own time zone.
    local_time: bool = False
    track_clicks: bool = False  # links go through /r/<token> (needs [web])
    # Held for an editor: built `review_before` ahead of each slot, sent once approved;
    # `if_not_approved` says what the slot does without approval ("hold" or "send").
    review: bool = False
    review_before: timedelta = timedelta(minutes=30)
    if_not_approved: str = "hold"

    @property
    def local_hour(self) -> time | None:
        """For a local-time job: the hour and minute of its cron line, else None."""
        if not self.local_time or self.schedule is None:
            return None
        line = CronLine.parse(self.schedule)
        return time(min(line.hours), min(line.minutes))

    @property
    def schedule_text(self) -> str:
        """The schedule as the editor wrote it: a cron line, or "every 10m"."""
        if self.schedule is not None:
            return self.schedule
        return f"every {format_duration(self.every or timedelta(0))}"

    def trigger(self, timezone: ZoneInfo) -> Any:
        """The APScheduler trigger that fires this job, in the site's time zone."""
        return _make_trigger(self.schedule, self.every, timezone)


@dataclass(frozen=True)
class Config:
    file: Path
    site: Site
    database_url: str
    jobs_dir: Path
    sources: tuple[Source, ...]
    channels: dict[str, ChannelConfig]
    jobs: dict[str, Job] = field(default_factory=dict)
    web: Web | None = None  # None when there is no [web] table: no pages are served
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    credits: dict[str, CreditName] = field(default_factory=dict)  # keys case-folded
    ingest: IngestSettings = field(default_factory=IngestSettings)
    bounces: BounceSettings = field(default_factory=BounceSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)

    def job(self, name: str) -> Job:
        if name not in self.jobs:
            known = ", ".join(sorted(self.jobs)) or "none"
            raise ConfigError(
                f'There is no job named "{name}" in {_display(self.jobs_dir)} (jobs: {known}).'
            )
        return self.jobs[name]


def find_config_path(given: str | None) -> Path:
    """--config, then $SYNDICATE_CONFIG, then ./syndicate.toml."""
    if given:
        return Path(given).expanduser().resolve()
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser().resolve()
    return (Path.cwd() / DEFAULT_CONFIG_NAME).resolve()


def load_config(path: Path) -> Config:
    """Read the site's settings and every job file next to them."""
    top = ConfigTable(_read_toml(path), path)
    site = _read_site(top.section("site"))
    database_url = _read_database(top.section("database"), path)
    scheduler = top.section("scheduler")
    jobs_dir = scheduler.path("jobs_dir", "jobs")
    scheduler.done()
    sources = _read_sources(top)
    channels = _read_channels(top)
    web = _read_web(top.section("web")) if "web" in top else None
    credits = _read_credits(top.section("credits"))
    delivery = _read_delivery(top.section("delivery"))
    ingest = _read_ingest(top.section("ingest"))
    bounces = _read_bounces(top.section("bounces"))
    review = _read_review(top.section("review"), channels)
    top.done()
    config = Config(
        path,
        site,
        database_url,
        jobs_dir,
        sources,
        channels,
        web=web,
        credits=credits,
        delivery=delivery,
        ingest=ingest,
        bounces=bounces,
        review=review,
    )
    # The jobs are read against the finished settings, then joined to them.
    return replace(config, jobs={job.name: job for job in _read_jobs(config)})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"{_display(path)}: the settings file does not exist (start one with "
            f"`syndicate init`, or name yours with --config or {CONFIG_ENV}; "
            f"`syndicate demo` shows a working example)."
        ) from None
    except OSError as error:
        raise ConfigError(f"{_display(path)}: cannot be read ({error.strerror}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{_display(path)}: is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{_display(path)}: is not valid TOML ({error}).") from None


def _read_site(table: ConfigTable) -> Site:
    name = table.text("name", "syndicate")
    base_url = table.url("base_url", ("http", "https"), "http://localhost:8080").rstrip("/")
    locale = table.text("locale", "en")
    _check_locale(table, locale)
    zone_name = table.text("timezone", "UTC")
    try:
        timezone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        table.fail("timezone", f'"{zone_name}" is not a time zone name such as "Asia/Jakarta"')
    secret_key = table.text("secret_key", None)
    templates_dir = table.path("templates_dir", None) or bundled_path("templates")
    table.done()
    return Site(name, base_url, locale, timezone, secret_key, templates_dir)


def _check_locale(table: ConfigTable, locale: str) -> None:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        table.fail("locale", f'"{locale}" is not a language code such as "id" or "en"')
    languages = available_languages()
    if language_of(locale) not in languages:
        table.fail(
            "locale",
            f'"{locale}" has no translation yet, so mails and pages would mix English words '
            f"with its dates: use one of {', '.join(languages)} (a new language is one "
            "catalog, syndicate/locales/<language>/LC_MESSAGES/messages.po)",
        )


def _read_database(table: ConfigTable, config_file: Path) -> str:
    url = table.text("url", "sqlite:///syndicate.db")
    table.done()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        table.fail("url", f'"{url}" must start with sqlite:/// or postgresql+psycopg://')
    if _in_memory(url):
        table.fail(
            "url",
            f'"{url}" is a database kept in memory, which forgets everything when the '
            'command ends: name a file instead, such as "sqlite:///syndicate.db"',
        )
    if url.startswith("sqlite:///"):
        relative = url.removeprefix("sqlite:///")
        absolute = (config_file.parent / Path(relative).expanduser()).resolve()
        url = f"sqlite:///{absolute}"
    return url


def _in_memory(url: str) -> bool:
    """Whether a SQLite URL names a database kept in memory: no path ("sqlite://"),
    ":memory:", or a URI file "file::memory:" or one opened with mode=memory."""
    found = re.match(r"^sqlite(?:\+\w+)?://(.*)$", url)
    if found is None:
        return False
    rest = found.group(1)
    path, _, query = rest.partition("?")
    if path in ("", "/") or path.startswith(("/:memory:", "/file::memory:")):
        return True
    return path.startswith("/file:") and "mode=memory" in query.split("&")


def _read_sources(top: ConfigTable) -> tuple[Source, ...]:
    entries = top.raw("sources", [])
    if not isinstance(entries, list):
        top.fail("sources", "write each source as its own [[sources]] table")
    sources: list[Source] = []
    for index, data in enumerate(entries, start=1):
        if not isinstance(data, dict):
            top.fail("sources", "write each source as its own [[sources]] table")
        table = ConfigTable(data, top.file, f"sources #{index}")
        source = Source(
            name=table.text("name"),
            url=table.url("url", ("http", "https", "file")),
            poll=table.duration("poll", "15m"),
            site_name=table.text("site_name", None),
            enabled=table.boolean("enabled", True),
            full_text=table.choice("full_text", ("auto", "always", "never"), "auto"),
            timezone=_zone(table, "timezone", None),
        )
        table.done()
        if any(other.name == source.name for other in sources):
            table.fail("name", f'another source is already named "{source.name}"')
        sources.append(source)
    return tuple(sources)


def _read_web(table: ConfigTable) -> Web:
    web = Web(
        host=table.text("host", "127.0.0.1"),
        port=table.integer("port", 8080, minimum=1),
        admin_user=table.text("admin_user", None),
        admin_password=table.text("admin_password", None),
        trusted_proxies=_networks(table, "trusted_proxies"),
        aliases=tuple(_host_name(table, name) for name in table.str_list("aliases", [])),
        max_upload_mb=table.integer("max_upload_mb", 50, minimum=1),
        header_timeout=table.duration("header_timeout", "10s"),
        body_timeout=table.duration("body_timeout", "60s"),
        max_connections=table.integer("max_connections", 200, minimum=10),
        max_connections_per_client=table.integer("max_connections_per_client", 0, minimum=1),
    )
    if web.connections_per_client >= web.max_connections:
        table.fail(
            "max_connections_per_client",
            f"must be less than max_connections ({web.max_connections}), so that one "
            "client cannot take every connection",
        )
    if web.port > 65535:
        table.fail("port", f"{web.port} is not a port number (1 to 65535)")
    if (web.admin_user is None) != (web.admin_password is None):
        table.fail("admin_password", "give both admin_user and admin_password, or neither")
    table.done()
    return web


def _networks(table: ConfigTable, key: str) -> tuple[IPv4Network | IPv6Network, ...]:
    networks = []
    for text in table.str_list(key, []):
        try:
            networks.append(ip_network(text.strip(), strict=False))
        except ValueError:
            table.fail(key, f'"{text}" is not an IP address or network such as "10.0.0.0/8"')
    return tuple(networks)


def _host_name(table: ConfigTable, text: str) -> str:
    name = text.strip().lower().rstrip(".")
    if not re.fullmatch(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]", name):
        table.fail("aliases", f'"{text}" is not a host name such as "news.example.org"')
    return name


MAILBOX_SCHEMES = ("imaps", "imap", "pop3s", "pop3")


def _read_review(table: ConfigTable, channels: dict[str, ChannelConfig]) -> ReviewSettings:
    notify = tuple(table.str_list("notify", []))
    for address in notify:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
            shown = _escaped(address)
            table.fail("notify", f'"{shown}" is not an address such as "editor@example.org"')
    chat = table.text("telegram_chat", None)
    settings = ReviewSettings(
        notify=notify,
        email_channel=_review_channel(table, "email_channel", "email", channels, bool(notify)),
        telegram_channel=_review_channel(
            table, "telegram_channel", "telegram", channels, bool(chat)
        ),
        telegram_chat=chat,
    )
    table.done()
    return settings


def _medium(channel: ChannelConfig) -> str:
    """What a channel sends, as far as its table says: an outbox stands in for either."""
    if channel.type == "outbox":
        medium = channel.table._data.get("medium", "email")
        return medium if isinstance(medium, str) else ""
    return channel.type


def _review_channel(
    table: ConfigTable, key: str, kind: str, channels: dict[str, ChannelConfig], needed: bool
) -> str | None:
    """The channel `key` names (it must be of `kind`), else the first of that kind when
    something is to be sent through one."""
    name = table.text(key, None)
    of_kind = [channel for channel, found in channels.items() if _medium(found) == kind]
    if name is not None and name not in of_kind:
        known = ", ".join(of_kind) or "none"
        table.fail(key, f'"{name}" is not one of the {kind} channels in [channels] ({known})')
    if name is None and needed:
        if not of_kind:
            table.fail(key, f"no {kind} channel in [channels] to tell the editors through")
        name = of_kind[0]
    return name


def _read_bounces(table: ConfigTable) -> BounceSettings:
    default = BounceSettings()
    address = table.text("address", None)
    if address is not None and not re.fullmatch(r"[^@\s+]+@[^@\s]+\.[^@\s]+", address):
        table.fail("address", f'"{address}" is not a plain address such as "bounces@example.org"')
    # imap_url / pop3_url, as the settings are named in the docs; mailbox_url is the same.
    given = {
        key: table.url(key, schemes, None)
        for key, schemes in (
            ("imap_url", ("imaps", "imap")),
            ("pop3_url", ("pop3s", "pop3")),
            ("mailbox_url", MAILBOX_SCHEMES),
        )
        if key in table
    }
    if len(given) > 1:
        first, second = list(given)[:2]
        table.fail(second, f"give one bounce mailbox: {first} or {second}, not both")
    mailbox = next(iter(given.values()), None)
    authserv = table.text("trusted_authserv_id", None)
    if authserv is not None and not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", authserv):
        table.fail(
            "trusted_authserv_id", f'"{authserv}" is not a host name such as "mx.example.org"'
        )
    settings = BounceSettings(
        address=address.lower() if address else None,
        mailbox_url=mailbox,
        password_env=table.text("password_env", default.password_env),
        move_to=table.text("move_to", None),
        interval=table.duration("interval", default.interval),
        ca_file=table.path("ca_file", None),
        timeout=table.duration("timeout", default.timeout),
        trusted_authserv_id=authserv.lower() if authserv else None,
        **_read_bounce_hooks(table),
    )
    if mailbox is not None and settings.move_to and mailbox.lower().startswith("pop3"):
        table.fail("move_to", "POP3 has no folders: handled mail is deleted; leave move_to out")
    table.done()
    return settings


def _read_bounce_hooks(table: ConfigTable) -> dict[str, Any]:
    ses, sendgrid = table.section("ses"), table.section("sendgrid")
    postmark, mailgun = table.section("postmark"), table.section("mailgun")
    hooks = {
        "ses_topics": tuple(ses.str_list("topic_arns", ())),
        "sendgrid_public_key": sendgrid.text("public_key", None),
        "postmark_user": postmark.text("user", None),
        "postmark_password_env": postmark.text("password_env", None),
        "mailgun_signing_key_env": mailgun.text("signing_key_env", None),
    }
    if (hooks["postmark_user"] is None) != (hooks["postmark_password_env"] is None):
        postmark.fail("password_env", "give both user and password_env, or neither")
    for part in (ses, sendgrid, postmark, mailgun):
        part.done()
    return hooks


def _read_delivery(table: ConfigTable) -> DeliverySettings:
    default = DeliverySettings()
    settings = DeliverySettings(
        max_attempts=table.integer("max_attempts", default.max_attempts, minimum=1),
        backoff_base=table.duration("backoff_base", default.backoff_base),
        backoff_cap=table.duration("backoff_cap", default.backoff_cap),
        lease=table.duration("lease", default.lease),
        batch_size=table.integer("batch_size", default.batch_size, minimum=1),
        outage_backoff_base=table.duration("outage_backoff_base", default.outage_backoff_base),
        outage_backoff_cap=table.duration("outage_backoff_cap", default.outage_backoff_cap),
    )
    if settings.lease < timedelta(seconds=3):
        table.fail("lease", "must be at least 3 seconds")
    for key, longest in _LONGEST_DELIVERY_WAITS.items():
        if getattr(settings, key) > longest:
            table.fail(key, f"must be at most {format_duration(longest)}")
    for base, cap in (
        ("backoff_base", "backoff_cap"),
        ("outage_backoff_base", "outage_backoff_cap"),
    ):
        if getattr(settings, base) > getattr(settings, cap):
            table.fail(
                base, f"must not be longer than {cap} ({format_duration(getattr(settings, cap))})"
            )
    if settings.batch_size > 10_000:
        table.fail("batch_size", "must be at most 10000")
    table.done()
    return settings


# Longer waits than these are mistakes (and past some, dates overflow).
_LONGEST_DELIVERY_WAITS = {
    "lease": timedelta(hours=1),
    "backoff_base": timedelta(days=1),
    "backoff_cap": timedelta(days=7),
    "outage_backoff_base": timedelta(hours=1),
    "outage_backoff_cap": timedelta(hours=6),
}


def _read_ingest(table: ConfigTable) -> IngestSettings:
    default = IngestSettings()
    hosts = table.str_list("private_hosts", []) if table.raw("private_hosts", []) else []
    for host in hosts:
        if not re.fullmatch(r"[\w.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+", host.strip()):
            table.fail("private_hosts", f'"{host}" is not a host name such as "intranet.example"')
    settings = IngestSettings(
        feed_timeout=table.duration("feed_timeout", default.feed_timeout),
        page_timeout=table.duration("page_timeout", default.page_timeout),
        private_hosts=tuple(host.strip().strip("[]").lower() for host in hosts),
    )
    table.done()
    return settings


def _read_credits(table: ConfigTable) -> dict[str, CreditName]:
    """[credits] inilah = "Inilah.com", or kompas = { name = "Kompas.com", url = "..." }."""
    credits: dict[str, CreditName] = {}
    for short in list(table._data):
        value = table.raw(short)
        if isinstance(value, str):
            credits[short.casefold()] = CreditName(table.text(short))
            continue
        entry = table.section(short)
        credits[short.casefold()] = CreditName(
            entry.text("name"), entry.url("url", ("http", "https"), None)
        )
        entry.done()
    return credits


def _zone(table: ConfigTable, key: str, default: ZoneInfo | None) -> ZoneInfo | None:
    name = table.text(key, None)
    if name is None:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        table.fail(key, f'"{name}" is not a time zone name such as "Asia/Jakarta"')
    raise AssertionError  # unreachable: fail() raises


def _read_channels(top: ConfigTable) -> dict[str, ChannelConfig]:
    channels_table = top.section("channels")
    channels: dict[str, ChannelConfig] = {}
    for name in list(channels_table._data):
        table = channels_table.section(name)
        kind = table.text("type")
        channels[name] = ChannelConfig(name, kind, table)
    return channels


def _read_jobs(config: Config) -> Iterator[Job]:
    if not config.jobs_dir.is_dir():
        shown = _display(config.jobs_dir)
        problem = (
            f"{shown} is a file, not a folder"
            if config.jobs_dir.exists()
            else f"the folder {shown} does not exist"
        )
        raise ConfigError(f"{_display(config.file)}: [scheduler] jobs_dir: {problem}.")
    # "pagi.TOML" (an editor's caps lock, or a Windows program) is a job file too.
    for path in sorted(config.jobs_dir.iterdir()):
        if path.is_file() and path.suffix.lower() == ".toml" and not path.name.startswith("."):
            yield _read_job(path, config)


def _read_job(path: Path, config: Config) -> Job:
    table = ConfigTable(_read_toml(path), path)
    schedule = table.text("schedule", None)
    every = table.duration("every", None)
    if (schedule is None) == (every is None):
        table.fail("schedule", 'give either schedule = "0 7 * * *" (cron) or every = "10m"')
    if schedule is not None:
        _check_cron(table, schedule)
    channels = table.str_list("channels")
    for channel in channels:
        if channel not in config.channels:
            known = ", ".join(sorted(config.channels)) or "none"
            table.fail(
                "channels",
                f'no channel named "{channel}" in {_display(config.file)} (channels: {known})',
            )
    job = Job(
        name=path.stem,
        file=path,
        channels=tuple(dict.fromkeys(channels)),
        format=table.choice("format", ("digest", "each"), "digest"),
        subject=table.text("subject", None),
        selection=_read_selection(table.section("select"), config),
        schedule=schedule,
        every=every,
        enabled=table.boolean("enabled", True),
        skip_if_empty=table.boolean("skip_if_empty", True),
        description=table.text("description", ""),
        spacing=table.duration("spacing", None),
        quiet_hours=_quiet_hours(table),
        max_delay=table.duration("max_delay", None),
        local_time=table.boolean("local_time", False),
        track_clicks=table.boolean("track_clicks", False),
        review=table.boolean("review", False),
        review_before=table.duration("review_before", "30m"),
        if_not_approved=table.choice("if_not_approved", ("hold", "send"), "hold"),
    )
    if job.review and job.local_time:
        table.fail("review", "cannot be combined with local_time (each zone has its own hour)")
    if job.review:
        gap = _shortest_gap(job, config.site.timezone, job.review_before)
        if gap is not None and job.review_before >= gap:
            table.fail(
                "review_before",
                f'"{format_duration(job.review_before)}" is not shorter than the '
                f"{format_duration(gap)} between two of the job's slots "
                f"({job.schedule_text}): each edition is made after the one before went out",
            )
    if job.local_time and not _at_one_time_of_day(job.schedule):
        table.fail("local_time", 'needs a schedule at one hour, such as schedule = "0 7 * * *"')
    if job.track_clicks and config.web is None:
        table.fail("track_clicks", "needs a [web] table in the settings: clicks go through it")
    table.done()
    return job


def _escaped(text: str) -> str:
    """`text` on one line for a sentence: line breaks and tabs shown as \\r \\n \\t, other
    control characters removed, a long value cut."""
    one_line = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return shortened(printable(one_line), 100)


def _shortest_gap(job: Job, timezone: ZoneInfo, enough: timedelta) -> timedelta | None:
    """The shortest time between two slots of the job within a year (None: fewer than
    two slots), found early once it is no longer than `enough`."""
    if job.every is not None:
        return job.every
    trigger = job.trigger(timezone)
    start = datetime(2001, 1, 1, tzinfo=timezone)  # a Monday; any year does
    previous = trigger.get_next_fire_time(None, start)
    shortest: timedelta | None = None
    for _ in range(800):
        if previous is None or previous - start > timedelta(days=400):
            break
        following = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        if following is None:
            break
        gap = following - previous
        if shortest is None or gap < shortest:
            shortest = gap
            if shortest <= enough:
                break
        previous = following
    return shortest


def _quiet_hours(table: ConfigTable) -> tuple[time, time] | None:
    text = table.text("quiet_hours", None)
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    try:
        if not match:
            raise ValueError(text)
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        start, end = time(start_h, start_m), time(end_h, end_m)
    except ValueError:
        table.fail("quiet_hours", f'"{text}" is not a time range such as "23:00-06:00"')
    if start == end:
        table.fail("quiet_hours", f'"{text}" starts and ends at the same time')
    return start, end


def _read_selection(table: ConfigTable, config: Config) -> Selection:
    new = table.integer("new", 10)
    trending = table.integer("trending", 0)
    window = table.duration("window", None)
    sources = table.str_list("sources", [])
    known = {source.name for source in config.sources}
    for name in sources:
        if name not in known:
            table.fail("sources", f'no source named "{name}" in {_display(config.file)}')
    table.done()
    return Selection(new, window, tuple(sources), trending)


def _check_cron(table: ConfigTable, expression: str) -> None:
    try:
        CronLine.parse(expression)
    except CronError as error:
        shown = visible(expression)
        table.fail("schedule", f'"{shown}" is not a valid cron expression ({error})')


def _at_one_time_of_day(schedule: str | None) -> bool:
    if schedule is None:
        return False
    line = CronLine.parse(schedule)
    return len(line.hours) == len(line.minutes) == 1


def _make_trigger(schedule: str | None, every: timedelta | None, timezone: ZoneInfo) -> Any:
    from apscheduler.triggers.interval import IntervalTrigger

    from syndicate.wallclock import WallClockCron

    if schedule is not None:
        return WallClockCron(schedule, timezone)
    assert every is not None
    # A fixed anchor puts every process's slots on the same instants (":00, :10, :20"),
    # so the database can tell that two processes fired the same slot.
    anchor = datetime(2000, 1, 1, tzinfo=timezone)
    return IntervalTrigger(seconds=int(every.total_seconds()), start_date=anchor, timezone=timezone)


def _display(path: Path) -> str:
    """A path as an editor would type it: relative to here when it is below here."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe_value(value: Any) -> str:
    """What a TOML value is, in the words of the settings file rather than Python's:
    'the text "five"', "a number", "a date"."""
    if isinstance(value, str):
        return f'the text "{visible(value)}"'
    kinds = {
        bool: "true/false",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a table",
        datetime: "a date and time",
        date: "a date",
        time: "a time",
    }
    return kinds.get(type(value), "a value of another kind")
