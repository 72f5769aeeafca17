"""Queuing an edition: one delivery per active subscriber, each due at once or at its reader's
hour, made in one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` (so queuing again adds only the
subscribers who came since). The caller owns the transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from sqlalchemy import ColumnElement, Date, String, and_, case, cast, func, literal, null, or_, select, update
from sqlalchemy.orm import Session

from bot.store.database import conflict_insert
from bot.store.deliveries import deliveries, editions, subscribers
from bot.store.schema import UTCDateTime

QUEUE_SLACK = dt.timedelta(hours=1)
"""How far before the newest change an edition's last queuing saw re-queuing looks again: a
subscriber confirmed in a transaction still open then, or by a process whose clock is behind
the others', is not missed."""


Due = Callable[[str | None, str | None, dt.datetime], dt.datetime]
"""A reader's hour and time zone (either None: the digest's) and the edition's creation: when
their copy is due."""


def enqueue(session: Session, edition: int, date: dt.date, domain: str, now: dt.datetime,
            due: Due | None = None) -> int:
    """Queue the edition for every active subscriber not queued yet, in one statement. After the
    first time, only subscribers changed since the newest change that queuing saw (less
    :data:`QUEUE_SLACK`; both are the subscribers' own ``updated_at``, not this clock) are looked
    at: the daemon re-queues on every tick, and a list of a million would otherwise be read
    whole each time.

    A copy is due now, or for a reader who chose an hour or a time zone, when ``due`` says (no
    earlier than now): one instant per distinct choice, computed here, and a CASE over them.

    The Message-ID is made here and stored: ``<YYYY-MM-DD.subscriber.nonce@domain>``; the nonce
    (one per queuing) keeps ids unique should the database ever be rebuilt.
    """
    nonce = secrets.token_hex(6)
    message_id = (literal(f"<{date.isoformat()}.") + cast(subscribers.c.id, String)
                  + literal(f".{nonce}@{domain}>"))
    last, built = session.execute(select(editions.c.queued_through, editions.c.created_at)
                                  .where(editions.c.id == edition)).one()
    changed = [subscribers.c.updated_at >= last - QUEUE_SLACK] if last is not None else []
    at = _due(session, now, built, changed, due) if due is not None else literal(now, UTCDateTime())
    wanted, since = _cadences(session, date)
    source = select(
        literal(edition), subscribers.c.id, message_id, literal("pending"), literal(0), at, at, since,
        literal(now, UTCDateTime()),
    ).where(subscribers.c.status == "active", wanted, *changed)
    newest = session.execute(select(func.max(subscribers.c.updated_at))).scalar()
    statement = conflict_insert(session, deliveries).from_select(
        ["edition_id", "subscriber_id", "message_id", "status", "attempts", "next_attempt_at", "due_at", "since",
         "created_at"], source,
    ).on_conflict_do_nothing()
    session.execute(update(editions).where(editions.c.id == edition).values(queued_through=newest))
    # psycopg reports no row count for INSERT … SELECT: count what it returns
    if session.get_bind().dialect.name == "postgresql":
        queued = statement.returning(deliveries.c.id).cte("queued")
        return int(session.execute(select(func.count()).select_from(queued)).scalar_one())
    return int(session.connection().execute(statement).rowcount)


def _cadences(session: Session, date: dt.date) -> tuple[ColumnElement[bool], ColumnElement[dt.date | None]]:
    """Who gets the edition of ``date``, by how often they asked for the digest, and the first
    date each copy gathers: daily readers always (their day only); weekday readers Monday to
    Friday; weekly readers on their day (the seven days to it); monthly readers on the month's
    first edition (the month before, and that day)."""
    cadence = func.coalesce(subscribers.c.cadence, "daily")
    wanted = [cadence == "daily", and_(cadence == "weekly", func.coalesce(subscribers.c.weekday, 0) == date.weekday())]
    if date.weekday() < 5:
        wanted.append(cadence == "weekdays")
    month = date.replace(day=1)
    first = session.execute(select(editions.c.id).where(editions.c.date >= month, editions.c.date < date)
                            .limit(1)).first() is None
    if first:
        wanted.append(cadence == "monthly")
    since = case((cadence == "weekly", literal(date - dt.timedelta(days=6), Date())),
                 (cadence == "monthly", literal((month - dt.timedelta(days=1)).replace(day=1), Date())),
                 else_=null())
    return or_(*wanted), since


def _due(session: Session, now: dt.datetime, built: dt.datetime, changed: list[ColumnElement[bool]],
         due: Due) -> ColumnElement[dt.datetime]:
    """Each subscriber's due instant as SQL: now, or for the readers' distinct choices of hour
    and zone (among the subscribers being queued), their instants."""
    chose = or_(subscribers.c.send_at.is_not(None), subscribers.c.time_zone.is_not(None))
    choices = session.execute(select(subscribers.c.send_at, subscribers.c.time_zone).distinct()
                              .where(subscribers.c.status == "active", chose, *changed)).all()
    if not choices:
        return literal(now, UTCDateTime())
    return case(*[(and_(_same(subscribers.c.send_at, at), _same(subscribers.c.time_zone, zone)),
                   literal(max(due(at, zone, built), now), UTCDateTime())) for at, zone in choices],
                else_=literal(now, UTCDateTime()))


def _same(column: ColumnElement[str | None], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value
