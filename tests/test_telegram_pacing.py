"""Pacing of the Telegram channel against a Bot API server that enforces Telegram's limits.

The server (tests/botapi.py) answers 429 the moment a window is exceeded, so "no 429"
means the channel never sent more than the limits allow, however the requests were timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from syndicate.channels.base import SendResult, SocialPost, TransientError
from syndicate.channels.telegram import Pacing, TelegramChannel
from syndicate.db.models import DeliveryState
from syndicate.ratelimit import Clock
from tests.botapi import TEST_TOKEN, BotApiServer, RateLimits
from tests.clocks import SkippingClock
from tests.sites import Site, job_toml

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def limited() -> Iterator[BotApiServer]:
    """A server enforcing 10 messages a second overall, 20 a minute per group, 1/s private."""
    with BotApiServer(TEST_TOKEN, limits=RateLimits(per_second=10)) as server:
        yield server


def make_channel(
    server: BotApiServer, *chats: str, clock: Clock = time.monotonic, **pacing: int
) -> TelegramChannel:
    return TelegramChannel(
        "telegram",
        TEST_TOKEN,
        chats or ("@kabarpilihan",),
        api_base_url=server.base_url,
        timeout=5,
        pacing=Pacing(**{"max_per_second": 10, **pacing}),
        clock=clock,
    )


def post(target: str, text: str = "<b>Kabar</b>") -> SocialPost:
    return SocialPost(target=target, text=text, parse_mode="HTML")


def send_all(channel: TelegramChannel, posts: list[SocialPost]) -> list[Any]:
    """Send every post at once, as the delivery layer's lanes do; results or errors."""

    async def session() -> list[Any]:
        await channel.open()
        try:
            lanes = asyncio.Semaphore(channel.concurrency)

            async def one(message: SocialPost) -> SendResult:
                async with lanes:
                    return await channel.send(message)

            return await asyncio.gather(*(one(p) for p in posts), return_exceptions=True)
        finally:
            await channel.close()

    return asyncio.run(session())


def sends_to(server: BotApiServer, chat: str) -> int:
    return sum(
        1 for r in server.requests if r.method == "sendMessage" and r.params["chat_id"] == chat
    )


# -- never over the limits -----------------------------------------------------------------


def test_a_burst_to_many_channels_is_paced_under_the_bot_limit(limited: BotApiServer) -> None:
    chats = [f"@kanal_{n:02d}" for n in range(25)]
    results = send_all(make_channel(limited, *chats), [post(chat) for chat in chats])

    assert all(isinstance(result, SendResult) for result in results), results
    assert sorted(m.chat_id for m in limited.messages) == chats
    assert limited.throttled == []


def test_without_pacing_the_same_burst_is_refused_by_flood_control(
    limited: BotApiServer,
) -> None:
    # The negative control: it shows the server does catch a client that sends too much.
    chats = [f"@kanal_{n:02d}" for n in range(25)]
    results = send_all(make_channel(limited, *chats, max_per_second=0), [post(c) for c in chats])

    refused = [r for r in results if isinstance(r, TransientError)]
    assert refused and {t.limit for t in limited.throttled} == {"bot"}
    assert all(error.scope == "target" for error in refused)


def test_the_21st_post_to_a_group_in_a_minute_waits_without_a_request(
    limited: BotApiServer,
) -> None:
    results = send_all(make_channel(limited), [post("@kabarpilihan", f"n{n}") for n in range(21)])

    sent = [r for r in results if isinstance(r, SendResult)]
    [later] = [r for r in results if isinstance(r, TransientError)]
    assert len(sent) == 20 and sends_to(limited, "@kabarpilihan") == 20
    assert later.scope == "target" and later.retry_after is not None
    assert 5 < later.retry_after <= 61  # until the oldest of the 20 leaves the minute
    assert "20 messages per 60 s" in str(later)
    assert limited.throttled == []


def test_a_private_chat_gets_at_most_one_message_a_second(limited: BotApiServer) -> None:
    results = send_all(make_channel(limited, "123456789"), [post("123456789") for _ in range(3)])

    assert all(isinstance(result, SendResult) for result in results), results
    assert len(limited.messages) == 3
    assert limited.throttled == []


def test_a_slow_server_still_sees_no_more_than_the_limits(limited: BotApiServer) -> None:
    limited.delay = 0.3  # answers arrive late: a place is held until one second after
    chats = [f"@kanal_{n:02d}" for n in range(15)]
    results = send_all(make_channel(limited, *chats), [post(chat) for chat in chats])

    assert all(isinstance(result, SendResult) for result in results), results
    assert limited.throttled == []


def test_posts_to_one_chat_arrive_in_the_order_they_were_handed_over(
    limited: BotApiServer,
) -> None:
    limited.delay = (0.0, 0.1)  # uneven answers: concurrent sends would overtake each other
    texts = [f"berita {n}" for n in range(8)]
    results = send_all(make_channel(limited), [post("@kabarpilihan", t) for t in texts])

    assert all(isinstance(result, SendResult) for result in results), results
    assert [m.text for m in limited.messages] == texts


