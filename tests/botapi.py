"""A local HTTP server that speaks enough of the Telegram Bot API for the real client.

`BotApiServer` answers python-telegram-bot (or any HTTP client) at
``http://127.0.0.1:<port>/bot<TOKEN>/<method>`` the way api.telegram.org does for the
methods syndicate uses: ``getMe``, ``sendMessage``, ``sendPhoto`` (and ``close`` /
``logOut``, harmlessly). Bodies may be form-encoded, JSON or multipart, as PTB sends them.

What it checks, like Telegram:

- the token: any other token gets ``401 Unauthorized``;
- ``parse_mode=HTML``: only Telegram's tags, properly nested and closed, and only the
  named entities ``&lt; &gt; &amp; &quot;`` plus numeric ones, else
  ``400 Bad Request: can't parse entities: ...``;
- length after entity parsing, in UTF-16 code units: 4096 for a message, 1024 for a
  caption (``message is too long`` / ``message caption is too long``); empty text is refused.

Every accepted message is recorded in `BotApiServer.messages` (a `SentMessage` each), and
every request in `BotApiServer.requests`, both safe to read from the test's thread.
Faults are programmed per method (and optionally per chat) with `BotApiServer.fail_next`;
see `FAULT_KINDS`.

Flood control, as Telegram does it, when given ``limits=RateLimits(...)``: at most
``per_second`` send requests a second for the bot, ``per_minute_per_group`` a minute to one
channel or group ("@name" or a negative id) and ``per_second_per_private_chat`` a second to
one private chat (a positive id), in sliding windows; over that it answers ``429 Too Many
Requests`` with ``retry_after`` and records the refusal in `BotApiServer.throttled`. A
request answered 429 does not count against the windows. ``random_429=0.1`` answers one
send request in ten 429 at random (recorded in `BotApiServer.random_refusals`), and
``delay`` holds every send request that many seconds before taking it (a slow server;
``(low, high)`` for a random delay in between, so concurrent requests overtake each other).

A fixture for a test module::

    import pytest
    from tests.botapi import BotApiServer, TEST_TOKEN

    @pytest.fixture
    def bot_api():
        with BotApiServer(token=TEST_TOKEN) as server:
            yield server

    def test_posts_arrive(bot_api):
        ...  # point the channel at api_base_url = bot_api.base_url
        assert bot_api.messages[0].text == "<b>Hello</b>"
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import html
import json
import math
import random
import re
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "FAULT_KINDS",
    "TEST_TOKEN",
    "ApiRequest",
    "BotApiServer",
    "RateLimits",
    "SentMessage",
    "Throttled",
    "parse_html",
    "utf16_length",
]

TEST_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
BOT_ID = 123456
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

FAULT_KINDS = {
    "retry_after": "429 with parameters.retry_after = seconds (default 3)",
    "forbidden": "403 Forbidden: bot is not a member of the channel chat (or description=...)",
    "migrate": "400 with parameters.migrate_to_chat_id = new_chat_id; the old chat stays migrated",
    "bad_photo": "400 Bad Request: wrong type of the web page content (or description=...)",
    "bad_request": "400 with description=... (default 'Bad Request: chat not found')",
    "timeout": "accept and record the message, then hold the answer `seconds` (default 2)",
    "server_error": "500 Internal Server Error, nothing recorded",
}

_SIMPLE_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "code"}
_ALL_TAGS = _SIMPLE_TAGS | {"a", "span", "pre", "blockquote", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_TAG_NAME = re.compile(r"[A-Za-z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s*([A-Za-z-]+)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")


@dataclass(frozen=True)
class SentMessage:
    """One message the server accepted, as the client sent it."""

    method: str  # "sendMessage" or "sendPhoto"
    chat_id: str  # as given: "@kabarpilihan" or "-1001234567890"
    message_id: int
    text: str | None  # the text or the caption, as sent (still HTML)
    photo: str | None
    parse_mode: str | None
    link_preview_options: dict[str, Any] | None
    message_thread_id: int | None
    at: float = 0.0  # time.monotonic() when the server took it

    @property
    def caption(self) -> str | None:
        """The caption of a photo (the same as `text`); None for a text message."""
        return self.text if self.method == "sendPhoto" else None


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits for a bot; 0 turns one off."""

    per_second: int = 30
    per_minute_per_group: int = 20
    per_second_per_private_chat: int = 1


@dataclass(frozen=True)
class Throttled:
    """One send request the server refused with 429 because a limit was exceeded."""

    chat_id: str
    limit: str  # "bot", "group" or "private"
    retry_after: int


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request the server received, accepted or not."""

    method: str
    token: str
    params: dict[str, Any]


@dataclass
class _Fault:
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


class _EntityError(ValueError):
    """Telegram's "can't parse entities" complaint."""


