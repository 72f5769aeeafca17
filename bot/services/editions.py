"""Editions and what is published from them: build the day's edition, preview it exactly as a
subscriber receives it, write the feeds and the static archive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import jinja2

from bot.clock import Clock
from bot.deliver.preview import preview
from bot.digest import periodic
from bot.models import Edition, Periodic
from bot.pipeline import build_edition, build_feeds, local_date
from bot.settings import Settings
from bot.store import Database
from bot.store import editions as edition_store
from bot.store import topics as topic_store


class Editions:
    def __init__(self, database: Database, settings: Settings, clock: Clock,
                 templates: Callable[[], jinja2.Environment]) -> None:
        self._database, self._settings, self._now, self._templates = database, settings, clock, templates

    def today(self) -> dt.date:
        """Today in ``schedule.timezone``, which names the editions."""
        return local_date(self._settings, self._now())

    def build(self, date: dt.date | None = None) -> tuple[dt.date, Edition | None]:
        """The edition of ``date`` (default: today), built once; None on a day with nothing new."""
        day = date or self.today()
        return day, build_edition(self._database, self._settings, day)

    def preview(self, date: dt.date | None, fmt: str) -> bytes:
        """The HTML part, the text part or the whole message (``eml``) of an edition (default: the
        latest), as a subscriber would receive it."""
        return preview(self._database, self._settings, date, fmt, templates=self._templates())

    def stored(self) -> list[Edition]:
        """Every edition, newest first."""
        with self._database.read() as session:
            return edition_store.all_editions(session)

    def periodic(self, editions: Sequence[Edition]) -> Periodic:
        """The public weekly and monthly digests of these editions (newest first)."""
        return periodic(editions)

    def aliases(self) -> dict[str, str]:
        """The slugs of merged topics and the topics they went into (their feeds redirect there)."""
        with self._database.read() as session:
            return topic_store.aliases(session)

    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever an edition is built, by any process: what a cache of them checks."""
        with self._database.read() as session:
            return edition_store.fingerprint(session)

    def publish(self, out: Path | None = None) -> list[Path]:
        """The feeds and the static archive, to ``public_dir`` or ``out``."""
        return build_feeds(self._database, self._settings, out, templates=self._templates())
