"""The outbox: one delivery row per (edition, subscriber), claimed, sent and recorded.

Exactly once rests on three things in the schema and these statements. Queuing
(:mod:`bot.store.queue`) is one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` over the active
subscribers, so re-queuing adds nobody twice. Claiming moves a due row to ``sending`` under a
lease: PostgreSQL locks candidate rows with ``FOR UPDATE SKIP LOCKED`` so concurrent senders
never pick the same one; SQLite, where SQLAlchemy silently drops SKIP LOCKED, needs nothing
more: its write transactions begin ``IMMEDIATE``, so no other writer runs between choosing a
row and claiming it.

Each claim carries a fresh token, and every later write of its sender (renewing the lease,
recording the outcome, giving it back) is fenced by it: a sender whose lease ran out and was
taken over changes nothing and sends nothing. A row is marked ``sent`` only after the server
accepted the message; a sender killed before that leaves a ``sending`` row whose lease expires
(at once, when it died on this host) and whose stored Message-ID makes the resend recognisably
the same message. A message whose fate is unknown (the server had it all but its reply never
came) is ``uncertain``: resent once, after a delay, and never again.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import (
    ClauseElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from bot.errors import StoreUnavailable
from bot.models.readers import Delivery, Preferences
from bot.store.database import Database
from bot.store.schema import DeliveryRow, EditionRow, SubscriberRow, UTCDateTime, sqlite_text
from bot.store.subscribers import PREFERENCE_COLUMNS, preferences_of

deliveries = typing_cast(Table, DeliveryRow.__table__)
subscribers = typing_cast(Table, SubscriberRow.__table__)
editions = typing_cast(Table, EditionRow.__table__)


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery this worker holds until ``lease_until``: everything needed to send it."""

    id: int
    edition_date: dt.date
    message_id: str
    attempts: int
    address: str
    token: str
    preferences: Preferences
    hard_failures: int = 0
    claim: str = ""  # the claim's token, which fences every later write
    uncertain: int = 0
    status: str = "active"  # the subscriber's, read with the claim
    since: dt.date | None = None  # a weekly or monthly copy: the first date it gathers


def edition_id(session: Session, date: dt.date) -> int | None:
    return session.execute(select(editions.c.id).where(editions.c.date == date)).scalar()


EXPIRED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # a lease ended on purpose (its sender is dead)
MAX_UNCERTAIN = 2
"""An uncertain message is resent once; after a second uncertain outcome it stays uncertain."""


def _candidates(now: dt.datetime, limit: int, edition: int | None) -> list[Select[tuple[int]]]:
    """Claims a dead sender left (lease expired), then due deliveries, oldest first. Each is an
    index range scan (status, next_attempt_at, id): an OR of both would read the whole outbox
    on every claim."""
    scope = [deliveries.c.edition_id == edition] if edition is not None else []
    expired = (select(deliveries.c.id)
               .where(deliveries.c.status == "sending", deliveries.c.lease_until < now, *scope).limit(limit))
    due = (select(deliveries.c.id)
           .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now, *scope)
           .order_by(deliveries.c.next_attempt_at, deliveries.c.id).limit(limit))
    resend = (select(deliveries.c.id)
              .where(deliveries.c.status == "uncertain", deliveries.c.next_attempt_at <= now,
                     deliveries.c.uncertain < MAX_UNCERTAIN, *scope).limit(limit))
    return [expired, due, resend]


def claim(
    connection: Connection, worker: str, now: dt.datetime, lease: dt.timedelta, limit: int,
    edition: int | None = None, token: str | None = None,
) -> list[Claim]:
    """Take up to ``limit`` due deliveries for ``worker`` until ``now + lease``, under one token
    (``token``, or a new one). One UPDATE per kind of candidate: on PostgreSQL the candidates are
    locked with SKIP LOCKED, on SQLite the write transaction (``BEGIN IMMEDIATE``) already
    excludes every other writer."""
    token = token or secrets.token_hex(16)
    values = {"status": "sending", "worker": worker, "lease_until": now + lease,
              "attempts": deliveries.c.attempts + 1, "claim_token": token}
    postgres = connection.dialect.name == "postgresql"
    taken: list[int] = []
    for candidates in _candidates(now, limit, edition):
        if len(taken) >= limit:
            break
        candidates = candidates.limit(limit - len(taken))
        if postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        taken += connection.execute(
            update(deliveries).where(deliveries.c.id.in_(candidates.scalar_subquery()))
            .values(**values).returning(deliveries.c.id)
        ).scalars().all()
    if not taken:
        return []
    rows = connection.execute(
        select(deliveries.c.id, editions.c.date, deliveries.c.message_id, deliveries.c.attempts,
               subscribers.c.address, subscribers.c.token, *PREFERENCE_COLUMNS, deliveries.c.since,
               subscribers.c.hard_failures, deliveries.c.uncertain, subscribers.c.status)
        .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        .join(editions, editions.c.id == deliveries.c.edition_id)
        .where(deliveries.c.id.in_(taken)).order_by(deliveries.c.id)
    )
    return [Claim(r.id, r.date, r.message_id, r.attempts, r.address, r.token, preferences_of(r),
                  r.hard_failures, token, r.uncertain, r.status, r.since)
            for r in rows]


