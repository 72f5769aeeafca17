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


def idle_ticks(url: str, work: Path, ticks: int) -> list[float]:
    from bot.schedule.reconcile import reconcile
    from bot.settings import load_settings
    from bot.store import open_database

    settings = load_settings(env=env_for(url, work))
    database = open_database(settings.database_url)
    times = []
    for _ in range(ticks):
        started = time.perf_counter()
        report = reconcile(database, settings, on_schedule=False)
        times.append(time.perf_counter() - started)
        assert report.edition is not None and report.edition.status == "found"
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
    parser.add_argument("--work", type=Path, default=Path("/tmp/paperboy-bench-schedule"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{args.work / 'paperboy.db'}"
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"

    seconds, peak, report = a_day(url, args.work, args.papers, args.subscribers)
    sent = report["deliveries"]["sent"]
    assert sent == args.subscribers and report["edition"]["status"] == "built", report
    ticks = idle_ticks(url, args.work, args.ticks)
    rss = daemon_rss(url, args.work)
    print(f"Measured {dt.date.today()} on {os.cpu_count()} cores, {backend}.\n")
    print("| measurement | result | peak memory |")
    print("|---|---|---|")
    print(f"| a day: `run --once` ingesting {args.papers:,} papers, building the edition "
          f"({report['edition']['topics']} topics), sending to {sent:,} subscribers (Maildir), "
          f"writing {report['feeds']['files']} feed and archive files | {seconds:.1f} s | {peak:.0f} MB |")
    print(f"| idle reconcile (nothing new, edition sent), median of {args.ticks} | "
          f"{statistics.median(ticks) * 1000:.0f} ms (p90 {sorted(ticks)[int(len(ticks) * 0.9)] * 1000:.0f} ms) | |")
    print(f"| `paperboy run` resident after its first reconcile | | {rss:.0f} MB |")


if __name__ == "__main__":
    main()
