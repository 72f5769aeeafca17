"""Each reader's hour and cadence: a day's deliveries for subscribers spread over 24 time zones,
some of them weekly.

    python benchmarks/reader_hours.py [--subscribers 10000] [--database-url URL] [--work DIR]

In one process, on a fresh database: seven synthetic days of 100 papers each are ingested and
their editions built at 07:00 UTC (Saturday 14 to Friday 20 November 2026); ``--subscribers``
readers are added, each asking for 07:00 in one of 24 time zones (one per hour of offset) and
one in 25 keeping the digest's own hour; every fourth reader is weekly, on Fridays (the last
day), and gets the best of the seven editions. Then the last day is played hour by hour, as the
daemon would wake: ``send_edition`` at each whole hour from 07:00 UTC for 24 hours, into a
Maildir. Reported: the queuing (``enqueue``: one instant per choice, one INSERT … SELECT),
against queuing the same readers with no hour and no cadence of their own (the baseline, in
the same run, on a second database); the sending over the day; how many copies each hour
sent; and the process's peak memory (imports included). ``--rated`` readers (spread over the
list) have a profile, as "more / less like this" makes one: three papers liked and one not, so
each of their copies is ranked for them and rendered on its own. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import fresh_database
from bot.deliver import reader_hours, send_edition
from bot.digest.ranking import paper_text, profile_of
from bot.models.readers import Preferences, Verdict
from bot.pipeline import build_edition, ingest
from bot.settings import Settings
from bot.store import Database, open_database, queue
from bot.store import deliveries as outbox
from bot.store import verdicts as verdict_store
from bot.store.editions import find_edition
from bot.store.subscribers import find_subscriber, upsert_subscriber

ZONES = ["Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
         "America/Chicago", "America/New_York", "America/Halifax", "America/Sao_Paulo", "Atlantic/South_Georgia",
         "Atlantic/Azores", "Europe/London", "Europe/Berlin", "Europe/Athens", "Europe/Moscow", "Asia/Dubai",
         "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
         "Pacific/Noumea", "Pacific/Auckland"]
BUILT = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)  # a Friday: the week's last day
WEEK = 7


def prepare(url: str, work: Path, subscribers: int, hours: bool, rated: int = 0) -> tuple[Database, Settings]:
    inbox = work / "inbox"
    inbox.mkdir(exist_ok=True)
    settings = replace(Settings(), database_url=url, inbox=inbox, outbox=work / f"outbox-{hours}",
                       mail_from="digest@papers.example.org", base_url="https://papers.example.org/",
                       delivery_wait_seconds=0, delivery_concurrency=4)
    database = open_database(url)
    for back in range(WEEK - 1, -1, -1):
        built = BUILT - dt.timedelta(days=back)
        dump = inbox / f"{built.date().isoformat()}.txt"
        if not dump.exists():
            subprocess.run([sys.executable, "-m", "bot.sources.dumpgen", str(dump), "--layout", "blocks-with-meta",
                            "--papers", "100", "--start", str(100 * (WEEK - back))], check=True, cwd=ROOT,
                           capture_output=True)
        assert ingest(database, settings, [dump], now=lambda built=built: built - dt.timedelta(hours=1)).ok  # type: ignore[misc]
        assert build_edition(database, settings, built.date(), built) is not None
    with database.write() as session:
        for i in range(subscribers):
            own = hours and i % 25 != 24
            weekly = hours and i % 4 == 3
            upsert_subscriber(session, f"reader{i:06d}@example.org",
                              Preferences(send_at="07:00" if own else None, time_zone=ZONES[i % 25] if own else None,
                                          cadence="weekly" if weekly else "daily", weekday=BUILT.weekday()),
                              BUILT)
        if rated:  # every (subscribers / rated)-th reader liked three papers and disliked one of the first day
            first = find_edition(session, (BUILT - dt.timedelta(days=WEEK - 1)).date())
            assert first is not None
            papers = [p for section in first.sections for p in section.papers]
            step = max(1, subscribers // rated)
            for n, i in enumerate(range(0, subscribers, step)[:rated]):
                chosen = [papers[(n * 7 + k * 13) % len(papers)] for k in range(4)]
                profile = profile_of([Verdict(p.key, p.title, paper_text(p.title, p.abstract), 1 if k < 3 else -1)
                                      for k, p in enumerate(chosen)])
                reader = verdict_store.subscriber_id(session, _token(session, f"reader{i:06d}@example.org"))
                assert reader is not None
                verdict_store.set_profile(session, reader, profile, BUILT)
    return database, settings


def _token(session: Session, address: str) -> str:
    found = find_subscriber(session, address)
    assert found is not None
    return found.token


def queue_edition(database: Database, settings: Settings) -> tuple[float, int]:
    started = time.perf_counter()
    with database.write() as session:
        number = outbox.edition_id(session, BUILT.date())
        assert number is not None
        queued = queue.enqueue(session, number, BUILT.date(), "papers.example.org", BUILT, reader_hours(settings))
    return time.perf_counter() - started, queued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--database-url", help="PostgreSQL to use (schemas bench_hours_* in it are replaced)")
    parser.add_argument("--work", type=Path, help="a directory to work in (default: a temporary one)")
    parser.add_argument("--rated", type=int, default=1000,
                        help="readers with a profile (more / less like this), each ranked and rendered alone")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="paperboy-hours-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        base_db, base_settings = prepare(fresh_database(args.database_url, work, "hours_base"), work,
                                         args.subscribers, hours=False)
        base_seconds, base_queued = queue_edition(base_db, base_settings)
        database, settings = prepare(fresh_database(args.database_url, work, "hours_24"), work,
                                     args.subscribers, hours=True, rated=args.rated)
        seconds, queued = queue_edition(database, settings)
        per_hour: Counter[int] = Counter()
        sending = 0.0
        for hour in range(25):
            at = BUILT + dt.timedelta(hours=hour, seconds=1)
            started = time.perf_counter()
            summary = send_edition(database, settings, BUILT.date(), clock=lambda at=at: at)  # type: ignore[misc]
            sending += time.perf_counter() - started
            per_hour[hour] = summary.sent
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(f"| measurement ({backend}, {args.subscribers:,} subscribers) | result | target |")
        print("|---|---|---|")
        print(f"| queue the edition, no reader with an hour or a cadence (baseline) | {base_seconds * 1000:.0f} ms "
              f"({base_queued:,} copies) | |")
        print(f"| queue it: 24 zones at 07:00, one in 25 at the digest's hour, a quarter weekly | "
              f"{seconds * 1000:.0f} ms "
              f"({queued:,} copies; {seconds / base_seconds:.2f}x the baseline) | |")
        print(f"| send over the day: 25 runs, one each hour from 07:00 UTC, into a Maildir; {args.rated:,} readers "
              f"ranked by their own profile | {sending:.1f} s, "
              f"{sum(per_hour.values()):,} sent ({sum(per_hour.values()) / sending:,.0f}/s) | |")
        print(f"| copies sent at each hour from 07:00 UTC | {' '.join(str(per_hour[h]) for h in range(25))} | |")
        print(f"| peak memory of the process (imports included) | {peak:.0f} MB | ≤ 300 MB |")
        assert sum(per_hour.values()) == args.subscribers, "every reader got the edition once"
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
