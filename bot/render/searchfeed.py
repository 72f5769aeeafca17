"""A saved search as a feed: ``/search.xml?q=…``, the newest papers that hold every word of the
query, with the same entry ids as the other feeds (a paper read in one is read in all)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from urllib.parse import quote

from bot.models.search import Hit, unmarked
from bot.render import clean
from bot.render.feeds import TITLE, _atom, _generator


def search_feed(base_url: str, query: str, hits: Sequence[Hit]) -> bytes:
    """Atom, newest first; updated when its newest paper was first seen (so that the bytes, and
    the ETag, change only when a paper does)."""
    updated = max((h.first_seen for h in hits), default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    path = f"search.xml?q={quote(query)}"
    feed = _generator(base_url, path, f"{TITLE}: {clean(query)}", updated)
    feed.subtitle(f"Every paper paperboy sees that holds the words: {clean(query)}")
    for hit in hits:
        item = feed.add_entry(order="append")
        identity = f"urn:paperboy:paper:{quote(hit.key, safe=':')}"
        item.id(identity)
        item.guid(identity, permalink=False)
        item.title(clean(unmarked(hit.title)))
        link = (f"https://huggingface.co/papers/{hit.arxiv_id}" if hit.arxiv_id else
                f"{base_url}editions/{hit.edition.isoformat()}.html" if hit.edition else base_url)
        item.link(href=link)
        names = [clean(a) for a in hit.authors] or ([clean(hit.organization)] if hit.organization else [])
        if names:
            item.author([{"name": name} for name in names])
        snippet = clean(unmarked(hit.snippet))
        if snippet:
            item.summary(snippet)
            item.content(f"<p>{html.escape(snippet)}</p>", type="html")
        item.published(hit.first_seen)
        item.updated(hit.first_seen)
    return _atom(feed, base_url)
