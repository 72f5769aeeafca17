"""The composition root: what one paperboy process is built from, made once from its settings
and handed to the shells (the CLI, the web, the scheduler). The database, the link signer, the
template environment and the clock are made here and nowhere else; the services get them
passed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property

from jinja2 import Environment

from bot.clock import utc_now
from bot.deliver import signer as make_signer
from bot.deliver.transport import Transport, open_transport
from bot.render import environment
from bot.services.delivery import Delivery
from bot.services.editions import Editions
from bot.services.limits import Limits
from bot.services.notices import Notices
from bot.services.papers import Papers
from bot.services.readers import Readers
from bot.services.search import Search
from bot.services.service import Running
from bot.services.subscriptions import Subscriptions
from bot.settings import Settings
from bot.store import Database, open_database
from bot.subscribers import Signer


class Paperboy:
    """Settings in, parts out; each part is made on first use (a command that reads the status
    never loads templates) and once."""

    def __init__(self, settings: Settings, database: Database | None = None,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        if database is not None:
            self.__dict__["database"] = database

    @cached_property
    def database(self) -> Database:
        return open_database(self.settings.database_url)

    @cached_property
    def signer(self) -> Signer:
        """Signs unsubscribe and manage links (PAPERBOY_SECRET_KEY, or a key kept in the database)."""
        return make_signer(self.database, self.settings)

    def transport(self) -> Transport:
        """A new mail connection (SMTP, or the Maildir without ``smtp.host``); each sender thread
        and each notice opens its own."""
        return open_transport(self.settings)

    @cached_property
    def templates(self) -> Environment:
        return environment(self.settings.templates_dir)

    @cached_property
    def running(self) -> Running:
        """The service: reconcile once, the daemon, the status; the database is opened only when
        one of them needs it (the daemon waits for its own)."""
        return Running(self.settings, lambda: self.database, self.clock, self.transport)

    @cached_property
    def subscriptions(self) -> Subscriptions:
        return Subscriptions(self.database, self.settings, lambda: self.signer, self.clock)

    @cached_property
    def notices(self) -> Notices:
        """The worker that sends queued confirmation mails (the web process starts it)."""
        return Notices(self.database, self.settings, self.clock, self.transport)

    @cached_property
    def delivery(self) -> Delivery:
        return Delivery(self.database, self.settings, self.clock, lambda: self.templates, lambda: self.signer,
                        self.transport)

    @cached_property
    def editions(self) -> Editions:
        return Editions(self.database, self.settings, self.clock, lambda: self.templates)

    @cached_property
    def limits(self) -> Limits:
        """Keyed with the secret key, which the web front requires."""
        return Limits(self.database, self.settings.secret_key or "", self.clock)

    @cached_property
    def readers(self) -> Readers:
        """What readers teach paperboy: more or less like this, their library."""
        return Readers(self.database, self.clock)

    @cached_property
    def search(self) -> Search:
        """Full-text search over every paper seen (its index is caught up after ingest)."""
        return Search(self.database, self.clock)

    @cached_property
    def papers(self) -> Papers:
        return Papers(self.database, self.settings, self.clock)

    def close(self) -> None:
        if "database" in self.__dict__:
            self.database.close()
