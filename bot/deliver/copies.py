"""Each subscriber's copy of an edition: the edition narrowed to their preferences, rendered
once per distinct set of preferences (most subscribers share one) and kept for the run."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict

import jinja2

from bot.deliver.message import Prepared, prepare
from bot.digest import for_subscriber
from bot.models import Edition, Preferences
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
        self._prepared: OrderedDict[tuple[dt.date, Preferences], Prepared | None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, date: dt.date, preferences: Preferences) -> Prepared | None:
        key = (date, preferences)
        with self._lock:
            if key in self._prepared:
                self._prepared.move_to_end(key)
                return self._prepared[key]
            edition = self._editions.get(date)
            if edition is None:
                with self.database.read() as session:
                    found = edition_store.find_edition(session, date)
                assert found is not None, date
                edition = self._editions[date] = found
            variant = for_subscriber(edition, preferences)
            prepared = None
            if variant is not None:
                parts = render_email(self.env, variant, links_for(self.settings.base_url, edition),
                                     self.settings.digest_email_top_n)
                prepared = prepare(parts, edition=variant, sender=self.settings.mail_from, date=self.sent_at)
            self._prepared[key] = prepared
            if len(self._prepared) > self._capacity:
                self._prepared.popitem(last=False)
            return prepared
