"""The notices outbox: one-off mails to one reader, queued in the transaction that decided them
and claimed by whichever worker comes first (the web process's, the daemon's), under a lease.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.orm import Session

from bot.store.schema import NoticeRow

notices = cast(Table, NoticeRow.__table__)


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    address: str
    subject: str
    body: str
    attempts: int
    claim: str


def queue(session: Session, address: str, subject: str, body: str, now: dt.datetime) -> None:
    session.execute(insert(notices).values(address=address, subject=subject, body=body, status="pending",
                                           attempts=0, next_attempt_at=now, created_at=now))


def claim(connection: Connection, now: dt.datetime, lease: dt.timedelta, limit: int) -> list[Notice]:
    """Up to ``limit`` notices due now (or whose sender's lease ran out), for this caller until
    ``now + lease``; PostgreSQL skips rows another worker is claiming."""
    token = secrets.token_hex(16)
    due = (select(notices.c.id).where(
        ((notices.c.status == "pending") & (notices.c.next_attempt_at <= now))
        | ((notices.c.status == "sending") & (notices.c.lease_until < now)))
        .order_by(notices.c.next_attempt_at).limit(limit))
    if connection.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    taken = connection.execute(
        update(notices).where(notices.c.id.in_(due.scalar_subquery()))
        .values(status="sending", lease_until=now + lease, claim_token=token, attempts=notices.c.attempts + 1)
        .returning(notices.c.id, notices.c.address, notices.c.subject, notices.c.body, notices.c.attempts))
    return [Notice(r.id, r.address, r.subject, r.body, r.attempts, token) for r in taken]


def _mine(notice: Notice):  # type: ignore[no-untyped-def]
    return (notices.c.id == notice.id) & (notices.c.claim_token == notice.claim) & (notices.c.status == "sending")


def mark_sent(connection: Connection, notice: Notice, now: dt.datetime) -> None:
    connection.execute(update(notices).where(_mine(notice))
                       .values(status="sent", sent_at=now, lease_until=None, last_error=None))


def mark_failed(connection: Connection, notice: Notice, error: str, retry_at: dt.datetime | None) -> None:
    """Retried at ``retry_at``; with None, given up (the reader can ask again)."""
    connection.execute(update(notices).where(_mine(notice)).values(
        status="pending" if retry_at else "failed", next_attempt_at=retry_at or notices.c.next_attempt_at,
        lease_until=None, last_error=error[:500]))


def release(connection: Connection, notice: Notice) -> None:
    """Given back untried (the worker is stopping): no attempt counted."""
    connection.execute(update(notices).where(_mine(notice))
                       .values(status="pending", lease_until=None, attempts=notices.c.attempts - 1))


def waiting(session: Session, now: dt.datetime) -> int:
    """Notices not sent yet that are due now or in flight: what a worker has still to finish."""
    return int(session.execute(select(func.count()).select_from(notices).where(
        ((notices.c.status == "pending") & (notices.c.next_attempt_at <= now))
        | (notices.c.status == "sending"))).scalar_one())
