"""A local HTTP server that speaks enough atproto XRPC for the Bluesky channel.

`AtprotoServer` is a PDS with one account, at ``http://127.0.0.1:<port>/xrpc/<method>``:
``com.atproto.server.createSession``, ``com.atproto.server.refreshSession``,
``com.atproto.repo.uploadBlob`` and ``com.atproto.repo.createRecord``. It serves pictures
from `AtprotoServer.pictures` under ``/pictures/``, standing in for a news site.

What it refuses, like a PDS and the Bluesky app view behind it:

- a wrong identifier or password: ``401 AuthenticationRequired``; a missing or unknown
  token: ``401 InvalidToken``; an expired access token (`expire_access()` expires the
  current one, or ``access_uses`` lets each one serve that many calls):
  ``400 ExpiredToken``; a used or expired refresh token: ``400 ExpiredToken``;
- a post over 300 grapheme clusters or 3000 UTF-8 bytes, a missing or malformed
  ``createdAt``, a repo that is not the account's: ``400 InvalidRequest``;
- bad facets: an index outside the text's bytes, start not before end, an offset that
  falls inside a UTF-8 character, a link feature whose ``uri`` is not an absolute URI,
  or an unknown feature type;
- an external embed without uri, title or description, or whose ``thumb`` is not a
  blob uploaded here (image/*, at most 1,000,000 bytes); a blob over 1,000,000 bytes.

Accepted posts are in `AtprotoServer.posts`, each request in `requests`.
`fail_next(method, kind)` programs one fault: "429" (Retry-After), "503", "drop_before"
or "drop_after" (the record is written, then the connection closes unanswered).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from datetime import datetime
from typing import Any

import regex

from tests.mastodonapi import LocalServer, Request, json_answer

__all__ = ["TEST_APP_PASSWORD", "TEST_DID", "TEST_HANDLE", "AtprotoServer"]

TEST_HANDLE = "kabarpilihan.bsky.social"
TEST_APP_PASSWORD = "abcd-efgh-ijkl-mnop"
TEST_DID = "did:plc:kabarpilihan7x2k"
MAX_BLOB = 1_000_000
_GRAPHEME = regex.compile(r"\X")
_URI = regex.compile(r"[a-z][a-z0-9+.-]*:\S+", regex.IGNORECASE)
_FEATURES = (
    "app.bsky.richtext.facet#link",
    "app.bsky.richtext.facet#mention",
    "app.bsky.richtext.facet#tag",
)
Answer = tuple[int, dict[str, str], bytes] | None


def invalid(message: str) -> Answer:
    return json_answer(400, {"error": "InvalidRequest", "message": message})


class AtprotoServer(LocalServer):
    """A PDS with one account; see the module docstring."""

    def __init__(self, *, access_uses: int | None = None) -> None:
        super().__init__()
        self.access_uses = access_uses
        self.posts: list[dict[str, Any]] = []
        self.blobs: dict[str, dict[str, Any]] = {}
        self.pictures: dict[str, tuple[bytes, str]] = {}
        self.sessions_created = 0
        self.refreshes = 0
        self._access: dict[str, int | None] = {}  # token -> calls left (None: unlimited)
        self._refresh: set[str] = set()
        self._rkeys = itertools.count(1)

    def picture_url(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        self.pictures[f"/pictures/{name}"] = (data, content_type)
        return f"{self.base_url}/pictures/{name}"

    def expire_access(self) -> None:
        """Every access token given so far has expired."""
        with self.lock:
            self._access = dict.fromkeys(self._access, 0)

    def _tokens(self) -> dict[str, str]:
        access, refresh = secrets.token_hex(8), secrets.token_hex(8)
        self._access[access] = self.access_uses
        self._refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh}

    def handle(self, request: Request) -> Answer:
        path = request.path.split("?")[0]
        if path.startswith("/pictures/"):
            if path not in self.pictures:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            data, kind = self.pictures[path]
            return 200, {"Content-Type": kind}, data
        method = path.removeprefix("/xrpc/")
        fault = self.take_fault(method)
        if fault == "drop_before":
            return None
        if fault in ("429", "503"):
            return json_answer(
                int(fault),
                {"error": "RateLimitExceeded", "message": "slow down"},
                **{"Retry-After": "9"},
            )
        with self.lock:
            answer = self._route(request, method)
        return None if fault == "drop_after" else answer

    def _route(self, request: Request, method: str) -> Answer:
        if method == "com.atproto.server.createSession":
            body = json.loads(request.body or b"{}")
            if body.get("identifier") not in (TEST_HANDLE, TEST_DID) or (
                body.get("password") != TEST_APP_PASSWORD
            ):
                return json_answer(
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            self.sessions_created += 1
            return json_answer(200, {"did": TEST_DID, "handle": TEST_HANDLE, **self._tokens()})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if method == "com.atproto.server.refreshSession":
            if token not in self._refresh:
                return json_answer(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self._refresh.discard(token)
            self.refreshes += 1
            return json_answer(200, {"did": TEST_DID, "handle": TEST_HANDLE, **self._tokens()})
        if token not in self._access:
            return json_answer(
                401, {"error": "InvalidToken", "message": "Token could not be verified"}
            )
        left = self._access[token]
        if left is not None:
            if left <= 0:
                return json_answer(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self._access[token] = left - 1
        if method == "com.atproto.repo.uploadBlob":
            return self._upload(request)
        if method == "com.atproto.repo.createRecord":
            return self._create(json.loads(request.body or b"{}"))
        return json_answer(501, {"error": "MethodNotImplemented", "message": method})

    def _upload(self, request: Request) -> Answer:
        if len(request.body) > MAX_BLOB:
            return json_answer(400, {"error": "BlobTooLarge", "message": "too large"})
        kind = request.headers.get("content-type", "application/octet-stream")
        cid = "bafkrei" + hashlib.sha256(request.body).hexdigest()[:40]
        blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": kind, "size": len(request.body)}
        self.blobs[cid] = {**blob, "data": request.body}
        return json_answer(200, {"blob": blob})

    def _create(self, body: dict[str, Any]) -> Answer:
        if body.get("repo") not in (TEST_DID, TEST_HANDLE):
            return invalid("Invalid repo")
        if body.get("collection") != "app.bsky.feed.post":
            return invalid("Invalid collection")
        record = body.get("record") or {}
        problem = self._record_problem(record)
        if problem:
            return invalid(f"Invalid app.bsky.feed.post record: {problem}")
        rkey = f"3l{next(self._rkeys):011d}"
        uri = f"at://{TEST_DID}/app.bsky.feed.post/{rkey}"
        self.posts.append({"uri": uri, **record})
        return json_answer(200, {"uri": uri, "cid": "bafyrei" + rkey})

    def _record_problem(self, record: dict[str, Any]) -> str | None:
        if record.get("$type") != "app.bsky.feed.post":
            return "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return "Record/text must be a string"
        if len(_GRAPHEME.findall(text)) > 300:
            return "Record/text must not be longer than 300 graphemes"
        data = text.encode()
        if len(data) > 3000:
            return "Record/text must not be longer than 3000 characters"
        try:
            datetime.fromisoformat(str(record.get("createdAt")).replace("Z", "+00:00"))
        except ValueError:
            return "Record/createdAt must be an valid atproto datetime"
        for number, facet in enumerate(record.get("facets") or []):
            problem = _facet_problem(facet, data)
            if problem:
                return f"Record/facets/{number}/{problem}"
        embed = record.get("embed")
        if embed is not None:
            return self._embed_problem(embed)
        return None

    def _embed_problem(self, embed: dict[str, Any]) -> str | None:
        if embed.get("$type") != "app.bsky.embed.external":
            return "Record/embed has an unexpected $type"
        external = embed.get("external") or {}
        for key in ("uri", "title", "description"):
            if not isinstance(external.get(key), str):
                return f"Record/embed/external/{key} must be a string"
        if not _URI.fullmatch(external["uri"]):
            return "Record/embed/external/uri must be a valid uri"
        thumb = external.get("thumb")
        if thumb is not None:
            stored = self.blobs.get(((thumb or {}).get("ref") or {}).get("$link", ""))
            if stored is None or thumb.get("mimeType") != stored["mimeType"]:
                return "Record/embed/external/thumb: blob not found"
            if not stored["mimeType"].startswith("image/") or stored["size"] > MAX_BLOB:
                return "Record/embed/external/thumb must be an image of at most 1000000 bytes"
        return None


def _facet_problem(facet: dict[str, Any], data: bytes) -> str | None:
    index = facet.get("index") or {}
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool):
        return "index must have integer byteStart and byteEnd"
    if not 0 <= start < end <= len(data):
        return "index is outside the text"
    if any(0 < at < len(data) and data[at] & 0xC0 == 0x80 for at in (start, end)):
        return "index falls inside a UTF-8 character"
    features = facet.get("features") or []
    if not features:
        return "features must not be empty"
    for feature in features:
        kind = feature.get("$type")
        if kind not in _FEATURES:
            return f"features has an unknown type {kind!r}"
        if kind == _FEATURES[0] and not _URI.fullmatch(str(feature.get("uri", ""))):
            return "features/uri must be a valid uri"
    return None