def _mine(delivery: object, token: object):  # type: ignore[no-untyped-def]
    return and_(deliveries.c.id == delivery, deliveries.c.claim_token == token, deliveries.c.status == "sending")


# The statements of every message, built once: building and hashing a statement cost more than
# executing it (SQLAlchemy then finds the compiled form in its cache by the memoised key).
_SENT_VALUES = {"status": "sent", "sent_at": bindparam("now", type_=UTCDateTime()), "lease_until": None,
                "last_error": None}
MARK_SENT = update(deliveries).where(_mine(bindparam("delivery"), bindparam("token"))).values(_SENT_VALUES)
TAKE_UP = (update(deliveries).where(_mine(bindparam("delivery"), bindparam("token")))
            .values(lease_until=bindparam("until", type_=UTCDateTime()))
            .returning(select(subscribers.c.status).where(subscribers.c.id == deliveries.c.subscriber_id)
                       .scalar_subquery()))
RECORD_THEN_TAKE_UP = TAKE_UP.add_cte(
    update(deliveries).where(_mine(bindparam("sent"), bindparam("sent_token"))).values(_SENT_VALUES).cte("recorded"))


def take_up(connection: Connection, delivery: int, token: str, until: dt.datetime) -> str | None:
    """Read just before sending: renews this claim's lease to ``until`` (so the message has a
    whole lease ahead of it) and returns the subscriber's status, or None when the claim is no
    longer ours (its lease ran out and another sender took it: send nothing)."""
    return connection.execute(TAKE_UP, {"delivery": delivery, "token": token, "until": until}).scalar()


_COMPILED: dict[tuple[str, int], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def compiled(dialect: Any, statement: ClauseElement) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A prebuilt statement compiled once per dialect: its text, its parameters' order (SQLite's
    are positional) and the values it fixes itself (the statuses it compares with)."""
    key = (dialect.name, id(statement))
    found = _COMPILED.get(key)
    if found is None:
        compiled = statement.compile(dialect=dialect)
        order = tuple(getattr(compiled, "positiontup", None) or ())
        found = _COMPILED[key] = (str(compiled), order, dict(compiled.params))
    return found


def record_then_take_up_sqlite(database: Database, connection: Connection, sent: tuple[int, str] | None,
                               now: dt.datetime, delivery: int, token: str, until: dt.datetime) -> str | None:
    """SQLite's fast path: :func:`mark_sent` for ``sent`` and :func:`take_up` of the next, in one
    ``BEGIN IMMEDIATE`` transaction run straight on the driver, inside this process's turn to
    write. The four sender threads take turns for every message, so the time spent in
    SQLAlchemy's execution path while holding the turn was time every other sender waited."""
    values = {"now": sqlite_text(now), "until": sqlite_text(until), "delivery": delivery, "token": token}
    driver = connection.connection.driver_connection
    with database.turn():
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("BEGIN IMMEDIATE")
            if sent is not None:
                sql, order, fixed = compiled(connection.dialect, MARK_SENT)
                given = {**fixed, **values, "delivery": sent[0], "token": sent[1]}
                cursor.execute(sql, [given[name] for name in order])
            sql, order, fixed = compiled(connection.dialect, TAKE_UP)
            given = {**fixed, **values}
            row = cursor.execute(sql, [given[name] for name in order]).fetchone()
            cursor.execute("COMMIT")
        except BaseException as exc:
            if driver.in_transaction:  # type: ignore[union-attr]
                cursor.execute("ROLLBACK")
            if isinstance(exc, connection.dialect.loaded_dbapi.Error):
                raise StoreUnavailable(f"database error: {str(exc).strip().splitlines()[0]}") from exc
            raise
        finally:
            cursor.close()
    return None if row is None else str(row[0])


