"""The `syndicate subscribers` commands, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from syndicate.cli import main

SETTINGS = """\
[site]
name = "Kabar Pilihan"
base_url = "http://localhost:8080"
locale = "id"
timezone = "Asia/Jakarta"

[database]
url = "{database_url}"

[scheduler]
jobs_dir = "jobs"

# The lists the tests use are mailed by a channel, so `--list` takes them as they are.
[channels.newsletter]
type = "outbox"
medium = "email"
path = "outbox"
list = "newsletter"

[channels.pagi]
type = "outbox"
medium = "email"
path = "outbox"
list = "pagi"
"""


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def one_sentence(self) -> str:
        assert self.code == 2, self
        assert "Traceback" not in self.err
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1, self.err
        return lines[0]


@pytest.fixture
def syndicate(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Syndicate:
    """Runs `syndicate --config SITE ...` in-process on a site using `database_url`."""
    (tmp_path / "jobs").mkdir()
    settings = tmp_path / "syndicate.toml"
    settings.write_text(SETTINGS.format(database_url=database_url), encoding="utf-8")
    capsys.readouterr()

    def run(*command: str) -> Outcome:
        code = main(["--config", str(settings), *command])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


Syndicate = Callable[..., Outcome]


def table(outcome: Outcome) -> list[tuple[str, ...]]:
    assert outcome.code == 0, outcome
    return [tuple(line.split("\t")) for line in outcome.lines]


# --- add -------------------------------------------------------------------------------


def test_added_subscriber_is_active_on_the_list(syndicate: Syndicate) -> None:
    added = syndicate("subscribers", "add", "sari@example.org", "--list", "newsletter")
    assert added.code == 0, added
    assert added.out == "sari@example.org added to the list newsletter.\n"
    assert table(syndicate("subscribers", "list")) == [("sari@example.org", "newsletter", "active")]


def test_address_with_differently_cased_domain_is_the_same_subscriber(syndicate: Syndicate) -> None:
    syndicate("subscribers", "add", "sari@example.org", "--list", "newsletter")
    again = syndicate("subscribers", "add", "sari@EXAMPLE.Org", "--list", "newsletter")
    assert again.code == 0, again
    assert "already on the list newsletter" in again.out
    other_list = syndicate("subscribers", "add", "sari@Example.ORG", "--list", "pagi")
    assert "added to the list pagi" in other_list.out
    assert table(syndicate("subscribers", "list")) == [
        ("sari@example.org", "newsletter,pagi", "active")
    ]


def test_invalid_address_is_refused_in_one_sentence(syndicate: Syndicate) -> None:
    message = syndicate("subscribers", "add", "sari@", "--list", "newsletter").one_sentence()
    assert '"sari@" is not a valid email address' in message
    assert table(syndicate("subscribers", "list")) == []


# --- import ----------------------------------------------------------------------------


@dataclass
class ReadersFile:
    path: Path
    unique: list[str] = field(default_factory=list)
    duplicates: int = 0
    bad_lines: dict[int, str] = field(default_factory=dict)  # line number → address


def write_readers_csv(path: Path, rows: int = 2000) -> ReadersFile:
    """A CSV as an editor exports it: BOM, header, bad addresses, repeats, a bad zone."""
    readers = ReadersFile(path)
    records = []
    for i in range(rows):
        line = i + 2  # the header is line 1
        if i % 100 == 7:
            email, zone = f"reader{i}.example.org", ""
            readers.bad_lines[line] = email
        elif i % 250 == 99:
            email, zone = f"reader{i}@example.org", "Mars/Olympus"
            readers.bad_lines[line] = email
        elif i % 100 == 13:
            email, zone = f"reader{i - 10}@EXAMPLE.ORG", ""
            readers.duplicates += 1
        elif i % 100 == 21:
            email, zone = f"reader{i - 1}@example.org", "Asia/Makassar"
            readers.duplicates += 1
        else:
            email, zone = f"reader{i}@example.org", "Asia/Jakarta" if i % 3 == 0 else ""
            readers.unique.append(email)
        name = f"Santoso, Pembaca {i}" if i % 10 == 0 else f"Pembaca {i}"
        records.append((email, name, zone))
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("email", "name", "timezone"))
        writer.writerows(records)
    return readers


def test_import_reports_bad_rows_by_line_and_adds_each_address_once(
    syndicate: Syndicate,
    tmp_path: Path,
) -> None:
    readers = write_readers_csv(tmp_path / "readers.csv")
    assert readers.path.read_bytes().startswith(b"\xef\xbb\xbf")
    # Already a subscriber, on another list: imported onto this one as well.
    syndicate("subscribers", "add", readers.unique[0], "--list", "pagi")

    imported = syndicate("subscribers", "import", str(readers.path), "--list", "newsletter")

    assert imported.code == 0, imported.err
    bad = len(readers.bad_lines)
    assert imported.out == (
        f"{len(readers.unique) - 1} new subscribers, 1 existing one added to newsletter, "
        f"{readers.duplicates} already there, {bad} rejected.\n"
    )
    reported = {int(n): rest for n, rest in re.findall(r"line (\d+): (.*)", imported.err)}
    assert reported.keys() == readers.bad_lines.keys()
    for line, email in readers.bad_lines.items():
        assert email in reported[line]
    assert any("Mars/Olympus" in reason for reason in reported.values())

    listed = table(syndicate("subscribers", "list", "--list", "newsletter"))
    assert sorted(email for email, _, _ in listed) == sorted(readers.unique)
    assert {status for _, _, status in listed} == {"active"}

    again = syndicate("subscribers", "import", str(readers.path), "--list", "newsletter")
    assert again.code == 0, again.err
    assert again.out == (
        f"0 new subscribers, 0 existing ones added to newsletter, "
        f"{len(readers.unique) + readers.duplicates} already there, {bad} rejected.\n"
    )
    assert len(table(syndicate("subscribers", "list"))) == len(readers.unique)


def test_import_without_an_email_column_is_refused_in_one_sentence(
    syndicate: Syndicate,
    tmp_path: Path,
) -> None:
    export = tmp_path / "export.csv"
    export.write_text("name,mail\nSari,sari@example.org\n", encoding="utf-8")
    message = syndicate("subscribers", "import", str(export), "--list", "newsletter").one_sentence()
    assert "export.csv" in message and '"email"' in message
    assert table(syndicate("subscribers", "list")) == []


def test_a_semicolon_separated_windows_1252_file_from_excel_is_read_with_a_notice(
    syndicate: Syndicate, tmp_path: Path
) -> None:
    export = tmp_path / "pelanggan.csv"
    export.write_bytes(
        "email;name\r\nsari@example.org;Sári Dewi\r\nbudi@example.org;Budi\r\n".encode("cp1252")
    )
    imported = syndicate("subscribers", "import", str(export), "--list", "newsletter")
    assert imported.code == 0, imported.err
    assert "2 new subscribers" in imported.out
    assert "read as Windows-1252" in imported.err
    assert table(syndicate("subscribers", "list"))[0][0] == "budi@example.org"
    assert {row[0] for row in table(syndicate("subscribers", "list"))} == {
        "sari@example.org",
        "budi@example.org",
    }


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_found_from_the_header(
    syndicate: Syndicate, tmp_path: Path, delimiter: str
) -> None:
    export = tmp_path / "export.csv"
    rows = ["email", "name"], ["sari@example.org", "Sari, Dewi"], ["budi@example.org", "Budi"]
    with export.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file, delimiter=delimiter).writerows(rows)
    imported = syndicate("subscribers", "import", str(export), "--list", "newsletter")
    assert imported.code == 0, imported.err
    assert "2 new subscribers" in imported.out and "0 rejected" in imported.out
    assert imported.err == ""  # UTF-8: no notice


def test_a_file_in_another_encoding_is_refused_saying_how_to_save_utf8(
    syndicate: Syndicate, tmp_path: Path
) -> None:
    export = tmp_path / "unicode.csv"
    export.write_bytes("email\tname\nsari@example.org\tSari\n".encode("utf-16"))
    message = syndicate("subscribers", "import", str(export), "--list", "newsletter").one_sentence()
    assert "unicode.csv" in message and "neither UTF-8 nor Windows-1252" in message
    assert "CSV UTF-8" in message
    assert table(syndicate("subscribers", "list")) == []


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"], ids=["cr", "crlf", "lf"])
def test_every_line_ending_is_read_the_macintosh_csv_too(
    syndicate: Syndicate, tmp_path: Path, ending: str
) -> None:
    export = tmp_path / "mac.csv"  # Excel for Mac's "CSV (Macintosh)" ends lines in CR
    lines = ["email;name", "cr@example.org;Renée", "dua@example.org;Dua"]
    export.write_bytes(ending.join([*lines, ""]).encode("cp1252"))
    imported = syndicate("subscribers", "import", str(export), "--list", "newsletter")
    assert imported.code == 0, imported.err
    assert "2 new subscribers" in imported.out
    assert "Renée" in imported.err  # the notice names what it read, for the editor to check
    assert {row[0] for row in table(syndicate("subscribers", "list"))} == {
        "cr@example.org",
        "dua@example.org",
    }


def test_a_file_the_csv_reader_chokes_on_is_refused_in_one_sentence(
    syndicate: Syndicate, tmp_path: Path
) -> None:
    export = tmp_path / "rusak.csv"
    export.write_text('email\nsari@example.org\n"' + "x" * 200_000 + "\n", encoding="utf-8")
    message = syndicate("subscribers", "import", str(export), "--list", "newsletter").one_sentence()
    assert "rusak.csv" in message and "line 3" in message and "cannot be read as CSV" in message


@pytest.mark.parametrize(
    "header",
    ["email", "E-mail", "Email Address", '"E-mail Address"', "alamat email", "Surel", "e_mail"],
)
def test_common_spellings_of_the_address_column_are_taken(
    syndicate: Syndicate, tmp_path: Path, header: str
) -> None:
    export = tmp_path / "export.csv"
    export.write_text(f"Nama;{header}\nSari;sari@example.org\n", encoding="utf-8")
    imported = syndicate("subscribers", "import", str(export), "--list", "newsletter")
    assert imported.code == 0, imported.err
    assert syndicate("subscribers", "list").out == "sari@example.org\tnewsletter\tactive\n"


def test_excel_s_sep_line_sets_the_separator(syndicate: Syndicate, tmp_path: Path) -> None:
    export = tmp_path / "excel.csv"
    export.write_text(
        "sep=;\r\nemail;name\r\nsari@example.org;Sari, Dewi\r\nnot-an-address;X\r\n",
        encoding="utf-8",
    )
    imported = syndicate("subscribers", "import", str(export), "--list", "newsletter")
    assert imported.code == 0, imported.err
    assert "1 new subscriber" in imported.out
    assert "line 4" in imported.out + imported.err  # lines counted as in the file


def test_an_address_no_server_can_take_is_refused_at_add_and_import(
    syndicate: Syndicate, tmp_path: Path
) -> None:
    message = syndicate("subscribers", "add", "andré@example.org", "--list", "newsletter")
    assert "andré@example.org" in message.one_sentence() and "(é)" in message.err
    export = tmp_path / "export.csv"
    export.write_text("email\nandré@example.org\nbudi@bücher.example\n", encoding="utf-8")
    imported = syndicate("subscribers", "import", str(export), "--list", "newsletter")
    assert "1 new subscriber" in imported.out and "line 2" in imported.out + imported.err
    # A domain in another script is stored in the ASCII form every mail server takes.
    assert table(syndicate("subscribers", "list")) == [
        ("budi@xn--bcher-kva.example", "newsletter", "active")
    ]


def test_an_address_stored_before_the_plain_letters_rule_can_still_be_removed(
    syndicate: Syndicate, database_url: str
) -> None:
    from syndicate.db.models import MailingList, Subscriber, Subscription
    from syndicate.db.session import open_database

    assert syndicate("subscribers", "list").code == 0  # the schema is there
    db = open_database(database_url)
    try:
        with db.session() as session:
            stored = Subscriber(email="andré@example.org", email_key="andré@example.org")
            session.add(stored)
            session.flush()
            newsletter = MailingList(name="newsletter")
            session.add(newsletter)
            session.flush()
            session.add(Subscription(subscriber_id=stored.id, list_id=newsletter.id))
    finally:
        db.dispose()
    removed = syndicate("subscribers", "remove", "andré@example.org")
    assert removed.code == 0, removed.err
    listed = table(syndicate("subscribers", "list"))
    assert listed == [("andré@example.org", "newsletter", "unsubscribed")]


# --- list ------------------------------------------------------------------------------


@pytest.fixture
def three_readers(syndicate: Syndicate) -> Syndicate:
    syndicate("subscribers", "add", "sari@example.org", "--list", "newsletter")
    syndicate("subscribers", "add", "sari@example.org", "--list", "pagi")
    syndicate("subscribers", "add", "budi@example.org", "--list", "newsletter")
    syndicate("subscribers", "add", "maya@example.net", "--list", "pagi")
    assert syndicate("subscribers", "remove", "maya@example.net").code == 0
    return syndicate


def test_list_prints_address_lists_and_status_tab_separated(three_readers: Syndicate) -> None:
    assert three_readers("subscribers", "list").lines == [
        "budi@example.org\tnewsletter\tactive",
        "maya@example.net\tpagi\tunsubscribed",
        "sari@example.org\tnewsletter,pagi\tactive",
    ]


def test_list_filters_by_list_and_by_status(three_readers: Syndicate) -> None:
    def emails(*options: str) -> list[str]:
        return [row[0] for row in table(three_readers("subscribers", "list", *options))]

    assert emails("--list", "pagi") == ["maya@example.net", "sari@example.org"]
    assert emails("--status", "active") == ["budi@example.org", "sari@example.org"]
    assert emails("--list", "pagi", "--status", "active") == ["sari@example.org"]
    assert emails("--list", "nobody-reads-this") == []


# --- remove ----------------------------------------------------------------------------


def test_remove_keeps_the_subscriber_as_unsubscribed(three_readers: Syndicate) -> None:
    removed = three_readers("subscribers", "remove", "sari@EXAMPLE.org")
    assert removed.code == 0, removed
    assert ("sari@example.org", "newsletter,pagi", "unsubscribed") in table(
        three_readers("subscribers", "list")
    )


def test_remove_from_one_list_keeps_the_others(three_readers: Syndicate) -> None:
    removed = three_readers("subscribers", "remove", "sari@example.org", "--list", "pagi")
    assert removed.code == 0, removed
    assert ("sari@example.org", "newsletter,pagi", "active,unsubscribed") in table(
        three_readers("subscribers", "list")
    )
    message = three_readers(
        "subscribers", "remove", "sari@example.org", "--list", "pagi"
    ).one_sentence()
    assert '"pagi"' in message and "already left" in message


def test_removing_an_unknown_address_is_refused_in_one_sentence(three_readers: Syndicate) -> None:
    before = three_readers("subscribers", "list").out
    message = three_readers("subscribers", "remove", "nobody@example.org").one_sentence()
    assert "nobody@example.org is not a subscriber" in message
    assert three_readers("subscribers", "list").out == before
