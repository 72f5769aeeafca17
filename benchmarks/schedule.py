"""The service: what a reconcile costs when nothing is due, what a whole day costs, and what the
daemon holds in memory.

    python benchmarks/schedule.py [--papers 1000] [--subscribers 1000] [--ticks 50]
                                  [--database-url URL] [--work DIR]

- idle tick: ``reconcile`` with nothing new and the day's edition already sent (the daemon does
  this every ``schedule.interval``), the median over ``--ticks``;
- a day: ``paperboy run --once`` in a fresh process on a fresh database: ingest a synthetic dump
  of ``--papers``, build the edition, deliver it to ``--subscribers`` through the Maildir, write
  the feeds and archive; wall time and the process's peak memory;
- the daemon: ``paperboy run`` after its first reconcile, resident memory (VmRSS).

``--database-url`` runs against PostgreSQL (its public schema is replaced). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import clean_env, reset_schema


def env_for(url: str, work: Path) -> dict[str, str]:
    return clean_env(PAPERBOY_DATABASE_URL=url, PAPERBOY_INBOX=str(work / "inbox"),
                     PAPERBOY_OUTBOX=str(work / "outbox"), PAPERBOY_PUBLIC_DIR=str(work / "public"),
                     PAPERBOY_SCHEDULE_INTERVAL="1h")


def paperboy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)


def a_day(url: str, work: Path, papers: int, subscribers: int) -> tuple[float, float, dict]:
    """``run --once`` on a fresh database; returns seconds, peak MB and its JSON report."""
    reset_schema(url)
    env = env_for(url, work)
    (work / "inbox").mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "bot.sources.dumpgen", str(work / "inbox" / "today.txt"),
                    "--layout", "blocks-with-meta", "--papers", str(papers)], check=True, cwd=ROOT)
    rows = "email\n" + "".join(f"reader{i:06d}@example.org\n" for i in range(subscribers))
    (work / "subscribers.csv").write_text(rows)
    paperboy(env, "subscribers", "import", str(work / "subscribers.csv"))
    started = time.perf_counter()
    process = subprocess.Popen(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "bot", "run", "--once", "--json"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    assert process.returncode == 0, err
    peak_kb = int(err.strip().splitlines()[-1])
    return seconds, peak_kb / 1024, json.loads(out)


def add_history(url: str, subscribers: int, editions: int) -> int:
    """Grow the database to ``subscribers`` active subscribers, every one of them sent today's
    edition and each of ``editions - 1`` earlier ones (copies of today's, a day apart): the
    delivery history of a list that size. Written by the server itself (generate_series)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("""
            INSERT INTO subscribers (address, address_key, status, follow, mute, include, exclude, token,
                                     hard_failures, created_at, confirmed_at, updated_at)
            SELECT 'bulk' || n || '@example.org', 'bulk' || n || '@example.org', 'active', '[]', '[]', '[]', '[]',
                   md5(n::text) || md5((n + 1)::text), 0, now() - interval '30 days', now() - interval '30 days',
                   now() - interval '30 days'
            FROM generate_series(1, :extra) AS n"""), {"extra": subscribers - int(c.execute(text(
                "SELECT count(*) FROM subscribers")).scalar_one())})
        today = c.execute(text("SELECT id, date FROM editions ORDER BY date DESC LIMIT 1")).one()
        for back in range(1, editions):
            c.execute(text("""
                INSERT INTO editions (date, created_at, cutoff_at, papers, climbing, note)
                SELECT date - :back, created_at - :back * interval '1 day', cutoff_at - :back * interval '1 day',
                       papers, climbing, note FROM editions WHERE id = :today"""), {"back": back, "today": today.id})
        c.execute(text("""
            INSERT INTO deliveries (edition_id, subscriber_id, message_id, status, attempts, next_attempt_at,
                                    uncertain, created_at, sent_at)
            SELECT e.id, s.id, '<' || e.date || '.' || s.id || '.bulk@example.org>', 'sent', 1, e.created_at, 0,
                   e.created_at, e.created_at
            FROM editions e CROSS JOIN subscribers s
            WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.edition_id = e.id AND d.subscriber_id = s.id)"""))
        total = int(c.execute(text("SELECT count(*) FROM deliveries")).scalar_one())
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return total