def renew(connection: Connection, ids: Sequence[int], tokens: Sequence[str], until: dt.datetime) -> int:
    """The heartbeat: keep the claimed deliveries ``ids`` alive while their senders work through
    them, those still under one of ``tokens`` (looked up by primary key, not by scanning)."""
    if not ids:
        return 0
    # Rows a sender is recording or taking up at this moment are skipped, not waited for, in id
    # order: a sender's one statement locks two rows (the message it records, the next it takes
    # up), and a heartbeat that waited for one while holding the other was a deadlock that
    # PostgreSQL broke by failing the sender's run. A skipped row's own statement renews or
    # ends it; the next heartbeat comes a quarter lease later.
    mine = (select(deliveries.c.id)
            .where(deliveries.c.id.in_(ids), deliveries.c.claim_token.in_(tokens), deliveries.c.status == "sending")
            .order_by(deliveries.c.id).with_for_update(skip_locked=True))
    result = connection.execute(update(deliveries).where(deliveries.c.id.in_(mine.scalar_subquery()))
                                .values(lease_until=until))
    return int(result.rowcount or 0)


def _finish(connection: Connection, delivery: int, token: str, **values: object) -> bool:
    """Record an outcome, only while the claim is still ours; False when it was lost."""
    result = connection.execute(update(deliveries).where(_mine(delivery, token))
                                .values({"lease_until": None, **values}))
    return bool(result.rowcount)


def mark_sent(connection: Connection, delivery: int, token: str, now: dt.datetime) -> bool:
    return bool(connection.execute(MARK_SENT, {"delivery": delivery, "token": token, "now": now}).rowcount)


def mark_skipped(connection: Connection, delivery: int, token: str, reason: str) -> bool:
    return _finish(connection, delivery, token, status="skipped", last_error=reason)


def mark_retry(connection: Connection, delivery: int, token: str, error: str, at: dt.datetime) -> bool:
    return _finish(connection, delivery, token, status="pending", next_attempt_at=at, last_error=error)


def mark_uncertain(connection: Connection, delivery: int, token: str, error: str, at: dt.datetime) -> bool:
    """The server may have the message: resent (same Message-ID) no sooner than ``at``, and only
    while fewer than :data:`MAX_UNCERTAIN` sends ended this way."""
    return _finish(connection, delivery, token, status="uncertain", next_attempt_at=at, last_error=error,
                   uncertain=deliveries.c.uncertain + 1)


def release(connection: Connection, ids: Sequence[int], token: str) -> None:
    """Give claims back untried (the run stopped before reaching them): no attempt is counted."""
    connection.execute(update(deliveries).where(deliveries.c.id.in_(ids), deliveries.c.claim_token == token,
                                                deliveries.c.status == "sending")
                       .values(status="pending", lease_until=None, attempts=deliveries.c.attempts - 1))


def mailed_dates(connection: Connection, token: str, since: dt.date, before: dt.date) -> frozenset[dt.date]:
    """The dates from ``since`` to before ``before`` whose editions a reader (by subscriber
    token) was sent already: in daily copies, or gathered in weekly or monthly ones."""
    rows = connection.execute(
        select(deliveries.c.since, editions.c.date).join(editions, editions.c.id == deliveries.c.edition_id)
        .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        .where(subscribers.c.token == token, deliveries.c.status.in_(("sent", "uncertain")),
               editions.c.date >= since, editions.c.date < before))
    covered: set[dt.date] = set()
    for first, last in rows:
        day = max(first or last, since)
        while day <= last and day < before:
            covered.add(day)
            day += dt.timedelta(days=1)
    return frozenset(covered)


def holders(session: Session, prefix: str) -> list[str]:
    """Workers whose names start with ``prefix`` (this host) that hold claims now."""
    return list(session.execute(
        select(deliveries.c.worker).where(deliveries.c.status == "sending",
                                          deliveries.c.worker.startswith(prefix, autoescape=True)).distinct()
    ).scalars())


def expire(session: Session, workers: Sequence[str], keep: Collection[str] = ()) -> int:
    """The claims of senders known to be dead (but for the tokens in ``keep``, still held) end
    now, not when their lease would have."""
    if not workers:
        return 0
    query = update(deliveries).where(deliveries.c.status == "sending", deliveries.c.worker.in_(workers))
    if keep:
        query = query.where(or_(deliveries.c.claim_token.is_(None), deliveries.c.claim_token.not_in(keep)))
    result = session.connection().execute(query.values(lease_until=EXPIRED))
    return int(result.rowcount or 0)


