"""The `syndicate` commands on a real site folder: demo, init, check, preview, send, ..."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from syndicate.cli import main
from syndicate.config import bundled_path
from syndicate.demo import write_sample_feed

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"

# A job the demo has never run: everything in the sample feed is new to it.
MALAM = """\
schedule = "0 21 * * *"
channels = ["newsletter"]
format = "digest"
subject = "Kabar malam"

[select]
new = 10
window = "7d"
"""


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def one_sentence(self) -> str:
        assert self.code == 2, self
        assert "Traceback" not in self.err
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1, self.err
        return lines[0]


Run = Callable[..., Outcome]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """`syndicate ARGS...` in-process: exit code, standard output and standard error."""

    def run(*argv: str) -> Outcome:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def demo(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo site after one `syndicate demo`; returns its folder."""
    monkeypatch.chdir(tmp_path)
    assert run("demo").code == 0
    return tmp_path / "syndicate-demo"


@pytest.fixture
def site(run: Run, demo: Path) -> Run:
    """`syndicate --config DEMO/syndicate.toml ARGS...`."""
    return lambda *argv: run("--config", str(demo / "syndicate.toml"), *argv)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def table_rows(text: str) -> list[list[str]]:
    """The rows of the first table printed (`job  channel  state  count`)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"job\s+channel\s+state", line))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


# --- demo ------------------------------------------------------------------------------


def test_demo_prints_what_each_job_delivered_and_where_the_files_are(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    demo = run("demo")
    assert demo.code == 0, demo.err
    rows = table_rows(demo.out)
    assert {(job, channel, state) for job, channel, state, _ in rows} == {
        ("kilat", "telegram", "sent"),
        ("pagi", "newsletter", "sent"),
        ("sore", "telegram", "sent"),
    }
    assert all(int(count) > 0 for *_, count in rows)
    outbox = tmp_path / "syndicate-demo" / "outbox"
    assert "syndicate-demo/outbox/newsletter/" in demo.out
    assert "syndicate-demo/outbox/telegram/" in demo.out
    emails = list((outbox / "newsletter").glob("*.eml"))
    posts = list((outbox / "telegram").glob("*.json"))
    pagi = next(int(row[3]) for row in rows if row[0] == "pagi")
    assert len(emails) == pagi == 3  # one digest for each of the demo's three subscribers
    assert f"({len(posts)} files:" in demo.out


def test_running_the_demo_again_sends_nothing_new(
    run: Run, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_files = files_under(demo / "outbox")
    first_deliveries = run("--config", str(demo / "syndicate.toml"), "deliveries").out
    again = run("demo")
    assert again.code == 0, again.err
    assert files_under(demo / "outbox") == first_files
    assert run("--config", str(demo / "syndicate.toml"), "deliveries").out == first_deliveries
    assert table_rows(again.out) == table_rows(first_deliveries)


# --- init and check --------------------------------------------------------------------


def test_init_writes_settings_and_jobs_and_leaves_existing_files_alone(
    run: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "mysite"
    assert run("init", str(folder)).code == 0
    settings = folder / "syndicate.toml"
    example = bundled_path("config.example.toml").read_text()
    written = settings.read_text()
    # The example, with the Telegram table (which needs a token) commented out.
    assert "\n[channels.telegram]" in example and "\n# [channels.telegram]" in written
    same = [line for line in example.splitlines()[1:] if "telegram" not in line.lower()]
    assert [line for line in written.splitlines()[1:] if "telegram" not in line.lower()][
        : len(same) // 2
    ] == same[: len(same) // 2]
    assert sorted(p.name for p in (folder / "jobs").iterdir()) == [
        "kilat.toml",
        "pagi.toml",
        "sore.toml",
    ]

    settings.write_text("# mine\n", encoding="utf-8")
    (folder / "jobs" / "pagi.toml").write_text("# my job\n", encoding="utf-8")
    again = run("init", str(folder))
    assert again.code == 0
    assert again.out.count("already exists; left as it is") == 2
    assert settings.read_text() == "# mine\n"
    assert (folder / "jobs" / "pagi.toml").read_text() == "# my job\n"


def test_a_new_site_passes_check_at_once_and_telegram_waits_for_its_token(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    folder = tmp_path / "mysite"
    run("init", str(folder))
    settings = folder / "syndicate.toml"
    text = settings.read_text(encoding="utf-8")
    assert not text.startswith("# syndicate settings. Copy this file")
    assert "@BotFather" in text and "administrator" in text and "chat_id" in text

    check = run("--config", str(settings), "check")
    assert check.code == 0, check.err
    assert "Settings OK" in check.out
    assert {"kilat", "pagi", "sore"} <= {line.split()[0] for line in check.out.splitlines() if line}

    # Following the guide: uncomment the table, point the jobs back at Telegram.
    table = text[text.index("# [channels.telegram]") :].split("\n\n", 1)[0]
    settings.write_text(text.replace(table, table.replace("# ", "", 3).replace("\n# ", "\n")))
    for name in ("kilat", "sore"):
        job = folder / "jobs" / f"{name}.toml"
        job.write_text(
            re.sub(r"channels = .*", 'channels = ["telegram"]', job.read_text("utf-8"), count=1)
        )
    assert "TELEGRAM_BOT_TOKEN" in run("--config", str(settings), "check").one_sentence()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    check = run("--config", str(settings), "check")
    assert check.code == 0, check.err
    assert "telegram" in check.out.splitlines()[1]


def test_check_warns_when_no_server_answers_the_unsubscribe_links(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    folder = tmp_path / "mysite"
    run("init", str(folder))
    settings = folder / "syndicate.toml"
    check = run("--config", str(settings), "check")
    assert check.code == 0
    assert "[web]" not in check.err  # init writes a [web] table
    assert "base_url http://localhost:8080 is not https" in check.err
    assert "List-Unsubscribe-Post" in check.err

    text = settings.read_text(encoding="utf-8")
    text = text.replace('[web]\nhost = "127.0.0.1"\nport = 8080\n', "")
    text = text.replace('base_url = "http://localhost:8080"', 'base_url = "https://kabar.example"')
    settings.write_text(text, encoding="utf-8")
    check = run("--config", str(settings), "check")
    assert check.code == 0
    assert "there is no [web] table, so nothing answers it" in check.err
    assert "not https" not in check.err


# --- preview, send, deliveries, retry --------------------------------------------------


def test_preview_writes_files_and_records_nothing(site: Run, demo: Path, tmp_path: Path) -> None:
    (demo / "jobs" / "malam.toml").write_text(MALAM, encoding="utf-8")
    before = site("deliveries").out
    outbox_before = files_under(demo / "outbox")

    preview = site("preview", "malam", "--out", str(tmp_path / "preview"))

    assert preview.code == 0, preview.err
    assert "would send now (nothing was sent)" in preview.out
    written = sorted((tmp_path / "preview" / "malam").rglob("*.eml"))
    assert written, preview.out
    assert all(path.name in preview.out for path in written)
    assert site("deliveries").out == before
    assert files_under(demo / "outbox") == outbox_before
    # Nothing was recorded, so the job still has all of it to send.
    assert site("preview", "malam", "--out", str(tmp_path / "again")).code == 0
    assert list((tmp_path / "again" / "malam").rglob("*.eml"))


def test_send_fires_a_job_now_and_delivers_it_once(site: Run, demo: Path) -> None:
    (demo / "jobs" / "malam.toml").write_text(MALAM, encoding="utf-8")
    emails_before = set((demo / "outbox" / "newsletter").glob("*.eml"))

    send = site("send", "malam")

    assert send.code == 0, send.err
    assert re.search(r"Job malam: \d+ posts, 3 deliveries queued\.", send.out)
    assert "Deliveries: 3 sent." in send.out
    new_emails = set((demo / "outbox" / "newsletter").glob("*.eml")) - emails_before
    assert len(new_emails) == 3
    assert all(b"Kabar malam" in path.read_bytes() for path in new_emails)

    again = site("send", "malam")
    assert again.code == 0, again.err
    assert "3 deliveries" not in again.out
    assert set((demo / "outbox" / "newsletter").glob("*.eml")) == emails_before | new_emails


def test_deliveries_job_option_shows_only_that_job(site: Run) -> None:
    everything = table_rows(site("deliveries").out)
    assert {row[0] for row in everything} == {"kilat", "pagi", "sore"}
    only_pagi = table_rows(site("deliveries", "--job", "pagi").out)
    assert only_pagi == [row for row in everything if row[0] == "pagi"]
    only_telegram = table_rows(site("deliveries", "--channel", "telegram").out)
    assert {row[0] for row in only_telegram} == {"kilat", "sore"}
    assert site("deliveries", "--job", "no-such-job").out == "No deliveries yet.\n"


def test_retry_failed_reports_how_many_were_queued_again(site: Run, demo: Path) -> None:
    settings = demo / "syndicate.toml"
    # An outbox whose folder is a file: every delivery through it fails for good.
    settings.write_text(
        settings.read_text()
        + '\n[channels.broken]\ntype = "outbox"\nmedium = "telegram"\n'
        + 'path = "sample-feed.xml"\nchat_id = "@rusak"\n',
        encoding="utf-8",
    )
    (demo / "jobs" / "rusak.toml").write_text(
        'every = "10m"\nchannels = ["broken"]\nformat = "each"\n[select]\nnew = 2\nwindow = "7d"\n',
        encoding="utf-8",
    )
    assert site("send", "rusak").code == 0
    deliveries = site("deliveries", "--job", "rusak")
    assert table_rows(deliveries.out) == [["rusak", "broken", "failed", "2"]]
    assert "Latest problems" in deliveries.out and "cannot write" in deliveries.out

    retry = site("retry", "--state", "failed")
    assert retry.code == 0, retry.err
    assert retry.out.startswith("2 failed deliveries queued again")
    assert table_rows(site("deliveries", "--job", "rusak").out) == [
        ["rusak", "broken", "queued", "2"]
    ]
    assert site("retry", "--state", "failed").out.startswith("0 failed deliveries")


def test_retry_of_an_unknown_job_or_channel_is_refused_in_one_sentence(site: Run) -> None:
    job = site("retry", "--state", "unknown", "--job", "nosuch").one_sentence()
    assert 'no job named "nosuch"' in job and "pagi" in job
    channel = site("retry", "--state", "failed", "--channel", "nosuch").one_sentence()
    assert channel.endswith('There is no channel named "nosuch" in the settings.')


def test_unknown_job_names_the_known_jobs_in_one_sentence(site: Run) -> None:
    for command in ("preview", "send"):
        message = site(command, "malem").one_sentence()
        assert '"malem"' in message and "kilat, pagi, sore" in message


# --- db upgrade and fetch --------------------------------------------------------------


def test_db_upgrade_creates_the_schema_of_a_new_site(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    folder = tmp_path / "mysite"
    run("init", str(folder))
    settings = str(folder / "syndicate.toml")
    for _ in range(2):
        upgrade = run("--config", settings, "db", "upgrade")
        assert upgrade.code == 0, upgrade.err
        assert "up to date" in upgrade.out
    with sqlite3.connect(folder / "syndicate.db") as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master")}
        (revision,) = db.execute("select version_num from alembic_version").fetchone()
    assert {"subscribers", "deliveries"} <= tables
    assert revision


FETCH_SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
locale = "id"
timezone = "Asia/Jakarta"

[[sources]]
name = "warta"
url = "{feed}"
full_text = "never"  # its short posts count as teasers, and their pages are invented

[[sources]]
name = "hilang"
url = "{missing}"
"""


