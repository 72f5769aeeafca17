"""Feeds and the static archive, written from the stored editions.

RSS 2.0 and Atom come from python-feedgen; JSON Feed 1.1 is a plain JSON document (feedgen has
no writer for it). Every date in every file comes from the data, never from the clock: an entry
is published when its paper was (or first seen, when the source gave no date) and updated when
paperboy first saw it; ids derive from the paper's identity or the edition's date, so two builds
from the same data are byte-identical and a reader never sees an entry twice. HTML placed in
feeds goes through nh3. RSS and Atom carry a stylesheet (``feed.xsl``) so that a browser opening
one shows a readable page; feed readers ignore it.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2
import nh3
from feedgen.feed import FeedGenerator

import bot
from bot.models import Edition, EditionPaper, Periodic
from bot.render import card, clean
from bot.render.cards import Card
from bot.render.opml import opml
from bot.render.pages import site_context
from bot.settings import Settings

TITLE = "paperboy: trending papers"
GENERATOR = ("paperboy", bot.__version__)
STYLESHEET = "feed.xsl"


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """How much each feed holds: ``entries`` per paper feed; digest.xml at most
    ``digest_editions`` editions and ``digest_bytes`` bytes (its newest edition always)."""

    entries: int = 500
    digest_editions: int = 30
    digest_bytes: int = 1024 * 1024


def feed_limits(settings: Settings) -> FeedLimits:
    return FeedLimits(settings.feeds_max_entries, settings.feeds_digest_editions, settings.feeds_digest_max_kb * 1024)


@dataclass(frozen=True, slots=True)
class Entry:
    paper: EditionPaper
    edition: Edition


def paper_id(paper: EditionPaper) -> str:
    return f"urn:paperboy:paper:{quote(paper.key, safe=':')}"


def edition_id(edition: Edition) -> str:
    return f"urn:paperboy:edition:{edition.date.isoformat()}"


@functools.lru_cache(maxsize=4096)
def _content(paper: EditionPaper) -> str:
    """The whole card as HTML: TL;DR, abstract, authors, links and counts."""
    c = card(paper)
    bits = []
    if c.tldr:
        bits.append(f"<p><b>{html.escape(c.tldr_label)}:</b> {html.escape(c.tldr)}</p>")
    if c.abstract:
        bits.append(f"<p>{html.escape(c.abstract)}</p>")
    facts = [c.authors or c.byline, *c.counts, c.dates, c.seen, c.note or ""]
    bits.append("<p>" + " · ".join(html.escape(f) for f in facts if f) + "</p>")
    bits.append("<p>" + " · ".join(f'<a href="{html.escape(link.url, quote=True)}">{html.escape(link.label)}</a>'
                                   for link in c.links) + "</p>")
    return nh3.clean("".join(bits))


def _dates(paper: EditionPaper, edition: Edition) -> tuple[dt.datetime, dt.datetime]:
    """(published, updated) of a paper's entry: its own publication date, else when paperboy
    first saw it; updated when first seen (the edition's time for papers stored before that was
    kept)."""
    seen = paper.first_seen or edition.created_at
    published = dt.datetime.combine(paper.published, dt.time(), dt.UTC) if paper.published else seen
    return min(published, seen), seen


def _generator(base_url: str, self_path: str, title: str, updated: dt.datetime) -> FeedGenerator:
    feed = FeedGenerator()
    kind = "rss" if self_path == "feed.xml" else "atom"
    if kind == "rss":
        feed.load_extension("dc")  # RSS names authors without addresses by dc:creator
    feed.id(base_url + self_path)
    feed.title(title)
    feed.subtitle("The papers new each day on Hugging Face Daily Papers, grouped by topic.")
    feed.link(href=base_url + self_path, rel="self", type=f"application/{kind}+xml")
    feed.link(href=base_url, rel="alternate")  # last, so it is RSS's channel link
    feed.author({"name": "paperboy"})
    feed.language("en")
    feed.generator(*GENERATOR)
    feed.updated(updated)
    feed.lastBuildDate(updated)
    return feed


def _add_paper(feed: FeedGenerator, entry: Entry, rss: bool = False) -> None:
    paper, edition = entry.paper, entry.edition
    c: Card = card(paper)
    item = feed.add_entry(order="append")
    item.id(paper_id(paper))
    item.guid(paper_id(paper), permalink=False)
    item.title(c.title)
    item.link(href=c.links[0].url)
    if paper.topic_slug:
        item.category(term=paper.topic_slug, label=clean(paper.topic_label) or paper.topic_slug)
    names = list(c.names) or ([clean(paper.organization)] if paper.organization else [])
    if names:
        item.author([{"name": name} for name in names])
        if rss:
            item.dc.dc_creator(names)
    if c.tldr:
        item.summary(c.tldr)
    item.content(_content(paper), type="html")
    published, updated = _dates(paper, edition)
    item.published(published)
    item.updated(updated)


def entries(editions: Sequence[Edition]) -> list[Entry]:
    """New papers, newest edition first, in each edition's order."""
    return [Entry(p, edition) for edition in editions for section in edition.sections for p in section.papers]


