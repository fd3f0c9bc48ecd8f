"""A local HTTP server that speaks enough of Mastodon's REST API for the Mastodon channel.

`MastodonServer` answers at ``http://127.0.0.1:<port>`` the way a Mastodon instance does
for the calls syndicate makes: ``GET /api/v2/instance`` (with ``max_characters``),
``GET /api/v1/accounts/verify_credentials``, ``POST /api/v2/media`` (multipart, with a
``description``; 202 while "processing" when ``processing_polls`` > 0, then
``GET /api/v1/media/:id`` answers 206 that many times before 200) and
``POST /api/v1/statuses``. It also serves pictures from `MastodonServer.pictures`
(path → (bytes, content type)) under ``/pictures/``, standing in for a news site.

What it refuses, like Mastodon:

- a missing or wrong bearer token (the instance's description is public):
  ``401 {"error": "The access token is invalid"}``;
- a status over ``max_characters``, counted as Mastodon's server counts: grapheme
  clusters, every http(s) link on a public domain as 23 (``422 Validation failed: Text
  character limit of N exceeded``); an empty status; an unknown visibility;
- a media id it does not know, or one not yet processed (422), a description over 1500
  characters, a file that is not an image (422).

Idempotency, as Mastodon does it: a status request whose ``Idempotency-Key`` was seen
before (for the same token) is answered with the status made the first time; nothing
new is posted. Accepted statuses are in `MastodonServer.statuses`, uploads in `media`,
every request in `requests`. `fail_next(path, kind)` programs one fault: "429" (with
Retry-After), "503", "drop_before" (the connection closes before the request is
taken) or "drop_after" (the request is taken, then the connection closes unanswered —
what a timeout looks like to the client).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import regex

__all__ = ["TEST_ACCESS_TOKEN", "LocalServer", "MastodonServer", "Request"]

TEST_ACCESS_TOKEN = "mastodon-test-token"
_GRAPHEME = regex.compile(r"\X")
# Mastodon's link pattern, reduced: a public domain (not a reserved name) and a path of
# URL characters, never ending in punctuation.
_LINK = regex.compile(
    r"https?://(?:[a-z0-9-]+\.)+(?!(?:example|test|invalid|localhost|local)\b)[a-z]{2,}"
    r"(?::\d+)?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%|]*[A-Za-z0-9/=_#-])?",
    regex.IGNORECASE,
)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 whose `handle` answers each request.

    `handle(request)` returns (status, headers, body bytes), or None to close the
    connection without an answer. Used as a context manager.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with owner.lock:
                    owner.requests.append(request)
                answer = owner.handle(request)
                if answer is None:
                    self.close_connection = True
                    return
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
        raise NotImplementedError

    def fail_next(self, path: str, kind: str) -> None:
        """Answer the next request to `path` with the fault `kind` (see the subclass)."""
        with self.lock:
            self.faults[path].append(kind)

    def take_fault(self, path: str) -> str | None:
        with self.lock:
            queue = self.faults.get(path)
            return queue.popleft() if queue else None

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def json_answer(status: int, data: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    payload = json.dumps(data).encode()
    return status, {"Content-Type": "application/json", **headers}, payload


def mastodon_length(text: str) -> int:
    """Mastodon's count: links as 23, the rest in grapheme clusters."""
    return len(_GRAPHEME.findall(_LINK.sub("x" * 23, text)))


def multipart_fields(request: Request) -> dict[str, tuple[bytes, str | None]]:
    """The parts of a multipart/form-data body: name → (bytes, content type of a file)."""
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        is_file = part.get_param("filename", header="content-disposition") is not None
        fields[name] = (
            part.get_payload(decode=True) or b"",
            part.get_content_type() if is_file else None,
        )
    return fields


