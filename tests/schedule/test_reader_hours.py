"""Each reader's hour and time zone: when their copy of an edition is due, across the 2026
daylight-saving changes, and how the outbox, the retry command, lateness and the daemon keep it."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from bot.calendar import reader_due
from bot.deliver import retry, send_edition
from bot.schedule.reconcile import reconcile
from bot.settings import Settings
from bot.store import Database
from bot.store import deliveries as outbox
from tests.deliver.test_delivery import edition as edition  # the fixtures, shared
from tests.deliver.test_delivery import mail_settings as mail_settings
from tests.deliver.test_delivery import statuses, subscribe
from tests.schedule.test_schedule import _settings, first_moment
from tests.smtp_server import SmtpServer

UTC = dt.UTC
CHANGES = {  # 2026: the spring and autumn changes of three zones, two hemispheres
    "America/New_York": (dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    "Europe/Berlin": (dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
    "Australia/Sydney": (dt.date(2026, 10, 4), dt.date(2026, 4, 5)),
}
HOURS = ["00:00", "02:30", "07:00", "23:30"]


@pytest.mark.parametrize("zone_name", CHANGES)
@pytest.mark.parametrize("hour", HOURS)
def test_a_reader_s_copy_is_due_at_their_hour_of_their_own_day_across_both_changes(zone_name: str,
                                                                                 hour: str) -> None:
    """For editions built every three hours over the days around each change: the copy is due at
    the first moment the reader's own date (at the build) reads their hour (a time that occurs
    twice at the first, one that does not exist at the end of the gap), so never a day late."""
    zone, at = ZoneInfo(zone_name), dt.time.fromisoformat(hour)
    for change in CHANGES[zone_name]:
        start = dt.datetime.combine(change - dt.timedelta(days=2), dt.time(), tzinfo=UTC)
        for step in range(4 * 8):
            built = start + dt.timedelta(hours=3 * step)
            due = reader_due(at, zone, built)
            day = built.astimezone(zone).date()
            assert due == first_moment(zone, day, at), (built, due)
            assert due - built < dt.timedelta(hours=25)


NOW = dt.datetime(2026, 11, 20, 7, tzinfo=UTC)  # the edition is built at 07:00 UTC (08:00 in Berlin)


def _due(db: Database) -> dict[str, tuple[str, dt.datetime | None, dt.datetime]]:
    with db.read() as session:
        rows = session.execute(select(outbox.deliveries.c.subscriber_id, outbox.deliveries.c.status,
                                             outbox.deliveries.c.due_at, outbox.deliveries.c.next_attempt_at,
                                             outbox.subscribers.c.address)
                               .join(outbox.subscribers, outbox.subscribers.c.id == outbox.deliveries.c.subscriber_id))
        return {r.address: (r.status, r.due_at, r.next_attempt_at) for r in rows}


def test_copies_wait_for_their_reader_s_hour_and_retry_does_not_hurry_them(
    db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date,
) -> None:
    subscribe(db, "ada@example.org")  # no hour: the copy goes at once, as before
    subscribe(db, "bob@example.org", send_at="18:00", time_zone="Europe/Berlin")
    subscribe(db, "cy@example.org", send_at="06:00", time_zone="Europe/Berlin")  # passed already: at once
    subscribe(db, "dee@example.org", send_at="18:00", time_zone="America/New_York")
    # Los Angeles' date is still the 19th at the build: its 07:00 has passed, so at once that day.
    subscribe(db, "eve@example.org", send_at="07:00", time_zone="America/Los_Angeles")
    summary = send_edition(db, mail_settings, clock=lambda: NOW)
    assert (summary.queued, summary.sent) == (5, 3)
    assert sorted(r for m in smtp.recorder.received for r in m.recipients) == [
        "ada@example.org", "cy@example.org", "eve@example.org"]
    due = _due(db)
    assert due["bob@example.org"][0] == "pending"
    assert due["bob@example.org"][1] == due["bob@example.org"][2] == dt.datetime(2026, 11, 20, 17, tzinfo=UTC)
    assert due["dee@example.org"][1] == dt.datetime(2026, 11, 20, 23, tzinfo=UTC)
    assert due["ada@example.org"][1] == NOW
    assert retry(db, mail_settings, clock=lambda: NOW).sent == 0, "retry is for failures, not for readers' hours"
    assert smtp.recorder.count() == 3
    evening = send_edition(db, mail_settings, clock=lambda: dt.datetime(2026, 11, 20, 17, 0, 1, tzinfo=UTC))
    assert evening.sent == 1 and evening.queued == 0
    night = send_edition(db, mail_settings, clock=lambda: dt.datetime(2026, 11, 20, 23, 0, 1, tzinfo=UTC))
    assert night.sent == 1
    assert sorted(smtp.recorder.per_recipient().values()) == [1, 1, 1, 1, 1], "each once"
    assert set(statuses(db).values()) == {"sent"}


def test_lateness_counts_from_the_reader_s_hour_and_the_daemon_wakes_for_it(
    db: Database, settings: Settings, smtp: SmtpServer,
) -> None:
    """The edition's own window (one hour here) closes long before a reader's evening hour: their
    copy is neither given up nor forgotten, the daemon plans a wake-up for it, and it goes out
    then; a copy that waited past its own window is given up."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.schedule.daemon import Service
    from tests.schedule.test_schedule import _ingest_at

    settings = replace(_settings(settings, "UTC", "07:00"), smtp_host="127.0.0.1", smtp_port=smtp.port,
                       smtp_tls="none", smtp_timeout=5, mail_from="digest@papers.example.org",
                       base_url="https://papers.example.org/", schedule_max_lateness=dt.timedelta(hours=1),
                       delivery_wait_seconds=0)
    _ingest_at(db, settings, "2026-11-20.txt", dt.datetime(2026, 11, 20, 6, tzinfo=UTC))
    subscribe(db, "ada@example.org")
    subscribe(db, "bob@example.org", send_at="19:00", time_zone="UTC")
    subscribe(db, "cy@example.org", send_at="20:00", time_zone="UTC")  # nothing runs from 19:01 to 21:30
    with time_machine.travel(dt.datetime(2026, 11, 20, 7, tzinfo=UTC), tick=False):
        service = Service(db, settings, threading.Event())
        assert service.tick() is not None
        scheduler = BackgroundScheduler(timezone=UTC)
        service._wake_when_due(scheduler)
        assert scheduler.get_job("hour").trigger.run_date == dt.datetime(2026, 11, 20, 19, tzinfo=UTC)
        service.lock.release()
    assert smtp.recorder.per_recipient() == {"ada@example.org": 1}
    from bot.status import status

    waiting = status(db, settings, dt.datetime(2026, 11, 20, 7, 5, tzinfo=UTC))["deliveries"]
    assert (waiting["pending"], waiting["waiting_for_hour"], waiting["next_hour"]) == (
        2, 2, "2026-11-20T19:00:00+00:00"), "status tells copies held for an hour from stuck ones"
    with time_machine.travel(dt.datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False):
        noon = reconcile(db, settings, on_schedule=True)
    assert noon.expired == 0 and _due(db)["bob@example.org"][0] == "pending"
    with time_machine.travel(dt.datetime(2026, 11, 20, 19, 0, 30, tzinfo=UTC), tick=False):
        evening = reconcile(db, settings, on_schedule=True)
    assert evening.deliveries is not None and evening.deliveries.sent == 1
    assert smtp.recorder.per_recipient() == {"ada@example.org": 1, "bob@example.org": 1}
    with time_machine.travel(dt.datetime(2026, 11, 20, 21, 30, tzinfo=UTC), tick=False):
        late = reconcile(db, settings, on_schedule=True)
    assert late.expired == 1 and _due(db)["cy@example.org"][0] == "skipped"