def utf16_length(text: str) -> int:
    """How Telegram counts length: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The visible text of Telegram HTML; raises ValueError with Telegram's complaint."""
    visible: list[str] = []
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "&":
            position = _read_entity(text, position, visible)
        elif char == "<":
            position = _read_tag(text, position, open_tags)
        else:
            visible.append(char)
            position += 1
    if open_tags:
        raise _EntityError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(visible)


def _offset(text: str, position: int) -> int:
    return len(text[:position].encode("utf-8"))


def _read_entity(text: str, position: int, visible: list[str]) -> int:
    match = _ENTITY.match(text, position)
    if match is None:  # a bare "&" is kept as text, as Telegram does
        visible.append("&")
        return position + 1
    body = match.group(1)
    if body.startswith("#"):
        visible.append(html.unescape(match.group(0)))
    elif body in _NAMED_ENTITIES:
        visible.append(_NAMED_ENTITIES[body])
    else:
        raise _EntityError(
            f'Unsupported HTML entity "&{body};" at byte offset {_offset(text, position)}'
        )
    return match.end()


def _read_tag(text: str, position: int, open_tags: list[str]) -> int:
    offset = _offset(text, position)
    end = text.find(">", position)
    if end == -1:
        raise _EntityError(f"Unclosed start tag at byte offset {offset}")
    inside = text[position + 1 : end]
    if inside.startswith("/"):
        name = inside[1:].strip().lower()
        if not open_tags:
            raise _EntityError(f"Unexpected end tag at byte offset {offset}")
        if name != open_tags[-1]:
            raise _EntityError(
                f'Unmatched end tag at byte offset {offset}, expected "</{open_tags[-1]}>", '
                f'found "</{name}>"'
            )
        open_tags.pop()
        return end + 1
    name_match = _TAG_NAME.match(inside)
    assert name_match is not None
    name = name_match.group(0).lower()
    if name not in _ALL_TAGS:
        raise _EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
    attributes = _read_attributes(inside[name_match.end() :], offset)
    _check_attributes(name, attributes)
    open_tags.append(name)
    return end + 1


def _read_attributes(rest: str, offset: int) -> dict[str, str]:
    attributes: dict[str, str] = {}
    position = 0
    rest = rest.rstrip()
    while position < len(rest):
        match = _ATTRIBUTE.match(rest, position)
        if match is None or match.end() == position:
            raise _EntityError(
                f"Expected equal sign in declaration of an attribute of tag at byte offset {offset}"
            )
        value = match.group(2) or ""
        if value[:1] in "\"'" and value:
            value = value[1:-1]
        attributes[match.group(1).lower()] = html.unescape(value)
        position = match.end()
    return attributes


def _check_attributes(name: str, attributes: dict[str, str]) -> None:
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise _EntityError('Tag "span" must have class "tg-spoiler"')
    if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
        raise _EntityError("Custom emoji entity must contain a valid custom emoji identifier")
    if name == "a" and "href" in attributes and not attributes["href"].strip():
        raise _EntityError("Can't parse URL in a tag")


