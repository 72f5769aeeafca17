"""Each subscriber's copy of an edition: the edition narrowed to their preferences, rendered
once per distinct set of preferences (most subscribers share one) and kept for the run."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import replace

import jinja2

from bot.deliver.message import Prepared, prepare
from bot.digest import best_of, for_subscriber, gather
from bot.digest.ranking import EditionIndex, index_of
from bot.models import Edition
from bot.models.readers import Preferences
from bot.render.email import links_for, render_email
from bot.settings import Settings
from bot.store import Database
from bot.store import editions as edition_store


class Copies:
    """Each subscriber's copy of an edition, rendered once per distinct set of preferences."""

    def __init__(self, database: Database, settings: Settings, env: jinja2.Environment, sent_at: dt.datetime,
                 capacity: int = 256) -> None:
        self.database, self.settings, self.env, self.sent_at = database, settings, env, sent_at
        self._editions: dict[dt.date, Edition] = {}
        self._prepared: OrderedDict[tuple[dt.date, Preferences, dt.date | None, frozenset[dt.date]],
                                    Prepared | None] = OrderedDict()
        self._periods: dict[tuple[dt.date, dt.date], list[dt.date]] = {}
        self._gathered: dict[tuple[dt.date, dt.date, frozenset[dt.date]], Edition | None] = {}
        self._indexes: dict[tuple[dt.date, dt.date | None, frozenset[dt.date]], EditionIndex] = {}
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, date: dt.date, preferences: Preferences, since: dt.date | None = None,
            skip: frozenset[dt.date] = frozenset()) -> Prepared | None:
        """The copy of the edition of ``date``; with ``since``, a weekly or monthly reader's: the
        best of the editions from that date on, less the dates in ``skip`` (mailed to them
        already), narrowed to their preferences."""
        key = (date, replace(preferences, send_at=None, time_zone=None, cadence="daily", weekday=0), since, skip)
        with self._lock:
            if key in self._prepared:
                self._prepared.move_to_end(key)
                return self._prepared[key]
            edition = self._edition(date)
            variant: Edition | None
            if since is None:
                variant = for_subscriber(edition, preferences, self._index(edition, (date, None, skip), preferences))
            else:
                if (date, since, skip) not in self._gathered:
                    period = [self._edition(d) for d in self._dates(since, date)]
                    self._gathered[(date, since, skip)] = gather(period, since, skip)
                gathered = self._gathered[(date, since, skip)]
                variant = gathered and for_subscriber(gathered, preferences,
                                                      self._index(gathered, (date, since, skip), preferences))
                variant = variant and best_of(variant)
            prepared = None
            if variant is not None:
                parts = render_email(self.env, variant, links_for(self.settings.base_url, edition),
                                     self.settings.digest_email_top_n)
                prepared = prepare(parts, edition=variant, sender=self.settings.mail_from, date=self.sent_at)
            self._prepared[key] = prepared
            if len(self._prepared) > self._capacity:
                self._prepared.popitem(last=False)
            return prepared

    def _index(self, edition: Edition, key: tuple[dt.date, dt.date | None, frozenset[dt.date]],
               preferences: Preferences) -> EditionIndex | None:
        """The edition's ranking index, made once for all the readers ranked on it (none for
        readers who rated nothing)."""
        if not preferences.profile:
            return None
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = index_of(edition)
        return index

    def _edition(self, date: dt.date) -> Edition:
        edition = self._editions.get(date)
        if edition is None:
            with self.database.read() as session:
                found = edition_store.find_edition(session, date)
            assert found is not None, date
            edition = self._editions[date] = found
        return edition

    def _dates(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """The dates that have an edition from ``first`` to ``last`` (read once per period)."""
        found = self._periods.get((first, last))
        if found is None:
            with self.database.read() as session:
                found = self._periods[(first, last)] = edition_store.edition_dates(session, first, last)
        return found