def _atom(feed: FeedGenerator, base_url: str) -> bytes:
    """Atom with every title's type stated, which feedgen leaves implicit, and the stylesheet.
    Titles are escaped text, so the literal tag can only be one feedgen wrote."""
    atom: bytes = feed.atom_str(pretty=True)
    return _styled(atom.replace(b"<title>", b'<title type="text">'), base_url)


def _styled(document: bytes, base_url: str) -> bytes:
    """The feed with its stylesheet named after the XML declaration."""
    head, _, rest = document.partition(b"?>")
    return head + b"?>\n" + f'<?xml-stylesheet type="text/xsl" href="{base_url}{STYLESHEET}"?>'.encode() + rest


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half a feed; a write
    that fails (a full disk) leaves the previous file and no truncated temporary behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


FEED_TYPES = {".xml": "application/atom+xml", ".json": "application/feed+json", ".html": "text/html",
              ".opml": "text/x-opml",
              ".xsl": "text/xsl", ".bib": "application/x-bibtex"}


def content_type(relative: str) -> str:
    """The media type a document of the site is served with (RSS differs from the other XML)."""
    if relative == "feed.xml":
        return "application/rss+xml; charset=utf-8"
    return FEED_TYPES[Path(relative).suffix] + "; charset=utf-8"


