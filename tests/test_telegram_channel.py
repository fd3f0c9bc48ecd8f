"""The Telegram channel against a local Bot API server, through the real PTB client."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from telegram.error import TimedOut

from syndicate.channels.base import (
    PermanentError,
    SendResult,
    SocialPost,
    TargetGone,
    TransientError,
    UnknownOutcome,
)
from syndicate.channels.telegram import Pacing, TelegramChannel
from syndicate.config import ConfigError, ConfigTable
from tests.botapi import TEST_TOKEN, BotApiServer, parse_html, utf16_length

T = TypeVar("T")
CHAT = "@kabarpilihan"
PHOTO = "https://example.org/foto.jpg"


@pytest.fixture
def bot_api() -> Iterator[BotApiServer]:
    with BotApiServer(token=TEST_TOKEN) as server:
        yield server


def make_channel(base_url: str, token: str = TEST_TOKEN, **options: Any) -> TelegramChannel:
    options.setdefault("timeout", 0.5)
    return TelegramChannel("telegram", token, (CHAT,), api_base_url=base_url, **options)


def run(channel: TelegramChannel, work: Callable[[TelegramChannel], Awaitable[T]]) -> T:
    """Open the channel, do `work`, and always close it, in one event loop."""

    async def session() -> T:
        await channel.open()
        try:
            return await work(channel)
        finally:
            await channel.close()

    return asyncio.run(session())


def send(channel: TelegramChannel, *posts: SocialPost) -> list[SendResult]:
    async def send_all(opened: TelegramChannel) -> list[SendResult]:
        return [await opened.send(post) for post in posts]

    return run(channel, send_all)


def post(
    text: str = '<b>Banjir di Jakarta</b>\nvia <a href="https://a.id/x">a.id</a>', **fields: Any
) -> SocialPost:
    return SocialPost(target=CHAT, text=text, **{"parse_mode": "HTML", **fields})


# -- sending ---------------------------------------------------------------------------------


def test_message_is_recorded_with_exact_html_and_its_message_id_returned(
    bot_api: BotApiServer,
) -> None:
    text = '<b>Harga &amp; "beras"</b> naik &lt;5%&gt;'
    results = send(
        make_channel(bot_api.base_url), post(text, link="https://a.id/x"), post("<i>dua</i>")
    )

    assert [result.external_id for result in results] == ["1", "2"]
    first, second = bot_api.messages
    assert (first.method, first.chat_id, first.text, first.parse_mode) == (
        "sendMessage",
        CHAT,
        text,
        "HTML",
    )
    assert first.link_preview_options == {"url": "https://a.id/x"}
    assert second.message_id == 2
    assert results[0].detail == ""


def test_a_post_left_in_plain_text_reaches_telegram_without_a_parse_mode(
    bot_api: BotApiServer,
) -> None:
    send(make_channel(bot_api.base_url), SocialPost(target=CHAT, text="1 < 2 & <b>3</b>"))

    [message] = bot_api.messages
    assert (message.text, message.parse_mode) == ("1 < 2 & <b>3</b>", None)


def test_link_preview_is_disabled_by_the_post_or_the_channel(bot_api: BotApiServer) -> None:
    send(make_channel(bot_api.base_url), post(link="https://a.id/x", link_preview=False))
    send(make_channel(bot_api.base_url, link_preview=False), post(link="https://a.id/x"))

    assert [m.link_preview_options for m in bot_api.messages] == [{"is_disabled": True}] * 2


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"link_preview_size": "small"}, {"url": "https://a.id/x", "prefer_small_media": True}),
        ({"link_preview_size": "large"}, {"url": "https://a.id/x", "prefer_large_media": True}),
        (
            {"link_preview_above_text": True},
            {"url": "https://a.id/x", "show_above_text": True},
        ),
        ({"link_preview": False, "link_preview_size": "large"}, {"is_disabled": True}),
    ],
)
def test_link_preview_options_reach_telegram(
    bot_api: BotApiServer, options: dict[str, Any], expected: dict[str, Any]
) -> None:
    send(make_channel(bot_api.base_url, **options), post(link="https://a.id/x"))

    assert [m.link_preview_options for m in bot_api.messages] == [expected]


def test_forum_topic_comes_from_the_post_before_the_channel(bot_api: BotApiServer) -> None:
    channel = make_channel(bot_api.base_url, message_thread_id=7)
    send(channel, post(), post(message_thread_id=42))

    assert [m.message_thread_id for m in bot_api.messages] == [7, 42]


def test_photo_is_sent_with_the_text_as_its_caption(bot_api: BotApiServer) -> None:
    [result] = send(make_channel(bot_api.base_url), post("<b>Foto</b>", photo=PHOTO))

    [sent] = bot_api.messages
    assert (sent.method, sent.photo, sent.text) == ("sendPhoto", PHOTO, "<b>Foto</b>")
    assert result == SendResult("1", "")


def test_refused_photo_falls_back_to_text_with_a_link_preview(bot_api: BotApiServer) -> None:
    bot_api.fail_next("sendPhoto", "bad_photo")
    fallback = '<b>Foto</b> <a href="https://a.id/x">baca</a>'
    [result] = send(
        make_channel(bot_api.base_url),
        post("<b>Foto</b>", photo=PHOTO, link="https://a.id/x", fallback_text=fallback),
    )

    [sent] = bot_api.messages
    assert (sent.method, sent.text, sent.photo) == ("sendMessage", fallback, None)
    assert sent.link_preview_options == {"url": "https://a.id/x"}
    assert result.external_id == "1"
    assert result.detail == (
        "sent as text: Telegram refused the photo (wrong type of the web page content)"
    )


def test_refused_photo_without_fallback_text_sends_the_caption(bot_api: BotApiServer) -> None:
    bot_api.fail_next("sendPhoto", "bad_photo", description="Bad Request: IMAGE_PROCESS_FAILED")
    [result] = send(make_channel(bot_api.base_url), post("<b>Foto</b>", photo=PHOTO))

    assert [m.text for m in bot_api.messages] == ["<b>Foto</b>"]
    assert "IMAGE_PROCESS_FAILED" in result.detail


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own
def test_flood_control_is_transient_with_retry_after(bot_api: BotApiServer) -> None:
    bot_api.fail_next("sendMessage", "retry_after", seconds=3)

    with pytest.raises(TransientError) as caught:
        send(make_channel(bot_api.base_url), post())
    assert caught.value.retry_after == 3
    assert bot_api.messages == []


def test_bot_removed_from_the_channel_is_target_gone(bot_api: BotApiServer) -> None:
    bot_api.fail_next("sendMessage", "forbidden")

    with pytest.raises(TargetGone, match="the bot was removed from @kabarpilihan or blocked"):
        send(make_channel(bot_api.base_url), post())


def test_migrated_chat_gets_the_post_and_later_posts_go_straight_there(
    bot_api: BotApiServer,
) -> None:
    bot_api.fail_next("sendMessage", "migrate", new_chat_id=-100999)
    first, second = send(make_channel(bot_api.base_url), post("satu"), post("dua"))

    assert [(m.chat_id, m.text) for m in bot_api.messages] == [
        ("-100999", "satu"),
        ("-100999", "dua"),
    ]
    assert first.detail == "chat migrated to -100999"
    assert second.detail == ""
    sends = [r for r in bot_api.requests if r.method == "sendMessage"]
    assert len(sends) == 3  # one refused, then one per post


def test_over_long_message_is_permanent_with_telegrams_description(
    bot_api: BotApiServer,
) -> None:
    with pytest.raises(PermanentError, match=r"\(message is too long\)"):
        send(make_channel(bot_api.base_url), post("😀" * 2049))  # 4098 UTF-16 units
    assert bot_api.messages == []


def test_over_long_caption_is_permanent(bot_api: BotApiServer) -> None:
    with pytest.raises(PermanentError, match=r"\(message caption is too long\)"):
        send(make_channel(bot_api.base_url), post("x" * 1025, photo=PHOTO))


def test_bad_html_is_permanent_with_telegrams_description(bot_api: BotApiServer) -> None:
    with pytest.raises(
        PermanentError, match='can\'t parse entities: Unsupported start tag "p" at byte offset 0'
    ):
        send(make_channel(bot_api.base_url), post("<p>paragraf</p>"))


def test_timeout_after_the_request_left_is_unknown_and_the_message_was_posted(
    bot_api: BotApiServer,
) -> None:
    bot_api.fail_next("sendMessage", "timeout", seconds=2)

    with pytest.raises(UnknownOutcome, match="may have been posted"):
        send(make_channel(bot_api.base_url, timeout=0.3), post("sekali saja"))
    assert [m.text for m in bot_api.messages] == ["sekali saja"]  # resending would duplicate


def test_server_error_is_unknown_outcome(bot_api: BotApiServer) -> None:
    bot_api.fail_next("sendMessage", "server_error")

    with pytest.raises(UnknownOutcome):
        send(make_channel(bot_api.base_url), post())


def test_unreachable_api_is_transient_because_nothing_left() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = make_channel(f"http://127.0.0.1:{port}/bot")

    with pytest.raises(TransientError, match="cannot reach the Telegram Bot API"):
        asyncio.run(channel.open())


def test_refused_connection_during_send_is_transient(bot_api: BotApiServer) -> None:
    async def send_after_the_server_went_away(channel: TelegramChannel) -> SendResult:
        bot_api.stop()
        return await channel.send(post())

    with pytest.raises(TransientError, match="cannot reach the Telegram Bot API"):
        run(make_channel(bot_api.base_url), send_after_the_server_went_away)


def test_wrong_token_is_refused_at_open_without_showing_it(bot_api: BotApiServer) -> None:
    wrong = "654321:XYZ-wrongwrongwrongwrongwrong12345"
    channel = make_channel(bot_api.base_url, token=wrong)

    with pytest.raises(PermanentError) as caught:
        asyncio.run(channel.open())
    assert str(caught.value) == (
        'channel "telegram": Telegram refused the bot token (Unauthorized).'
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert wrong not in repr(channel)


def test_request_urls_in_logs_do_not_show_the_token(
    bot_api: BotApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="httpx"),  # the CLI quiets these two
        caplog.at_level(logging.DEBUG, logger="telegram"),
    ):
        send(make_channel(bot_api.base_url), post())

    assert "/bot<token>/sendMessage" in caplog.text
    assert TEST_TOKEN not in caplog.text


def test_timeout_setting_bounds_how_long_a_send_waits(bot_api: BotApiServer) -> None:
    started = time.monotonic()
    bot_api.fail_next("sendMessage", "timeout", seconds=5)
    with pytest.raises(UnknownOutcome):
        send(make_channel(bot_api.base_url, timeout=0.2), post())
    assert time.monotonic() - started < 2


# -- configuration ---------------------------------------------------------------------------


def table(tmp_path: Path, **data: Any) -> ConfigTable:
    return ConfigTable(data, tmp_path / "syndicate.toml", "channels.telegram")


def test_config_reads_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TEST_TOKEN)
    channel = TelegramChannel.from_config(
        "telegram",
        table(
            tmp_path,
            token="${BOT_TOKEN}",
            chat_id=["@kabarpilihan", "-1001234567890"],
            api_base_url="http://127.0.0.1:8081/bot",
            message_thread_id=5,
            link_preview=False,
            link_preview_size="large",
            link_preview_above_text=True,
            timeout=3,
            max_per_second=10,
            max_per_minute_per_group=0,
            max_per_second_per_private_chat=2,
        ),
    )

    assert channel.targets() == ("@kabarpilihan", "-1001234567890")
    assert channel.base_file_url == "http://127.0.0.1:8081/file/bot"
    assert (channel.message_thread_id, channel.link_preview, channel.timeout) == (5, False, 3)
    assert (channel.link_preview_size, channel.link_preview_above_text) == ("large", True)
    assert channel.pacing == Pacing(
        max_per_second=10, max_per_minute_per_group=0, max_per_second_per_private_chat=2
    )
    assert channel.concurrency == 10


def test_config_defaults_pace_like_telegrams_limits(tmp_path: Path) -> None:
    channel = TelegramChannel.from_config("t", table(tmp_path, token=TEST_TOKEN, chat_id="@kabar"))

    assert channel.pacing == Pacing(30, 20, 1)
    assert channel.concurrency == 30
    assert (channel.link_preview, channel.link_preview_size) == (True, "auto")
    assert channel.link_preview_above_text is False


def test_config_accepts_a_single_chat_and_an_unquoted_chat_number(tmp_path: Path) -> None:
    one = TelegramChannel.from_config("t", table(tmp_path, token=TEST_TOKEN, chat_id="@kabar"))
    number = TelegramChannel.from_config("t", table(tmp_path, token=TEST_TOKEN, chat_id=-1001))

    assert (one.targets(), number.targets()) == (("@kabar",), ("-1001",))
    assert one.api_base_url == "https://api.telegram.org/bot"
    assert one.base_file_url == "https://api.telegram.org/file/bot"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"chat_id": "@kabar"}, "token: this key is required."),
        (
            {"token": "not-a-token", "chat_id": "@kabar"},
            'token: this is not a bot token of the form "123456:ABC-DEF..."',
        ),
        ({"token": TEST_TOKEN}, "chat_id: this key is required."),
        (
            {"token": TEST_TOKEN, "chat_id": "kabar pilihan"},
            'chat_id: "kabar pilihan" is not a chat such as "@kabarpilihan"',
        ),
        (
            {"token": TEST_TOKEN, "chat_id": "@kabar", "chat_ids": "@x"},
            'chat_ids: unknown key (did you mean "chat_id"?).',
        ),
        (
            {"token": "${NO_SUCH_TOKEN_VAR}", "chat_id": "@kabar"},
            "token: the environment variable NO_SUCH_TOKEN_VAR is not set.",
        ),
        (
            {"token": TEST_TOKEN, "chat_id": "@kabar", "api_base_url": "ftp://x/bot"},
            'api_base_url: "ftp://x/bot" must start with http://, https://.',
        ),
        (
            {"token": TEST_TOKEN, "chat_id": "@kabar", "link_preview_size": "huge"},
            'link_preview_size: "huge" is not one of "auto", "small", "large".',
        ),
        (
            {"token": TEST_TOKEN, "chat_id": "@kabar", "max_per_second": -1},
            "max_per_second: must be at least 0, found -1.",
        ),
    ],
)
def test_config_mistakes_are_one_sentence(
    tmp_path: Path, data: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        TelegramChannel.from_config("telegram", table(tmp_path, **data))

    message = str(caught.value)
    assert f"[channels.telegram] {problem}" in message
    assert message.endswith(".") and "\n" not in message
    assert "ABC-DEF1234ghIkl" not in message


# -- the test server itself ------------------------------------------------------------------


def test_server_parses_telegram_html_like_telegram() -> None:
    visible = parse_html(
        '<b>a</b> &amp; <span class="tg-spoiler">s</span> &#128512; '
        '<blockquote expandable>q</blockquote> <tg-emoji emoji-id="5368324170671202286">'
        "👍</tg-emoji> a & b"
    )
    assert visible == "a & s 😀 q 👍 a & b"
    assert utf16_length("😀a") == 3
    for bad, complaint in [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("<br>", 'Unsupported start tag "br"'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ]:
        with pytest.raises(ValueError, match=complaint):
            parse_html(bad)


def test_connect_timeout_during_send_is_transient_because_nothing_left(
    bot_api: BotApiServer,
) -> None:
    async def send_to_a_peer_that_stopped_accepting(channel: TelegramChannel) -> SendResult:
        bot_api.stop()
        with socket.socket() as deaf:  # same port, a full backlog: new SYNs go unanswered
            deaf.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deaf.bind(("127.0.0.1", bot_api.port))
            deaf.listen(0)
            waiting = [socket.socket() for _ in range(3)]
            for connection in waiting:
                connection.setblocking(False)
                connection.connect_ex(("127.0.0.1", bot_api.port))
            try:
                return await channel.send(post())
            finally:
                for connection in waiting:
                    connection.close()

    with pytest.raises(TransientError, match="cannot reach the Telegram Bot API") as caught:
        run(make_channel(bot_api.base_url, timeout=0.3), send_to_a_peer_that_stopped_accepting)
    assert isinstance(caught.value.__cause__, TimedOut)
    assert isinstance(caught.value.__cause__.__cause__, httpx.ConnectTimeout)
    assert bot_api.messages == []


def test_server_takes_json_and_multipart_bodies_and_refuses_like_telegram(
    bot_api: BotApiServer,
) -> None:
    api = f"{bot_api.base_url}{TEST_TOKEN}"
    with httpx.Client() as client:
        as_json = client.post(f"{api}/sendMessage", json={"chat_id": -1001, "text": "hai"})
        upload = client.post(
            f"{api}/sendPhoto",
            data={"chat_id": "@kabar", "caption": "<b>foto</b>", "parse_mode": "HTML"},
            files={"photo": ("foto.jpg", b"\xff\xd8\xff", "image/jpeg")},
        )
        unknown = client.post(f"{api}/sendDice", data={"chat_id": "@kabar"})
        stranger = client.post(f"{bot_api.base_url}1:wrong/getMe")

    assert as_json.json()["result"]["text"] == "hai"
    assert upload.json()["result"]["caption"] == "foto"
    assert [(m.chat_id, m.photo) for m in bot_api.messages] == [
        ("-1001", None),
        ("@kabar", "attach://foto.jpg"),
    ]
    assert (unknown.status_code, unknown.json()["description"]) == (
        404,
        "Not Found: method not found",
    )
    assert (stranger.status_code, stranger.json()["description"]) == (401, "Unauthorized")
