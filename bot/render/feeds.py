"""Feeds and the static archive, written from the stored editions.

RSS 2.0 and Atom come from python-feedgen; JSON Feed 1.1 is a plain JSON document (feedgen has
no writer for it). Every date in every file comes from the editions, never from the clock, and
ids derive from the paper's identity or the edition's date, so two builds from the same data are
byte-identical and a reader never sees an entry twice. HTML placed in feeds goes through nh3.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2
import nh3
from feedgen.feed import FeedGenerator

import bot
from bot.models import Edition, EditionPaper
from bot.render import clean, paper_url

TITLE = "paperboy: trending papers"
GENERATOR = ("paperboy", bot.__version__)


@dataclass(frozen=True, slots=True)
class Entry:
    paper: EditionPaper
    edition: Edition


def paper_id(paper: EditionPaper) -> str:
    return f"urn:paperboy:paper:{quote(paper.key, safe=':')}"


def edition_id(edition: Edition) -> str:
    return f"urn:paperboy:edition:{edition.date.isoformat()}"


def _content(paper: EditionPaper) -> str:
    bits = [f"<p>{html.escape(clean(paper.abstract))}</p>"] if paper.abstract else []
    facts = [f"Topic: {html.escape(clean(paper.topic_label))}" if paper.topic_label else "",
             f"{paper.author_count} authors" if paper.author_count else html.escape(clean(paper.organization)),
             f"{paper.upvotes} upvotes" if paper.upvotes is not None else ""]
    bits.append("<p>" + " · ".join(f for f in facts if f) + "</p>")
    return nh3.clean("".join(bits))


def _generator(base_url: str, self_path: str, title: str, updated: dt.datetime) -> FeedGenerator:
    feed = FeedGenerator()
    feed.id(base_url + self_path)
    feed.title(title)
    feed.subtitle("The papers new each day on Hugging Face Daily Papers, grouped by topic.")
    kind = "rss" if self_path == "feed.xml" else "atom"
    feed.link(href=base_url + self_path, rel="self", type=f"application/{kind}+xml")
    feed.link(href=base_url, rel="alternate")  # last, so it is RSS's channel link
    feed.author({"name": "paperboy"})
    feed.language("en")
    feed.generator(*GENERATOR)
    feed.updated(updated)
    feed.lastBuildDate(updated)
    return feed


def _add_paper(feed: FeedGenerator, entry: Entry) -> None:
    paper, edition = entry.paper, entry.edition
    item = feed.add_entry(order="append")
    item.id(paper_id(paper))
    item.guid(paper_id(paper), permalink=False)
    item.title(clean(paper.title))
    item.link(href=paper_url(paper))
    if paper.topic_slug:
        item.category(term=paper.topic_slug, label=clean(paper.topic_label) or paper.topic_slug)
    by = f"{paper.author_count} authors" if paper.author_count else clean(paper.organization) or "unknown"
    item.author({"name": by})
    item.content(_content(paper), type="html")
    item.published(edition.created_at)
    item.updated(edition.created_at)


def entries(editions: Sequence[Edition]) -> list[Entry]:
    """New papers, newest edition first, in each edition's order."""
    return [Entry(p, edition) for edition in editions for section in edition.sections for p in section.papers]


def _atom(feed: FeedGenerator) -> bytes:
    """Atom with every title's type stated, which feedgen leaves implicit. Titles are escaped
    text, so the literal tag can only be one feedgen wrote."""
    atom: bytes = feed.atom_str(pretty=True)
    return atom.replace(b"<title>", b'<title type="text">')


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


FEED_TYPES = {".xml": "application/atom+xml", ".json": "application/feed+json", ".html": "text/html"}


def content_type(relative: str) -> str:
    """The media type a document of the site is served with (RSS differs from the other XML)."""
    if relative == "feed.xml":
        return "application/rss+xml; charset=utf-8"
    return FEED_TYPES[Path(relative).suffix] + "; charset=utf-8"


