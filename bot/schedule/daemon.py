"""``paperboy run``: the long-running service.

APScheduler (3.x, UTC, jobs in memory) is only the clock: it calls :func:`reconcile` every
``schedule.interval`` and once more at the moment the next edition is due, one call at a time.
What is due comes from the database, so the clock can be wrong, late or restarted without
harm. Only the holder of the scheduler lock acts; another process stands by and says so, and
takes over when the holder goes away. A database that is down is waited for, at start and
between reconciles.

The daemon never quits quietly: a reconcile that fails (the database went away mid-send, mail
cannot go out) is one line in the log and is tried again after 5 s, 10 s, 20 s... up to
``schedule.interval``. Only a configuration error that no retry can fix stops it, with exit 2.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

from bot.calendar import Calendar
from bot.clock import utc_now
from bot.deliver.lease import worker_name
from bot.deliver.transport import Transport
from bot.errors import ConfigError, MailSetupError, PaperboyError, StoreError
from bot.schedule.reconcile import Report, reconcile
from bot.settings import Settings, show_duration
from bot.store import Database, open_database, problem
from bot.store import deliveries as outbox
from bot.store.lock import HEARTBEAT, Holder, SchedulerLock

log = logging.getLogger("paperboy")
RETRY_DATABASE = 5.0
FIRST_RETRY = 5.0


def wait_for_database(settings: Settings, stop: threading.Event) -> Database | None:
    """Open (and upgrade) the database, trying again while it is unreachable; None if stopped."""
    said = False
    while True:
        try:
            return open_database(settings.database_url)
        except StoreError as exc:
            if not said:
                log.warning("database: %s; waiting for it", exc)
                said = True
        if stop.wait(RETRY_DATABASE):
            return None


class Service:
    """The scheduler's state between ticks: the lock, and whom we last saw holding it."""

    def __init__(self, database: Database, settings: Settings, stop: threading.Event,
                 clock: Callable[[], dt.datetime] = utc_now, transport: Callable[[], Transport] | None = None) -> None:
        self.database, self.settings, self.stop, self.clock, self.transport = database, settings, stop, clock, transport
        self.calendar = Calendar.from_settings(settings)
        self.lock = SchedulerLock(database, worker_name(), clock)
        self._guard = threading.Lock()
        self._standing_by: str | None = None
        self._next_due: dt.datetime | None = None
        self._planned: dt.datetime | None = None
        self._failures = 0
        self._retry_at: dt.datetime | None = None
        self._retry_planned: dt.datetime | None = None
        self._hour_at: dt.datetime | None = None  # the next copy a reader's hour holds back
        self._hour_planned: dt.datetime | None = None
        self.fatal: ConfigError | None = None

    def tick(self) -> Report | None:
        """One reconcile if we hold (or can take) the lock."""
        if self.stop.is_set():
            return None
        try:
            with self._guard:
                other = self.lock.acquire()
        except (StoreError, SQLAlchemyError) as exc:
            log.error("database: %s; trying again in %s", problem(exc), show_duration(self.settings.schedule_interval))
            return None
        if other is not None:
            if self._standing_by != other.holder:
                log.warning("standing by: %s has run the schedule since %s; this process takes over when it stops",
                            other.holder, other.since.isoformat(timespec="seconds"))
                self._standing_by = other.holder
            return None
        if self._standing_by is not None:
            log.info("scheduler: %s runs the schedule now", self.lock.holder)
            self._standing_by = None
        try:
            report = reconcile(self.database, self.settings, on_schedule=True, clock=self.clock, stop=self.stop,
                               transport=self.transport)
        except ConfigError as exc:
            if isinstance(exc, MailSetupError):
                self._failed(f"mail cannot go out: {exc}")
                return None
            log.error("paperboy run: stopping: configuration error: %s", exc)
            self.fatal = exc
            self.stop.set()
            return None
        except PaperboyError as exc:
            self._failed(str(exc))
            return None
        except SQLAlchemyError as exc:
            self._failed(f"database error: {problem(exc)}")
            return None
        except Exception as exc:  # broad on purpose: a bug must not end the service; it is logged and retried
            log.debug("reconcile failed", exc_info=True)
            self._failed(f"internal error: {type(exc).__name__}: {exc}")
            return None
        self._plan_next()
        if report.mail_error:
            self._failed(f"mail cannot go out: {report.mail_error}", logged=True)
        else:
            self._failures = 0
        return report

    def _failed(self, why: str, *, logged: bool = False) -> None:
        """One line, then a retry after 5 s, 10 s, 20 s... up to schedule.interval."""
        wait = min(FIRST_RETRY * 2 ** self._failures, self.settings.schedule_interval.total_seconds())
        self._failures += 1
        if not logged:
            log.error("reconcile: %s; trying again in %s", why, show_duration(dt.timedelta(seconds=wait)))
        else:
            log.warning("reconcile: trying again in %s", show_duration(dt.timedelta(seconds=wait)))
        self._retry_at = utc_now() + dt.timedelta(seconds=wait)

    def _plan_next(self) -> None:
        date, at = self.calendar.next_due(self.clock())
        self._next_due = at
        log.debug("next edition: %s at %s", date, at.isoformat())
        try:
            with self.database.read() as session:
                waiting = outbox.next_due(session)
        except (StoreError, SQLAlchemyError) as exc:  # the interval's tick comes anyway
            log.debug("next delivery: %s", problem(exc))
            return
        self._hour_at = waiting if waiting is not None and waiting > self.clock() else None

    def _wake_when_due(self, scheduler: BackgroundScheduler) -> None:
        """Wake up exactly when the next edition is due, not up to an interval later. Jobs are
        added from the main thread only: APScheduler deadlocks when a job adds one while the
        scheduler shuts down."""
        at = self._next_due
        if at is not None and at != self._planned:
            scheduler.add_job(self.tick, "date", run_date=at, id="due", replace_existing=True)
            self._planned = at
        hour = self._hour_at
        if hour is not None and hour != self._hour_planned:
            scheduler.add_job(self.tick, "date", run_date=hour, id="hour", replace_existing=True)
            self._hour_planned = hour
        retry = self._retry_at
        if retry is not None and retry != self._retry_planned:
            scheduler.add_job(self.tick, "date", run_date=retry, id="retry", replace_existing=True)
            self._retry_planned = retry

    def heartbeat(self) -> None:
        try:
            with self._guard:
                if self.lock.held and not self.lock.heartbeat():
                    log.warning("scheduler: lost the lock; standing by")
        except (StoreError, SQLAlchemyError) as exc:
            log.error("database: %s (scheduler heartbeat)", problem(exc))

    def run(self) -> None:
        """Until ``stop`` is set (SIGTERM, Ctrl-C, a fatal configuration error, kept in
        :attr:`fatal`): then finish or abort the message in flight, give the other claimed
        deliveries back, release the lock and return."""
        scheduler = BackgroundScheduler(
            timezone=dt.UTC, executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_job(self.tick, "interval", seconds=self.settings.schedule_interval.total_seconds(),
                          next_run_time=utc_now(), id="reconcile")
        date, at = self.calendar.next_due(self.clock())
        log.info("paperboy run: reconciling every %s; next edition %s at %s %s (%s)",
                 show_duration(self.settings.schedule_interval), date,
                 self.settings.schedule_time.strftime("%H:%M"), self.settings.schedule_timezone, at.isoformat())
        scheduler.start()
        try:
            while not self.stop.wait(min(HEARTBEAT.total_seconds() / 2, 1.0)):
                self.heartbeat()
                self._wake_when_due(scheduler)
        finally:
            scheduler.shutdown(wait=True)
            with self._guard:
                self.lock.release()
            log.info("paperboy run: stopped")


def run_once(database: Database, settings: Settings, stop: threading.Event, *, on_schedule: bool,
             clock: Callable[[], dt.datetime] = utc_now, transport: Callable[[], Transport] | None = None,
             ) -> Report | Holder:
    """One reconcile under the scheduler lock (kept alive meanwhile); who holds it, if another."""
    lock = SchedulerLock(database, worker_name(), clock)
    other = lock.acquire()
    if other is not None:
        log.warning("standing by: %s has run the schedule since %s; nothing done", other.holder,
                    other.since.isoformat(timespec="seconds"))
        return other
    done = threading.Event()
    guard = threading.Lock()

    def beat() -> None:
        while not done.wait(HEARTBEAT.total_seconds() / 2):
            try:
                with guard:
                    lock.heartbeat()
            except (StoreError, SQLAlchemyError) as exc:
                log.error("database: %s (scheduler heartbeat)", problem(exc))

    heart = threading.Thread(target=beat, name="scheduler-heartbeat", daemon=True)
    heart.start()
    try:
        return reconcile(database, settings, on_schedule=on_schedule, clock=clock, stop=stop, transport=transport)
    finally:
        done.set()
        heart.join()
        with guard:
            lock.release()
