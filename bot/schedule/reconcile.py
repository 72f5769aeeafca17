"""One reconcile: bring the world in line with the database's idea of what is due.

Ingest the inbox, decide the edition that is due, build it, send it, write the feeds, judge the
service's health. Every step is idempotent and every decision is stored (an edition, a skipped
day, a delivery row), so running it every few minutes, twice at once, or again after a crash
does the work once. On schedule, the edition of a date is due at ``schedule.time`` local time
and may be built and sent until ``schedule.max_lateness`` after; later it is recorded as missed
(or empty, when there was nothing to send) and never sent late. Without a schedule (``paperboy
run --once``), the caller is the clock: today's edition is due now.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.calendar import Calendar
from bot.clock import utc_now
from bot.deliver import post_channels, send_edition
from bot.deliver.notice import send_due
from bot.deliver.transport import Transport, open_transport
from bot.errors import MailSetupError, PaperboyError
from bot.models import IngestSummary, MailCheck, StepStatus
from bot.models.readers import SendSummary
from bot.pipeline import build_edition, build_feeds, index_search, ingest_sources
from bot.settings import Settings, show_duration
from bot.status import Health, health
from bot.store import Database
from bot.store import editions as edition_store
from bot.store import service as service_store
from bot.store import subscribers as subscriber_store
from bot.store.service import Skip

log = logging.getLogger("paperboy")
MAX_BACKFILL_DAYS = 366


@dataclass(frozen=True, slots=True)
class EditionStep:
    """What became of the due edition. ``status``: built, found, waiting (nothing new yet, still
    in time), empty (nothing new), missed, or not-due."""

    status: StepStatus
    date: dt.date | None = None
    due_at: dt.datetime | None = None
    papers: int = 0
    topics: int = 0
    note: str | None = None
    created_at: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {"date": self.date.isoformat() if self.date else None, "status": self.status,
                "due_at": self.due_at.isoformat() if self.due_at else None, "papers": self.papers,
                "topics": self.topics, "note": self.note}


@dataclass(frozen=True, slots=True)
class Report:
    started: dt.datetime
    ingest: IngestSummary | None
    edition: EditionStep | None
    deliveries: SendSummary | None
    expired: int
    mail_error: str | None
    feeds: int | None
    feeds_error: str | None
    health: Health
    stopped: bool
    seconds: float

    def as_json(self) -> dict[str, Any]:
        i, d = self.ingest, self.deliveries
        return {
            "ingested": ({"files": len(i.files), "new_dumps": i.count("ingested"), "unchanged": i.count("unchanged"),
                          "new_papers": i.new, "failed": i.errors} if i else None),
            "edition": self.edition.as_json() if self.edition else None,
            "deliveries": {"queued": d.queued if d else 0, "sent": d.sent if d else 0,
                           "failed": d.failed if d else 0, "skipped": d.skipped if d else 0,
                           "retrying": d.retrying if d else 0, "uncertain": d.uncertain if d else 0,
                           "expired": self.expired,
                           "error": self.mail_error},
            "feeds": {"written": self.feeds is not None, "files": self.feeds or 0, "error": self.feeds_error},
            "health": self.health.as_json(),
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
        }


def reconcile(
    database: Database, settings: Settings, *, on_schedule: bool, clock: Callable[[], dt.datetime] = utc_now,
    stop: threading.Event | None = None, transport: Callable[[], Transport] | None = None,
) -> Report:
    stop = stop or threading.Event()
    started, t0 = clock(), time.perf_counter()
    calendar = Calendar.from_settings(settings)
    summary = _ingest(database, settings, clock, stop)
    _notices(database, settings, clock, transport)
    step: EditionStep | None = None
    sent: SendSummary | None = None
    expired, mail_error, feeds, feeds_error = 0, None, None, None
    if not stop.is_set():
        _move_follows(database, settings, clock())
        step = _edition(database, settings, calendar, clock(), on_schedule)
        expired = _expire_late(database, settings, calendar, clock())
        if _in_time(database, settings, calendar, step, clock()) and not stop.is_set():
            sent, mail_error = _send(database, settings, step, clock, stop, transport)
        if settings.channels and sent is None and mail_error is None and not stop.is_set():
            _channels(database, settings, clock, stop)  # a send posted them already
    if not stop.is_set():
        feeds, feeds_error = _feeds(database, settings, clock(), rebuilt=step is not None and step.status == "built")
        _search_index(database)
    verdict = _health(database, settings, clock())
    report = Report(started, summary, step, sent, expired, mail_error, feeds, feeds_error, verdict, stop.is_set(),
                    time.perf_counter() - t0)
    log.info("reconcile: done in %.1f s%s", report.seconds, " (stopped early)" if report.stopped else "")
    return report


def _channels(database: Database, settings: Settings, clock: Callable[[], dt.datetime],
              stop: threading.Event) -> None:
    """Channel parts whose retry is due, or that a stopped sender left, posted on every tick
    that sends no edition (a send posts them beside its mail)."""
    try:
        counts = post_channels(database, settings, clock, stop)
    except PaperboyError as exc:
        log.warning("channels: not posted: %s", exc)
        return
    if counts.sent or counts.failed or counts.retrying:
        log.info("channels: %d posted, %d failed, %d retrying", counts.sent, counts.failed, counts.retrying)


def _search_index(database: Database) -> None:
    """The search index caught up with the day's papers, after the edition and the mail: a
    failure is logged and leaves search a day behind, never the digest."""
    t = time.perf_counter()
    try:
        indexed = index_search(database)
    except PaperboyError as exc:
        log.warning("search: the index was not caught up: %s", exc)
        return
    if indexed:
        log.info("search: %d papers indexed (%.1f s)", indexed, time.perf_counter() - t)


def _ingest(database: Database, settings: Settings, clock: Callable[[], dt.datetime],
            stop: threading.Event) -> IngestSummary:
    """Never raises for a bad source: what failed is reported, and the day goes on without it."""
    t = time.perf_counter()
    if not settings.inbox.exists():
        log.info("ingest: creating the inbox %s (inbox, PAPERBOY_INBOX); drop dumps there", settings.inbox)
    summary = ingest_sources(database, settings, now=clock, cancel=stop)
    where = f"{settings.inbox}" + (f" and {len(settings.sources)} sources" if settings.sources else "")
    log.info("ingest: %d files in %s: %d new dumps (%d new papers), %d unchanged, %d failed (%.1f s)",
             len(summary.files), where, summary.count("ingested"), summary.new,
             summary.count("unchanged"), summary.count("failed"), time.perf_counter() - t)
    for error in summary.errors:
        log.warning("ingest: %s", error)
    for report in summary.files:
        for warning in report.warnings:
            log.warning("ingest: %s: %s", report.path, warning)
    return summary


def _edition(database: Database, settings: Settings, calendar: Calendar, now: dt.datetime,
             on_schedule: bool) -> EditionStep:
    t = time.perf_counter()
    if on_schedule:
        date = calendar.latest_due(now)
        if date is None:
            log.info("edition: none due (next %s)", calendar.next_due(now)[1].isoformat())
            return EditionStep("not-due")
        due = calendar.due_at(date)
    else:
        date, due = calendar.local_date(now), now
    with database.read() as session:
        found = edition_store.edition_head(session, date)
        skip = service_store.find_skip(session, date) if on_schedule else None
        last = service_store.last_decided(session)
    if found is not None:
        log.info("edition %s: built before (%d papers)", date, found.papers)
        return EditionStep("found", date, due, found.papers, found.sections, found.note, found.created_at)
    if skip is not None:
        return EditionStep(skip.kind, date, due, note=skip.reason)
    if on_schedule:
        _record_missed_before(database, calendar, last, date, now)
        if now > due + settings.schedule_max_lateness:
            return _too_late(database, settings, date, due, now)
    note = health(database, settings, now).note
    edition = build_edition(database, settings, date, now, note=note)
    if edition is None:
        status: StepStatus = "waiting" if on_schedule else "empty"
        log.info("edition %s: nothing new yet%s (%.1f s)", date,
                 f", trying again until {(due + settings.schedule_max_lateness).isoformat()}" if on_schedule else "",
                 time.perf_counter() - t)
        return EditionStep(status, date, due)
    log.info("edition %s: %s, %d new papers in %d topics, %d climbing (%.1f s)", date,
             "built" if edition.created else "found", edition.papers, len(edition.sections),
             len(edition.climbing), time.perf_counter() - t)
    return EditionStep("built" if edition.created else "found", date, due, edition.papers, len(edition.sections),
                       edition.note, edition.created_at)


def _move_follows(database: Database, settings: Settings, now: dt.datetime) -> None:
    """Readers of a renamed topic (its old slugs in ``formerly``) follow it under its new slug."""
    renamed = {old: rule.slug for rule in settings.topics for old in rule.formerly}
    if not renamed:
        return
    with database.write() as session:
        moved = subscriber_store.move_follows(session, renamed, now)
    for old, count in moved.items():
        log.warning("topics: %d subscriber%s of %r now follow %r (topics.formerly)", count,
                    "s" if count != 1 else "", old, renamed[old])


def _record_missed_before(database: Database, calendar: Calendar, last: dt.date | None, date: dt.date,
                          now: dt.datetime) -> None:
    """Scheduled dates between the last decided one and ``date`` passed while nothing ran."""
    if last is None or last >= date:
        return
    start = max(last, date - dt.timedelta(days=MAX_BACKFILL_DAYS))
    missed = list(calendar.dates_between(start, date))
    if not missed:
        return
    with database.write() as session:
        for day in missed:
            service_store.record_skip(session, Skip(day, "missed", calendar.due_at(day),
                                                    "paperboy was not running while this edition was due"), now)
    log.warning("edition: %d scheduled dates passed while paperboy was not running (%s to %s); "
                "their papers go into the next edition", len(missed), missed[0], missed[-1])


def _too_late(database: Database, settings: Settings, date: dt.date, due: dt.datetime, now: dt.datetime) -> EditionStep:
    late = show_duration(settings.schedule_max_lateness)
    with database.read() as session:
        latest = edition_store.latest_edition(session)
        waiting = service_store.papers_since(session, latest.cutoff if latest else None)
    if waiting:
        skip = Skip(date, "missed", due, f"not built within schedule.max_lateness ({late}) of {due.isoformat()}; "
                                         f"its {waiting} papers go into the next edition")
    else:
        skip = Skip(date, "empty", due, f"nothing new by schedule.max_lateness ({late}) after {due.isoformat()}")
    with database.write() as session:
        service_store.record_skip(session, skip, now)
    (log.warning if skip.kind == "missed" else log.info)("edition %s: %s, %s", date, skip.kind, skip.reason)
    return EditionStep(skip.kind, date, due, note=skip.reason)


def _in_time(database: Database, settings: Settings, calendar: Calendar, step: EditionStep,
             now: dt.datetime) -> bool:
    """An edition is sent only until its lateness window closes, or the window of the latest
    copy a reader's own hour holds back (lateness counts from that hour)."""
    if step.status not in ("built", "found") or step.date is None or step.created_at is None:
        return False
    if now <= _deadline(settings, calendar, step.date, step.created_at):
        return True
    with database.read() as session:
        last = service_store.last_hour(session, step.date)
    return last is not None and now <= last + settings.schedule_max_lateness


