"""The composition root: each part made once and shared by the services, the clock it was given
read everywhere."""

from __future__ import annotations

import datetime as dt

from bot.app import Paperboy
from bot.models.readers import Preferences
from bot.settings import Settings
from bot.store import Database

FROZEN = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def test_parts_are_made_once_and_shared(db: Database, settings: Settings) -> None:
    paperboy = Paperboy(settings, db, clock=lambda: FROZEN)
    assert paperboy.database is db
    assert paperboy.templates is paperboy.templates and paperboy.signer is paperboy.signer
    assert paperboy.subscriptions is paperboy.subscriptions and paperboy.papers is paperboy.papers
    added = paperboy.subscriptions.add("Reader@Example.org", Preferences())
    assert added.subscriber.created_at == FROZEN, "the services read the root's clock"
    assert paperboy.editions.today() == FROZEN.date()
    assert [s.address for s in paperboy.subscriptions.each()] == ["Reader@example.org"]


def test_a_root_without_a_database_opens_its_own_on_first_use(settings: Settings) -> None:
    paperboy = Paperboy(settings)
    assert "database" not in vars(paperboy), "nothing is opened before it is needed"
    assert paperboy.running.status()["health"]["verdict"] in ("ok", "empty", "stale", "failing")
    paperboy.close()
