"""The post an editor pins to a held edition: one already stored, or a page fetched by URL.

A page is read the way an article page of a feed is (`syndicate.ingest.extract`: the same
fetcher with its address guard, deadline and size limit, trafilatura, the same cleaning,
credit line lifted out), stored as a post of the source on that site (or of a source
named after the host), and placed in its story's cluster, so it is credited like any
other post.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from syndicate.config import Config
from syndicate.config import Source as SourceConfig
from syndicate.db.fit import holds
from syndicate.db.models import Post, Source, utcnow
from syndicate.db.session import Database
from syndicate.ingest.addresses import Reach
from syndicate.ingest.attribution import choose_origin
from syndicate.ingest.identity import content_hash, entry_key, host_of, normalize_url
from syndicate.review import ReviewError

__all__ = ["post_to_pin"]

PINNED_SOURCE = "pinned: {host}"  # the source row of a page whose site is no source


async def post_to_pin(db: Database, config: Config, given: str) -> int:
    """The id of the post `given` names: a post number, a stored post's URL, or a page
    fetched now. An address that cannot be read is one `ReviewError` sentence."""
    given = given.strip()
    if given.isascii() and given.isdigit():
        with db.sessions() as session:
            known = len(given) <= 19 and holds(Post.__table__.c.id, int(given))
            if not known or session.get(Post, int(given)) is None:
                raise ReviewError(f"There is no post {given[:30]}.")
        return int(given)
    if not given.lower().startswith(("http://", "https://")):
        raise ReviewError(
            f'"{given[:200]}" is neither a post number nor a web address (http:// or https://).'
        )
    with db.sessions() as session:
        stored = _stored(session, given)
    if stored is not None:
        return stored
    return await _fetch_and_store(db, config, given)


def _stored(session: Session, url: str) -> int | None:
    key = normalize_url(url)
    return session.scalar(
        select(Post.id).where(or_(Post.url == url, Post.key == key)).order_by(Post.id).limit(1)
    )


async def _fetch_and_store(db: Database, config: Config, url: str) -> int:
    from syndicate.ingest.extract import ArticleFetcher
    from syndicate.ingest.fetch import FetchError, make_client

    source = _source_config_for(config, url)
    reach = Reach.around(source.url if source else "", config.ingest.private_hosts)
    timeout = config.ingest.page_timeout.total_seconds()
    async with make_client(timeout) as client:
        fetcher = ArticleFetcher(client, deadline=timeout)
        try:
            article = await fetcher.article(
                url, zone=source.timezone if source else None, reach=reach
            )
        except FetchError as error:
            raise ReviewError(f"{url[:200]} could not be fetched: {error.reason}") from None
    if article is None or not article.title:
        raise ReviewError(f"{url[:200]} holds no article text to pin (is it an article page?).")
    with db.session() as session:
        stored = _stored(session, article.url)
        if stored is not None:
            return stored
        row = _source_row(session, config, article.url, article.site_name)
        origin = choose_origin(
            feed=None,
            credit_line=article.credit,
            canonical_url=article.canonical_url,
            page_url=article.url,
            publisher_url=row.site_url,
        )
        digest = content_hash(article.title, article.excerpt)
        post = Post(
            source_id=row.id,
            key=entry_key(article.url, None, digest),
            url=article.url,
            title=article.title,
            content_html=article.content_html,
            excerpt=article.excerpt,
            image_url=article.image_url,
            origin_name=origin.name if origin else None,
            origin_url=origin.url if origin else None,
            content_hash=digest,
            published_at=article.published_at,
            first_seen_at=utcnow(),
        )
        session.add(post)
        session.flush()
        from syndicate.ingest.cluster import assign_clusters

        assign_clusters(session, [post])
        return post.id


def _source_config_for(config: Config, url: str) -> SourceConfig | None:
    host = host_of(url)
    for source in config.sources:
        if host and host_of(source.url) == host:
            return source
    return None


def _source_row(session: Session, config: Config, url: str, site_name: str | None) -> Source:
    """The stored source on the page's site, else one named after its host."""
    host = host_of(url) or "web"
    for row in session.scalars(select(Source).order_by(Source.id)):
        if host in (host_of(row.site_url), host_of(row.url)):
            return row
    name = PINNED_SOURCE.format(host=host)[:200]
    named = session.scalars(select(Source).where(Source.name == name)).first()
    if named is not None:
        return named
    home = url.split("/", 3)
    made = Source(name=name, url="/".join(home[:3]) + "/", site_name=site_name or host)
    made.site_url = made.url
    session.add(made)
    session.flush()
    return made
