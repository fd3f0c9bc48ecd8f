"""Entry identity: the same article keeps the same key however its link is decorated."""

from __future__ import annotations

import hashlib
import logging
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

__all__ = [
    "content_hash",
    "entry_key",
    "host_of",
    "normalize_url",
    "resolve_url",
    "strip_tracking",
]

logger = logging.getLogger(__name__)

# Query parameters that only say who sent the reader, never which article it is: the
# common set of the ClearURLs rules (ad and mail platforms: Google, Facebook, Microsoft,
# HubSpot, Marketo, Mailchimp, TikTok, LinkedIn, Webtrekk, Vero, Drip, Omeda, Matomo, …).
_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid",
        "igshid", "igsh", "ref", "ref_src", "ref_url", "_ga", "_gl", "yclid", "twclid", "ttclid",
        "spm", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking", "mkt_tok",
        "li_fat_id", "wt_mc", "wt_zmc", "cmpid", "vero_id", "vero_conv", "__s", "oly_enc_id",
        "oly_anon_id", "_openstat", "fb_action_ids", "fb_action_types", "fb_ref", "fb_source",
        "action_object_map", "action_type_map", "action_ref_map", "s_cid", "ncid", "sr_share",
        "mibextid", "srsltid", "rb_clickid", "wickedid", "epik", "_ke", "_kx",
        "__twitter_impression", "_branch_match_id", "at_medium", "at_campaign",
        "soc_src", "soc_trk",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "itm_")
# Parameters that are tracking only on the sites that add them: elsewhere the same word may
# name the article ("si" on a Spotify or YouTube link, "taid" on Reuters, "smid" at the Times).
_TRACKING_ON_HOSTS = {
    "si": ("youtube.com", "youtu.be", "spotify.com"),
    "feature": ("youtube.com", "youtu.be"),
    "taid": ("reuters.com",),
    "smid": ("nytimes.com",),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str, value: str, host: str = "") -> bool:
    lowered = name.lower()
    if _is_tracking_param(lowered, host):
        return True
    # Blogger's mobile switch (?m=1 / ?m=0) and AMP switches name the same article.
    if lowered == "m" and value in {"0", "1"}:
        return True
    return lowered in {"amp", "outputtype"} and value.lower() in {"", "1", "true", "amp"}


# An absolute http(s) link that urljoin would give back unchanged: a host, no spaces or
# controls (urljoin strips them), no empty "?" or "#" (it drops them), no ";" before the
# query (urljoin drops an empty ";params").
_PLAIN_ABSOLUTE = re.compile(
    r"https?://[^\x00-\x20\x7f/?#;]+(?:/[^\x00-\x20\x7f?#;]*)?"
    r"(?:\?[^\x00-\x20\x7f#]+)?(?:#[^\x00-\x20\x7f]+)?\Z"
)


def resolve_url(base: str | None, link: str) -> str:
    """`link` made absolute against `base`, as urljoin does (a link it cannot read stays as
    it is); most links in a feed are absolute already and are recognised without parsing."""
    if not base or _PLAIN_ABSOLUTE.match(link):
        return link
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def normalize_url(url: str) -> str:
    """Return the identity form of an article link.

    Lowercases scheme and host, drops default ports, the fragment, tracking parameters
    and AMP variants, and sorts the remaining query parameters. Not meant for display.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        host = f"{userinfo}@{host}"
    path = parts.path or ("/" if host else "")
    if path.endswith("/amp") or path.endswith("/amp/"):
        path = path[: path.rindex("/amp")] or "/"
    elif path.endswith(".amp"):
        path = path[: -len(".amp")]
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(name, value, host)
    ]
    query.sort()
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def strip_tracking(url: str) -> str:
    """Return a link without its tracking parameters (utm_*, fbclid, …), otherwise as written.

    Unlike `normalize_url` this is for display: the order of the other parameters, the
    case of the path and the fragment are kept.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    host = (parts.hostname or "") if parts.netloc else ""
    kept = [(name, value) for name, value in pairs if not _is_tracking_param(name, host)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _is_tracking_param(name: str, host: str = "") -> bool:
    lowered = name.lower().removeprefix("amp;")  # "&amp;amp;utm_source": escaped twice
    if lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES):
        return True
    sites = _TRACKING_ON_HOSTS.get(lowered)
    if not (sites and host):
        return False
    return any(host == s or host.endswith("." + s) for s in sites)


def content_hash(title: str, text: str) -> str:
    """Return the sha256 hex digest that identifies an entry by its words."""
    return hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()


def entry_key(url: str | None, guid: str | None, content_hash: str) -> str:
    """Return an entry's identity: its normalized link, else its GUID, else its content hash."""
    if url and url.strip():
        return normalize_url(url)
    if guid and guid.strip():
        return f"guid:{guid.strip()}"
    return f"hash:{content_hash}"


def host_of(url: str | None) -> str | None:
    """The site's host without "www.", or None when `url` has none."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.").removeprefix("m.") if host else None
