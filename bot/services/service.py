"""The service as the operator runs it: one reconcile (cron's ``run --once``), the daemon, and
the status report with its health verdict."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bot.clock import Clock
from bot.deliver.transport import Transport
from bot.errors import ConfigError
from bot.schedule.daemon import Service, run_once, wait_for_database
from bot.schedule.reconcile import Report
from bot.settings import Settings
from bot.status import Health, health, status
from bot.store import Database, problem
from bot.store.lock import Holder

__all__ = ["Health", "Holder", "Report", "Running", "problem"]



class Running:
    def __init__(self, settings: Settings, database: Callable[[], Database], clock: Clock,
                 transport: Callable[[], Transport]) -> None:
        self._settings, self._database, self._now, self._transport = settings, database, clock, transport

    def once(self, stop: threading.Event, *, on_schedule: bool) -> Report | Holder:
        """One reconcile under the scheduler lock, or who holds it when another process does."""
        return run_once(self._database(), self._settings, stop, on_schedule=on_schedule, clock=self._now,
                        transport=self._transport)

    def forever(self, stop: threading.Event) -> None:
        """The daemon, until ``stop``; it waits for a database that is down rather than failing.
        A configuration error no retry can fix ends it with that error."""
        database = wait_for_database(self._settings, stop)
        if database is None:
            return
        service = Service(database, self._settings, stop, clock=self._now, transport=self._transport)
        service.run()
        fatal: ConfigError | None = service.fatal
        if fatal is not None:
            raise fatal

    def health(self) -> Health:
        """The verdict alone (``/healthz``)."""
        return health(self._database(), self._settings, self._now(), thorough=False)

    def status(self) -> dict[str, Any]:
        """The last ingest, edition, deliveries and feeds, and the health verdict."""
        return status(self._database(), self._settings, self._now())
