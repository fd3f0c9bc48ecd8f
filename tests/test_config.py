"""Settings and job files: what is read, and one clear sentence for every mistake."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from syndicate.channels.registry import build_channels
from syndicate.cli import main
from syndicate.config import (
    ConfigError,
    ConfigTable,
    IngestSettings,
    find_config_path,
    load_config,
)

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "sqlite:///data/syndicate.db"

[scheduler]
jobs_dir = "jobs"

[[sources]]
name = "repelita"
url = "https://www.repelita.net/feeds/posts/default"
poll = "15m"

[channels.newsletter]
type = "email"
smtp_url = "smtp://localhost:1025"
from = "Kabar Pilihan <redaksi@example.org>"
list = "newsletter"

[channels.telegram]
type = "telegram"
token = "${TELEGRAM_BOT_TOKEN}"
chat_id = "@kabarpilihan"
api_base_url = "https://api.telegram.org/bot"

[channels.preview]
type = "outbox"
path = "outbox"
"""

PAGI = """\
schedule = "0 7 * * *"
channels = ["newsletter"]
format = "digest"
subject = "Kabar pagi"
[select]
new = 10
window = "7d"
"""

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site folder with the issue's settings and one job; returns the settings file."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "jobs" / "pagi.toml").write_text(PAGI, encoding="utf-8")
    settings = tmp_path / "syndicate.toml"
    settings.write_text(SETTINGS, encoding="utf-8")
    return settings


def error_of(settings: Path, capsys: pytest.CaptureFixture[str], *command: str) -> str:
    code = main(["--config", str(settings), *(command or ("check",))])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    return lines[0]


def test_the_issue_settings_are_read_into_typed_values(site: Path) -> None:
    config = load_config(site)
    assert config.site.timezone.key == "Asia/Jakarta"
    assert config.database_url == f"sqlite:///{site.parent / 'data' / 'syndicate.db'}"
    assert config.jobs_dir == site.parent / "jobs"
    assert config.sources[0].poll == timedelta(minutes=15)
    assert config.channels["telegram"].type == "telegram"
    job = config.job("pagi")
    assert (job.schedule, job.channels, job.format, job.subject) == (
        "0 7 * * *",
        ("newsletter",),
        "digest",
        "Kabar pagi",
    )
    assert (job.selection.new, job.selection.window) == (10, timedelta(days=7))


def test_env_variables_are_expanded_in_values(site: Path) -> None:
    from syndicate.channels.registry import build_channels

    channels = build_channels(load_config(site))
    assert channels["telegram"].targets() == ("@kabarpilihan",)


def test_relative_paths_are_taken_from_the_settings_folder(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syndicate.channels.registry import build_channels

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    channels = build_channels(load_config(site))
    assert channels["preview"].path == site.parent / "outbox"  # type: ignore[attr-defined]


def test_config_path_comes_from_option_then_env_then_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNDICATE_CONFIG", raising=False)
    assert find_config_path(None) == tmp_path / "syndicate.toml"
    monkeypatch.setenv("SYNDICATE_CONFIG", str(tmp_path / "from-env.toml"))
    assert find_config_path(None) == tmp_path / "from-env.toml"
    assert find_config_path("given.toml") == tmp_path / "given.toml"


def test_check_lists_jobs_with_next_fire_time_in_site_zone(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(site), "check"]) == 0
    out = capsys.readouterr().out
    assert "Asia/Jakarta" in out
    line = next(line for line in out.splitlines() if line.startswith("pagi"))
    assert "07:00 WIB" in line and "newsletter" in line


