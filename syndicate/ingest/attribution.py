"""Attribution: who really wrote a post, and the proper name to show for them.

The original is found, in this order of trust, in the feed (`<source>`, `dc:source`,
`feedburner:origLink` on another site), in a credit line at the end of the text ("Sumber:
Kompas.com", "Artikel ini telah tayang di …", "Originally published at …"), and on the
article page (a `rel=canonical` that points at another site). A site's own name never counts
as an origin. The `[credits]` table of the settings turns short names into proper ones
("inilah" → "Inilah.com", with its site), whenever a post's credit is shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from syndicate.config import CreditName
from syndicate.db.models import Post, Source
from syndicate.ingest.cluster import cluster_credit
from syndicate.ingest.identity import host_of
from syndicate.types import Credit

__all__ = ["also_carried_by", "choose_origin", "resolve_credit", "shown_origin"]


def choose_origin(
    *,
    feed: Credit | None,
    credit_line: Credit | None,
    canonical_url: str | None,
    page_url: str | None,
    publisher_url: str | None = None,
) -> Credit | None:
    """The post's original outlet, or None when the publisher wrote it itself."""
    canonical = _cross_domain(canonical_url, page_url)
    for candidate in (feed, credit_line):
        if candidate is None or _same_site(candidate.url, publisher_url or page_url):
            continue
        if candidate.url is None and canonical is not None:
            return Credit(candidate.name, canonical)
        return candidate
    if canonical is not None:  # named as the outlet table knows the site: "Reuters"
        return resolve_credit(Credit(host_of(canonical) or canonical, canonical), {})
    return None


