"""When an edition is due, computed per local date with zoneinfo.

A cron-style trigger steps through wall-clock times and so trips over daylight saving: APScheduler
3's skips the day after the spring change for some times and runs a 02:30 job twice in autumn
(its issues #606 and #529). Here each scheduled local date has exactly one due instant: the
first moment that date's local clock reads ``schedule.time`` or later. So a time that occurs
twice (02:30 on the autumn change) is due at its first occurrence, and one that does not exist
(02:30 on the spring change) at the end of the gap (03:00).
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
        """The one UTC instant at which the edition of ``date`` is due."""
        wall = dt.datetime.combine(date, self.time)
        early = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)  # the first occurrence if twice
        if early.astimezone(self.zone).replace(tzinfo=None) == wall:
            return early
        # In a gap: fold=1 reads the wall time with the offset after the change, which lands
        # before the gap; search the seconds in between for the first one past it.
        low = int(wall.replace(tzinfo=self.zone, fold=1).timestamp())
        high = int(early.timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            if dt.datetime.fromtimestamp(middle, self.zone).replace(tzinfo=None) >= wall:
                high = middle
            else:
                low = middle
        return dt.datetime.fromtimestamp(high, UTC)

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


EVERY_DAY = frozenset(range(7))


def reader_due(at: dt.time, zone: ZoneInfo, built: dt.datetime) -> dt.datetime:
    """When a reader who asked for ``at`` in ``zone`` gets an edition built at ``built``: at that
    hour of the reader's own date then (DST-safe, as :meth:`Calendar.due_at`), which may be
    past already (then the copy is due at once) and is never a day or more after the build."""
    return Calendar(at, zone, EVERY_DAY).due_at(built.astimezone(zone).date())