class MastodonServer(LocalServer):
    """A Mastodon instance with one account; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = TEST_ACCESS_TOKEN,
        max_characters: int | None = 500,
        processing_polls: int = 0,
    ) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.processing_polls = processing_polls
        self.statuses: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.pictures: dict[str, tuple[bytes, str]] = {}
        self._keys: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids = itertools.count(100)

    def picture_url(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        self.pictures[f"/pictures/{name}"] = (data, content_type)
        return f"{self.base_url}/pictures/{name}"

    def handle(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
        path = request.path.split("?")[0]
        if path.startswith("/pictures/"):
            if path not in self.pictures:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            data, kind = self.pictures[path]
            return 200, {"Content-Type": kind}, data
        fault = self.take_fault(path)
        if fault == "drop_before":
            return None
        if fault in ("429", "503"):
            return json_answer(int(fault), {"error": "Too many requests"}, **{"Retry-After": "7"})
        public = request.method == "GET" and path == "/api/v2/instance"
        if not public and request.headers.get("authorization") != f"Bearer {self.token}":
            return json_answer(401, {"error": "The access token is invalid"})
        answer = self._route(request, path)
        return None if fault == "drop_after" else answer

    def _route(self, request: Request, path: str) -> tuple[int, dict[str, str], bytes]:
        if request.method == "GET" and path == "/api/v2/instance":
            configuration = {"statuses": {"characters_reserved_per_url": 23}}
            if self.max_characters is not None:
                configuration["statuses"]["max_characters"] = self.max_characters
            return json_answer(200, {"domain": "127.0.0.1", "configuration": configuration})
        if request.method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return json_answer(200, {"id": "1", "acct": "kabarpilihan"})
        if request.method == "POST" and path == "/api/v2/media":
            return self._upload(request)
        if request.method == "GET" and path.startswith("/api/v1/media/"):
            media = self.media.get(path.rsplit("/", 1)[-1])
            if media is None:
                return json_answer(404, {"error": "Record not found"})
            if media["polls_left"] > 0:
                media["polls_left"] -= 1
                return json_answer(206, {"id": media["id"], "url": None})
            return json_answer(200, {"id": media["id"], "url": media["url"]})
        if request.method == "POST" and path == "/api/v1/statuses":
            return self._status(request)
        return json_answer(404, {"error": "Record not found"})

    def _upload(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        fields = multipart_fields(request)
        data, kind = fields.get("file", (b"", None))
        if not data or not kind or not kind.startswith("image/"):
            return json_answer(422, {"error": "Validation failed: File content type is invalid"})
        description = fields.get("description", (b"", None))[0].decode()
        if len(description) > 1500:
            return json_answer(422, {"error": "Validation failed: Description is too long"})
        media_id = str(next(self._ids))
        url = f"{self.base_url}/system/media/{media_id}.jpg"
        with self.lock:
            self.media[media_id] = {
                "id": media_id,
                "url": url,
                "description": description,
                "data": data,
                "polls_left": self.processing_polls,
            }
        if self.processing_polls:
            return json_answer(202, {"id": media_id, "url": None})
        return json_answer(200, {"id": media_id, "url": url, "description": description})

    def _status(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        key = request.headers.get("idempotency-key")
        with self.lock:
            if key and (self.token, key) in self._keys:
                return json_answer(200, self._keys[(self.token, key)])
        body = json.loads(request.body or b"{}")
        text = body.get("status") or ""
        media_ids = [str(m) for m in body.get("media_ids") or []]
        limit = self.max_characters or 500
        if not text.strip() and not media_ids:
            return json_answer(422, {"error": "Validation failed: Text can't be blank"})
        if mastodon_length(text) > limit:
            return json_answer(
                422, {"error": f"Validation failed: Text character limit of {limit} exceeded"}
            )
        if body.get("visibility", "public") not in ("public", "unlisted", "private", "direct"):
            return json_answer(422, {"error": "Validation failed: Visibility is not included"})
        if len(media_ids) > 4:
            return json_answer(422, {"error": "Validation failed: too many attachments"})
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None:
                return json_answer(422, {"error": "Validation failed: media not found"})
            if media["polls_left"] > 0:
                return json_answer(
                    422,
                    {
                        "error": "Cannot attach files that have not finished processing. "
                        "Try again in a moment!"
                    },
                )
        status_id = str(next(self._ids))
        status = {
            "id": status_id,
            "url": f"{self.base_url}/@kabarpilihan/{status_id}",
            "content": text,
            "visibility": body.get("visibility", "public"),
            "language": body.get("language"),
            "media_attachments": [
                {"id": m, "description": self.media[m]["description"]} for m in media_ids
            ],
        }
        with self.lock:
            self.statuses.append(status)
            if key:
                self._keys[(self.token, key)] = status
        return json_answer(200, status)