# Outlets Indonesian republishers credit most often, by the short names their credit
# lines use. A site's own `[credits]` table is searched first and can rename any of them.
KNOWN_OUTLETS: Mapping[str, CreditName] = {
    "inilah": CreditName("Inilah.com", "https://www.inilah.com"),
    "kompas": CreditName("Kompas.com", "https://www.kompas.com"),
    "detik": CreditName("detikcom", "https://www.detik.com"),
    "detiknews": CreditName("detikNews", "https://news.detik.com"),
    "cnn indonesia": CreditName("CNN Indonesia", "https://www.cnnindonesia.com"),
    "cnnindonesia": CreditName("CNN Indonesia", "https://www.cnnindonesia.com"),
    "cnbc indonesia": CreditName("CNBC Indonesia", "https://www.cnbcindonesia.com"),
    "cnbcindonesia": CreditName("CNBC Indonesia", "https://www.cnbcindonesia.com"),
    "antara": CreditName("ANTARA", "https://www.antaranews.com"),
    "antaranews": CreditName("ANTARA", "https://www.antaranews.com"),
    "tempo": CreditName("Tempo.co", "https://www.tempo.co"),
    "tribunnews": CreditName("Tribunnews.com", "https://www.tribunnews.com"),
    "liputan6": CreditName("Liputan6.com", "https://www.liputan6.com"),
    "okezone": CreditName("Okezone", "https://www.okezone.com"),
    "republika": CreditName("Republika", "https://www.republika.co.id"),
    "suara": CreditName("Suara.com", "https://www.suara.com"),
    "viva": CreditName("VIVA.co.id", "https://www.viva.co.id"),
    "merdeka": CreditName("Merdeka.com", "https://www.merdeka.com"),
    "sindonews": CreditName("SINDOnews", "https://www.sindonews.com"),
    "jpnn": CreditName("JPNN.com", "https://www.jpnn.com"),
    "kumparan": CreditName("kumparan", "https://kumparan.com"),
    "bisnis": CreditName("Bisnis.com", "https://www.bisnis.com"),
    "kontan": CreditName("Kontan", "https://www.kontan.co.id"),
    "katadata": CreditName("Katadata", "https://katadata.co.id"),
    "idntimes": CreditName("IDN Times", "https://www.idntimes.com"),
    "idn times": CreditName("IDN Times", "https://www.idntimes.com"),
    "jawapos": CreditName("Jawa Pos", "https://www.jawapos.com"),
    "tirto": CreditName("Tirto.id", "https://tirto.id"),
    "mediaindonesia": CreditName("Media Indonesia", "https://mediaindonesia.com"),
    "beritasatu": CreditName("Beritasatu", "https://www.beritasatu.com"),
    "inews": CreditName("iNews.id", "https://www.inews.id"),
    "mongabay": CreditName("Mongabay", "https://www.mongabay.co.id"),
    "voaindonesia": CreditName("VOA Indonesia", "https://www.voaindonesia.com"),
    # The international wires, by the tags their copies carry.
    "reuters": CreditName("Reuters", "https://www.reuters.com"),
    "ap": CreditName("AP", "https://apnews.com"),
    "apnews": CreditName("AP", "https://apnews.com"),
    "associated press": CreditName("AP", "https://apnews.com"),
    "the associated press": CreditName("AP", "https://apnews.com"),
    "afp": CreditName("AFP", "https://www.afp.com"),
    "agence france-presse": CreditName("AFP", "https://www.afp.com"),
    "bloomberg": CreditName("Bloomberg", "https://www.bloomberg.com"),
    "upi": CreditName("UPI", "https://www.upi.com"),
    "dpa": CreditName("dpa", "https://www.dpa.com"),
    "xinhua": CreditName("Xinhua", "https://english.news.cn"),
    "kyodo": CreditName("Kyodo News", "https://english.kyodonews.net"),
    "yonhap": CreditName("Yonhap", "https://en.yna.co.kr"),
    "bernama": CreditName("Bernama", "https://www.bernama.com"),
    "anadolu": CreditName("Anadolu Agency", "https://www.aa.com.tr"),
    "efe": CreditName("EFE", "https://efe.com"),
    "ansa": CreditName("ANSA", "https://www.ansa.it"),
    "pti": CreditName("PTI", "https://www.ptinews.com"),
    # Sources that let others republish their articles.
    "the conversation": CreditName("The Conversation", "https://theconversation.com"),
    "theconversation": CreditName("The Conversation", "https://theconversation.com"),
    "propublica": CreditName("ProPublica", "https://www.propublica.org"),
    "kff health news": CreditName("KFF Health News", "https://kffhealthnews.org"),
    "kffhealthnews": CreditName("KFF Health News", "https://kffhealthnews.org"),
    "kaiser health news": CreditName("KFF Health News", "https://kffhealthnews.org"),
    "global voices": CreditName("Global Voices", "https://globalvoices.org"),
    "globalvoices": CreditName("Global Voices", "https://globalvoices.org"),
    "inter press service": CreditName("Inter Press Service", "https://www.ipsnews.net"),
    "ipsnews": CreditName("Inter Press Service", "https://www.ipsnews.net"),
    "grist": CreditName("Grist", "https://grist.org"),
    "calmatters": CreditName("CalMatters", "https://calmatters.org"),
    "the 19th": CreditName("The 19th", "https://19thnews.org"),
    "19thnews": CreditName("The 19th", "https://19thnews.org"),
    "stateline": CreditName("Stateline", "https://stateline.org"),
    "project syndicate": CreditName("Project Syndicate", "https://www.project-syndicate.org"),
    "project-syndicate": CreditName("Project Syndicate", "https://www.project-syndicate.org"),
    "common dreams": CreditName("Common Dreams", "https://www.commondreams.org"),
    "commondreams": CreditName("Common Dreams", "https://www.commondreams.org"),
    "the texas tribune": CreditName("The Texas Tribune", "https://www.texastribune.org"),
    "texastribune": CreditName("The Texas Tribune", "https://www.texastribune.org"),
    "inside climate news": CreditName("Inside Climate News", "https://insideclimatenews.org"),
    "insideclimatenews": CreditName("Inside Climate News", "https://insideclimatenews.org"),
    "bbc": CreditName("BBC", "https://www.bbc.com"),
    "bbc news indonesia": CreditName("BBC News Indonesia", "https://www.bbc.com/indonesia"),
    "the guardian": CreditName("The Guardian", "https://www.theguardian.com"),
    "theguardian": CreditName("The Guardian", "https://www.theguardian.com"),
    "al jazeera": CreditName("Al Jazeera", "https://www.aljazeera.com"),
    "aljazeera": CreditName("Al Jazeera", "https://www.aljazeera.com"),
}


