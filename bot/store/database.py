"""Opening the database: the engine, SQLite's pragmas, and the schema upgrade on start.

SQLite gets WAL (readers never block the writer), a busy timeout, foreign keys, and write
transactions that start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
writes fails at once when another process wrote in between, busy timeout or not. The threads of
one process also take turns on a lock of their own before that ``BEGIN``: SQLite's busy handler
waits for the file lock by sleeping (1, 2, 5, … 100 ms), so four senders contending for it
spent most of their time asleep; a Python lock hands over at once. Other processes still meet
the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, FromClause, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import StoreConflict, StoreError, StoreRefused, StoreUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
_IMMEDIATE = "paperboy_immediate"
BUSY_SECONDS = 30


def _to_wal(cursor: Any) -> None:
    """Switch the file to WAL. Switching a new file takes an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, when another process opening the
    same new file holds it at that moment (two processes starting on a fresh database failed
    about one time in ten): try again until the other has switched it, within the busy timeout."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        _to_wal(cursor)
        for pragma in ("synchronous=NORMAL", "foreign_keys=ON", "cache_size=-65536"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(connection: Any = None) -> Config:
    """Alembic's configuration for our migrations, bound to ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class Database:
    """The engine and its sessions; :meth:`write` and :meth:`read` each own one transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(f"database_url: cannot parse {url!r}") from None
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            # Connections beyond pool_size are closed when given back: with SQLAlchemy's default
            # of 5, a web process's worker threads opened and closed a server connection (a
            # fork on the server) for most requests once more than five were in flight.
            options.update(pool_pre_ping=True, pool_size=20, max_overflow=20)
        try:
            self.engine = create_engine(parsed, **options)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"database_url: {exc}") from None
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = threading.RLock() if self.dialect == "sqlite" else None

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; harmless when it is there already.

        Whether it is there is read first, without the write lock: a second process starting
        while another writes big batches would otherwise wait its whole busy timeout for a lock
        it does not need."""
        try:
            if self._at_head():
                return
            with self.engine.connect() as connection:
                connection = connection.execution_options(**{_IMMEDIATE: True})
                if self.dialect == "postgresql":
                    with connection.begin():
                        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7071)")
                        command.upgrade(alembic_config(connection), "head")
                else:
                    # BEGIN IMMEDIATE first, then look again: another process may have
                    # migrated while this one waited for the write lock
                    with connection.begin():
                        if not self._at_head(connection):
                            command.upgrade(alembic_config(connection), "head")
        except OperationalError as exc:
            raise StoreError(f"cannot open the database {self.display_url}: {problem(exc)}") from None

    def _at_head(self, connection: Connection | None = None) -> bool:
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        if connection is not None:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads
        with self.engine.connect() as own:
            return set(MigrationContext.configure(own).get_current_heads()) == heads

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self, connection: Connection | None = None, *, durable: bool = True) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on any error; on
        ``connection`` when given (a worker that holds one saves the pool's checkout and ping).
        A driver error leaves as one of paperboy's (:func:`translated`).

        Not ``durable``, PostgreSQL acknowledges the commit before its WAL reaches the disk
        (``synchronous_commit = off`` for this transaction): still atomic and consistent, but a
        server crash can forget the last fraction of a second of such commits. For what a
        client can simply ask again (a subscribe request): a durable commit waits for an fsync,
        which bounded the whole web front to about a hundred of them a second. SQLite's commits
        (WAL, ``synchronous=NORMAL``) never wait for one."""
        try:
            with (self._turn(), nullcontext(connection) if connection is not None else self.engine.connect() as held):
                held.execution_options(**{_IMMEDIATE: True})
                with self._sessions(bind=held) as session, session.begin():
                    if not durable and self.dialect == "postgresql":
                        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                    yield session
        except DBAPIError as exc:
            raise translated(exc) from exc

    @contextmanager
    def begin(self, connection: Connection) -> Iterator[Connection]:
        """A write transaction straight on a held connection, no Session: the outbox's path for
        each message, where the Session's bookkeeping cost more than its two statements."""
        try:
            with self._turn():
                connection.execution_options(**{_IMMEDIATE: True})
                with connection.begin():
                    yield connection
        except DBAPIError as exc:
            raise translated(exc) from exc

    def turn(self) -> AbstractContextManager[object]:
        """This process's turn to write (SQLite); as long as the busy timeout would have waited."""
        return self._turn()

    def _turn(self) -> AbstractContextManager[object]:
        if self._writer is None:
            return nullcontext()
        return _Turn(self._writer)

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with self._sessions() as session, session.begin():
                yield session
        except DBAPIError as exc:
            raise translated(exc) from exc

    def close(self) -> None:
        self.engine.dispose()


class _Turn:
    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        if not self.lock.acquire(timeout=BUSY_SECONDS):
            raise StoreUnavailable("database error: database is locked (another thread of this process kept writing)")

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def conflict_insert(session: Session, table: FromClause) -> Any:
    """An INSERT that takes ``ON CONFLICT`` clauses, in this session's dialect (both have them;
    SQLAlchemy's generic insert does not)."""
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def upsert(session: Session, table: FromClause, keys: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert the row, or update ``values`` on the row that has these ``keys`` already."""
    statement = conflict_insert(session, table).values(**keys, **values)
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=values))


def translated(exc: DBAPIError) -> StoreError:
    """The driver's error as paperboy's: a refused duplicate is a conflict (the other writer's row
    stands), a connection or lock problem is unavailability, anything else a refused value."""
    line = f"database error: {problem(exc)}"
    if isinstance(exc, IntegrityError):
        return StoreConflict(line)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return StoreUnavailable(line)
    return StoreRefused(line)


def problem(exc: BaseException) -> str:
    """A database error as one line for the operator: the driver's own first line, without the
    statement and parameters SQLAlchemy appends."""
    if isinstance(exc, StoreError):
        return str(exc).removeprefix("database error: ")
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def open_database(url: str, *, upgrade: bool = True, echo: bool = False) -> Database:
    """Connect to ``url`` and, by default, upgrade its schema, as every command does on start."""
    database = Database(url, echo=echo)
    if upgrade:
        database.upgrade()
    return database
