"""What the service did and what it decided: the latest ingest check and feed write, the days
that got no edition, late deliveries given up, and the facts that status and health read.

The scheduler asks the database, not its memory, what is due, so every decision it makes is a
row here or in the editions: a rerun, a restart or a second machine reaches the same answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, func, literal, or_, select, update
from sqlalchemy.orm import Session

from bot.models import FeedsWrite, IngestCheck, MailCheck, SkipKind
from bot.store.database import conflict_insert, upsert
from bot.store.deliveries import MAX_UNCERTAIN
from bot.store.schema import (
    DeliveryRow,
    DumpRow,
    EditionRow,
    PaperRow,
    ServiceStateRow,
    SkippedDayRow,
)

state = cast(Table, ServiceStateRow.__table__)
skipped = cast(Table, SkippedDayRow.__table__)
dumps = cast(Table, DumpRow.__table__)
editions = cast(Table, EditionRow.__table__)
deliveries = cast(Table, DeliveryRow.__table__)
papers = cast(Table, PaperRow.__table__)


def _record(session: Session, name: str, at: dt.datetime, detail: dict[str, Any]) -> None:
    upsert(session, state, {"name": name}, {"at": at, "detail": detail})


def _read(session: Session, name: str) -> tuple[dt.datetime, dict[str, Any]] | None:
    row = session.execute(select(state.c.at, state.c.detail).where(state.c.name == name)).first()
    return (row.at, row.detail) if row else None


def record_ingest(session: Session, check: IngestCheck) -> None:
    _record(session, "ingest", check.at, {
        "sources": list(check.sources), "files": check.files, "ingested": check.ingested,
        "unchanged": check.unchanged, "failed": check.failed, "new": check.new, "errors": list(check.errors)})


def read_ingest(session: Session) -> IngestCheck | None:
    found = _read(session, "ingest")
    if found is None:
        return None
    at, d = found
    return IngestCheck(at, tuple(d.get("sources", [])), d.get("files", 0), d.get("ingested", 0),
                       d.get("unchanged", 0), d.get("failed", 0), d.get("new", 0), tuple(d.get("errors", [])))


def record_feeds(session: Session, write: FeedsWrite) -> None:
    _record(session, "feeds", write.at, {
        "dir": write.directory, "files": write.files, "error": write.error,
        "written_at": write.written_at.isoformat() if write.written_at else None})


def read_feeds(session: Session) -> FeedsWrite | None:
    found = _read(session, "feeds")
    if found is None:
        return None
    at, d = found
    written = d.get("written_at")
    return FeedsWrite(at, d.get("dir", ""), d.get("files", 0), d.get("error"),
                      dt.datetime.fromisoformat(written) if written else None)


def record_mail(session: Session, check: MailCheck) -> None:
    _record(session, "mail", check.at, {"error": check.error})


def read_mail(session: Session) -> MailCheck | None:
    found = _read(session, "mail")
    return MailCheck(found[0], found[1].get("error")) if found else None


def record_health(session: Session, at: dt.datetime, verdict: str, reasons: Sequence[str]) -> None:
    """Kept for whoever looks at the table; status computes the verdict afresh."""
    _record(session, "health", at, {"verdict": verdict, "reasons": list(reasons)})


@dataclass(frozen=True, slots=True)
class Skip:
    date: dt.date
    kind: SkipKind
    due_at: dt.datetime
    reason: str


def record_skip(session: Session, skip: Skip, now: dt.datetime) -> bool:
    """Record that a date gets no edition; False when it was decided before."""
    statement = conflict_insert(session, skipped).values(date=skip.date, kind=skip.kind, due_at=skip.due_at,
                                                 recorded_at=now, reason=skip.reason)
    return bool(session.connection().execute(statement.on_conflict_do_nothing()).rowcount)


def find_skip(session: Session, date: dt.date) -> Skip | None:
    row = session.execute(select(skipped.c.date, skipped.c.kind, skipped.c.due_at, skipped.c.reason)
                          .where(skipped.c.date == date)).first()
    return Skip(*row) if row else None


def last_decided(session: Session) -> dt.date | None:
    """The latest date that has an edition or was skipped."""
    edition = session.execute(select(func.max(editions.c.date))).scalar()
    skip = session.execute(select(func.max(skipped.c.date))).scalar()
    return max((d for d in (edition, skip) if d is not None), default=None)


def papers_since(session: Session, cutoff: dt.datetime | None) -> int:
    """Papers no edition has carried yet (first seen after the latest edition's cutoff)."""
    query = select(func.count()).select_from(papers)
    if cutoff is not None:
        query = query.where(papers.c.first_seen_at > cutoff)
    return int(session.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class Unsent:
    edition: int
    date: dt.date
    created_at: dt.datetime


def editions_with_unsent(session: Session) -> list[Unsent]:
    """Editions that still have deliveries waiting (pending, to be resent, or claimed by a sender
    that died)."""
    rows = session.execute(
        select(editions.c.id, editions.c.date, editions.c.created_at)
        .where(editions.c.id.in_(select(deliveries.c.edition_id).where(
            or_(deliveries.c.status.in_(("pending", "sending")),
                and_(deliveries.c.status == "uncertain", deliveries.c.uncertain < MAX_UNCERTAIN))).distinct()))
        .order_by(editions.c.date)
    )
    return [Unsent(*r) for r in rows]


def give_up(session: Session, edition: int, reason: str, now: dt.datetime, due_before: dt.datetime) -> int:
    """Waiting deliveries of an edition that is too late to send are skipped, with the reason:
    those due (for their reader's hour) before ``due_before``, or with no hour of their own."""
    late = or_(deliveries.c.due_at.is_(None), deliveries.c.due_at < due_before)
    result = session.connection().execute(
        update(deliveries)
        .where(deliveries.c.edition_id == edition, late,
               or_(deliveries.c.status == "pending",
                   and_(deliveries.c.status == "sending", deliveries.c.lease_until < now)))
        .values(status="skipped", last_error=reason, lease_until=None, worker=None)
    )
    # An uncertain message may have arrived: it stays uncertain, and is no longer resent.
    session.connection().execute(
        update(deliveries).where(deliveries.c.edition_id == edition, late, deliveries.c.status == "uncertain",
                                 deliveries.c.uncertain < MAX_UNCERTAIN).values(uncertain=MAX_UNCERTAIN))
    return int(result.rowcount or 0)


def waiting_for_hours(session: Session, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Copies not tried yet that their readers' hours hold back, and the first of those hours."""
    count, first = session.execute(select(func.count(), func.min(deliveries.c.next_attempt_at)).where(
        deliveries.c.status == "pending", deliveries.c.next_attempt_at > now, deliveries.c.attempts == 0,
        deliveries.c.due_at > now)).one()
    return int(count), first


def last_hour(session: Session, date: dt.date) -> dt.datetime | None:
    """The latest instant a reader's hour holds one of the edition's waiting copies until."""
    return session.execute(select(func.max(deliveries.c.due_at)).join(
        editions, editions.c.id == deliveries.c.edition_id).where(
        editions.c.date == date, deliveries.c.status == "pending")).scalar()


@dataclass(frozen=True, slots=True)
class DumpFact:
    at: dt.datetime
    path: str
    items: int
    new: int


@dataclass(frozen=True, slots=True)
class EditionFact:
    id: int
    date: dt.date
    created_at: dt.datetime
    cutoff_at: dt.datetime
    papers: int
    climbing: int
    note: str | None
    deliveries: dict[str, int]


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything status and health read, gathered in one transaction."""

    newest_dump: DumpFact | None
    dumps_since_edition: int
    waiting_papers: int
    last_edition: EditionFact | None
    last_skip: Skip | None
    pending: int
    failed: int
    uncertain: int
    ingest: IngestCheck | None
    feeds: FeedsWrite | None
    mail: MailCheck | None


UNFINISHED = ("pending", "sending", "failed", "uncertain")


def _delivery_counts(session: Session, edition: int) -> dict[str, int]:
    query = (select(deliveries.c.status, func.count()).where(deliveries.c.edition_id == edition)
             .group_by(deliveries.c.status))
    return {status: int(n) for status, n in session.execute(query)}


def _unfinished(session: Session) -> dict[tuple[int, str], int]:
    """Deliveries not done yet, per edition and status: a range of the status index, however
    long the history of sent ones grows."""
    query = (select(deliveries.c.edition_id, deliveries.c.status, func.count())
             .where(deliveries.c.status.in_(UNFINISHED)).group_by(deliveries.c.edition_id, deliveries.c.status))
    return {(edition, status): int(n) for edition, status, n in session.execute(query)}


def _sent_up_to(session: Session, edition: int, cap: int) -> int:
    """The edition's sent deliveries, counted no further than ``cap``."""
    found = (select(literal(1)).select_from(deliveries)
             .where(deliveries.c.edition_id == edition, deliveries.c.status == "sent").limit(cap).subquery())
    return int(session.execute(select(func.count()).select_from(found)).scalar_one())


def facts(session: Session, sent_cap: Callable[[int], int] | None = None) -> Facts:
    """What the status and the health check read. With ``sent_cap`` (the daemon's tick, the
    health endpoint) the last edition's deliveries are counted only as far as the health check
    needs: its unfinished ones, and its sent ones up to ``sent_cap(failed)``; without, all of
    them, by status (``paperboy status``). Either way no query reads the whole history."""
    dump = session.execute(
        select(dumps.c.ingested_at, dumps.c.path, dumps.c["items"], dumps.c.new)
        .order_by(dumps.c.ingested_at.desc(), dumps.c.id.desc()).limit(1)
    ).first()
    row = session.execute(
        select(editions.c.id, editions.c.date, editions.c.created_at, editions.c.cutoff_at, editions.c.papers,
               editions.c.climbing, editions.c.note).order_by(editions.c.date.desc()).limit(1)
    ).first()
    unfinished = _unfinished(session)
    edition = None
    if row is not None:
        if sent_cap is None:
            counts = _delivery_counts(session, row.id)
        else:
            counts = {status: n for (number, status), n in unfinished.items() if number == row.id}
            failed = counts.get("failed", 0)
            counts["sent"] = _sent_up_to(session, row.id, sent_cap(failed)) if failed else 0
        edition = EditionFact(*row, deliveries=counts)
    cutoff = edition.cutoff_at if edition else None
    since = select(func.count()).select_from(dumps)
    if cutoff is not None:
        since = since.where(dumps.c.ingested_at > cutoff)
    skip = session.execute(select(skipped.c.date, skipped.c.kind, skipped.c.due_at, skipped.c.reason)
                           .order_by(skipped.c.date.desc()).limit(1)).first()
    counts = {}
    for (_, status), n in unfinished.items():
        counts[status] = counts.get(status, 0) + n
    return Facts(
        newest_dump=DumpFact(*dump) if dump else None,
        dumps_since_edition=int(session.execute(since).scalar_one()),
        waiting_papers=papers_since(session, cutoff),
        last_edition=edition,
        last_skip=Skip(*skip) if skip else None,
        pending=counts.get("pending", 0) + counts.get("sending", 0),
        failed=counts.get("failed", 0),
        uncertain=counts.get("uncertain", 0),
        ingest=read_ingest(session),
        feeds=read_feeds(session),
        mail=read_mail(session),
    )
