"""Consent that sticks: import, add, one-click, the dashboard and forget, through the CLI and
over HTTP against the real app; one mailbox is one subscriber, also after the migration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import select, text, update

from syndicate.cli import main
from syndicate.consent import address_hash
from syndicate.db.migrate import alembic_config
from syndicate.db.models import (
    Attempt,
    Delivery,
    Subscriber,
    Subscription,
    SubscriptionChange,
    Suppression,
)
from syndicate.db.session import open_database
from tests.browser.live import LiveSite
from tests.smtpserver import SmtpServer
from tests.test_web_http import client, csrf_of, login, subscribe

READERS = "email,name\nmaya@example.net,Maya\nbudi@example.org,Budi\nsari@example.org,Sari\n"


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveSite]:
    with SmtpServer() as smtp, LiveSite(tmp_path, database_url, smtp) as site:
        yield site


def cli(site: LiveSite, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(site.folder / "syndicate.toml"), *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def history(site: LiveSite, email: str) -> list[tuple[str, str]]:
    with site.db.session() as session:
        rows = session.execute(
            select(SubscriptionChange.status, SubscriptionChange.changed_by)
            .join(Subscriber, Subscriber.id == SubscriptionChange.subscriber_id)
            .where(Subscriber.email_key == email)
            .order_by(SubscriptionChange.id)
        )
        return [tuple(row) for row in rows]


def one_click(site: LiveSite, address: str) -> None:
    (mail,) = [m for m in site.smtp.messages if m.envelope_to == [address]][-1:]
    url = re.search(r"<(https?://[^>]+)>", str(mail.message["List-Unsubscribe"])).group(1)
    answer = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert answer.status_code == 200


def test_those_who_left_stay_gone_through_import_add_and_the_dashboard(
    live: LiveSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    site = live
    readers = tmp_path / "readers.csv"
    readers.write_text(READERS, encoding="utf-8")
    assert cli(site, capsys, "subscribers", "import", str(readers), "--list", "newsletter")[0] == 0
    site.run("pagi")
    assert site.deliver() == {"sent": 3}
    one_click(site, "maya@example.net")
    assert (
        cli(site, capsys, "subscribers", "remove", "budi@example.org", "--list", "newsletter")[0]
        == 0
    )

    code, said = cli(site, capsys, "subscribers", "import", str(readers), "--list", "newsletter")
    assert code == 0
    assert "0 new subscribers, 0 existing ones added to newsletter, 1 already there" in said
    assert "2 skipped: they unsubscribed" in said

    browser = client(site)
    login(browser)
    token = csrf_of(browser.get("/admin/subscribers").text)
    page = browser.post(
        "/admin/subscribers/import",
        data={"csrf": token, "list": "newsletter"},
        files={"csv": ("readers.csv", READERS.encode(), "text/csv")},
    )
    assert page.status_code == 200 and "2 skipped: they unsubscribed" in page.text

    code, said = cli(site, capsys, "subscribers", "add", "Maya@Example.net", "--list", "newsletter")
    assert code == 1 and "unsubscribed earlier" in said and "--resubscribe" in said
    assert cli(site, capsys, "subscribers", "list")[1].splitlines() == [
        "budi@example.org\tnewsletter\tunsubscribed",
        "maya@example.net\tnewsletter\tunsubscribed",
        "sari@example.org\tnewsletter\tactive",
    ]
    listed = cli(site, capsys, "subscribers", "list", "--status", "unsubscribed")[1]
    assert [line.split("\t")[0] for line in listed.splitlines()] == [
        "budi@example.org",
        "maya@example.net",
    ]
    assert history(site, "maya@example.net") == [
        ("active", "import"),
        ("unsubscribed", "one-click"),
    ]
    assert history(site, "budi@example.org") == [("active", "import"), ("unsubscribed", "cli")]

    site.smtp.messages.clear()
    second = site.run("pagi")  # the next edition goes to Sari alone
    assert second.posts > 0 and second.queued == 1
    assert site.deliver() == {"sent": 1}
    assert [m.envelope_to for m in site.smtp.messages] == [["sari@example.org"]]

    # Who left every list is not put on a new list by an import either.
    code, said = cli(site, capsys, "subscribers", "import", str(readers), "--list", "mingguan")
    assert code == 0 and "2 skipped: they unsubscribed" in said
    assert site.statuses("maya@example.net") == {"newsletter": "unsubscribed"}
    assert site.statuses("sari@example.org") == {"newsletter": "active", "mingguan": "active"}

    code, said = cli(
        site,
        capsys,
        "subscribers",
        "add",
        "maya@example.net",
        "--list",
        "newsletter",
        "--resubscribe",
    )
    assert code == 0 and "added to the list newsletter" in said
    assert history(site, "maya@example.net")[-1] == ("active", "editor")
    code, said = cli(
        site, capsys, "subscribers", "import", str(readers), "--list", "newsletter", "--resubscribe"
    )
    assert code == 0 and "1 who had left was subscribed again, as you asked." in said
    assert history(site, "budi@example.org")[-1] == ("active", "editor")
    assert {site.statuses(r)["newsletter"] for r in ("budi@example.org", "maya@example.net")} == {
        "active"
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reader_who_confirms_again_is_back_and_a_form_never_reactivates(
    live: LiveSite, capsys: pytest.CaptureFixture[str]
) -> None:
    site = live
    cli(site, capsys, "subscribers", "add", "sari@example.org", "--list", "newsletter")
    cli(site, capsys, "subscribers", "remove", "sari@example.org")
    browser = client(site)
    assert subscribe(browser, "SARI@example.org", "newsletter").status_code == 200
    assert site.statuses("sari@example.org") == {"newsletter": "unsubscribed"}  # not unconfirmed
    site.wait_for_mail(1)
    body = site.smtp.messages[-1].message.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(site.base_url)}/confirm/\S+", body).group(0)
    page = browser.get(link)
    assert browser.post(link, data={"csrf": csrf_of(page.text)}).status_code == 200
    assert site.statuses("sari@example.org") == {"newsletter": "active"}
    assert history(site, "sari@example.org")[-1] == ("active", "confirmation")


def test_forget_erases_the_person_and_their_hash_keeps_them_out(
    live: LiveSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    site = live
    readers = tmp_path / "readers.csv"
    readers.write_text(READERS, encoding="utf-8")
    cli(site, capsys, "subscribers", "import", str(readers), "--list", "newsletter")
    site.run("pagi")
    site.smtp.refuse = {"sari@example.org"}  # her attempt's answer names her address
    assert site.deliver() == {"sent": 2, "failed": 1}

    with site.db.session() as session:  # one more copy for her waits in the queue
        failed = session.scalar(select(Delivery).where(Delivery.target == "sari@example.org"))
        session.add(
            Delivery(
                job="pagi",
                channel="newsletter",
                target="sari@example.org",
                item="edition:again",
                edition_id=failed.edition_id,
                rendering_id=failed.rendering_id,
                subscriber_id=failed.subscriber_id,
            )
        )

    code, said = cli(site, capsys, "subscribers", "forget", "Sari@Example.org")
    assert code == 0 and "erased" in said
    assert site.deliver() == {}  # the waiting copy was dropped, not sent to anyone
    assert [row.state for row in site.deliveries()].count("skipped") == 1

    with site.db.session() as session:
        assert (
            session.scalar(select(Subscriber).where(Subscriber.email_key == "sari@example.org"))
            is None
        )
        targets = list(session.scalars(select(Delivery.target)))
        details = " ".join(d or "" for d in session.scalars(select(Attempt.detail)))
        hashes = list(session.scalars(select(Suppression.address_hash)))
    assert "sari@example.org" not in " ".join(targets) + details
    assert len(targets) == 4 and sum(t.startswith("forgotten-") for t in targets) == 2
    assert hashes == [address_hash("sari@example.org")]
    assert "sari" not in cli(site, capsys, "subscribers", "list")[1]

    code, said = cli(site, capsys, "subscribers", "import", str(readers), "--list", "newsletter")
    assert "1 skipped: they asked to be forgotten" in said
    code, said = cli(site, capsys, "subscribers", "add", "sari@example.org", "--list", "newsletter")
    assert code == 1 and "forgotten" in said
    mails = len(site.smtp.messages)
    answer = subscribe(client(site), "sari@example.org", "newsletter")
    assert answer.status_code == 200 and "Check your inbox" in answer.text  # says nothing
    assert site.subscriber("sari@example.org") is None and len(site.smtp.messages) == mails

    code, said = cli(
        site,
        capsys,
        "subscribers",
        "add",
        "sari@example.org",
        "--list",
        "newsletter",
        "--resubscribe",
    )
    assert code == 0 and site.statuses("sari@example.org") == {"newsletter": "active"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_one_mailbox_is_one_subscriber_whatever_the_case(
    live: LiveSite, capsys: pytest.CaptureFixture[str]
) -> None:
    site = live
    cli(site, capsys, "subscribers", "add", "MAYA@Example.net", "--list", "newsletter")
    said = cli(site, capsys, "subscribers", "add", "maya@EXAMPLE.net", "--list", "newsletter")[1]
    assert "already on the list" in said
    subscribe(client(site), "Maya@Example.Net", "newsletter", "mingguan")
    assert cli(site, capsys, "subscribers", "list")[1] == (
        "MAYA@Example.net\tmingguan,newsletter\tunconfirmed,active\n"
    )
    site.run("pagi")
    assert site.deliver() == {"sent": 1}


def test_the_migration_merges_duplicate_mailboxes_keeping_the_most_restrictive_status(
    database_url: str,
) -> None:
    db = open_database(database_url, upgrade=False)
    config = alembic_config(db.engine)
    command.upgrade(config, "0005")
    now = "2026-12-01 00:00:00+00:00"
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO lists (id, name, created_at) "
                "VALUES (1, 'newsletter', :n), (2, 'pagi', :n)"
            ),
            {"n": now},
        )
        rows = [
            (1, "MAYA@example.net", "MAYA@example.net", "active"),
            (2, "maya@example.net", "maya@example.net", "complained"),
            (3, "Maya@Example.NET", "Maya@example.net", "unsubscribed"),
            (4, "budi@example.org", "budi@example.org", "active"),
        ]
        for sub_id, email, key, status in rows:
            connection.execute(
                text(
                    "INSERT INTO subscribers (id, email, email_key, status, hard_bounces, "
                    "created_at, updated_at) VALUES (:i, :e, :k, :s, 0, :n, :n)"
                ),
                {"i": sub_id, "e": email, "k": key, "s": status, "n": now},
            )
        for sub_id, list_id in ((1, 1), (1, 2), (2, 1), (3, 2), (4, 1)):
            connection.execute(
                text(
                    "INSERT INTO subscriptions (subscriber_id, list_id, created_at) "
                    "VALUES (:s, :l, :n)"
                ),
                {"s": sub_id, "l": list_id, "n": now},
            )
        connection.execute(
            text(
                "INSERT INTO editions (id, job, subject, format, created_at) "
                "VALUES (1, 'pagi', 'Kabar pagi', 'digest', :n)"
            ),
            {"n": now},
        )
        connection.execute(
            text(
                "INSERT INTO renderings (id, edition_id, channel, part, body, created_at) "
                "VALUES (1, 1, 'newsletter', 'edition', '{}', :n)"
            ),
            {"n": now},
        )
        connection.execute(
            text(
                "INSERT INTO deliveries (id, job, channel, target, item, edition_id, "
                "rendering_id, subscriber_id, state, attempts, next_attempt_at, created_at, "
                "updated_at) VALUES (1, 'pagi', 'newsletter', 'maya@example.net', 'edition:1', "
                "1, 1, 2, 'sent', 1, :n, :n, :n)"
            ),
            {"n": now},
        )
    db.dispose()

    db = open_database(database_url)  # upgrades to the head
    with db.engine.connect() as connection:
        people = connection.execute(text("SELECT id, email_key FROM subscribers ORDER BY id")).all()
        statuses = connection.execute(
            text("SELECT subscriber_id, list_id, status FROM subscriptions ORDER BY 1, 2")
        ).all()
        delivery = connection.execute(text("SELECT subscriber_id FROM deliveries")).all()
        key = connection.execute(text("SELECT message_key FROM editions")).scalar()
        changes = connection.execute(
            text(
                "SELECT subscriber_id, list_id, status, changed_by, detail "
                "FROM subscription_changes ORDER BY 1, 2"
            )
        ).all()
    db.dispose()
    assert [tuple(c) for c in changes] == [
        (1, 1, "complained", "migration", "3 spellings of one address merged"),
        (1, 2, "unsubscribed", "migration", "3 spellings of one address merged"),
    ]
    assert [tuple(d) for d in delivery] == [(1,)]  # kept, and now the merged subscriber's
    assert key and len(key) == 16
    assert [tuple(p) for p in people] == [(1, "maya@example.net"), (4, "budi@example.org")]
    assert [tuple(s) for s in statuses] == [
        (1, 1, "complained"),  # active + complained
        (1, 2, "unsubscribed"),  # active + unsubscribed
        (4, 1, "active"),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_subscribe_form_sends_nothing_to_an_address_that_complained_or_bounced(
    live: LiveSite, capsys: pytest.CaptureFixture[str]
) -> None:
    site = live
    for address, status in (("keluh@example.org", "complained"), ("mati@example.org", "bounced")):
        cli(site, capsys, "subscribers", "add", address, "--list", "newsletter")
        with site.db.session() as session:
            session.execute(
                update(Subscription)
                .where(Subscription.subscriber_id == site.subscriber(address).id)
                .values(status=status)
            )
    mails = len(site.smtp.messages)
    for address in ("Keluh@example.org", "mati@example.org"):
        answer = subscribe(client(site), address, "newsletter")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert subscribe(client(site), "baru@example.org", "newsletter").status_code == 200
    site.wait_for_mail(mails + 1)  # the new reader's confirmation, and only that
    assert [m.envelope_to for m in site.smtp.messages[mails:]] == [["baru@example.org"]]
    assert site.statuses("keluh@example.org") == {"newsletter": "complained"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bounces_refuses_a_number_of_days_that_is_not_above_zero(
    live: LiveSite, capsys: pytest.CaptureFixture[str]
) -> None:
    for days in ("-5", "0", "lots"):
        with pytest.raises(SystemExit) as exited:
            cli(live, capsys, "bounces", "--days", days)
        assert exited.value.code == 2
        assert "is not a number of days above zero" in capsys.readouterr().err
    assert cli(live, capsys, "bounces", "--days", "7") == (
        0,
        "No bounces or complaints in the last 7 days.\n",
    )