def render_site(
    editions: Sequence[Edition], base_url: str, env: jinja2.Environment, limits: FeedLimits, *, pages: bool = True,
    aliases: Mapping[str, str] | None = None, periodic: Periodic | None = None,
) -> dict[str, bytes]:
    """Every feed and, with ``pages``, every archive page for ``editions`` (newest first), by
    path relative to the site's root; the web front serves the same bytes ``build`` writes.
    A merged topic's papers (``aliases``: its slug, the topic it went into) are in the feed of
    the topic it went into. ``periodic`` holds the weekly and monthly digests' copies (the
    digest stage gathers them): ``weekly.xml``, ``monthly.xml`` and a page each."""
    aliases, periodic = aliases or {}, periodic or Periodic()
    site: dict[str, bytes] = {}
    updated = editions[0].created_at if editions else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    every = entries(editions)
    papers = every[:limits.entries]

    for relative, kind, title in (("feed.xml", "rss", f"{TITLE} (RSS)"), ("atom.xml", "atom", f"{TITLE} (Atom)")):
        feed = _generator(base_url, relative, title, updated)
        for entry in papers:
            _add_paper(feed, entry, rss=kind == "rss")
        site[relative] = _styled(feed.rss_str(pretty=True), base_url) if kind == "rss" else _atom(feed, base_url)

    by_topic: dict[str, list[Entry]] = {}
    labels: dict[str, str] = {}
    for entry in every:
        if entry.paper.topic_slug:
            slug = aliases.get(entry.paper.topic_slug, entry.paper.topic_slug)
            by_topic.setdefault(slug, []).append(entry)
            if slug == entry.paper.topic_slug:
                labels.setdefault(slug, clean(entry.paper.topic_label))
    for slug in by_topic:
        labels.setdefault(slug, slug)
    for slug, topic_entries in sorted(by_topic.items()):
        relative = f"topics/{slug}.xml"
        feed = _generator(base_url, relative, f"{TITLE}: {labels[slug]}", topic_entries[0].edition.created_at)
        for entry in topic_entries[:limits.entries]:
            _add_paper(feed, entry)
        site[relative] = _atom(feed, base_url)

    site["digest.xml"] = _digest(editions, base_url, env, limits, updated)
    for kind in PERIODS:
        site[f"{kind}.xml"] = period_feed(kind, periodic, base_url, env, updated)
    site["feed.json"] = _json_feed(base_url, papers).encode()
    site["feeds.opml"] = opml(base_url, f"{TITLE}: every feed", [
        (f"{TITLE}, every paper", "atom.xml"), (f"{TITLE}, one entry per edition", "digest.xml"),
        (f"{TITLE}, the best of each week", "weekly.xml"), (f"{TITLE}, the best of each month", "monthly.xml"),
    ], [(labels[slug], f"topics/{slug}.xml") for slug in sorted(by_topic, key=lambda s: (labels[s].casefold(), s))],
        updated)
    site[STYLESHEET] = env.get_template("feed/feed.xsl").render(base_url=base_url).encode()

    if pages:
        context = site_context(editions, base_url)
        site["index.html"] = env.get_template("archive/index.html").render(context).encode()
        page = env.get_template("archive/edition.html")
        for edition in editions:
            day = edition.date.isoformat()
            site[f"editions/{day}.html"] = page.render(context, edition=edition).encode()
            site[f"editions/{day}.bib"] = edition_bibtex(edition).encode()
        for kind in PERIODS:
            for copy in periodic.weeks if kind == "weekly" else periodic.months:
                site[period_path(kind, copy)] = page.render(context, edition=copy, period=kind[:-2]).encode()
    return site


def edition_bibtex(edition: Edition) -> str:
    """Every paper of ``edition`` as BibTeX, in the edition's order: its "copy citation"."""
    papers = [p for section in edition.sections for p in section.papers] + list(edition.climbing)
    return "\n\n".join(card(p).bibtex for p in papers) + "\n"


def _digest(editions: Sequence[Edition], base_url: str, env: jinja2.Environment, limits: FeedLimits,
            updated: dt.datetime) -> bytes:
    """digest.xml: one entry per edition, newest first, within ``limits`` (editions, then bytes:
    the oldest are left out until it fits; the newest edition stays whatever its size)."""
    edition_template = env.get_template("archive/_edition.html")
    rendered = [(edition, nh3.clean(edition_template.render(edition=edition, base_url=base_url, in_feed=True)))
                for edition in editions[:limits.digest_editions]]
    count = len(rendered)
    while True:
        digest = _generator(base_url, "digest.xml", f"{TITLE}, one entry a day", updated)
        for edition, content in rendered[:count]:
            item = digest.add_entry(order="append")
            item.id(edition_id(edition))
            item.guid(edition_id(edition), permalink=False)
            item.title(f"Trending papers, {edition.date.day} {edition.date:%b %Y}: {edition.papers} new")
            item.link(href=f"{base_url}editions/{edition.date.isoformat()}.html")
            item.author({"name": "paperboy"})
            item.content(content, type="html")
            item.published(edition.created_at)
            item.updated(edition.created_at)
        document = _atom(digest, base_url)
        if len(document) <= limits.digest_bytes or count <= 1:
            return document
        # drop as many of the oldest as the excess needs, by their share of the size
        share = sum(len(c) for _, c in rendered[:count]) / count
        count = max(1, min(count - 1, count - int((len(document) - limits.digest_bytes) / max(share, 1))))