def idle_ticks(url: str, work: Path, ticks: int, slowest: int = 0) -> list[float]:
    """Reconciles with nothing to do; with ``slowest``, the statements that took longest in
    them (summed over the ticks) are printed to stderr, to show where an idle tick goes."""
    from collections import Counter

    from sqlalchemy import event

    from bot.schedule.reconcile import reconcile
    from bot.settings import load_settings
    from bot.store import open_database

    settings = load_settings(env=env_for(url, work))
    database = open_database(settings.database_url)
    spent: Counter[str] = Counter()
    if slowest:
        @event.listens_for(database.engine, "before_cursor_execute")
        def _start(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(database.engine, "after_cursor_execute")
        def _end(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            spent[" ".join(statement.split())[:160]] += time.perf_counter() - conn.info.pop("t0", time.perf_counter())

    reconcile(database, settings, on_schedule=False)  # warm: the process's first statements compile
    spent.clear()
    times = []
    for _ in range(ticks):
        started = time.perf_counter()
        report = reconcile(database, settings, on_schedule=False)
        times.append(time.perf_counter() - started)
        assert report.edition is not None and report.edition.status == "found"
        assert report.deliveries is None or report.deliveries.sent == 0, report.deliveries
    for statement, seconds in spent.most_common(slowest):
        print(f"{seconds / ticks * 1000:8.2f} ms/tick  {statement}", file=sys.stderr)
    database.close()
    return times


def daemon_rss(url: str, work: Path) -> float:
    env = env_for(url, work)
    process = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "reconcile: done" in line:
                break
        time.sleep(1)
        status = Path(f"/proc/{process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--database-url")
    parser.add_argument("--history-subscribers", type=int, default=0,
                        help="PostgreSQL: grow to this many subscribers before the idle ticks (0: as the day left it)")
    parser.add_argument("--history-editions", type=int, default=10,
                        help="editions each of them was sent, today's included (deliveries = the product)")
    parser.add_argument("--slowest", type=int, default=0, help="print the N costliest statements of an idle tick")
    parser.add_argument("--work", type=Path, default=Path("/tmp/paperboy-bench-schedule"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{args.work / 'paperboy.db'}"
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"

    seconds, peak, report = a_day(url, args.work, args.papers, args.subscribers)
    sent = report["deliveries"]["sent"]
    assert sent == args.subscribers and report["edition"]["status"] == "built", report
    history = ""
    if args.history_subscribers:
        started = time.perf_counter()
        rows = add_history(url, args.history_subscribers, args.history_editions)
        history = f", {args.history_subscribers:,} subscribers and {rows:,} delivery rows"
        print(f"history written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    ticks = idle_ticks(url, args.work, args.ticks, args.slowest)
    rss = daemon_rss(url, args.work)
    print(f"Measured {dt.date.today()} on {os.cpu_count()} cores, {backend}.\n")
    print("| measurement | result | peak memory |")
    print("|---|---|---|")
    print(f"| a day: `run --once` ingesting {args.papers:,} papers, building the edition "
          f"({report['edition']['topics']} topics), sending to {sent:,} subscribers (Maildir), "
          f"writing {report['feeds']['files']} feed and archive files | {seconds:.1f} s | {peak:.0f} MB |")
    print(f"| idle reconcile (nothing new, edition sent{history}), median of {args.ticks} | "
          f"{statistics.median(ticks) * 1000:.0f} ms (p90 {sorted(ticks)[int(len(ticks) * 0.9)] * 1000:.0f} ms) | |")
    print(f"| `paperboy run` resident after its first reconcile | | {rss:.0f} MB |")


if __name__ == "__main__":
    main()
