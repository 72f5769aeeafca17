"""One scheduler per database.

PostgreSQL: a session-level advisory lock on a connection held for as long as the scheduler
runs; the server drops it the moment that process dies, kill -9 included. The key is derived
from the schema, so installations sharing a database in separate schemas do not block each
other. SQLite has no such lock, so a row is the lock: taken when absent or expired, kept alive by
:meth:`SchedulerLock.heartbeat`, and free again ``LEASE`` after a holder dies without
releasing it. On both, the row says who holds the lock, for a scheduler standing by and for
``paperboy status``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from bot.errors import StoreConflict, StoreError
from bot.store.database import Database, problem
from bot.store.schema import SchedulerLockRow

log = logging.getLogger("paperboy")

LOCK = "scheduler"
LEASE = dt.timedelta(seconds=60)
HEARTBEAT = LEASE / 3

ADVISORY_KEY = "hashtextextended('paperboy-scheduler:' || current_schema(), 0)"

table = cast(Table, SchedulerLockRow.__table__)


@dataclass(frozen=True, slots=True)
class Holder:
    holder: str
    since: dt.datetime
    expires_at: dt.datetime


def current_holder(database: Database, now: dt.datetime) -> Holder | None:
    """Who holds the lock, if anyone (a row whose lease ran out holds nothing)."""
    with database.read() as session:
        row = session.execute(select(table.c.holder, table.c.acquired_at, table.c.expires_at)
                              .where(table.c.name == LOCK)).first()
    if row is None or row.expires_at < now:
        return None
    return Holder(*row)


class SchedulerLock:
    def __init__(self, database: Database, holder: str, clock: Callable[[], dt.datetime]) -> None:
        self.database, self.holder, self.clock = database, holder, clock
        self._connection: Connection | None = None
        self.held = False
        self._beat: dt.datetime | None = None

    def acquire(self) -> Holder | None:
        """Take the lock (or keep it); None on success, else who holds it."""
        now = self.clock()
        if self.database.dialect == "postgresql":
            if not self._advisory():
                self.held = False
                return current_holder(self.database, now) or Holder("another process", now, now)
            self._write_row(now, force=True)
            self.held = True
            return None
        other = self._write_row(now, force=False)
        self.held = other is None
        return other

    def _advisory(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.exec_driver_sql("SELECT 1")
                return True
            except DBAPIError:  # the server went away, and the lock with it
                self._connection.invalidate()
                self._connection = None
        connection = self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = connection.execute(text(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})")).scalar()
        if got:
            self._connection = connection
            return True
        connection.close()
        return False

    def _write_row(self, now: dt.datetime, *, force: bool) -> Holder | None:
        expires = now + LEASE
        try:
            with self.database.write() as session:
                row = session.execute(select(table.c.holder, table.c.acquired_at, table.c.expires_at)
                                      .where(table.c.name == LOCK)).first()
                if row is None:
                    session.execute(table.insert().values(name=LOCK, holder=self.holder, acquired_at=now,
                                                          expires_at=expires))
                elif row.holder == self.holder:
                    session.execute(update(table).where(table.c.name == LOCK).values(expires_at=expires))
                elif force or row.expires_at < now:
                    session.execute(update(table).where(table.c.name == LOCK)
                                    .values(holder=self.holder, acquired_at=now, expires_at=expires))
                else:
                    return Holder(*row)
        except StoreConflict:  # another scheduler inserted the row first
            return current_holder(self.database, now) or Holder("another process", now, now)
        self._beat = now
        return None

    def heartbeat(self) -> bool:
        """Keep the lock alive (call at least every ``HEARTBEAT``); False when it was lost."""
        if not self.held:
            return False
        now = self.clock()
        if self._beat is not None and now - self._beat < HEARTBEAT:
            return True
        if self.database.dialect == "postgresql":
            self.held = self._advisory()
            if self.held:
                self._write_row(now, force=True)
            return self.held
        with self.database.write() as session:
            mine = update(table).where(table.c.name == LOCK, table.c.holder == self.holder)
            renewed = session.connection().execute(mine.values(expires_at=now + LEASE)).rowcount
        self.held = bool(renewed)
        self._beat = now
        return self.held

    def release(self) -> None:
        if self.held:
            try:
                with self.database.write() as session:
                    session.execute(delete(table).where(table.c.name == LOCK, table.c.holder == self.holder))
            except StoreError as exc:
                log.warning("scheduler lock: not released (%s); it expires by itself within %s",
                            problem(exc), LEASE)
        self._drop_connection()
        self.held = False

    def _drop_connection(self) -> None:
        """Unlock before the connection goes back to the pool, where a session lock would outlive us."""
        if self._connection is not None:
            try:
                self._connection.execute(text(f"SELECT pg_advisory_unlock({ADVISORY_KEY})"))
                self._connection.close()
            except DBAPIError:
                self._connection.invalidate()
            self._connection = None