def build(
    editions: Sequence[Edition], base_url: str, out: Path, env: jinja2.Environment, limits: FeedLimits,
    aliases: Mapping[str, str] | None = None, periodic: Periodic | None = None,
) -> list[Path]:
    """Write every feed and archive page for ``editions`` (newest first) under ``out``; a merged
    topic's feed path gets the feed of the topic it went into (a static site cannot redirect)."""
    written: list[Path] = []
    site = render_site(editions, base_url, env, limits, aliases=aliases, periodic=periodic)
    for old, new in (aliases or {}).items():
        if f"topics/{new}.xml" in site:
            site[f"topics/{old}.xml"] = site[f"topics/{new}.xml"]
    for relative, data in site.items():
        _write(out / relative, data)
        written.append(out / relative)
    return written


def _json_feed(base_url: str, papers: Sequence[Entry]) -> str:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": f"{TITLE} (JSON Feed)",
        "home_page_url": base_url,
        "feed_url": base_url + "feed.json",
        "language": "en",
        "authors": [{"name": "paperboy"}],
        "items": [_json_item(e) for e in papers],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _json_item(entry: Entry) -> dict[str, object]:
    paper = entry.paper
    c = card(paper)
    published, updated = _dates(paper, entry.edition)
    item: dict[str, object] = {
        "id": paper_id(paper),
        "url": c.links[0].url,
        "title": c.title,
        "content_html": _content(paper),
        "date_published": published.isoformat(),
        "date_modified": updated.isoformat(),
        "tags": [clean(paper.topic_label)] if paper.topic_label else [],
    }
    if c.tldr:
        item["summary"] = c.tldr
    names = c.names
    if names:
        item["authors"] = [{"name": n} for n in names]
    if paper.links.thumbnail:
        item["image"] = paper.links.thumbnail
    links = paper.links
    # JSON Feed's extension convention: an underscore-prefixed key a reader may ignore
    item["_paperboy"] = {
        "arxiv_id": paper.arxiv_id, "upvotes": paper.upvotes, "rise": paper.rise,
        "author_count": paper.author_count or (len(names) or None), "organization": clean(paper.organization) or None,
        "published": paper.published.isoformat() if paper.published else None,
        "first_seen": paper.first_seen.isoformat() if paper.first_seen else None,
        "categories": list(paper.categories), "tldr_source": paper.tldr_source if c.tldr else None,
        "github_repo": links.github_repo, "github_stars": links.github_stars, "project_page": links.project_page,
        "comments": links.comments, "submitted_by": links.submitted_by,
        "ai_keywords": list(links.ai_keywords) if links.ai_keywords else None,
        "links": {link.label: link.url for link in c.links}, "listing_only": paper.listing_only,
    }
    return item


PERIODS = ("weekly", "monthly")


def period_path(kind: str, copy: Edition) -> str:
    """weekly/<its Monday>.html or monthly/<yyyy-mm>.html."""
    assert copy.since is not None
    return f"weekly/{copy.since.isoformat()}.html" if kind == "weekly" else f"monthly/{copy.since:%Y-%m}.html"


def period_feed(kind: str, periodic: Periodic, base_url: str, env: jinja2.Environment,
                updated: dt.datetime) -> bytes:
    """weekly.xml or monthly.xml: one entry per period, newest first, the best of its editions;
    a period still running is the same entry, updated, until it ends."""
    template = env.get_template("archive/_edition.html")
    what = "week" if kind == "weekly" else "month"
    feed = _generator(base_url, f"{kind}.xml", f"{TITLE}, the best of each {what}", updated)
    for copy in periodic.weeks if kind == "weekly" else periodic.months:
        first = copy.since
        assert first is not None
        item = feed.add_entry(order="append")
        identity = f"{base_url}{kind}/{first.isoformat() if kind == 'weekly' else f'{first:%Y-%m}'}"
        item.id(identity)
        item.guid(identity, permalink=False)
        item.title(f"The best papers of the week of {first.day} {first:%b %Y}: {copy.papers} papers" if kind == "weekly"
                   else f"The best papers of {first:%B %Y}: {copy.papers} papers")
        item.link(href=base_url + period_path(kind, copy))
        item.author({"name": "paperboy"})
        item.content(nh3.clean(template.render(edition=copy, base_url=base_url, in_feed=True)), type="html")
        item.published(dt.datetime.combine(first, dt.time(), dt.UTC))
        item.updated(copy.created_at)
    return _atom(feed, base_url)