def test_check_shows_the_next_runs_with_their_weekdays(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = site.parent / "jobs"
    (jobs / "pagi.toml").write_text(PAGI.replace("0 7 * * *", "0 7 * * 1-5"), encoding="utf-8")
    (jobs / "minggu.toml").write_text(PAGI.replace("0 7 * * *", "0 9 * * 7"), encoding="utf-8")
    assert main(["--config", str(site), "check"]) == 0
    lines = capsys.readouterr().out.splitlines()

    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    for job, days in (("pagi", names[:5]), ("minggu", ["Sun"])):
        row = next(line for line in lines if line.startswith(job)).split()
        weekday, day = row[-4], date.fromisoformat(row[-3])
        assert weekday in days and weekday == names[day.weekday()], row
    block = lines[lines.index("Next 5 runs:") + 1 :]
    runs = {line.split()[0]: line.split(maxsplit=1)[1].split(", ") for line in block}
    assert sorted({run.split()[0] for run in runs["pagi"]}, key=names.index) == names[:5]
    assert all(run.split()[0] == "Sun" and run.endswith("09:00") for run in runs["minggu"])
    assert len(runs["minggu"]) == len(runs["pagi"]) == 5


def test_check_shows_the_year_of_runs_years_apart(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The 29th of February when it is a Sunday: 2032, 2060, 2088, ...
    jobs = site.parent / "jobs"
    (jobs / "pagi.toml").write_text(PAGI.replace("0 7 * * *", "0 0 29 2 */8"), encoding="utf-8")
    assert main(["--config", str(site), "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    block = lines[lines.index("Next 5 runs:") + 1 :]
    runs = next(line for line in block if line.split()[0] == "pagi").split(maxsplit=1)[1]
    assert runs.split(", ")[:2] == ["Sun 2032-02-29 00:00", "Sun 2060-02-29 00:00"]


def test_unknown_key_names_file_key_and_a_suggestion(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.write_text(SETTINGS.replace('locale = "id"', 'lokale = "id"'), encoding="utf-8")
    message = error_of(site, capsys)
    assert "syndicate.toml" in message and "[site] lokale" in message
    assert "unknown key" in message and '"locale"' in message


@pytest.mark.parametrize("locale", ["fr", "ms", "de-DE"])
def test_a_language_without_a_catalog_is_refused_naming_those_there_are(
    site: Path, capsys: pytest.CaptureFixture[str], locale: str
) -> None:
    site.write_text(SETTINGS.replace('locale = "id"', f'locale = "{locale}"'), encoding="utf-8")
    message = error_of(site, capsys)
    assert f'"{locale}" has no translation yet' in message and "en, id" in message


@pytest.mark.parametrize("locale", ["id-ID", "en_GB", "en"])
def test_a_language_with_a_catalog_passes_whatever_its_region(
    site: Path, capsys: pytest.CaptureFixture[str], locale: str
) -> None:
    site.write_text(SETTINGS.replace('locale = "id"', f'locale = "{locale}"'), encoding="utf-8")
    assert main(["--config", str(site), "check"]) == 0, capsys.readouterr().err


def test_bad_cron_expression_names_the_job_file(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site.parent / "jobs" / "pagi.toml").write_text(
        PAGI.replace("0 7 * * *", "0 7 * *"), encoding="utf-8"
    )
    message = error_of(site, capsys)
    assert "pagi.toml" in message and "schedule" in message and "5 fields" in message
    (site.parent / "jobs" / "pagi.toml").write_text(
        PAGI.replace("0 7 * * *", "0 25 * * *"), encoding="utf-8"
    )
    assert "not a valid cron expression" in error_of(site, capsys)


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("0 7 * * 8", "(day of week: 8 is outside 0-7)"),
        ("0 7 * * monday", '(day of week: "monday" is not a number 0-7 or a name sun-sat)'),
        ("0 7 * * fri-mon", 'cron ranges do not wrap; write "fri-sat,sun-mon")'),
        ("0 7 30 2 *", "(it never fires: no month it names has day 30)"),
        ("0 7 * * 1-5 *", "cron needs 5 fields"),
    ],
)
def test_a_schedule_cron_would_not_run_is_one_sentence_naming_file_and_key(
    site: Path, capsys: pytest.CaptureFixture[str], schedule: str, reason: str
) -> None:
    (site.parent / "jobs" / "pagi.toml").write_text(
        PAGI.replace("0 7 * * *", schedule), encoding="utf-8"
    )
    message = error_of(site, capsys)
    assert f'pagi.toml: schedule: "{schedule}" is not a valid cron expression' in message
    assert reason in message and message.endswith(".")


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("0 7\\u001c* * *", '"0 7\\x1c* * *" is not a valid cron expression ("\\x1c" is not'),
        ("0 7\\u3000* * *", '("\\u3000" is not a space or a tab'),
        ("1" * 5000 + " 7 * * *", "(minute: 11111111111111111111… (5000 characters) is outside"),
    ],
)
def test_a_schedule_with_an_odd_character_or_a_huge_number_is_one_visible_sentence(
    site: Path, capsys: pytest.CaptureFixture[str], written: str, reason: str
) -> None:
    # TOML spells the control character \u001c; the job reads the character itself.
    (site.parent / "jobs" / "pagi.toml").write_text(
        PAGI.replace('"0 7 * * *"', f'"{written}"'), encoding="utf-8"
    )
    message = error_of(site, capsys)
    assert "pagi.toml: schedule: " in message and "is not a valid cron expression" in message
    assert reason in message and message.endswith(".")
    assert message.isprintable() and len(message) < 300


def test_every_weekday_form_cron_accepts_is_accepted(site: Path) -> None:
    for schedule in ("0 7 * * 7", "0 7 * * 0,7", "0 7 * * Mon-FRI", "0 7 1 jan-jun sun/2"):
        (site.parent / "jobs" / "pagi.toml").write_text(
            PAGI.replace("0 7 * * *", schedule), encoding="utf-8"
        )
        assert load_config(site).job("pagi").schedule == schedule


def test_job_naming_a_missing_channel_is_refused(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site.parent / "jobs" / "pagi.toml").write_text(
        PAGI.replace('"newsletter"]', '"nawsletter"]'), encoding="utf-8"
    )
    message = error_of(site, capsys)
    assert "pagi.toml" in message and "channels" in message and '"nawsletter"' in message


def test_missing_env_variable_is_named(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    message = error_of(site, capsys)
    assert "[channels.telegram] token" in message and "TELEGRAM_BOT_TOKEN" in message


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///:memory:?cache=shared",
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file:memdb1?mode=memory&cache=shared&uri=true",
    ],
)
def test_every_spelling_of_a_database_in_memory_is_refused(
    site: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """Each forgets everything when the command ends (and `sqlite://` let `fetch` say it
    stored the posts): the key is named, with what to write instead."""
    site.write_text(
        SETTINGS.replace('url = "sqlite:///data/syndicate.db"', f'url = "{url}"'),
        encoding="utf-8",
    )
    message = error_of(site, capsys)
    assert "[database] url" in message and "kept in memory" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[site\nname = 1", "is not valid TOML"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
    ],
)
def test_unreadable_settings_give_one_sentence(
    site: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    site.write_bytes(content)
    assert expected in error_of(site, capsys)


def test_missing_settings_file_says_how_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = error_of(tmp_path / "nope.toml", capsys)
    assert "nope.toml" in message and "does not exist" in message


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (('poll = "15m"', 'poll = "soon"'), "poll"),
        (('timezone = "Asia/Jakarta"', 'timezone = "Asia/Atlantis"'), "timezone"),
        (('type = "outbox"', 'type = "carrier-pigeon"'), "[channels.preview] type"),
        (('smtp_url = "smtp://localhost:1025"', 'smtp_url = "http://localhost"'), "smtp_url"),
        (('chat_id = "@kabarpilihan"\n', ""), "chat_id"),
        (('url = "sqlite:///data/syndicate.db"', 'url = "mysql://x"'), "[database] url"),
        (
            ('url = "sqlite:///data/syndicate.db"', 'url = "sqlite:///:memory:"'),
            '[database] url: "sqlite:///:memory:" is a database kept in memory, which forgets',
        ),
    ],
)
def test_each_kind_of_mistake_names_its_key(
    site: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], where: str
) -> None:
    site.write_text(SETTINGS.replace(*change), encoding="utf-8")
    assert where in error_of(site, capsys)


