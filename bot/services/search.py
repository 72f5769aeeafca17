"""Search over every paper seen: the CLI's ``paperboy search`` and the web's ``/search``."""

from __future__ import annotations

import datetime as dt

from bot.clock import Clock
from bot.models.search import Found
from bot.pipeline import index_search
from bot.render.searchfeed import search_feed
from bot.store import Database
from bot.store import search as store

PER_PAGE = 20
FEED_ENTRIES = 50
MAX_PAGE = 50
"""A search pages through at most this many pages (a thousand papers): past that, refine it."""


class Search:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database, self._now = database, clock

    def catch_up(self) -> int:
        """Index what the store changed since the last catch-up (papers (re)indexed)."""
        return index_search(self._database)

    def find(self, query: str, page: int = 1, per_page: int = PER_PAGE) -> Found:
        """The ``page``-th page of papers holding every word of ``query``, best first, then newest."""
        page = min(max(page, 1), MAX_PAGE)
        with self._database.read() as session:
            return store.search(session, query[:500], per_page, (page - 1) * per_page)

    def feed(self, query: str, base_url: str) -> tuple[bytes, dt.datetime]:
        """The saved search as Atom (the newest :data:`FEED_ENTRIES` papers that match) and when
        its newest paper was first seen (its Last-Modified)."""
        with self._database.read() as session:
            found = store.search(session, query[:500], FEED_ENTRIES, newest=True)
        updated = max((h.first_seen for h in found.hits), default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        return search_feed(base_url, query, found.hits), updated