def test_sends_waiting_for_a_chat_the_bot_was_removed_from_are_not_made(
    limited: BotApiServer,
) -> None:
    limited.fail_next("sendMessage", "forbidden", chat_id="@satu")
    posts = [post("@satu", "a"), post("@dua", "b"), post("@satu", "c"), post("@satu", "d")]
    results = send_all(make_channel(limited, "@satu", "@dua"), posts)

    assert [type(result).__name__ for result in results] == [
        "TargetGone",
        "SendResult",
        "TargetGone",
        "TargetGone",
    ]
    assert "paused while this message waited" in str(results[2])
    assert sends_to(limited, "@satu") == 1
    assert [m.chat_id for m in limited.messages] == ["@dua"]


# -- a 429 pauses one chat -----------------------------------------------------------------


def test_a_429_pauses_that_chat_only_and_a_send_before_the_pause_ends_asks_nothing(
    limited: BotApiServer,
) -> None:
    limited.fail_next("sendMessage", "retry_after", seconds=30, chat_id="@satu")
    channel = make_channel(limited, "@satu", "@dua")

    async def session() -> tuple[Any, SendResult, Any]:
        await channel.open()
        try:
            first = await asyncio.gather(channel.send(post("@satu")), return_exceptions=True)
            other = await channel.send(post("@dua"))
            again = await asyncio.gather(channel.send(post("@satu")), return_exceptions=True)
            return first[0], other, again[0]
        finally:
            await channel.close()

    first, other, again = asyncio.run(session())

    assert isinstance(first, TransientError) and isinstance(again, TransientError)
    assert (first.scope, first.retry_after) == ("target", 30)
    assert again.scope == "target" and 25 < (again.retry_after or 0) <= 30
    assert "paused" in str(again)
    assert other.external_id == "1"
    assert [m.chat_id for m in limited.messages] == ["@dua"]
    assert sends_to(limited, "@satu") == 1  # the refused one; the second never left


def test_a_paused_chat_is_sent_to_again_once_the_pause_is_over(limited: BotApiServer) -> None:
    limited.fail_next("sendMessage", "retry_after", seconds=1, chat_id="@satu")
    clock = SkippingClock()
    channel = make_channel(limited, "@satu", clock=clock)

    async def session() -> SendResult:
        await channel.open()
        try:
            with pytest.raises(TransientError):
                await channel.send(post("@satu"))
            clock.skip(1.05)
            return await channel.send(post("@satu"))
        finally:
            await channel.close()

    assert asyncio.run(session()).external_id == "1"
    assert [m.chat_id for m in limited.messages] == ["@satu"]


def test_random_429s_are_retried_by_the_caller_and_each_post_lands_once() -> None:
    with BotApiServer(TEST_TOKEN, limits=RateLimits(), random_429=0.3, seed=4) as server:
        chats = [f"@kanal_{n:02d}" for n in range(12)]
        pending = [post(chat, f"{chat} berita") for chat in chats]
        channel = make_channel(server, *chats, max_per_second=30)
        for _ in range(20):  # what the delivery layer does: retry what was transient
            results = send_all(channel, pending)
            pending = [
                p for p, r in zip(pending, results, strict=True) if not isinstance(r, SendResult)
            ]
            assert all(isinstance(r, (SendResult, TransientError)) for r in results)
            if not pending:
                break
            asyncio.run(asyncio.sleep(1.05))

    assert pending == []
    assert server.random_refusals > 0
    assert sorted(m.text for m in server.messages) == sorted(f"{c} berita" for c in chats)
    assert server.throttled == []


# -- the server's own flood control ----------------------------------------------------------


def test_server_flood_control_counts_windows_per_chat_kind() -> None:
    import httpx

    limits = RateLimits(per_second=0, per_minute_per_group=2, per_second_per_private_chat=1)
    with BotApiServer(TEST_TOKEN, limits=limits) as server, httpx.Client() as client:
        url = f"{server.base_url}{TEST_TOKEN}/sendMessage"
        codes = [
            client.post(url, json={"chat_id": chat, "text": "x"}).status_code
            for chat in ["@grup", "-1001", "@grup", "@grup", "42", "42", "-5"]
        ]
        answer = client.post(url, json={"chat_id": "@grup", "text": "x"}).json()

    assert codes == [200, 200, 200, 429, 200, 429, 200]
    assert answer["parameters"]["retry_after"] >= 59
    assert [(t.chat_id, t.limit) for t in server.throttled] == [
        ("@grup", "group"),
        ("42", "private"),
        ("@grup", "group"),
    ]


# -- through the delivery layer ------------------------------------------------------------


def test_a_429_holds_back_only_that_chats_deliveries(site: Site) -> None:
    site.open(siaran=job_toml("siaran"))
    assert site.run("siaran").queued == 3
    site.bot.fail_next("sendMessage", "retry_after", seconds=1, chat_id="@siaran_dua")

    assert site.deliver() == {"sent": 2, "queued": 1}
    assert sorted(m.chat_id for m in site.bot.messages) == ["@siaran_satu", "@siaran_tiga"]
    waiting = site.row("siaran", "@siaran_dua")
    assert waiting.state == DeliveryState.QUEUED and "flood control" in (waiting.error or "")

    assert site.deliver(wait=5) == {"sent": 1}
    assert sorted(m.chat_id for m in site.bot.messages) == [
        "@siaran_dua",
        "@siaran_satu",
        "@siaran_tiga",
    ]
    assert [row.state for row in site.rows()] == [DeliveryState.SENT] * 3