def _deadline(settings: Settings, calendar: Calendar, date: dt.date, created_at: dt.datetime) -> dt.datetime:
    return max(calendar.due_at(date), created_at) + settings.schedule_max_lateness


def _expire_late(database: Database, settings: Settings, calendar: Calendar, now: dt.datetime) -> int:
    """Deliveries still waiting after their edition's lateness window are given up, not sent late."""
    with database.read() as session:
        late = [u for u in service_store.editions_with_unsent(session)
                if _deadline(settings, calendar, u.date, u.created_at) < now]
    total = 0
    for unsent in late:
        reason = f"not sent within schedule.max_lateness ({show_duration(settings.schedule_max_lateness)})"
        with database.write() as session:
            count = service_store.give_up(session, unsent.edition, reason, now, now - settings.schedule_max_lateness)
        if count:
            log.warning("deliver: edition %s: %d deliveries given up, %s", unsent.date, count, reason)
        total += count
    return total


def _send(database: Database, settings: Settings, step: EditionStep, clock: Callable[[], dt.datetime],
          stop: threading.Event, transport: Callable[[], Transport] | None) -> tuple[SendSummary | None, str | None]:
    assert step.date is not None
    t = time.perf_counter()
    try:
        summary = send_edition(database, settings, step.date, transport=transport, clock=clock, stop=stop)
    except MailSetupError as exc:
        log.error("deliver: edition %s: mail cannot go out: %s", step.date, exc)
        _record_mail(database, clock(), str(exc))
        return None, str(exc)
    _record_mail(database, clock(), None)
    log.info("deliver: edition %s: %d queued, %d sent, %d failed, %d skipped, %d retrying (%.1f s)", step.date,
             summary.queued, summary.sent, summary.failed, summary.skipped, summary.retrying, time.perf_counter() - t)
    if summary.posts:
        log.info("channels: edition %s: %d parts queued, %d posted, %d failed, %d retrying", step.date,
                 summary.posts.queued, summary.posts.sent, summary.posts.failed, summary.posts.retrying)
    return summary, None