def _fetch_site(folder: Path) -> Path:
    """A site of two sources in `folder`: the sample feed, and a file that is not there."""
    feed = write_sample_feed(folder / "feed.xml")
    settings = folder / "syndicate.toml"
    settings.write_text(
        FETCH_SETTINGS.format(feed=feed.as_uri(), missing=(folder / "gone.xml").as_uri()),
        encoding="utf-8",
    )
    (folder / "jobs").mkdir()
    return settings


def test_fetch_reports_new_posts_and_a_broken_source_without_failing(
    run: Run, tmp_path: Path
) -> None:
    settings = _fetch_site(tmp_path)

    fetch = run("--config", str(settings), "fetch")

    assert fetch.code == 0, fetch.err
    found = re.search(r"2 sources fetched: (\d+) new posts, 1 failed\.", fetch.out)
    assert found and int(found.group(1)) > 0, fetch.out
    assert "hilang" in fetch.err and "gone.xml" in fetch.err
    assert "warta" not in fetch.err
    again = run("--config", str(settings), "fetch")
    assert "2 sources fetched: 0 new posts, 1 failed." in again.out


def _socks_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("socksio") is not None


@pytest.mark.parametrize(
    ("variable", "value", "told"),
    [
        pytest.param(
            "ALL_PROXY",
            "socks5://editor:rahasia@127.0.0.1:1080",
            "socks5://***@127.0.0.1:1080 (ALL_PROXY, HTTPS_PROXY or HTTP_PROXY), and a SOCKS "
            "proxy needs one more package: pip install 'httpx[socks]'.",
            marks=pytest.mark.skipif(_socks_installed(), reason="socksio is installed here"),
            id="socks-without-socksio",
        ),
        pytest.param(
            "HTTPS_PROXY",
            "socks4://editor:rahasia@127.0.0.1:1080",
            "(socks4://***@127.0.0.1:1080) cannot be used: it must be an http://, https:// "
            "or socks5:// address with a host and a port (ALL_PROXY, HTTPS_PROXY, HTTP_PROXY).",
            id="a-scheme-httpx-has-not",
        ),
        pytest.param(
            "ALL_PROXY",
            "http://editor:rahasia@[::1",
            "(http://***@[::1) cannot be used: it must be an http://, https:// or socks5:// "
            "address with a host and a port (ALL_PROXY, HTTPS_PROXY, HTTP_PROXY).",
            id="unreadable",
        ),
        pytest.param(
            "SSL_CERT_FILE",
            "{folder}/tidak-ada.pem",
            "(SSL_CERT_FILE={folder}/tidak-ada.pem) cannot be read (No such file or directory).",
            id="missing-certificates",
        ),
    ],
)
def test_fetch_in_an_environment_it_cannot_fetch_through_says_so_in_one_sentence(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    told: str,
) -> None:
    """A proxy or a certificates file the environment names, which cannot be used, is the
    editor's to mend: one sentence saying which, not "not your fault" and a traceback."""
    settings = _fetch_site(tmp_path)
    monkeypatch.setenv(variable, value.format(folder=tmp_path))

    fetch = run("--config", str(settings), "fetch", "--quiet")

    line = fetch.one_sentence()
    assert line.startswith("syndicate: No feed can be fetched: "), line
    assert line.endswith(told.format(folder=tmp_path)), line
    assert "rahasia" not in fetch.err and "not your fault" not in fetch.err


