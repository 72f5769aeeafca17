"""Papers and topics: ingest (files, or every configured source), what the store has seen, and how
papers group into topics. The CLI's ``ingest``, ``papers`` and ``topics`` commands call these."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.clock import Clock
from bot.models import Grouping, IngestSummary, StoredPaper, TopicDoc, TopicHistory
from bot.pipeline import group_stored, grouping_options, ingest, ingest_sources
from bot.pipeline.ingest import Progress
from bot.settings import Settings
from bot.sources.listing import read_listing
from bot.store import Database
from bot.store import papers as paper_store
from bot.store import topics as topic_store


class Papers:
    def __init__(self, database: Database, settings: Settings, clock: Clock) -> None:
        self._database, self._settings, self._now = database, settings, clock

    def ingest(self, paths: list[Path], *, dump_date: dt.date | None = None,
               progress: Progress | None = None) -> IngestSummary:
        """Dump files and directories, each file in its own transaction."""
        return ingest(self._database, self._settings, paths, dump_date=dump_date, now=self._now,
                      progress=progress)

    def ingest_sources(self, *, progress: Progress | None = None) -> IngestSummary:
        """The inbox (made when missing) and every ``[[sources]]`` entry."""
        return ingest_sources(self._database, self._settings, now=self._now, progress=progress)

    def seen(self, *, new_since: dt.date | None = None, limit: int | None = None) -> list[StoredPaper]:
        """Newest first."""
        with self._database.read() as session:
            return paper_store.list_papers(session, new_since=new_since, limit=limit)

    def topics(self) -> list[TopicHistory]:
        """Every persisted topic (shown, candidate or retired) with its last eight weeks."""
        with self._database.read() as session:
            return topic_store.list_topics(session, self._now().date())

    def topic(self, slug: str) -> TopicHistory | None:
        """One persisted topic with its last twelve weeks and latest papers."""
        with self._database.read() as session:
            return topic_store.topic_history(session, slug, self._now().date())

    def group_stored(self, *, new_only: bool, save: bool) -> tuple[Grouping, list[TopicDoc]]:
        """The stored papers (only those no edition carried yet, or all) grouped as an edition would
        group them; ``save`` persists the topics so later days keep their names."""
        return group_stored(self._database, self._settings, new_only=new_only, save=save)

    def group_listing(self, path: Path) -> tuple[Grouping, list[TopicDoc]]:
        """The papers of a JSON Lines listing, grouped with the configured rules; nothing is stored."""
        from bot.topics import group_papers  # scikit-learn loads in about 2 s; listing papers needs none of it

        docs = read_listing(path)
        grouping = group_papers(docs, rules=self._settings.topics, options=grouping_options(self._settings))
        return grouping, docs
