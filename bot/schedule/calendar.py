"""When an edition is due, computed per local date with zoneinfo.

A cron-style trigger steps through wall-clock times and so trips over daylight saving: APScheduler
3's skips the day after the spring change for some times and runs a 02:30 job twice in autumn
(its issues #606 and #529). Here each scheduled local date has exactly one due instant: a time
that does not exist that day (02:30 in a spring gap) is moved forward by the gap (to 03:30), and
a time that occurs twice (02:30 in autumn) is taken at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.settings import Settings

UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class Calendar:
    time: dt.time
    zone: ZoneInfo
    days: frozenset[int]  # Monday is 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Calendar:
        return cls(settings.schedule_time, ZoneInfo(settings.schedule_timezone), frozenset(settings.schedule_days))

    def local_date(self, now: dt.datetime) -> dt.date:
        return now.astimezone(self.zone).date()

    def is_scheduled(self, date: dt.date) -> bool:
        return date.weekday() in self.days

    def due_at(self, date: dt.date) -> dt.datetime:
        """The one UTC instant at which the edition of ``date`` is due (fold=0 gives both rules)."""
        return dt.datetime.combine(date, self.time, tzinfo=self.zone).astimezone(UTC)

    def latest_due(self, now: dt.datetime) -> dt.date | None:
        """The most recent scheduled date whose due time has come (None if none this past week)."""
        date = self.local_date(now)
        for _ in range(8):
            if self.is_scheduled(date) and self.due_at(date) <= now:
                return date
            date -= dt.timedelta(days=1)
        return None

    def next_due(self, now: dt.datetime) -> tuple[dt.date, dt.datetime]:
        """The first scheduled date whose due time is still to come."""
        date = self.local_date(now) - dt.timedelta(days=1)
        while True:
            if self.is_scheduled(date) and self.due_at(date) > now:
                return date, self.due_at(date)
            date += dt.timedelta(days=1)

    def dates_between(self, after: dt.date, before: dt.date) -> Iterator[dt.date]:
        """Scheduled dates strictly between two dates, oldest first."""
        date = after + dt.timedelta(days=1)
        while date < before:
            if self.is_scheduled(date):
                yield date
            date += dt.timedelta(days=1)
