"""The search index kept up with the store: after ingest and the edition, never inside them."""

from __future__ import annotations

from bot.store import Database
from bot.store import search as search_store


def index_search(database: Database) -> int:
    """Index what the store changed since the last time (papers (re)indexed); a read first, so
    that an idle tick takes no write lock."""
    with database.read() as session:
        if not search_store.behind(session):
            return 0
    with database.write() as session:
        return search_store.catch_up(session)
