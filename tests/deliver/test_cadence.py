"""How often a reader gets the digest: every edition, weekdays only, the best of the week on
their day, or the best of the month on its first edition; through real SMTP, each paper once
to a reader who switches."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace

from sqlalchemy import select

from bot.deliver import send_edition
from bot.digest import best_of, gather
from bot.models import Edition, EditionPaper, Section
from bot.pipeline import build_edition, ingest
from bot.settings import Settings
from bot.store import Database, queue
from bot.store import deliveries as outbox
from bot.store.editions import find_edition
from bot.store.subscribers import find_subscriber, set_preferences
from bot.subscribers import preferences
from tests.conftest import ROOT
from tests.deliver.test_delivery import mail_settings as mail_settings  # the fixture, shared
from tests.deliver.test_delivery import subscribe
from tests.smtp_server import SmtpServer

UTC = dt.UTC
DAYS = [dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)]  # Wednesday to Friday


def _day(db: Database, settings: Settings, day: dt.date) -> dt.datetime:
    built = dt.datetime.combine(day, dt.time(7), UTC)
    assert ingest(db, settings, [ROOT / "examples" / "inbox" / f"{day.isoformat()}.txt"],
                  now=lambda: built - dt.timedelta(hours=1)).ok
    assert build_edition(db, settings, day, built) is not None
    return built


def _titles(message, every: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Which of ``every`` title a mail's text part holds (titles wrap at 78 columns)."""
    text = " ".join(message.get_body(("plain",)).get_content().split())
    return {title for title in every if " ".join(title.split()) in text}


def test_each_reader_gets_the_digest_as_often_as_they_asked_and_no_paper_twice(
    db: Database, mail_settings: Settings, smtp: SmtpServer,
) -> None:
    subscribe(db, "daily@example.org")
    subscribe(db, "weekdays@example.org", cadence="weekdays")
    subscribe(db, "friday@example.org", cadence="weekly", weekday="friday")
    subscribe(db, "thursday@example.org", cadence="weekly", weekday="thu")
    subscribe(db, "monthly@example.org", cadence="monthly")
    subscribe(db, "switcher@example.org")
    for day in DAYS:
        built = _day(db, mail_settings, day)
        if day == DAYS[-1]:  # the switcher had Wednesday's and Thursday's, and now wants Fridays
            with db.write() as session:
                token = find_subscriber(session, "switcher@example.org").token  # type: ignore[union-attr]
                set_preferences(session, token, preferences(cadence="weekly", weekday="friday"), built)
        send_edition(db, mail_settings, day, clock=lambda built=built: built + dt.timedelta(seconds=1))  # type: ignore[misc]
    mails: dict[str, list] = {}
    for received in smtp.recorder.received:
        mails.setdefault(received.recipients[0], []).append(received.message)
    assert Counter({a: len(m) for a, m in mails.items()}) == Counter({
        "daily@example.org": 3, "weekdays@example.org": 3, "friday@example.org": 1, "thursday@example.org": 1,
        "monthly@example.org": 1, "switcher@example.org": 3})

    with db.read() as session:
        days = [{p.title for sec in find_edition(session, d).sections for p in sec.papers} for d in DAYS]  # type: ignore[union-attr]
    every = set().union(*days)
    [friday] = mails["friday@example.org"]
    assert friday["Subject"].startswith("The best papers of 14–20 Nov 2026"), friday["Subject"]
    weekly = _titles(friday, every)
    assert weekly & days[0] and weekly & days[1] and weekly & days[2], "the whole week"
    assert len(weekly) <= 40, "the week's best, not all of it"
    daily = [_titles(m, every) for m in mails["daily@example.org"]]
    assert daily == days
    [thursday] = mails["thursday@example.org"]
    assert _titles(thursday, every) and not _titles(thursday, every) - (days[0] | days[1]), "not Friday's"

    switcher = [_titles(m, every) for m in mails["switcher@example.org"]]
    assert switcher[:2] == days[:2]
    assert switcher[2] and not switcher[2] & (days[0] | days[1]), "no paper twice for a reader who switched"
    since = _since(db, DAYS[-1])
    assert since["friday@example.org"] == dt.date(2026, 11, 14) and since["daily@example.org"] is None


def test_who_is_queued_on_a_saturday_and_on_the_month_s_first_edition(db: Database, settings: Settings) -> None:
    subscribe(db, "daily@example.org")
    subscribe(db, "weekdays@example.org", cadence="weekdays")
    subscribe(db, "saturday@example.org", cadence="weekly", weekday="5")
    subscribe(db, "monthly@example.org", cadence="monthly")
    built = dt.datetime(2026, 11, 21, 7, tzinfo=UTC)
    assert build_edition(db, replace(settings, digest_empty_editions=True), dt.date(2026, 11, 21), built)
    with db.write() as session:
        number = outbox.edition_id(session, dt.date(2026, 11, 21))
        assert number is not None
        assert queue.enqueue(session, number, dt.date(2026, 11, 21), "papers.example.org", built) == 3
    queued = _since(db, dt.date(2026, 11, 21))
    assert queued == {"daily@example.org": None, "saturday@example.org": dt.date(2026, 11, 15),
                      "monthly@example.org": dt.date(2026, 10, 1)}, "no weekday reader on a Saturday"


def _since(db: Database, day: dt.date) -> dict[str, dt.date | None]:
    """Each copy of the edition of ``day`` queued, by address: the first date it gathers."""
    with db.read() as session:
        rows = session.execute(select(outbox.subscribers.c.address, outbox.deliveries.c.since)
                               .join(outbox.deliveries, outbox.deliveries.c.subscriber_id == outbox.subscribers.c.id)
                               .join(outbox.editions, outbox.editions.c.id == outbox.deliveries.c.edition_id)
                               .where(outbox.editions.c.date == day)).all()
    return dict(rows)  # type: ignore[arg-type]


def _paper(key: str, upvotes: int) -> EditionPaper:
    return EditionPaper(key, None, f"Paper {key}", "", None, None, None, upvotes, "t", "T")


def test_a_gathered_copy_takes_each_paper_once_with_its_latest_counts_best_first() -> None:
    at = dt.datetime(2026, 11, 20, 7, tzinfo=UTC)
    monday = Edition(dt.date(2026, 11, 16), at, (Section("t", "T", (_paper("a", 5), _paper("b", 1))),))
    tuesday = Edition(dt.date(2026, 11, 17), at, (Section("t", "T", (_paper("a", 50),)),
                                                   Section("u", "U", (_paper("c", 9),))))
    week = gather([tuesday, monday], dt.date(2026, 11, 14))
    assert week is not None and week.since == dt.date(2026, 11, 14) and week.date == tuesday.date
    assert [(s.slug, [(p.key, p.upvotes) for p in s.papers]) for s in week.sections] == [
        ("t", [("a", 50), ("b", 1)]), ("u", [("c", 9)])]
    assert [p.key for s in best_of(week, papers=2).sections for p in s.papers] == ["a", "c"]
    assert gather([monday], dt.date(2026, 11, 14), skip=frozenset({monday.date})) is None