class _ApiError(Exception):
    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class BotApiServer:
    """A Telegram Bot API peer on 127.0.0.1 for tests; use it as a context manager.

    `base_url` is what the client takes as its ``base_url`` (it ends in ``/bot``);
    `messages` and `requests` are copies of what arrived so far.
    """

    def __init__(
        self,
        token: str = TEST_TOKEN,
        *,
        username: str = "syndicate_test_bot",
        limits: RateLimits | None = None,
        random_429: float = 0.0,
        random_retry_after: int = 1,
        seed: int | None = None,
        delay: float | tuple[float, float] = 0.0,
    ) -> None:
        self.token = token
        self.username = username
        self.limits = limits
        self.random_429 = random_429
        self.random_retry_after = random_retry_after
        self.delay = delay
        self._random = random.Random(seed)
        self._taken: deque[float] = deque()  # when the bot's counted send requests arrived
        self._taken_by_chat: dict[str, deque[float]] = defaultdict(deque)
        self._throttled: list[Throttled] = []
        self._random_refusals = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._messages: list[SentMessage] = []
        self._requests: list[ApiRequest] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._next_id: dict[str, int] = defaultdict(lambda: 1)
        self._migrated: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> BotApiServer:
        handler = type("_Handler", (_Handler,), {"api": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="botapi", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        with self._lock:  # drop kept-alive connections too, so the client sees a dead peer
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "the server is not started"
        return self._http.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # -- what tests read and program ---------------------------------------------------------

    @property
    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> list[ApiRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def throttled(self) -> list[Throttled]:
        """The 429 answers flood control gave because the client sent too much."""
        with self._lock:
            return list(self._throttled)

    @property
    def random_refusals(self) -> int:
        """How many send requests `random_429` answered 429."""
        with self._lock:
            return self._random_refusals

    def fail_next(self, method: str, kind: str, **options: Any) -> None:
        """Make the next call of `method` fail as `kind` (one of `FAULT_KINDS`).

        Options: ``seconds`` (retry_after, timeout), ``new_chat_id`` (migrate),
        ``description`` (forbidden, bad_photo, bad_request), ``chat_id`` (only a call
        to that chat). Faults queue up in order.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"{kind!r} is not one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults[method].append(_Fault(kind, options))

    def migrate_chat(self, chat_id: str, new_chat_id: int) -> None:
        """From now on, sending to `chat_id` answers "upgraded to a supergroup"."""
        with self._lock:
            self._migrated[str(chat_id)] = new_chat_id

    # -- the API -----------------------------------------------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """Answer one call; raises `_ApiError` for Telegram's refusals."""
        with self._lock:
            self._requests.append(ApiRequest(method, token, dict(params)))
            fault = self._next_fault(method, str(params.get("chat_id", "")).strip())
        if token != self.token:
            raise _ApiError(401, "Unauthorized")
        if method not in ("getMe", "close", "logOut", "sendMessage", "sendPhoto"):
            raise _ApiError(404, "Not Found: method not found")
        if fault is not None and fault.kind == "retry_after":  # a 429 takes no place
            self._raise_fault(fault, params)
        if method in ("sendMessage", "sendPhoto"):
            self._flood_control(str(params.get("chat_id", "")).strip())
            if self.delay:
                self._closing.wait(self._delay())
        if fault is not None:
            self._raise_fault(fault, params)
        result: Any = True  # what close and logOut answer
        if method == "getMe":
            result = self._bot_user()
        elif method in ("sendMessage", "sendPhoto"):
            result = self._accept(method, params)
        if fault is not None and fault.kind == "timeout":
            self._closing.wait(float(fault.options.get("seconds", 2.0)))
        return result

    def _delay(self) -> float:
        if isinstance(self.delay, tuple):
            with self._lock:
                return self._random.uniform(*self.delay)
        return float(self.delay)

    def _next_fault(self, method: str, chat_id: str) -> _Fault | None:
        for fault in self._faults[method]:
            if fault.options.get("chat_id") in (None, chat_id):
                self._faults[method].remove(fault)
                return fault
        return None

    def _flood_control(self, chat_id: str) -> None:
        """Count a send request, or answer 429 as Telegram would."""
        now = time.monotonic()
        with self._lock:
            refusal = self._over_limit(chat_id, now)
            if refusal is None and self.random_429 and self._random.random() < self.random_429:
                self._random_refusals += 1
                seconds = self.random_retry_after
                raise _ApiError(
                    429, f"Too Many Requests: retry after {seconds}", retry_after=seconds
                )
            if refusal is not None:
                self._throttled.append(refusal)
                raise _ApiError(
                    429,
                    f"Too Many Requests: retry after {refusal.retry_after}",
                    retry_after=refusal.retry_after,
                )
            if self.limits is not None:
                self._taken.append(now)
                self._taken_by_chat[chat_id].append(now)

    def _over_limit(self, chat_id: str, now: float) -> Throttled | None:
        if self.limits is None:
            return None
        limits = self.limits
        private = not chat_id.startswith(("@", "-"))
        chat_limit, chat_period = (
            (limits.per_second_per_private_chat, 1.0)
            if private
            else (limits.per_minute_per_group, 60.0)
        )
        for taken, limit, period, name in (
            (self._taken, limits.per_second, 1.0, "bot"),
            (
                self._taken_by_chat[chat_id],
                chat_limit,
                chat_period,
                "private" if private else "group",
            ),
        ):
            while taken and taken[0] <= now - period:
                taken.popleft()
            if limit and len(taken) >= limit:
                wait = taken[len(taken) - limit] + period - now
                return Throttled(chat_id, name, max(1, math.ceil(wait)))
        return None

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Syndicate Test Bot",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _raise_fault(self, fault: _Fault, params: dict[str, Any]) -> None:
        options = fault.options
        if fault.kind == "retry_after":
            seconds = int(options.get("seconds", 3))
            raise _ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        if fault.kind == "forbidden":
            raise _ApiError(
                403,
                options.get("description", "Forbidden: bot is not a member of the channel chat"),
            )
        if fault.kind == "migrate":
            self.migrate_chat(str(params.get("chat_id")), int(options.get("new_chat_id", -100999)))
        elif fault.kind == "bad_photo":
            raise _ApiError(
                400, options.get("description", "Bad Request: wrong type of the web page content")
            )
        elif fault.kind == "bad_request":
            raise _ApiError(400, options.get("description", "Bad Request: chat not found"))
        elif fault.kind == "server_error":
            raise _ApiError(500, "Internal Server Error")

    def _accept(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = str(params.get("chat_id", "")).strip()
        if not chat_id:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        with self._lock:
            if chat_id in self._migrated:
                raise _ApiError(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    migrate_to_chat_id=self._migrated[chat_id],
                )
        is_photo = method == "sendPhoto"
        text = params.get("caption" if is_photo else "text")
        text = None if text is None else str(text)
        photo = str(params["photo"]) if is_photo and params.get("photo") else None
        if is_photo and photo is None:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        parse_mode = params.get("parse_mode")
        visible = self._visible_text(text or "", parse_mode)
        self._check_length(visible, is_photo)
        thread = params.get("message_thread_id")
        with self._lock:
            message_id = self._next_id[chat_id]
            self._next_id[chat_id] += 1
            self._messages.append(
                SentMessage(
                    method=method,
                    chat_id=chat_id,
                    message_id=message_id,
                    text=text,
                    photo=photo,
                    parse_mode=parse_mode,
                    link_preview_options=_json_value(params.get("link_preview_options")),
                    message_thread_id=None if thread is None else int(thread),
                    at=time.monotonic(),
                )
            )
        return self._message_object(chat_id, message_id, visible, photo)

    @staticmethod
    def _visible_text(text: str, parse_mode: Any) -> str:
        if parse_mode is None:
            return text
        if str(parse_mode).upper() != "HTML":
            raise _ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        try:
            return parse_html(text)
        except _EntityError as error:
            raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None

    @staticmethod
    def _check_length(visible: str, is_photo: bool) -> None:
        length = utf16_length(visible.strip())
        if is_photo and length > CAPTION_LIMIT:
            raise _ApiError(400, "Bad Request: message caption is too long")
        if not is_photo and length > MESSAGE_LIMIT:
            raise _ApiError(400, "Bad Request: message is too long")
        if not is_photo and length == 0:
            raise _ApiError(400, "Bad Request: message text is empty")

    @staticmethod
    def _message_object(
        chat_id: str, message_id: int, visible: str, photo: str | None
    ) -> dict[str, Any]:
        if chat_id.lstrip("-").isdigit():
            chat: dict[str, Any] = {"id": int(chat_id), "type": "channel", "title": "Channel"}
        else:
            username = chat_id.lstrip("@")
            numeric = -1000000000000 - (sum(map(ord, username)) * 7919 % 10**9)
            chat = {"id": numeric, "type": "channel", "title": username, "username": username}
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "sender_chat": chat,
        }
        if photo is None:
            message["text"] = visible
        else:
            message["photo"] = [
                {
                    "file_id": f"AgAC{message_id}",
                    "file_unique_id": f"AQAD{message_id}",
                    "width": 1280,
                    "height": 720,
                    "file_size": 90000,
                }
            ]
            if visible:
                message["caption"] = visible
        return message


def _json_value(value: Any) -> Any:
    """Form and multipart bodies carry objects as JSON text; JSON bodies carry them as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _Handler(BaseHTTPRequestHandler):
    api: BotApiServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.api._lock:
            self.api._connections.add(self.connection)

    def finish(self) -> None:
        with self.api._lock:
            self.api._connections.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()  # a client that hangs up is no error

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `requests` instead

    def _serve(self) -> None:
        url = urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", url.path)
        params = dict(parse_qsl(url.query))
        params.update(self._body())
        if match is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        try:
            result = self.api.handle(match.group(1), match.group(2), params)
        except _ApiError as error:
            self._reply(error.status, error.body())
            return
        self._reply(200, {"ok": True, "result": result})

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = self.headers.get("Content-Type", "")
        if not raw:
            return {}
        if kind.startswith("application/json"):
            return dict(json.loads(raw))
        if kind.startswith("multipart/form-data"):
            return _parse_multipart(kind, raw)
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a "timeout" fault)


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    header = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        fields[str(name)] = f"attach://{filename}" if filename else payload.decode("utf-8")
    return fields