# --- check's warnings, and the command line as a new editor meets it -------------------

BIG_DIGEST = """\
schedule = "0 6 * * *"
channels = ["newsletter"]
format = "digest"

[select]
new = 120
"""


def test_check_warns_about_what_works_today_but_will_hurt(site: Run, demo: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (demo / "dkim.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    settings = demo / "syndicate.toml"
    text = settings.read_text(encoding="utf-8")
    outbox = 'type = "outbox"\nmedium = "email"\npath = "outbox/newsletter"'
    assert outbox in text
    text = text.replace(
        outbox,
        'type = "email"\nsmtp_url = "smtp://127.0.0.1:2525"\n'
        'dkim_private_key = "dkim.pem"\ndkim_selector = "kabar"',
    )
    settings.write_text(text + '\n[web]\nadmin_user = "redaksi"\nadmin_password = "x"\n')
    (demo / "jobs" / "besar.toml").write_text(BIG_DIGEST, encoding="utf-8")
    (demo / "jobs" / "malam.tml").write_text(BIG_DIGEST, encoding="utf-8")

    check = site("check")

    assert check.code == 0, check.err
    assert "4 warnings:" in check.out
    assert "1024-bit key" in check.out and "2048" in check.out
    assert "admin_password is only 1 characters" not in check.out
    assert "admin_password is only 1 character:" in check.out
    assert "malam.tml is not read" in check.out and "malam.toml" in check.out
    assert "besar.toml: up to 120 posts" in check.out
    said = " ".join(check.out.split())  # warnings are wrapped to the terminal
    assert "shows at least" in said and "measured with long posts" in said
    assert "archive page" in said  # [web] is set: the rest are linked
    assert "pagi.toml" not in check.out.split("warnings:")[1]  # new = 10 fits


def test_check_says_a_site_without_web_keeps_what_does_not_fit_for_later(
    site: Run, demo: Path
) -> None:
    (demo / "jobs" / "besar.toml").write_text(BIG_DIGEST, encoding="utf-8")
    check = site("check")
    assert check.code == 0, check.err
    said = " ".join(check.out.split())  # warnings are wrapped to the terminal
    assert "besar.toml: up to 120 posts" in said
    assert "keeps the rest for the next edition" in said and "archive page" not in said


def test_a_job_file_ending_in_upper_case_toml_is_a_job(site: Run, demo: Path) -> None:
    (demo / "jobs" / "malam.TOML").write_text(MALAM, encoding="utf-8")
    check = site("check")
    assert check.code == 0, check.err
    assert re.search(r"^malam +0 21 \* \* \*", check.out, re.MULTILINE), check.out
    assert "is not read" not in check.out and "TOML.toml" not in check.out


def test_check_without_warnings_says_nothing_about_them(site: Run) -> None:
    check = site("check")
    assert check.code == 0, check.err
    assert "warning" not in check.out


def test_run_once_exits_1_with_one_line_when_deliveries_failed(site: Run, demo: Path) -> None:
    from tests.smtpserver import SmtpServer

    (demo / "jobs" / "malam.toml").write_text(MALAM, encoding="utf-8")
    settings = demo / "syndicate.toml"
    text = settings.read_text(encoding="utf-8")
    outbox = 'type = "outbox"\nmedium = "email"\npath = "outbox/newsletter"'
    with SmtpServer() as server:
        settings.write_text(text.replace(outbox, f'type = "email"\nsmtp_url = "{server.url}"'))
        server.fail_next("RCPT", "550 5.1.1 No such user", times=100)

        run = site("run", "--once")

    assert run.code == 1, (run.out, run.err)
    lines = [line for line in run.err.splitlines() if line.startswith("syndicate:")]
    assert len(lines) == 1, run.err
    assert re.fullmatch(r"syndicate: (\d+) of \1 deliveries failed \(see .*\)\.", lines[0])
    assert "Traceback" not in run.err


def test_run_once_exits_0_when_everything_was_delivered(site: Run, demo: Path) -> None:
    (demo / "jobs" / "malam.toml").write_text(MALAM, encoding="utf-8")
    run = site("run", "--once")
    assert run.code == 0, run.err
    assert "syndicate:" not in run.err


def test_run_once_counts_deliveries_held_by_spacing_and_exits_0_for_them(
    site: Run, demo: Path
) -> None:
    (demo / "jobs" / "tiap.toml").write_text(
        'every = "10m"\nchannels = ["newsletter"]\nformat = "each"\nspacing = "1h"\n'
        '[select]\nnew = 3\nwindow = "3650d"\n',
        encoding="utf-8",
    )
    run = site("run", "--once")
    assert run.code == 0, run.err
    queued = re.search(r"job tiap: 3 posts, (\d+) deliveries", run.out)
    assert queued, run.out
    counts = re.search(r"Deliveries: (\d+) sent, (\d+) waiting as planned\.", run.out)
    assert counts, run.out
    assert int(counts.group(1)) + int(counts.group(2)) == int(queued.group(1))
    assert int(counts.group(2)) > 0 and "syndicate:" not in run.err


def test_config_is_accepted_after_the_command_too(run: Run, demo: Path) -> None:
    settings = str(demo / "syndicate.toml")
    before = run("--config", settings, "deliveries")
    after = run("deliveries", "--config", settings)
    assert after.code == 0, after.err
    assert after.out == before.out
    assert run("subscribers", "list", "--config", settings).code == 0


def test_a_list_no_channel_mails_is_refused_unless_new_list(site: Run) -> None:
    refused = site("subscribers", "add", "wulan@example.org", "--list", "newsleter")
    sentence = refused.one_sentence()
    assert '"newsleter"' in sentence and "newsletter" in sentence and "--new-list" in sentence
    assert "wulan@example.org" not in site("subscribers", "list").out

    added = site("subscribers", "add", "wulan@example.org", "--list", "newsleter", "--new-list")
    assert added.code == 0, added.err
    assert "wulan@example.org\tnewsleter" in site("subscribers", "list").out


def test_a_closed_pipe_is_a_quiet_exit(demo: Path) -> None:
    import subprocess
    import sys

    for number in range(600):  # more output than a pipe holds: the writer meets the closed end
        (demo / "jobs" / f"job{number:03}.toml").write_text(MALAM, encoding="utf-8")
    command = [sys.executable, "-m", "syndicate", "--config", str(demo / "syndicate.toml")]
    process = subprocess.Popen([*command, "check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does
    with process.stderr:
        errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, errors
    assert first.startswith(b"Settings OK")
    assert "not your fault" not in errors and "Broken pipe" not in errors


def test_a_port_in_use_is_one_sentence_naming_the_port_and_the_setting(
    site: Run, demo: Path
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = demo / "syndicate.toml"
        settings.write_text(settings.read_text() + f"\n[web]\nport = {port}\n")
        sentence = site("serve").one_sentence()
    assert f"Port {port} on 127.0.0.1 is already in use" in sentence
    assert "[web] port" in sentence and "Errno" not in sentence


def test_a_read_only_database_names_the_file_and_the_fix(
    site: Run, demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from sqlalchemy import create_engine, text

    from syndicate.cli import _report

    database = demo / "syndicate.db"
    # SQLite's own error for a file it may not write, from a connection opened read-only.
    engine = create_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    with pytest.raises(Exception) as caught, engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x int)"))
    engine.dispose()
    args = argparse.Namespace(config=str(demo / "syndicate.toml"), verbose=False)
    capsys.readouterr()
    assert _report(caught.value, args) == 2
    sentence = capsys.readouterr().err.strip()
    assert "readonly" in sentence and str(database) in sentence
    assert "write access" in sentence and "chown" in sentence
    assert len(sentence.splitlines()) == 1


def test_a_file_that_is_not_a_database_is_named_in_one_sentence(site: Run, demo: Path) -> None:
    """Another file where the database should be (or a damaged one): the editor is told
    which file and what to check, not that something went wrong that is not their fault."""
    database = demo / "syndicate.db"
    for stale in demo.glob("syndicate.db*"):
        stale.unlink()
    database.write_bytes(b"%PDF-1.7 not a database at all\n" * 200)
    sentence = site("fetch").one_sentence()
    assert sentence == (
        f"syndicate: the file {database} is not a SQLite database (another file, or a damaged "
        "one): check [database] url in the settings, or put back a copy of the database."
    )


def test_a_database_a_newer_syndicate_upgraded_is_refused_in_one_sentence(
    site: Run, demo: Path
) -> None:
    with sqlite3.connect(demo / "syndicate.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_future'")
    sentence = site("fetch").one_sentence()
    assert sentence == (
        "syndicate: The database was last upgraded by a newer syndicate (its schema is at "
        "revision '9999_future', which this version does not know): run that version, or a "
        "copy of the database made for this one."
    )


@pytest.fixture
def read_only_demo(demo: Path, tmp_path: Path) -> Iterator[Path]:
    """The demo site copied onto a tmpfs that is then remounted read-only."""
    import shutil
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    try:
        for path in demo.iterdir():
            if path.is_file() and not path.name.endswith(("-wal", "-shm")):
                shutil.copy2(path, mount / path.name)
            elif path.is_dir():
                shutil.copytree(path, mount / path.name)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)  # files may be open


def test_a_read_only_mount_is_said_so_and_reading_commands_still_work(
    run: Run, read_only_demo: Path
) -> None:
    settings = str(read_only_demo / "syndicate.toml")
    for command in (["subscribers", "list"], ["deliveries"], ["check"]):
        answer = run("--config", settings, *command)
        assert answer.code == 0, (command, answer.err)
    assert "sari@example.org" in run("--config", settings, "subscribers", "list").out
    for command in (
        ["subscribers", "add", "x@example.org", "--list", "newsletter"],
        ["run", "--once"],
    ):
        sentence = run("--config", settings, *command).one_sentence()
        assert "read-only file system" in sentence and str(read_only_demo) in sentence
        assert "chown" not in sentence and "not your fault" not in sentence


def test_a_read_only_mount_whose_database_needs_an_upgrade_is_said_so(
    run: Run, demo: Path, request: pytest.FixtureRequest
) -> None:
    """The upgrade's lock file cannot be made there either: the read-only disk is named,
    not a missing file "file:/...?mode=ro.migrating" (its path was taken from the read-only
    URI, and the editor was told something went wrong that was not their fault)."""
    with sqlite3.connect(demo / "syndicate.db") as db:  # as a syndicate of one version ago left it
        db.execute("UPDATE alembic_version SET version_num = '0009'")
    with sqlite3.connect(demo / "syndicate.db") as db:  # into the file itself, which is copied
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    mount: Path = request.getfixturevalue("read_only_demo")
    sentence = run("--config", str(mount / "syndicate.toml"), "fetch").one_sentence()
    assert "read-only file system" in sentence and str(mount) in sentence
    assert "not your fault" not in sentence and "file:" not in sentence


def test_a_read_only_postgresql_database_to_be_made_is_one_sentence(
    run: Run, tmp_path: Path, postgres_url: str
) -> None:
    """A new PostgreSQL database whose transactions are read-only: the schema cannot be
    made, and the editor is told so (it was "not your fault: cannot execute CREATE TABLE
    in a read-only transaction")."""
    import psycopg

    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    feed = write_sample_feed(tmp_path / "feed.xml")
    settings = tmp_path / "syndicate.toml"
    text = FETCH_SETTINGS.format(feed=feed.as_uri(), missing=(tmp_path / "gone.xml").as_uri())
    settings.write_text(
        text.replace(
            'timezone = "Asia/Jakarta"\n',
            f'timezone = "Asia/Jakarta"\n\n[database]\nurl = "{postgres_url}"\n',
            1,
        ),
        encoding="utf-8",
    )
    (tmp_path / "jobs").mkdir()
    sentence = run("--config", str(settings), "fetch").one_sentence()
    assert "read-only transaction" in sentence and "not your fault" not in sentence


def test_a_feed_error_is_printed_once(run: Run, demo: Path) -> None:
    settings = demo / "syndicate.toml"
    feed = next(line for line in settings.read_text().splitlines() if "sample-feed" in line)
    settings.write_text(settings.read_text().replace(feed, 'url = "http://127.0.0.1:9/feed.xml"'))
    fetch = run("--config", str(settings), "fetch")
    assert fetch.err.count("could not connect") == 1, fetch.err
    assert "1 source fetched: 0 new posts, 1 failed." in fetch.out