def mark_failed(connection: Connection, delivery: int, token: str, error: str, *, hard: bool, bounce_after: int,
                now: dt.datetime) -> bool:
    """Fail the delivery; a hard failure (5xx) counts against the subscriber, who becomes
    bounced after ``bounce_after`` of them. Returns whether the subscriber bounced now."""
    if not _finish(connection, delivery, token, status="failed", last_error=error) or not hard:
        return False
    subscriber = select(deliveries.c.subscriber_id).where(deliveries.c.id == delivery).scalar_subquery()
    connection.execute(update(subscribers).where(subscribers.c.id == subscriber).values(
        hard_failures=subscribers.c.hard_failures + 1, updated_at=now,
        status=case((and_(subscribers.c.status == "active", subscribers.c.hard_failures + 1 >= bounce_after),
                     "bounced"), else_=subscribers.c.status),
    ))
    return connection.execute(select(subscribers.c.status).where(subscribers.c.id == subscriber)).scalar() == "bounced"


def mark_delivered_to(connection: Connection, delivery: int) -> None:
    """A message got through: the subscriber's hard failures start again from zero."""
    subscriber = select(deliveries.c.subscriber_id).where(deliveries.c.id == delivery).scalar_subquery()
    connection.execute(update(subscribers).where(subscribers.c.id == subscriber, subscribers.c.hard_failures > 0)
                       .values(hard_failures=0))


def make_due(session: Session, now: dt.datetime, edition: int | None = None) -> int:
    """Failed deliveries (to subscribers still active) start over with fresh attempts, and those
    waiting for a retry become due now (not those waiting for their reader's hour). Returns how
    many deliveries changed."""
    active = select(subscribers.c.id).where(subscribers.c.status == "active")
    scope = [deliveries.c.edition_id == edition] if edition is not None else []
    failed = session.connection().execute(
        update(deliveries).where(deliveries.c.status == "failed", deliveries.c.subscriber_id.in_(active), *scope)
        .values(status="pending", attempts=0, next_attempt_at=now))
    hour_to_come = and_(deliveries.c.attempts == 0, deliveries.c.due_at > now)  # a reader's own hour: kept
    waiting = session.connection().execute(
        update(deliveries).where(deliveries.c.status == "pending", deliveries.c.next_attempt_at > now,
                                 ~hour_to_come, *scope)
        .values(next_attempt_at=now))
    return (failed.rowcount or 0) + (waiting.rowcount or 0)


def next_due(session: Session, edition: int | None = None, exclude_worker: str | None = None) -> dt.datetime | None:
    """When the earliest unfinished delivery becomes claimable (None when nothing is left).
    Claims held by ``exclude_worker`` (this process) are not waited for. One statement of three
    index ranges (one per unfinished status), so that it costs the same however long the
    history of sent deliveries is."""
    scope = [deliveries.c.edition_id == edition] if edition is not None else []
    others = or_(deliveries.c.worker.is_(None), deliveries.c.worker != (exclude_worker or ""))
    earliest = [
        select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == "pending", *scope),
        select(func.min(deliveries.c.next_attempt_at))
        .where(deliveries.c.status == "uncertain", deliveries.c.uncertain < MAX_UNCERTAIN, *scope),
        select(func.min(deliveries.c.lease_until)).where(deliveries.c.status == "sending", others, *scope),
    ]
    row = session.execute(select(*(type_coerce(q.scalar_subquery(), UTCDateTime) for q in earliest))).one()
    return min((at for at in row if at is not None), default=None)


def iter_deliveries(session: Session, status: str | None = None, edition: int | None = None,
                    batch: int = 1000) -> Iterator[Delivery]:
    query = (select(deliveries, editions.c.date, subscribers.c.address)
             .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
             .join(editions, editions.c.id == deliveries.c.edition_id)
             .order_by(editions.c.date.desc(), deliveries.c.id))
    if status:
        query = query.where(deliveries.c.status == status)
    if edition is not None:
        query = query.where(deliveries.c.edition_id == edition)
    for r in session.execute(query.execution_options(yield_per=batch)):
        yield Delivery(r.id, r.date, r.address, r.message_id, r.status, r.attempts, r.next_attempt_at,
                       r.last_error, r.sent_at, r.uncertain)
