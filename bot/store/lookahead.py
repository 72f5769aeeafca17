"""PostgreSQL's lookahead: the statement that records a sender's last message and takes up its
next claim, sent without waiting for its answer (see :class:`Lookahead`). The statements are the
outbox's own (:mod:`bot.store.deliveries`)."""

from __future__ import annotations

import datetime as dt
import re
from select import POLLIN, poll
from typing import Any

from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from sqlalchemy import ClauseElement, Connection

from bot.errors import StoreUnavailable
from bot.store.deliveries import MARK_SENT, RECORD_THEN_TAKE_UP, TAKE_UP, compiled


class Lookahead:
    """PostgreSQL: the statement that records a sender's last message as sent and takes up its
    next claim, sent to the server without waiting for its answer, which is read later: the
    sender's SMTP exchange goes on meanwhile. It runs on libpq's own asynchronous calls
    (psycopg's ``pgconn``), prepared once per connection, because psycopg's execute waits for the
    answer, and a helper thread to wait in its place cost more of the interpreter's lock than the
    round trip it hid. One statement in flight at a time; ``connection`` is in autocommit mode,
    so each statement commits when it ends."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._pg = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
        self._waiting = False

    def send(self, sent: tuple[int, str] | None, now: dt.datetime, following: tuple[int, str] | None,
             until: dt.datetime) -> None:
        """Record ``sent`` and take up ``following`` (each a delivery and its claim token, each
        optional); :meth:`result` reads the take-up's answer."""
        assert not self._waiting, "one statement at a time"
        values: dict[str, Any] = {"now": now, "until": until}
        if following is not None:
            values.update(delivery=following[0], token=following[1])
        if sent is not None:
            values.update({"sent": sent[0], "sent_token": sent[1]} if following is not None
                          else {"delivery": sent[0], "token": sent[1]})
        statement = (RECORD_THEN_TAKE_UP if sent is not None and following is not None
                     else TAKE_UP if following is not None else MARK_SENT if sent is not None else None)
        if statement is None:
            return
        name, order, fixed = self._prepared(statement)
        given = {**fixed, **values}
        try:
            self._pg.send_query_prepared(name, [_text(given[key]) for key in order])
        except self.connection.dialect.loaded_dbapi.Error as exc:
            raise self._unavailable(exc) from exc
        self._waiting = True

    def result(self) -> str | None:
        """Wait for the statement sent (without holding the interpreter's lock) and return the
        status its take-up read: None when it took nothing up, or the claim is no longer ours."""
        if not self._waiting:
            return None
        self._waiting = False
        pg = self._pg
        try:
            readable = poll()  # not select(), which fails on descriptors past 1024
            readable.register(pg.socket, POLLIN)
            answers = []
            while True:
                pg.consume_input()
                if pg.is_busy():  # get_result would wait, holding the interpreter's lock
                    readable.poll()
                    continue
                answer = pg.get_result()
                if answer is None:
                    break
                answers.append(answer)
        except self.connection.dialect.loaded_dbapi.Error as exc:
            raise self._unavailable(exc) from exc
        # The rows come back before the statement's implicit transaction commits (at the Sync
        # that ends it): only the end of all its results, in an idle connection, says it did.
        failed = next((a for a in answers if a.status not in (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK)), None)
        if failed is not None:
            raise self._unavailable(failed.error_message.decode(errors="replace"))
        if not answers or pg.transaction_status != TransactionStatus.IDLE:
            raise self._unavailable("no answer")
        answer = answers[0]
        if answer.status != ExecStatus.TUPLES_OK or not answer.ntuples:
            return None
        value = answer.get_value(0, 0)
        return None if value is None else value.decode()

    def _prepared(self, statement: ClauseElement) -> tuple[bytes, tuple[str, ...], dict[str, Any]]:
        """The statement's name, prepared on this connection the first time, the order of its
        parameters and the values it fixes itself."""
        name, sql, order, fixed = _numbered(self.connection.dialect, statement)
        prepared = self.connection.info.setdefault("paperboy_prepared", set())
        if name not in prepared:
            answer = self._pg.prepare(name, sql)
            if answer.status != ExecStatus.COMMAND_OK:
                raise self._unavailable(answer.error_message.decode(errors="replace"))
            prepared.add(name)
        return name, order, fixed

    def _unavailable(self, error: object) -> StoreUnavailable:
        if self._pg.status != ConnStatus.OK:
            self.connection.invalidate()  # the pool would try to reset it, and log a traceback
        return StoreUnavailable(f"database error: {(str(error).strip() or 'connection lost').splitlines()[0]}")


def _text(value: object) -> bytes | None:
    """A parameter in PostgreSQL's text format: the statements here take ids, tokens, statuses
    and aware datetimes."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat().encode()
    return str(value).encode()


_NUMBERED: dict[int, tuple[bytes, bytes, tuple[str, ...], dict[str, Any]]] = {}


def _numbered(dialect: Any, statement: ClauseElement) -> tuple[bytes, bytes, tuple[str, ...], dict[str, Any]]:
    """A prebuilt statement for libpq, which numbers its parameters ($1, $2…): a name to prepare
    it under, its text, its parameters' order and the values it fixes itself."""
    found = _NUMBERED.get(id(statement))
    if found is None:
        sql, _, fixed = compiled(dialect, statement)
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        numbered = re.sub(r"%\((\w+)\)s", number, sql).replace("%%", "%")
        found = _NUMBERED[id(statement)] = (f"paperboy_{len(_NUMBERED)}".encode(), numbered.encode(),
                                            tuple(names), fixed)
    return found
