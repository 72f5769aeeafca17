"""Delivery, as the operator drives it: send an edition to everyone (each exactly once), retry
what failed, look at the outbox, and check that mail can go out at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import islice

import jinja2

from bot.clock import Clock
from bot.deliver import retry, send_edition
from bot.deliver.check import Step, check_mail
from bot.deliver.outbox import Progress
from bot.deliver.transport import Transport
from bot.errors import PaperboyError
from bot.models.channels import ChannelPost
from bot.models.readers import Delivery as DeliveryRecord
from bot.models.readers import SendSummary
from bot.settings import Settings
from bot.store import Database
from bot.store import channels as channel_outbox
from bot.store import deliveries as outbox
from bot.subscribers import Signer, normalise_address


class Delivery:
    def __init__(self, database: Database, settings: Settings, clock: Clock,
                 templates: Callable[[], jinja2.Environment], signer: Callable[[], Signer],
                 transport: Callable[[], Transport]) -> None:
        self._database, self._settings, self._now = database, settings, clock
        self._templates, self._signer, self._transport = templates, signer, transport

    def send(self, date: dt.date | None = None, *, dry_run: bool = False,
             progress: Progress | None = None) -> SendSummary:
        """Queue an edition (default: the latest) for every active subscriber and every channel,
        and deliver it."""
        return send_edition(self._database, self._settings, date, dry_run=dry_run, progress=progress,
                            clock=self._now, templates=self._templates(), link_signer=self._signer(),
                            transport=self._transport)

    def retry(self, date: dt.date | None = None, *, progress: Progress | None = None) -> SendSummary:
        """Failed deliveries to subscribers still active, and those waiting for a retry, now."""
        return retry(self._database, self._settings, date, progress=progress, clock=self._now,
                     templates=self._templates(), link_signer=self._signer(), transport=self._transport)

    def outbox(self, *, status: str | None = None, date: dt.date | None = None,
               limit: int = 100) -> list[DeliveryRecord]:
        """Deliveries, newest edition first; a date without an edition is an error, not an empty list."""
        with self._database.read() as session:
            edition = outbox.edition_id(session, date) if date else None
            if date and edition is None:
                raise PaperboyError(f"no edition for {date}")
            return list(islice(outbox.iter_deliveries(session, status, edition), limit))

    def posts(self, *, status: str | None = None, date: dt.date | None = None, channel: str | None = None,
              limit: int = 100) -> list[ChannelPost]:
        """The channels' parts, newest edition first, each channel's in order."""
        with self._database.read() as session:
            edition = outbox.edition_id(session, date) if date else None
            if date and edition is None:
                raise PaperboyError(f"no edition for {date}")
            return list(islice(channel_outbox.iter_posts(session, status, edition, channel), limit))

    def check(self, to: str | None = None) -> list[Step]:
        """Connect, check TLS and login, and send a test message to ``to`` when given."""
        return check_mail(self._settings, normalise_address(to) if to else None)
