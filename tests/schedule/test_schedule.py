"""The schedule: one edition per local date across daylight-saving changes, downtime inside and
beyond the lateness window, late deliveries given up, the scheduler lock. The clock is moved with
time-machine; reconcile reads it as the daemon would."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from bot.calendar import Calendar
from bot.pipeline import ingest
from bot.schedule.reconcile import reconcile
from bot.settings import Settings
from bot.store import Database
from bot.store import deliveries as outbox
from bot.store.lock import LEASE, SchedulerLock, current_holder
from bot.store.schema import EditionRow, SkippedDayRow
from bot.store.subscribers import upsert_subscriber
from bot.subscribers import preferences
from tests.conftest import ROOT
from tests.smtp_server import Recorder, SmtpServer

UTC = dt.UTC
ZONES = ("Europe/Berlin", "America/New_York", "UTC")
TIMES = ("00:15", "02:30", "07:00")
# The daylight-saving changes of 2026: (spring, autumn) per zone; UTC has none, so it is swept
# over the European dates.
CHANGES = {
    "Europe/Berlin": (dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
    "America/New_York": (dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    "UTC": (dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
}
EXAMPLES = ROOT / "examples" / "inbox"


def first_moment(zone: ZoneInfo, date: dt.date, clock: dt.time) -> dt.datetime:
    """The reference the calendar must agree with, found by brute force: the first minute (UTC)
    at which ``date``'s local clock reads ``clock`` or later."""
    wall = dt.datetime.combine(date, clock)
    minute = dt.datetime.combine(date, dt.time(), tzinfo=UTC) - dt.timedelta(hours=15)
    while True:
        local = minute.astimezone(zone).replace(tzinfo=None)
        if local.date() == date and local >= wall:
            return minute
        minute += dt.timedelta(minutes=1)


def _days_around(change: dt.date) -> list[dt.date]:
    return [change + dt.timedelta(days=n) for n in range(-2, 3)]


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("clock", TIMES)
def test_every_local_date_has_exactly_one_due_instant(zone_name: str, clock: str) -> None:
    """Minute by minute across both changes: the latest due date steps once per date, at the
    reference instant, and never goes back."""
    zone = ZoneInfo(zone_name)
    calendar = Calendar(dt.time.fromisoformat(clock), zone, frozenset(range(7)))
    for change in CHANGES[zone_name]:
        days = _days_around(change)
        for day in days:
            assert calendar.due_at(day) == first_moment(zone, day, calendar.time), (zone_name, clock, day)
        start = dt.datetime.combine(days[0], dt.time(), tzinfo=UTC)
        became_due: dict[dt.date, dt.datetime] = {}
        previous = None
        for minute in range(0, 5 * 24 * 60, 1):
            now = start + dt.timedelta(minutes=minute)
            due = calendar.latest_due(now)
            if due != previous:
                assert due is not None and (previous is None or due > previous), (now, due, previous)
                assert due not in became_due, f"{due} became due twice"
                became_due[due] = now
                previous = due
        for day, at in became_due.items():
            if at > start:
                assert at == calendar.due_at(day)
                assert at.astimezone(zone).date() == day


def test_apscheduler_cron_trigger_is_not_what_decides() -> None:
    """The reason for the calendar: APScheduler 3's cron trigger in Europe/Berlin fires a 02:30 job
    on the autumn change twice or skips the spring one. Ours is due once on each of those dates."""
    zone = ZoneInfo("Europe/Berlin")
    calendar = Calendar(dt.time(2, 30), zone, frozenset(range(7)))
    spring, autumn = CHANGES["Europe/Berlin"]
    assert calendar.due_at(spring).astimezone(zone).strftime("%H:%M %Z") == "03:00 CEST"
    assert calendar.due_at(autumn).astimezone(zone).strftime("%H:%M %Z") == "02:30 CEST"
    assert calendar.latest_due(calendar.due_at(autumn) + dt.timedelta(hours=1)) == autumn


def _settings(settings: Settings, zone: str, clock: str, **changes: object) -> Settings:
    return replace(settings, **{"schedule_timezone": zone, "schedule_time": dt.time.fromisoformat(clock),
                                "digest_empty_editions": True, "public_dir": settings.inbox.parent / "public",
                                **changes})


