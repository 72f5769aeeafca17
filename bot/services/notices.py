"""The notices worker: sends the queued one-off mails (confirmation links) in a thread of the
web process, woken by each request that queued one, and on demand (the daemon's reconcile,
tests). A request never waits for a mail server."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from bot.deliver.notice import NoticeTally, send_due
from bot.deliver.transport import Transport
from bot.errors import PaperboyError
from bot.settings import Settings
from bot.store import Database, problem

log = logging.getLogger("paperboy")
RECHECK_SECONDS = 60.0  # retries fall due without a request to wake the worker
GATHER_SECONDS = 0.2  # after a wake, the notices of the requests that follow go in the same batch


class Notices:
    def __init__(self, database: Database, settings: Settings, clock: Callable[[], dt.datetime],
                 transport: Callable[[], Transport]) -> None:
        self._database, self._settings, self._clock, self._transport = database, settings, clock, transport
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sending = threading.Lock()
        self._thread: threading.Thread | None = None

    def send_due(self) -> NoticeTally:
        """Send what is due now, in the calling thread; when this returns, nothing that was due
        when it began is waiting for this process's worker (they take turns)."""
        with self._sending:
            return send_due(self._database, self._settings, self._transport, self._clock)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="notices", daemon=True)
            self._thread.start()
            self._wake.set()  # what an earlier process left queued

    def poke(self) -> None:
        """A notice was queued: send it now."""
        self._wake.set()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(RECHECK_SECONDS)
            if self._stop.wait(GATHER_SECONDS):
                return
            self._wake.clear()
            try:
                self.send_due()
            except (PaperboyError, OSError) as exc:
                log.error("notices: %s", problem(exc))
