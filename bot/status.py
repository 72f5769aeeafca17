"""Status and health: what the service last did, and whether a quiet day is empty or broken.

The verdict is ``failing`` when something is broken now (a source that cannot be read, a dump
that parsed to nothing, the feeds not written, too many failed deliveries), else ``stale`` when
no new dump arrived within ``health.stale_after``, else ``empty`` when dumps arrived since the
last edition but brought nothing new, else ``ok``. Every reason found is listed, worst first.

Warnings are for the operator alone and leave the verdict as it is: the day's edition was
missed (the service started after its window), subscribers follow a topic that no longer
exists, or a chat or webhook channel failed or waits to retry (a channel is the operator's to
fix, and its readers are not the mail's). They are never printed into an edition's note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.calendar import Calendar
from bot.models import Verdict
from bot.redact import redact_text, without_urls
from bot.settings import Settings, show_duration
from bot.store import Database
from bot.store import channels as channel_store
from bot.store import service as service_store
from bot.store import subscribers as subscriber_store
from bot.store import topics as topic_store
from bot.store.lock import current_holder

VERDICTS = ("ok", "empty", "stale", "failing")


@dataclass(frozen=True, slots=True)
class Health:
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Reasons quote stored source errors, which older versions kept with credentials in URLs.
        object.__setattr__(self, "reasons", tuple(map(redact_text, self.reasons)))
        object.__setattr__(self, "warnings", tuple(map(redact_text, self.warnings)))

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def note(self) -> str | None:
        """The one line an edition carries when the service was not healthy as it was built."""
        if self.ok:
            return None
        return f"Service note ({self.verdict}): " + "; ".join(map(without_urls, self.reasons))

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "warnings": list(self.warnings)}

    def public_json(self) -> dict[str, Any]:
        """For ``/healthz``, which anyone can read: no source URL at all, and no operator hints."""
        return {"verdict": self.verdict, "reasons": [without_urls(r) for r in self.reasons]}


def _ago(now: dt.datetime, then: dt.datetime) -> str:
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 2 else f"{hours * 60:.0f} min"


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def assess(facts: service_store.Facts, settings: Settings, now: dt.datetime,
           warnings: tuple[str, ...] = ()) -> Health:
    failing: list[str] = []
    if facts.ingest is not None:
        failing.extend(facts.ingest.errors)
    if facts.feeds is not None and facts.feeds.error:
        failing.append(f"feeds: {facts.feeds.error}")
    if facts.mail is not None and facts.mail.error:
        failing.append(f"mail cannot go out: {facts.mail.error}")
    edition = facts.last_edition
    if edition is not None:
        sent, failed = edition.deliveries.get("sent", 0), edition.deliveries.get("failed", 0)
        if failed and failed * 100 > settings.health_max_failed_percent * (sent + failed):
            failing.append(f"{failed} of {sent + failed} deliveries of edition {edition.date} failed "
                           f"(more than health.max_failed_percent, {settings.health_max_failed_percent:g}%)")
    stale: list[str] = []
    dump = facts.newest_dump
    if dump is None:
        stale.append("no dump has been ingested yet")
    elif now - dump.at > settings.health_stale_after:
        stale.append(f"no new dump for {_ago(now, dump.at)} (since {_stamp(dump.at)}; "
                     f"health.stale_after is {show_duration(settings.health_stale_after)})")
    empty: list[str] = []
    if facts.dumps_since_edition and not facts.waiting_papers:
        since = f"the last edition ({edition.date})" if edition else "the start"
        empty.append(f"{facts.dumps_since_edition} new dump{'s' if facts.dumps_since_edition != 1 else ''} "
                     f"since {since} brought no new paper")
    verdict: Verdict = "failing" if failing else "stale" if stale else "empty" if empty else "ok"
    return Health(verdict, tuple(failing + stale + empty), warnings)


def _channel_warnings(posts: list[channel_store.Latest]) -> list[str]:
    found = []
    for latest in posts:
        failed, retrying = latest.counts.get("failed", 0), latest.counts.get("retrying", 0)
        if failed or retrying:
            parts = sum(latest.counts.values())
            what = ", ".join(x for x in (f"{failed} failed" if failed else "",
                                         f"{retrying} waiting to retry" if retrying else "") if x)
            found.append(f"channel {latest.channel}: {what} of {parts} part{'s' if parts != 1 else ''} of "
                         f"edition {latest.edition_date} ({latest.last_error}); `paperboy deliveries retry` "
                         "posts them again")
    return found


def _warnings(facts: service_store.Facts, settings: Settings, now: dt.datetime, followed: dict[str, int],
              known: set[str], posts: list[channel_store.Latest]) -> tuple[str, ...]:
    found: list[str] = _channel_warnings(posts)
    skip, edition = facts.last_skip, facts.last_edition
    due = Calendar.from_settings(settings).latest_due(now)
    if (skip is not None and skip.kind == "missed" and skip.date == due
            and (edition is None or edition.date < skip.date)):
        found.append(f"the edition of {skip.date} was missed ({skip.reason}); "
                     "`paperboy run --once` builds and sends it now")
    gone = {slug: n for slug, n in followed.items() if slug not in known}
    if gone:
        names = ", ".join(sorted(gone)[:5]) + (" ..." if len(gone) > 5 else "")
        readers = sum(gone.values())
        found.append(f"{readers} subscriber{'s follow' if readers != 1 else ' follows'} topics that no longer exist "
                     f"({names}) and get nothing from them; if a topic was renamed, add its old slug to that "
                     "topic's formerly = [...] in [[topics]]")
    return tuple(found)


def _read(database: Database, settings: Settings, now: dt.datetime, *,
          thorough: bool) -> tuple[service_store.Facts, Health, list[channel_store.Latest]]:
    """The facts, the verdict on them and each channel's newest edition, read in one
    transaction. Not ``thorough`` (every tick of the daemon, every poll of /healthz), it reads
    only what the verdict needs: no whole
    count of the last edition's deliveries, no pass over the subscribers for followed topics
    that no longer exist, no look at each channel (those warnings are ``paperboy status``'s)."""
    with database.read() as session:
        facts = service_store.facts(session, None if thorough else partial(_sent_needed, settings))
        followed = subscriber_store.followed_topics(session) if thorough else {}
        known = {k.slug for k in topic_store.known_topics(session)} | {r.slug for r in settings.topics} | {"other"}
        posts = channel_store.latest(session, [c.name for c in settings.channels]) if thorough else []
    return facts, assess(facts, settings, now, _warnings(facts, settings, now, followed, known, posts)), posts


def _sent_needed(settings: Settings, failed: int) -> int:
    """How many sent deliveries settle whether ``failed`` of them is too many: ``assess`` fails
    the edition when failed > max_failed_percent of (sent + failed)."""
    percent = settings.health_max_failed_percent
    return 1 if percent <= 0 else int(failed * (100 - percent) / percent) + 1


def health(database: Database, settings: Settings, now: dt.datetime, *, thorough: bool = True) -> Health:
    """The verdict; the daemon's every tick and /healthz ask for it not ``thorough`` (see _read)."""
    return _read(database, settings, now, thorough=thorough)[1]


def status(database: Database, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The document ``paperboy status --json`` prints (and, later, the web's health page)."""
    facts, verdict, posts = _read(database, settings, now, thorough=True)
    with database.read() as session:
        held, first_hour = service_store.waiting_for_hours(session, now)
    calendar = Calendar.from_settings(settings)
    next_date, next_at = calendar.next_due(now)
    holder = current_holder(database, now)
    return {
        "last_ingest": _ingest_json(facts),
        "last_edition": _edition_json(facts),
        "last_skipped": ({"date": facts.last_skip.date.isoformat(), "kind": facts.last_skip.kind,
                          "reason": facts.last_skip.reason} if facts.last_skip else None),
        "next_edition": {"date": next_date.isoformat(), "due_at": next_at.isoformat()},
        "deliveries": {"pending": facts.pending, "failed": facts.failed, "uncertain": facts.uncertain,
                       "waiting_for_hour": held, "next_hour": first_hour.isoformat() if first_hour else None},
        "channels": _channels_json(settings, posts),
        "feeds_written": (facts.feeds.written_at.isoformat()
                          if facts.feeds and facts.feeds.written_at else None),
        "scheduler": ({"holder": holder.holder, "since": holder.since.isoformat(),
                       "expires_at": holder.expires_at.isoformat()} if holder else None),
        "health": verdict.as_json(),
    }


def _channels_json(settings: Settings, posts: list[channel_store.Latest]) -> list[dict[str, Any]]:
    latest = {p.channel: p for p in posts}
    shown = []
    for channel in settings.channels:
        last = latest.get(channel.name)
        shown.append({"name": channel.name, "kind": channel.kind, "topics": list(channel.topics) or "all",
                      "edition": last.edition_date.isoformat() if last else None,
                      "parts": dict(sorted(last.counts.items())) if last else {},
                      "last_error": last.last_error if last else None,
                      "next_attempt": last.next_attempt_at.isoformat() if last and last.next_attempt_at else None})
    return shown


def _ingest_json(facts: service_store.Facts) -> dict[str, Any] | None:
    dump = facts.newest_dump
    if facts.ingest is None and dump is None:
        return None
    checked = facts.ingest
    return {
        "at": checked.at.isoformat() if checked else None,
        "sources": list(checked.sources) if checked else [],
        "files": checked.files if checked else 0,
        "new_dumps": checked.ingested if checked else 0,
        "new_papers": checked.new if checked else 0,
        "errors": [redact_text(e) for e in checked.errors] if checked else [],
        "newest_dump": ({"at": dump.at.isoformat(), "path": redact_text(dump.path), "papers": dump.items,
                         "new": dump.new}
                        if dump else None),
    }


def _edition_json(facts: service_store.Facts) -> dict[str, Any] | None:
    e = facts.last_edition
    if e is None:
        return None
    return {"date": e.date.isoformat(), "created_at": e.created_at.isoformat(), "papers": e.papers,
            "climbing": e.climbing, "note": e.note,
            "deliveries": {k: e.deliveries.get(k, 0)
                           for k in ("sent", "failed", "skipped", "pending", "sending", "uncertain")}}