def resolve_credit(credit: Credit | None, credits: Mapping[str, CreditName]) -> Credit | None:
    """The credit as the `[credits]` table names it: "inilah" → "Inilah.com".

    The table is searched by the name as written, then by the site's host ("inilah.com")
    and its first label ("inilah"); then the well-known outlets above. A link the credit
    line carried (to the article itself) is kept; the table's site is used when the line
    had none.
    """
    if credit is None:
        return credit
    for key in _lookup_keys(credit):
        proper = credits.get(key) or KNOWN_OUTLETS.get(key)
        if proper is not None:
            return Credit(proper.name, credit.url or proper.url)
    return credit


def shown_origin(post: Post, credits: Mapping[str, CreditName]) -> Credit | None:
    """The origin an email or a Telegram post names for a stored post.

    The post's own origin, else its cluster's original when another site wrote it first,
    named as the `[credits]` table says.
    """
    session = object_session(post)
    if session is None or post.origin_name or post.cluster_id is None:
        origin = Credit(post.origin_name, post.origin_url) if post.origin_name else None
    else:
        # A copy that says whom it copied speaks for the whole story: the fullest member
        # may be the one that did not say.
        origin = _named_by_members(post, _members(session, post)) or cluster_credit(session, post)
    return resolve_credit(origin, credits)


def also_carried_by(post: Post) -> tuple[Credit, ...]:
    """The other sites that carried `post`'s story, each once, by their names and homes."""
    session = object_session(post)
    if session is None or post.cluster_id is None:
        return ()
    carried: dict[int, Credit] = {}
    for member in _members(session, post):
        if member.source_id == post.source_id or member.source_id in carried:
            continue
        source: Source = member.source
        home = source.site_url or _home(member.url or source.url)
        carried[member.source_id] = Credit(source.site_name or source.name, home)
    return tuple(carried.values())


def _members(session: Session, post: Post) -> list[Post]:
    query = select(Post).where(Post.cluster_id == post.cluster_id, Post.id != post.id)
    return list(session.scalars(query.order_by(Post.id)))


def _named_by_members(post: Post, members: Sequence[Post]) -> Credit | None:
    """The original most members name, unless it is the site of `post` itself."""
    own = {(post.source.site_name or post.source.name).casefold()}
    named: Counter[str] = Counter()
    links: dict[str, str | None] = {}
    for member in members:
        if not member.origin_name or _same_site(member.origin_url, post.url):
            continue
        name = member.origin_name
        if name.casefold() in own:
            continue
        named[name] += 1
        links[name] = links.get(name) or member.origin_url
    if not named:
        return None
    name = max(named, key=lambda n: (named[n], links[n] is not None))
    return Credit(name, links[name])


def _home(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/" if parts.scheme and parts.netloc else None


def _lookup_keys(credit: Credit) -> list[str]:
    name = " ".join(credit.name.split()).casefold()
    keys = [name, name.removeprefix("www.")]
    for host in (name if "." in name and " " not in name else None, host_of(credit.url)):
        if host:
            # "news.kompas.com" is Kompas's: its registrable domain names the outlet.
            site = _registrable(host) or host
            keys += [host, host.split(".")[0], site, site.split(".")[0]]
    return list(dict.fromkeys(keys))


def _cross_domain(url: str | None, page_url: str | None) -> str | None:
    if not url or not url.startswith(("http://", "https://")):
        return None
    if page_url is None or _same_site(url, page_url):
        return None
    return url


def _same_site(one: str | None, other: str | None) -> bool:
    first, second = _registrable(host_of(one)), _registrable(host_of(other))
    return first is not None and first == second


def _registrable(host: str | None) -> str | None:
    """ "news.kompas.com" → "kompas.com", "x.co.id" stays: close enough without a suffix list."""
    if not host:
        return None
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in {"co", "or", "ac", "go", "web", "my", "sch", "com"}:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