@pytest.mark.parametrize(
    ("settings", "job", "sentence"),
    [
        (
            '\n[delivery]\nmax_attempts = "five"\n',
            "",
            '[delivery] max_attempts: expected a whole number, found the text "five".',
        ),
        (
            "\n[delivery]\nmax_attempts = 2026-12-06\n",
            "",
            "[delivery] max_attempts: expected a whole number, found a date.",
        ),
        (
            "\n[delivery]\nmax_attempts = 2.5\n",
            "",
            "[delivery] max_attempts: expected a whole number, found 2.5.",
        ),
        ("", 'review = "yes"\n', 'review: expected true or false, found the text "yes".'),
    ],
)
def test_a_value_of_the_wrong_kind_is_named_in_the_words_of_the_file(
    site: Path, capsys: pytest.CaptureFixture[str], settings: str, job: str, sentence: str
) -> None:
    site.write_text(SETTINGS + settings, encoding="utf-8")
    (site.parent / "jobs" / "pagi.toml").write_text(job + PAGI, encoding="utf-8")
    assert error_of(site, capsys).endswith(sentence)


def test_a_chat_id_that_is_no_chat_says_what_a_chat_is(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.write_text(SETTINGS.replace('chat_id = "@kabarpilihan"', "chat_id = 12.5"))
    assert error_of(site, capsys).endswith(
        '[channels.telegram] chat_id: expected a chat such as "@kabarpilihan" or '
        "-1001234567890, or a list of them, found a number."
    )


TELEGRAM_OUTBOX = 'type = "outbox"\nmedium = "telegram"\npath = "outbox"'


@pytest.mark.parametrize(
    ("chat_id", "sentence"),
    [
        ('""', 'chat_id: "" is not a chat such as "@kabarpilihan" or "-1001234567890".'),
        ('"  "', 'chat_id: "  " is not a chat such as "@kabarpilihan" or "-1001234567890".'),
        (
            '["@a_chat", ""]',
            'chat_id: "" is not a chat such as "@kabarpilihan" or "-1001234567890".',
        ),
        (
            "[-1001234, 12.5]",
            'chat_id: expected a chat such as "@kabarpilihan" or -1001234567890, or a list of '
            "them, found a number in the list.",
        ),
    ],
)
@pytest.mark.parametrize("channel", ["telegram", "preview"])
def test_a_telegram_outbox_and_a_telegram_channel_refuse_the_same_chats(
    site: Path, capsys: pytest.CaptureFixture[str], channel: str, chat_id: str, sentence: str
) -> None:
    settings = SETTINGS.replace('type = "outbox"\npath = "outbox"', TELEGRAM_OUTBOX)
    if channel == "telegram":
        settings = settings.replace('chat_id = "@kabarpilihan"', f"chat_id = {chat_id}")
    else:
        settings += f"chat_id = {chat_id}\n"
    site.write_text(settings, encoding="utf-8")
    assert error_of(site, capsys).endswith(f"[channels.{channel}] {sentence}")


@pytest.mark.parametrize("chat_id", ["-1001234", '[-1001234, "@kabarpilihan"]'])
def test_a_telegram_outbox_and_a_telegram_channel_accept_the_same_chats(
    site: Path, chat_id: str
) -> None:
    settings = SETTINGS.replace('type = "outbox"\npath = "outbox"', TELEGRAM_OUTBOX)
    settings = settings.replace('chat_id = "@kabarpilihan"', f"chat_id = {chat_id}")
    site.write_text(settings + f"chat_id = {chat_id}\n", encoding="utf-8")
    channels = build_channels(load_config(site))
    assert channels["telegram"].targets() == channels["preview"].targets()
    assert "-1001234" in channels["preview"].targets()


def test_an_outbox_chat_id_of_the_wrong_kind_says_one_text_is_allowed(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.write_text(SETTINGS + "chat_id = 12.5\n", encoding="utf-8")
    assert error_of(site, capsys).endswith(
        "[channels.preview] chat_id: expected text in quotes or a list of them, found a number."
    )


def test_a_jobs_dir_that_is_a_file_is_named_as_a_file(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (site.parent / "job-list").write_text("pagi\n", encoding="utf-8")
    site.write_text(SETTINGS.replace('jobs_dir = "jobs"', 'jobs_dir = "job-list"'))
    message = error_of(site, capsys)
    assert message.endswith("job-list is a file, not a folder."), message
    assert "[scheduler] jobs_dir" in message


def test_forged_token_shape_is_refused_without_showing_it(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-token-secret-value")
    message = error_of(site, capsys)
    assert "token" in message and "not-a-token-secret-value" not in message


def test_a_mistake_in_a_real_process_exits_2_without_traceback(site: Path) -> None:
    site.write_text(SETTINGS.replace("[scheduler]", "[schedular]"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "syndicate", "--config", str(site), "run", "--once"],
        capture_output=True,
        text=True,
        env={**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN},
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "schedular" in result.stderr


def test_config_error_is_one_exception_type(site: Path) -> None:
    site.write_text(SETTINGS.replace('name = "repelita"', "name = 3"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[sources #1\] name: expected text"):
        load_config(site)


def test_ingest_settings_are_read_with_their_defaults(site: Path) -> None:
    assert load_config(site).ingest == IngestSettings(
        feed_timeout=timedelta(seconds=30), page_timeout=timedelta(seconds=20), private_hosts=()
    )
    with site.open("a", encoding="utf-8") as settings:
        settings.write(
            '\n[ingest]\nfeed_timeout = "2s"\npage_timeout = "1m"\n'
            'private_hosts = ["Intranet.Example", "10.0.0.5", "[fd00::1]"]\n'
        )
    assert load_config(site).ingest == IngestSettings(
        feed_timeout=timedelta(seconds=2),
        page_timeout=timedelta(minutes=1),
        private_hosts=("intranet.example", "10.0.0.5", "fd00::1"),
    )


@pytest.mark.parametrize(
    ("table", "sentence"),
    [
        ('feed_timeout = "soon"', '[ingest] feed_timeout: "soon" is not a duration such as'),
        ("page_timeout = 20", "[ingest] page_timeout: expected text in quotes, found"),
        (
            'private_hosts = ["http://intranet.example/"]',
            '[ingest] private_hosts: "http://intranet.example/" is not a host name such as',
        ),
        ('feed_timout = "5s"', '[ingest] feed_timout: unknown key (did you mean "feed_timeout"?)'),
    ],
)
def test_a_mistake_in_ingest_is_one_sentence(
    site: Path, capsys: pytest.CaptureFixture[str], table: str, sentence: str
) -> None:
    with site.open("a", encoding="utf-8") as settings:
        settings.write(f"\n[ingest]\n{table}\n")
    assert sentence in error_of(site, capsys)


@pytest.mark.parametrize(
    ("table", "sentence"),
    [
        ('lease = "0s"', '[delivery] lease: "0s" must be longer than 0 seconds.'),
        ('backoff_base = "0m"', '[delivery] backoff_base: "0m" must be longer than 0 seconds.'),
        ('lease = "100000000d"', "[delivery] lease: must be at most 1h."),
        ('outage_backoff_cap = "999999999d"', "[delivery] outage_backoff_cap: must be at most 6h."),
        (
            'outage_backoff_base = "2m"\noutage_backoff_cap = "1m"',
            "[delivery] outage_backoff_base: must not be longer than outage_backoff_cap (1m).",
        ),
        ("batch_size = 1000000000000", "[delivery] batch_size: must be at most 10000."),
    ],
)
def test_a_delivery_setting_out_of_its_range_is_one_sentence(
    site: Path, capsys: pytest.CaptureFixture[str], table: str, sentence: str
) -> None:
    with site.open("a", encoding="utf-8") as settings:
        settings.write(f"\n[delivery]\n{table}\n")
    assert sentence in error_of(site, capsys)


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        (
            'trusted_proxies = ["proxy.local"]',
            r'\[web\] trusted_proxies: "proxy.local" is not an IP',
        ),
        ('aliases = ["evil example"]', r'\[web\] aliases: "evil example" is not a host name'),
        ("max_upload_mb = 0", r"\[web\] max_upload_mb: must be at least 1"),
        ('header_timeout = "soon"', r'\[web\] header_timeout: "soon" is not a duration'),
        ("max_connections = 3", r"\[web\] max_connections: must be at least 10"),
    ],
)
def test_web_limit_mistakes_are_one_sentence(
    site: Path, capsys: pytest.CaptureFixture[str], web: str, expected: str
) -> None:
    site.write_text(SETTINGS + f"\n[web]\n{web}\n", encoding="utf-8")
    assert re.search(expected, error_of(site, capsys))


def test_web_limits_are_read(site: Path) -> None:
    site.write_text(
        SETTINGS
        + '\n[web]\ntrusted_proxies = ["10.0.0.0/8", "::1"]\naliases = ["Kabar.Example."]\n'
        'max_upload_mb = 5\nbody_timeout = "2m"\n',
        encoding="utf-8",
    )
    web = load_config(site).web
    assert web is not None
    assert [str(network) for network in web.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert web.aliases == ("kabar.example",)
    assert web.max_upload_mb == 5 and web.body_timeout == timedelta(minutes=2)
    assert web.header_timeout == timedelta(seconds=10) and web.max_connections == 200


def test_an_adapter_calling_the_getters_by_their_old_names_still_reads_its_keys() -> None:
    """Third-party adapters written against table.str, table.int and table.bool keep
    working now that the getters are text, integer and boolean."""
    table = ConfigTable({"url": "https://example.org", "port": 8065, "on": True}, Path("c.toml"))
    old = (table.str("url"), table.int("port", minimum=1), table.bool("on"))
    assert old == ("https://example.org", 8065, True)
    table.done()
    with pytest.raises(ConfigError, match=r"c\.toml: port: must be at least 9000"):
        table.int("port", minimum=9000)