def _editions(db: Database) -> dict[dt.date, dt.datetime]:
    with db.read() as session:
        return dict(session.execute(select(EditionRow.date, EditionRow.created_at)).all())  # type: ignore[arg-type]


def _skips(db: Database) -> dict[dt.date, str]:
    with db.read() as session:
        return dict(session.execute(select(SkippedDayRow.date, SkippedDayRow.kind)).all())  # type: ignore[arg-type]


def _tick(db: Database, settings: Settings, at: dt.datetime, **kwargs: object):  # type: ignore[no-untyped-def]
    with time_machine.travel(at, tick=False):
        return reconcile(db, settings, on_schedule=True, **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("clock", TIMES)
def test_a_reconciling_service_builds_one_edition_per_local_date_across_both_changes(
    db: Database, settings: Settings, zone: str, clock: str,
) -> None:
    """Reconcile every two hours and a minute either side of each reference due time, across
    the spring and the autumn change: one edition per local date, built at the first tick at or
    after its due time and never before."""
    settings = _settings(settings, zone, clock)
    tz = ZoneInfo(zone)
    for change in CHANGES[zone]:
        days = _days_around(change)
        due = {day: first_moment(tz, day, dt.time.fromisoformat(clock)) for day in days}
        start = dt.datetime.combine(days[0], dt.time(), tzinfo=UTC)
        ticks = {start + dt.timedelta(hours=h) for h in range(0, 24 * len(days), 2)}
        ticks |= {at + dt.timedelta(minutes=m) for at in due.values() for m in (-1, 0, 1)}
        for at in sorted(ticks):
            _tick(db, settings, at)
        built = _editions(db)
        for day, at in due.items():
            if at < min(ticks):
                continue
            assert day in built, f"{zone} {clock}: no edition for {day}"
            assert built[day] == at, f"{zone} {clock}: {day} built at {built[day]}, due {at}"
        assert all(day < days[0] for day in _skips(db)), "only days before the first tick were too late"
    local_dates = list(_editions(db))
    assert len(local_dates) == len(set(local_dates))


def _subscribe(db: Database, *addresses: str) -> None:
    with db.write() as session:
        for address in addresses:
            upsert_subscriber(session, address, preferences(), dt.datetime(2026, 1, 1, tzinfo=UTC))


def _ingest_at(db: Database, settings: Settings, name: str, at: dt.datetime) -> None:
    with time_machine.travel(at, tick=False):
        assert ingest(db, settings, [EXAMPLES / name]).ok


def _delivery_statuses(db: Database) -> dict[tuple[dt.date, str], str]:
    with db.read() as session:
        return {(d.edition_date, d.address): d.status for d in outbox.iter_deliveries(session)}


BERLIN = ZoneInfo("Europe/Berlin")


def _berlin(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def test_downtime_within_the_lateness_window_sends_late_beyond_it_is_recorded_as_missed(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    settings = replace(_settings(settings, "Europe/Berlin", "07:00", digest_empty_editions=False),
                       schedule_max_lateness=dt.timedelta(hours=2), outbox=tmp_path / "maildir")
    _subscribe(db, "ada@example.org")
    _ingest_at(db, settings, "2026-11-18.txt", _berlin(16, 6))
    first = _tick(db, settings, _berlin(16, 7))
    assert first.edition.status == "built" and first.deliveries.sent == 1

    # Down from 07:30 on the 16th until 08:30 on the 17th: within two hours of 07:00.
    _ingest_at(db, settings, "2026-11-19.txt", _berlin(17, 6))
    late = _tick(db, settings, _berlin(17, 8, 30))
    assert late.edition.status == "built" and late.deliveries.sent == 1

    # Down until 09:30 on the 18th, beyond the window, with new papers waiting: missed, not sent.
    _ingest_at(db, settings, "2026-11-20.txt", _berlin(18, 6))
    missed = _tick(db, settings, _berlin(18, 9, 30))
    assert missed.edition.status == "missed" and missed.deliveries is None
    assert "max_lateness" in (missed.edition.note or "")
    assert _tick(db, settings, _berlin(18, 10)).edition.status == "missed", "decided once"

    # Down again until the 22nd at 07:05: the 19th to the 21st passed unseen and are missed; the
    # 22nd gets the papers the missed days never carried.
    resumed = _tick(db, settings, _berlin(22, 7, 5))
    assert resumed.edition.status == "built" and resumed.edition.papers > 0
    assert _skips(db) == {dt.date(2026, 11, d): "missed" for d in (18, 19, 20, 21)}
    assert set(_editions(db)) == {dt.date(2026, 11, d) for d in (16, 17, 22)}
    assert sorted(_delivery_statuses(db).values()) == ["sent", "sent", "sent"]
    assert len(list((tmp_path / "maildir" / "new").iterdir())) == 3


def test_a_day_with_nothing_new_is_recorded_empty_once_its_window_closes(db: Database, settings: Settings) -> None:
    settings = replace(_settings(settings, "UTC", "07:00", digest_empty_editions=False),
                       schedule_max_lateness=dt.timedelta(hours=3))
    _ingest_at(db, settings, "2026-11-18.txt", dt.datetime(2026, 11, 16, 6, tzinfo=UTC))
    assert _tick(db, settings, dt.datetime(2026, 11, 16, 7, tzinfo=UTC)).edition.status == "built"
    waiting = _tick(db, settings, dt.datetime(2026, 11, 17, 7, tzinfo=UTC))
    assert waiting.edition.status == "waiting", "nothing new yet, but still in time"
    # A dump arrives at 09:00, within the window: the edition goes out then.
    _ingest_at(db, settings, "2026-11-19.txt", dt.datetime(2026, 11, 17, 9, tzinfo=UTC))
    assert _tick(db, settings, dt.datetime(2026, 11, 17, 9, 5, tzinfo=UTC)).edition.status == "built"
    assert _tick(db, settings, dt.datetime(2026, 11, 18, 7, tzinfo=UTC)).edition.status == "waiting"
    closed = _tick(db, settings, dt.datetime(2026, 11, 18, 10, 1, tzinfo=UTC))
    assert closed.edition.status == "empty"
    assert _skips(db) == {dt.date(2026, 11, 18): "empty"}


def test_days_off_the_schedule_get_no_edition(db: Database, settings: Settings) -> None:
    settings = _settings(settings, "UTC", "07:00", schedule_days=(0, 1, 2, 3, 4))
    friday = dt.datetime(2026, 11, 20, 7, tzinfo=UTC)
    assert _tick(db, settings, friday).edition.status == "built"
    for hours in (25, 49):  # Saturday and Sunday, 08:00: Friday's is still the latest due
        report = _tick(db, settings, friday + dt.timedelta(hours=hours))
        assert (report.edition.date, report.edition.status) == (dt.date(2026, 11, 20), "found")
    assert _tick(db, settings, friday + dt.timedelta(days=3)).edition.status == "built"
    assert set(_editions(db)) == {dt.date(2026, 11, 20), dt.date(2026, 11, 23)}
    assert not _skips(db), "weekends are not missed days"


def test_deliveries_not_sent_within_the_window_are_given_up_not_sent_late(
    db: Database, settings: Settings,
) -> None:
    smtp = SmtpServer(Recorder())  # not started: connections are refused, so messages wait for a retry
    settings = replace(_settings(settings, "UTC", "07:00"), smtp_host="127.0.0.1", smtp_port=smtp.port,
                       smtp_tls="none", smtp_timeout=2, schedule_max_lateness=dt.timedelta(hours=1),
                       delivery_wait_seconds=0, delivery_retry_seconds=60, delivery_concurrency=1)
    _subscribe(db, "ada@example.org", "bob@example.org")
    first = _tick(db, settings, dt.datetime(2026, 11, 20, 7, tzinfo=UTC))
    assert first.deliveries.retrying == 2 and first.deliveries.sent == 0
    smtp.start()
    try:
        late = _tick(db, settings, dt.datetime(2026, 11, 20, 8, 1, tzinfo=UTC))
        assert late.expired == 2 and late.edition.status == "found"
        assert late.deliveries is None, "no sending after the window"
        assert set(_delivery_statuses(db).values()) == {"skipped"}
        assert smtp.recorder.count() == 0
    finally:
        smtp.stop()


def test_the_scheduler_lock_admits_one_holder(db: Database) -> None:
    now = dt.datetime(2026, 11, 20, 7, tzinfo=UTC)
    clock = [now]
    first = SchedulerLock(db, "host-a:1", lambda: clock[0])
    second = SchedulerLock(db, "host-b:2", lambda: clock[0])
    assert first.acquire() is None
    other = second.acquire()
    assert other is not None and other.holder == "host-a:1"
    assert current_holder(db, now).holder == "host-a:1"  # type: ignore[union-attr]
    clock[0] = now + LEASE / 2
    assert first.heartbeat()
    assert second.acquire() is not None
    first.release()
    assert second.acquire() is None, "released: the next one takes over"
    assert current_holder(db, clock[0]).holder == "host-b:2"  # type: ignore[union-attr]
    second.release()


def test_an_abandoned_sqlite_lock_expires(db: Database) -> None:
    if db.dialect == "postgresql":
        pytest.skip("PostgreSQL drops an advisory lock when its holder's connection goes")
    now = dt.datetime(2026, 11, 20, 7, tzinfo=UTC)
    clock = [now]
    gone = SchedulerLock(db, "host-a:1", lambda: clock[0])
    assert gone.acquire() is None  # and never released, as after kill -9
    waiting = SchedulerLock(db, "host-b:2", lambda: clock[0])
    assert waiting.acquire() is not None
    clock[0] = now + LEASE + dt.timedelta(seconds=1)
    assert waiting.acquire() is None



def test_the_daemon_wakes_up_when_the_next_edition_is_due(db: Database, settings: Settings) -> None:
    """Besides its interval, the daemon plans one wake-up at the next due instant (here the first
    07:00 after the spring change, in summer time)."""
    import threading

    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.schedule.daemon import Service

    now = dt.datetime(2026, 3, 28, 12, tzinfo=UTC)
    service = Service(db, _settings(settings, "Europe/Berlin", "07:00"), threading.Event(), clock=lambda: now)
    assert service.tick() is not None, "it holds the lock and reconciled"
    scheduler = BackgroundScheduler(timezone=UTC)
    service._wake_when_due(scheduler)
    assert scheduler.get_job("due").trigger.run_date == dt.datetime(2026, 3, 29, 5, tzinfo=UTC)
    service.lock.release()


def test_a_service_started_after_the_window_says_the_day_was_missed_and_how_to_send_it(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    from bot.status import health

    settings = replace(_settings(settings, "UTC", "07:00", digest_empty_editions=False),
                       schedule_max_lateness=dt.timedelta(hours=1), outbox=tmp_path / "maildir")
    _subscribe(db, "ada@example.org")
    _ingest_at(db, settings, "2026-11-18.txt", dt.datetime(2026, 11, 16, 6, tzinfo=UTC))
    started = dt.datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert _tick(db, settings, started).edition.status == "missed"
    told = health(db, settings, started)
    assert any("2026-11-16 was missed" in w and "paperboy run --once" in w for w in told.warnings)
    assert "run --once" not in (told.note or ""), "operator warnings never reach readers"
    with time_machine.travel(started, tick=False):
        sent = reconcile(db, settings, on_schedule=False)  # what the warning tells the operator to run
    assert sent.edition.status == "built" and sent.deliveries.sent == 1
    assert not health(db, settings, started).warnings


def test_followers_of_a_renamed_topic_follow_it_under_its_new_slug(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    from bot.models import TopicRule
    from bot.status import health
    from bot.store.subscribers import find_subscriber

    rule = TopicRule("Robot learning", "robot-learning", ("robot",), formerly=("robotics",))
    settings = replace(_settings(settings, "UTC", "07:00"), topics=(rule,), outbox=tmp_path / "maildir")
    now = dt.datetime(2026, 11, 16, 7, tzinfo=UTC)
    with db.write() as session:
        upsert_subscriber(session, "ada@example.org", preferences(follow="robotics"), now)
        upsert_subscriber(session, "bob@example.org", preferences(follow="quantum-basket-weaving"), now)
    assert any("quantum-basket-weaving" in w and "formerly" in w for w in health(db, settings, now).warnings)
    _tick(db, settings, now)
    with db.read() as session:
        assert find_subscriber(session, "ada@example.org").preferences.follow == ("robot-learning",)  # type: ignore[union-attr]
    warnings = health(db, settings, now).warnings
    assert not any("robotics" in w for w in warnings) and any("quantum-basket-weaving" in w for w in warnings)
