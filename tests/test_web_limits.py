"""The pieces under the web's limits, alone: the rate limiter, the log filter, the client.

The limiter must hold in bounded memory with constant work per call however many keys an
attacker makes up; the log filter must keep a flood out of the log and say how much it
left out; a forwarded address counts only when a trusted proxy gave it.
"""

from __future__ import annotations

import logging
from ipaddress import ip_network

from syndicate.config import Web
from syndicate.ratelimit import RateLimiter
from syndicate.web.gate import client_address, served_hosts
from syndicate.web.security import PasswordGate
from syndicate.web.server import LOG_BURST, RepeatedLines


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_allows_the_limit_then_refuses_until_the_window_has_passed() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 600, clock=clock)
    assert [limiter.allow("a") for _ in range(11)] == [True] * 10 + [False]
    assert limiter.allow("b")  # another key has its own count
    clock.now += 300
    assert not limiter.allow("a")  # half the window on: still over (sliding, not reset)
    clock.now += 600
    assert limiter.allow("a")


def test_the_limiter_keeps_at_most_max_keys_whatever_the_number_of_keys_seen() -> None:
    limiter = RateLimiter(5, 60, max_keys=1000, clock=Clock())
    for n in range(50_000):
        limiter.allow(f"203.0.113.{n}")
    assert len(limiter) == 1000


def test_a_blocked_key_is_not_forgotten_while_it_keeps_trying() -> None:
    limiter = RateLimiter(3, 60, max_keys=100, clock=Clock())
    for _ in range(3):
        limiter.allow("attacker")
    for n in range(1000):  # made-up keys push the idle ones out ...
        limiter.allow(f"k{n}")
        assert not limiter.allow("attacker")  # ... not the one that keeps coming back
    assert len(limiter) == 100


def test_failed_logins_counted_with_add_block_the_account() -> None:
    limiter = RateLimiter(3, 900, clock=Clock())
    for _ in range(3):
        assert not limiter.blocked("redaksi")
        limiter.add("redaksi")
    assert limiter.blocked("redaksi") and not limiter.blocked("")


def test_the_password_gate_lets_two_in_and_refuses_the_third_until_one_leaves() -> None:
    gate = PasswordGate(2)
    assert gate.try_enter() and gate.try_enter()
    assert not gate.try_enter()
    gate.leave()
    assert gate.try_enter()


def test_a_flood_of_one_log_line_is_cut_and_the_next_says_how_many_were_left_out() -> None:
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    handler.addFilter(RepeatedLines())
    logger = logging.getLogger("test.flood")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for _ in range(10_000):
            logger.warning("Invalid HTTP request received.")
        logger.warning("something else")
    finally:
        logger.removeHandler(handler)
    assert len(seen) == LOG_BURST + 1
    assert seen[-1] == "something else"


def test_forwarded_addresses_count_only_from_a_trusted_proxy() -> None:
    proxy = (ip_network("10.0.0.0/8"),)
    forged = {"x-forwarded-for": "198.51.100.1"}
    assert client_address("203.0.113.9", forged, ()) == "203.0.113.9"
    assert client_address("203.0.113.9", forged, proxy) == "203.0.113.9"
    assert client_address("10.0.0.2", forged, proxy) == "198.51.100.1"
    # The client put its own made-up address first; the proxy appended the real one.
    chain = {"x-forwarded-for": "1.2.3.4, 198.51.100.1, 10.0.0.3"}
    assert client_address("10.0.0.2", chain, proxy) == "198.51.100.1"
    assert client_address("10.0.0.2", {"forwarded": 'for="198.51.100.5:4711"'}, proxy) == (
        "198.51.100.5"
    )
    assert client_address("10.0.0.2", {"x-forwarded-for": "not an address"}, proxy) == "10.0.0.2"


def test_loopback_names_are_served_only_while_listening_on_loopback() -> None:
    local = served_hosts("https://kabar.example/berita", Web(aliases=("www.kabar.example",)))
    assert local == {"kabar.example", "www.kabar.example", "localhost", "127.0.0.1", "[::1]"}
    public = served_hosts("https://kabar.example", Web(host="0.0.0.0"))
    assert public == {"kabar.example"}


def test_access_lines_of_one_client_count_together_whatever_its_port() -> None:
    lines = RepeatedLines()
    records = [
        logging.LogRecord(
            "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
            (f"203.0.113.5:{40000 + n}", "GET", "/subscribe", "1.1", 200), None,
        )
        for n in range(100)
    ]  # fmt: skip
    passed = [lines.filter(record) for record in records]
    assert passed.count(True) == LOG_BURST
    other = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("198.51.100.9:5000", "GET", "/", "1.1", 200), None,
    )  # fmt: skip
    assert lines.filter(other)


def test_a_session_cookie_ends_when_the_password_setting_changes() -> None:
    from syndicate.web.security import Sessions

    cookie = Sessions(b"s" * 32, "old-password").make("redaksi", 0)
    assert Sessions(b"s" * 32, "old-password").read(cookie) is not None
    assert Sessions(b"s" * 32, "new-password").read(cookie) is None


# --- what the limits keep in the database, on SQLite and PostgreSQL --------------------------


def test_a_mailbox_gets_one_pending_confirmation_and_three_a_day(database_url: str) -> None:
    from datetime import timedelta

    from syndicate.db.models import utcnow
    from syndicate.db.session import open_database
    from syndicate.web.confirmations import may_send_confirmation

    db = open_database(database_url)
    secret, now = b"k" * 32, utcnow()
    try:
        assert may_send_confirmation(db, secret, "sari@gmail.com", now)
        assert not may_send_confirmation(db, secret, "s.a.r.i+1@googlemail.com", now)
        assert may_send_confirmation(db, secret, "dewi@gmail.com", now)  # another mailbox
        later = [now + timedelta(hours=hours) for hours in (2, 4, 6)]
        assert [may_send_confirmation(db, secret, "Sari+x@gmail.com", at) for at in later] == [
            True,
            True,
            False,  # the fourth in a day
        ]
        assert may_send_confirmation(db, secret, "sari@gmail.com", now + timedelta(hours=26))
    finally:
        db.dispose()


def test_logout_moves_the_generation_on_and_a_click_counts_once_a_day(database_url: str) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select

    from syndicate.db.models import Click, Post, Source, utcnow
    from syndicate.db.session import open_database
    from syndicate.web.archive import record_click
    from syndicate.web.editors import end_sessions, session_generation

    db = open_database(database_url)
    try:
        assert session_generation(db, "redaksi") == 0
        assert end_sessions(db, "redaksi") == 1
        assert end_sessions(db, "redaksi") == 2
        assert session_generation(db, "lain") == 0
        with db.session() as session:
            source = Source(name="warta", url="https://warta.example/feed")
            session.add(source)
            session.flush()
            post = Post(
                source_id=source.id, key="warta.example/1", url="https://warta.example/1",
                title="Satu", content_hash="0" * 64,
            )  # fmt: skip
            session.add(post)
            session.flush()
            post_id = post.id
        now = utcnow()
        for _ in range(5):
            assert record_click(db, post_id, "pagi", "klien-a", now) == "https://warta.example/1"
        record_click(db, post_id, "pagi", "klien-b", now)
        record_click(db, post_id, "pagi", None, now)  # a scanner: nothing recorded
        record_click(db, post_id, "pagi", "klien-a", now + timedelta(days=1))
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Click)) == 3
    finally:
        db.dispose()
