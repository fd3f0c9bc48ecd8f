"""Reading well-formed RSS 2.0, RSS 1.0 and Atom 1.0 feeds with lxml, fast.

feedparser reads anything, broken XML included, but it walks every element of every entry's
HTML in Python (about a third of a poll's time). Most feeds are well-formed XML in one of
three formats: those are read here, in C, into the same dictionaries feedparser would have
given (the keys `parse.py` uses: `id`, `link`, `content`, `summary_detail`, `media_thumbnail`
…). Anything else — broken XML, an undeclared entity, a DTD, RSS 0.9x oddities, Atom 0.3, a
charset the document does not declare — returns None, and feedparser reads it as before.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.etree
from feedparser.mixin import _FeedParserMixin

from syndicate.ingest.identity import resolve_url

__all__ = ["XmlFeed", "read_xml_feed"]

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XHTML = "http://www.w3.org/1999/xhtml"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
MEDIA = ("http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss")
FEEDBURNER = "http://rssnamespace.org/feedburner/ext/1.0"
THREAD = "http://purl.org/syndication/thread/1.0"
SLASH = "http://purl.org/rss/1.0/modules/slash/"

# Where an element's text goes in feedparser's dictionary: (namespace, name) -> key.
_DATES = {
    (None, "pubDate"): "published",
    (DCTERMS, "issued"): "published",
    (ATOM, "published"): "published",
    (DC, "date"): "updated",
    (DCTERMS, "modified"): "updated",
    (ATOM, "updated"): "updated",
}
_HTML_TYPES = {"html": "text/html", "xhtml": "application/xhtml+xml", "text": "text/plain"}
_EMAIL = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_EMAIL_WITHIN = 500  # characters of an author line searched for an address
_PARSER = lxml.etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)

XmlFeed = tuple[dict[str, Any], list[dict[str, Any]]]  # the feed's own fields, its entries


def read_xml_feed(body: bytes, url: str, content_type: str | None = None) -> XmlFeed | None:
    """The feed and its entries as feedparser would give them, or None to let feedparser try.

    Relative links are resolved against `xml:base` and then `url`, as feedparser does.
    """
    head = body[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head or not _is_utf8(head, content_type):
        return None
    try:
        root = lxml.etree.fromstring(body, _PARSER, base_url=url)
    except (lxml.etree.XMLSyntaxError, ValueError):
        return None
    # Where no element has an xml:base, every link is relative to the feed's own address,
    # and asking lxml for each element's base (a walk up the tree) is wasted.
    found = _read(root, None if b"xml:base" in body else url)
    if found is None or not found[1]:  # no entries: feedparser may find some anyway
        return None
    for entry in found[1]:
        # feedparser answers `updated` with `published` when an entry has only the latter.
        if "updated" not in entry and "published" in entry:
            entry["updated"] = entry["published"]
    return found


def _read(root: Any, base: str | None) -> XmlFeed | None:
    """The feed's fields and entries; `base` is the address links are relative to, or
    None when elements carry their own (xml:base)."""
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            return None
        entries = [_rss_entry(item, None, base) for item in channel.iter("item")]
        return _rss_feed(channel, None, base), entries
    if root.tag == f"{{{RDF}}}RDF":
        for namespace in (RSS1, RSS090):
            channel = root.find(f"{{{namespace}}}channel")
            if channel is not None:
                items = root.iter(f"{{{namespace}}}item")
                entries = [_rss_entry(item, namespace, base) for item in items]
                return _rss_feed(channel, namespace, base), entries
        return None
    if root.tag == f"{{{ATOM}}}feed":
        entries = [_atom_entry(entry, base) for entry in root.iter(f"{{{ATOM}}}entry")]
        return _atom_feed(root, base), entries
    return None


def _is_utf8(head: bytes, content_type: str | None) -> bool:
    """Only UTF-8 is read here: feedparser knows how servers and documents get others wrong
    (Latin-1 that is really Windows-1252, a header contradicting the declaration …)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    declared = re.search(rb"<\?xml[^>]*encoding\s*=\s*[\"']([\w.:-]+)", head)
    served = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    names = [declared.group(1).decode("ascii") if declared else "utf-8"]
    names += [served.group(1)] if served else []
    return all(name.lower().replace("_", "-") in {"utf-8", "utf8"} for name in names)


# --- RSS ---------------------------------------------------------------------------------


def _rss_feed(channel: Any, namespace: str | None, base: str | None) -> dict[str, Any]:
    feed: dict[str, Any] = {}
    title = _child(channel, namespace, "title")
    if title is not None:
        feed.update(_text_construct("title", _text(title), "text/plain", guess=True))
    link = _child(channel, namespace, "link")
    if link is not None and _text(link).strip():
        feed["link"] = _resolve(link, _text(link).strip(), base)
    return feed