def render_site(
    editions: Sequence[Edition], base_url: str, env: jinja2.Environment, max_entries: int, *, pages: bool = True,
) -> dict[str, bytes]:
    """Every feed and, with ``pages``, every archive page for ``editions`` (newest first), by
    path relative to the site's root; the web front serves the same bytes ``build`` writes."""
    site: dict[str, bytes] = {}
    updated = editions[0].created_at if editions else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    every = entries(editions)
    papers = every[:max_entries]

    for relative, kind in (("feed.xml", "rss"), ("atom.xml", "atom")):
        feed = _generator(base_url, relative, TITLE, updated)
        for entry in papers:
            _add_paper(feed, entry)
        site[relative] = feed.rss_str(pretty=True) if kind == "rss" else _atom(feed)

    by_topic: dict[str, list[Entry]] = {}
    labels: dict[str, str] = {}
    for entry in every:
        if entry.paper.topic_slug:
            by_topic.setdefault(entry.paper.topic_slug, []).append(entry)
            labels.setdefault(entry.paper.topic_slug, clean(entry.paper.topic_label))
    for slug, topic_entries in sorted(by_topic.items()):
        relative = f"topics/{slug}.xml"
        feed = _generator(base_url, relative, f"{TITLE}: {labels[slug]}", topic_entries[0].edition.created_at)
        for entry in topic_entries[:max_entries]:
            _add_paper(feed, entry)
        site[relative] = _atom(feed)

    digest = _generator(base_url, "digest.xml", f"{TITLE}, one entry a day", updated)
    edition_template = env.get_template("archive/_edition.html")
    for edition in editions[:max_entries]:
        item = digest.add_entry(order="append")
        item.id(edition_id(edition))
        item.guid(edition_id(edition), permalink=False)
        item.title(f"Trending papers, {edition.date:%d %b %Y}: {edition.papers} new")
        item.link(href=f"{base_url}editions/{edition.date.isoformat()}.html")
        item.author({"name": "paperboy"})
        item.content(nh3.clean(edition_template.render(edition=edition, base_url=base_url)), type="html")
        item.published(edition.created_at)
        item.updated(edition.created_at)
    site["digest.xml"] = _atom(digest)

    site["feed.json"] = _json_feed(base_url, papers).encode()

    if pages:
        context = site_context(editions, base_url)
        site["index.html"] = env.get_template("archive/index.html").render(context).encode()
        page = env.get_template("archive/edition.html")
        for edition in editions:
            site[f"editions/{edition.date.isoformat()}.html"] = page.render(context, edition=edition).encode()
    return site


def site_context(editions: Sequence[Edition], base_url: str) -> dict[str, object]:
    """What every archive page knows: the editions and the topics that have a feed."""
    labels: dict[str, str] = {}
    for edition in editions:
        for section in edition.sections:
            labels.setdefault(section.slug, clean(section.label))
        for paper in edition.climbing:
            if paper.topic_slug:
                labels.setdefault(paper.topic_slug, clean(paper.topic_label))
    return {"base_url": base_url, "editions": editions, "topics": sorted(labels.items(), key=lambda kv: kv[1])}


def build(
    editions: Sequence[Edition], base_url: str, out: Path, env: jinja2.Environment, max_entries: int
) -> list[Path]:
    """Write every feed and archive page for ``editions`` (newest first) under ``out``."""
    written: list[Path] = []
    for relative, data in render_site(editions, base_url, env, max_entries).items():
        _write(out / relative, data)
        written.append(out / relative)
    return written


def _json_feed(base_url: str, papers: Sequence[Entry]) -> str:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": TITLE,
        "home_page_url": base_url,
        "feed_url": base_url + "feed.json",
        "language": "en",
        "authors": [{"name": "paperboy"}],
        "items": [
            {
                "id": paper_id(e.paper),
                "url": paper_url(e.paper),
                "title": clean(e.paper.title),
                "content_html": _content(e.paper),
                "date_published": e.edition.created_at.isoformat(),
                "tags": [clean(e.paper.topic_label)] if e.paper.topic_label else [],
            }
            for e in papers
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