def _notices(database: Database, settings: Settings, clock: Callable[[], dt.datetime],
             transport: Callable[[], Transport] | None) -> None:
    """Confirmation mails a web process queued and could not send (it stopped, the server was
    down): the daemon sends them too, each once (they are claimed)."""
    try:
        tally = send_due(database, settings, transport or partial(open_transport, settings), clock)
    except MailSetupError as exc:
        log.error("notices: mail cannot go out: %s", exc)
        return
    if tally.sent or tally.failed or tally.retrying:
        log.info("notices: %d sent, %d failed, %d retrying", tally.sent, tally.failed, tally.retrying)


def _record_mail(database: Database, now: dt.datetime, error: str | None) -> None:
    with database.write() as session:
        service_store.record_mail(session, MailCheck(now, error))


def _feeds(database: Database, settings: Settings, now: dt.datetime, *, rebuilt: bool) -> tuple[int | None, str | None]:
    """Write the feeds when an edition was built, or when they are missing, failed or older than
    the newest edition (a crash between the two)."""
    with database.read() as session:
        state = service_store.read_feeds(session)
        newest = edition_store.latest_created(session)
    written_at = state.written_at if state else None
    current = (not rebuilt and state is not None and not state.error and written_at is not None
               and (newest is None or newest <= written_at) and settings.public_dir.joinpath("index.html").exists())
    if current:
        return None, None
    t = time.perf_counter()
    try:
        files = build_feeds(database, settings, now=now)
    except PaperboyError as exc:
        log.error("feeds: %s", exc)
        return None, str(exc)
    log.info("feeds: %d files written to %s (%.1f s)", len(files), settings.public_dir, time.perf_counter() - t)
    return len(files), None


def _health(database: Database, settings: Settings, now: dt.datetime) -> Health:
    verdict = health(database, settings, now, thorough=False)
    with database.write(durable=False) as session:  # the next tick writes it again
        service_store.record_health(session, now, verdict.verdict, verdict.reasons)
    if verdict.ok:
        log.info("health: ok")
    else:
        log.warning("health: %s: %s", verdict.verdict, "; ".join(verdict.reasons))
    for warning in verdict.warnings:
        log.warning("health: %s", warning)
    return verdict