def _rss_entry(item: Any, namespace: str | None, base: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    about = item.get(f"{{{RDF}}}about")
    if about:
        entry["id"] = about
    link = _child(item, namespace, "link")
    if link is not None and _text(link).strip():
        entry["link"] = _resolve(link, _text(link).strip(), base)
    guid = item.find("guid")
    if guid is not None:
        entry["id"] = _text(guid)
        permalink = guid.get("isPermaLink", "true") == "true"
        if permalink and "link" not in entry and entry["id"].strip():
            entry["link"] = _resolve(guid, entry["id"].strip(), base)
    title = _child(item, namespace, "title")
    if title is not None:
        entry.update(_text_construct("title", _text(title), "text/plain", guess=True))
    description = _child(item, namespace, "description")
    if description is not None:
        entry.update(_text_construct("summary", _markup(description), "text/html"))
    encoded = item.findall(f"{{{CONTENT}}}encoded")
    if encoded:
        entry["content"] = [{"value": _markup(e), "type": "text/html"} for e in encoded]
    else:
        for name in ("body", f"{{{XHTML}}}body", "fullitem"):
            body = item.find(name)
            if body is not None:
                kind = "text/html" if name == "fullitem" else "application/xhtml+xml"
                entry["content"] = [{"value": _markup(body), "type": kind}]
                break
    _author(entry, item.find("author"), item.find(f"{{{DC}}}creator"))
    _common(entry, item)
    for enclosure in item.iter("enclosure"):
        href = enclosure.get("url") or enclosure.get("href")
        if href:
            link = {"rel": "enclosure", "href": _resolve(enclosure, href, base)}
            link["type"] = enclosure.get("type") or ""
            entry.setdefault("links", []).append(link)
    source = item.find("source")
    if source is not None:
        entry["source"] = {"title": _text(source)} if _text(source) else {}
        if source.get("url"):
            entry["source"]["href"] = source.get("url")
    return entry


# --- Atom --------------------------------------------------------------------------------


def _atom_feed(root: Any, base: str | None) -> dict[str, Any]:
    feed: dict[str, Any] = {}
    title = root.find(f"{{{ATOM}}}title")
    if title is not None:
        feed.update(_atom_text("title", title))
    link = _alternate(root, base)
    found = root.find(f"{{{ATOM}}}id")
    if link or (found is not None and _text(found)):  # the id stands in, as in feedparser
        feed["link"] = link or _text(found)
    return feed


def _atom_entry(element: Any, base: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    found = element.find(f"{{{ATOM}}}id")
    if found is not None:
        entry["id"] = _text(found)
    link = _alternate(element, base)
    if link or entry.get("id"):  # feedparser takes the id for a link when there is none
        entry["link"] = link or entry["id"]
    links = [_atom_link(e, base) for e in element.findall(f"{{{ATOM}}}link") if e.get("href")]
    if links:
        entry["links"] = links
    title = element.find(f"{{{ATOM}}}title")
    if title is not None:
        entry.update(_atom_text("title", title))
    summary = element.find(f"{{{ATOM}}}summary")
    if summary is not None:
        entry.update(_atom_text("summary", summary))
    contents = element.findall(f"{{{ATOM}}}content")
    if contents:
        entry["content"] = []
        for content in contents:
            text = _atom_text("content", content)
            item = {"value": text["content"], "type": text["content_detail"]["type"]}
            entry["content"].append(item)
        # Relative links in the content are relative to its xml:base, not to the page.
        own = base is None and contents[0].base
        if own and own != element.getroottree().docinfo.URL:
            entry["content_base"] = contents[0].base
    author = element.find(f"{{{ATOM}}}author")
    name = author.find(f"{{{ATOM}}}name") if author is not None else None
    _author(entry, None, element.find(f"{{{DC}}}creator"), name)
    _common(entry, element)
    source = element.find(f"{{{ATOM}}}source")
    if source is not None:
        entry["source"] = {}
        source_title = source.find(f"{{{ATOM}}}title")
        if source_title is not None and _text(source_title):
            entry["source"]["title"] = _atom_text("title", source_title)["title"]
        home = _alternate(source, base)
        if home:
            entry["source"]["link"] = home
        found = source.find(f"{{{ATOM}}}id")
        if found is not None and _text(found):
            entry["source"]["id"] = _text(found)
    return entry


def _alternate(element: Any, base: str | None) -> str | None:
    """The last alternate HTML link, as feedparser picks it."""
    chosen = None
    for link in element.findall(f"{{{ATOM}}}link"):
        rel = link.get("rel", "alternate")
        kind = link.get("type", "text/html")
        if rel == "alternate" and kind in {"text/html", "application/xhtml+xml", "html"}:
            chosen = link if link.get("href") else chosen
    return _resolve(chosen, chosen.get("href"), base) if chosen is not None else None


def _atom_link(link: Any, base: str | None) -> dict[str, str]:
    rel = link.get("rel", "alternate")
    default = "application/atom+xml" if rel == "self" else "text/html"
    href = _resolve(link, link.get("href"), base)
    return {"rel": rel, "href": href, "type": link.get("type", default)}


def _atom_text(key: str, element: Any) -> dict[str, Any]:
    kind = element.get("type", "text")
    if kind == "xhtml":
        return _text_construct(key, _xhtml(element), "application/xhtml+xml")
    return _text_construct(key, _text(element), _HTML_TYPES.get(kind, kind))


def _xhtml(element: Any) -> str:
    """The inner markup of an XHTML text construct's <div>, without namespaces."""
    holder = element.find(f"{{{XHTML}}}div")
    return _markup(element if holder is None else holder)


def _markup(element: Any) -> str:
    """An element's content as markup: escaped HTML is text, but some feeds write it raw."""
    if not len(element):
        return element.text or ""
    holder = lxml.etree.fromstring(lxml.etree.tostring(element, with_tail=False))  # a copy
    for node in holder.iter():
        if isinstance(node.tag, str):
            node.tag = lxml.etree.QName(node).localname
    lxml.etree.cleanup_namespaces(holder)
    parts = [holder.text or ""]
    parts.extend(lxml.etree.tostring(child, encoding="unicode") for child in holder)
    return "".join(parts)


# --- Both --------------------------------------------------------------------------------


def _common(entry: dict[str, Any], item: Any) -> None:
    """The elements RSS and Atom entries share through extension namespaces."""
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        namespace, _, name = tag[1:].partition("}") if tag[0] == "{" else ("", "", tag)
        key = _DATES.get((namespace or None, name))
        if key:
            entry[key] = _text(child).strip()
        elif namespace == FEEDBURNER and name == "origLink":
            entry["feedburner_origlink"] = _text(child).strip()
        elif namespace == THREAD and name == "total":
            entry["thr_total"] = _text(child)
        elif namespace == SLASH and name == "comments":
            entry["slash_comments"] = _text(child)
        elif namespace == DC and name == "source":
            entry["dc_source"] = _text(child)
    for namespace in MEDIA:
        for thumbnail in item.iter(f"{{{namespace}}}thumbnail"):
            url = thumbnail.get("url") or _text(thumbnail).strip()
            entry.setdefault("media_thumbnail", []).append({"url": url} if url else {})
        for media in item.iter(f"{{{namespace}}}content"):
            entry.setdefault("media_content", []).append(dict(media.attrib))


def _author(entry: dict[str, Any], rss_author: Any, creator: Any, atom_name: Any = None) -> None:
    """`author` and `author_detail` as feedparser fills them (dc:creator wins over <author>)."""
    for element in (atom_name, creator, rss_author):
        if element is None or not _text(element).strip():
            continue
        text = _text(element).strip()
        if element is atom_name:
            entry["author"], entry["author_detail"] = text, {"name": text}
            return
        entry["author"] = text
        # Looked for near the start only: the pattern backtracks over a long name.
        name, email = text, _EMAIL.search(text, 0, _EMAIL_WITHIN)
        if email:
            name = name.replace(email.group(0), "").replace("()", "").replace("<>", "").strip()
            name = name.removeprefix("(").removesuffix(")").strip()
        if name:
            entry["author_detail"] = {"name": name}
        return


def _text_construct(key: str, value: str, kind: str, *, guess: bool = False) -> dict[str, Any]:
    # feedparser guesses that plain text in RSS holding tags or entities is HTML.
    if guess and kind == "text/plain" and _FeedParserMixin.looks_like_html(value):
        kind = "text/html"
    return {key: value, f"{key}_detail": {"type": kind}}


def _child(element: Any, namespace: str | None, name: str) -> Any:
    return element.find(f"{{{namespace}}}{name}" if namespace else name)


def _text(element: Any) -> str:
    # Only character data: a stray child element in a title keeps its text, not its tag.
    return "".join(element.itertext()) if len(element) else (element.text or "")


def _resolve(element: Any, link: str, base: str | None) -> str:
    return resolve_url(element.base if base is None else base, link)
