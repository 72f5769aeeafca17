"""Feeds: ingest a 5,000-entry arXiv listing from a local file, against feedparser's own parse.

    python benchmarks/sources.py [--entries 5000] [--rounds 3] [--database-url URL]

Side by side, in the same run, alternating, best of ``--rounds``:

- feedparser: ``feedparser.parse`` of the file's bytes (what a feed reader built on it pays);
- paperboy, end to end: ``paperboy ingest`` as a fresh process on a fresh database, with the file
  as a ``[[sources]]`` feed (start-up, reading, parsing, the diff and the writes, commit);
- paperboy in process: ``ingest_sources`` alone, the same work without the interpreter's start.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import clean_env, reset_schema
from bot.sources.samples import arxiv_rss, synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--work", type=Path, default=Path("/tmp/paperboy-bench-sources"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    feed = args.work / "cs.LG.xml"
    feed.write_bytes(arxiv_rss(synthetic(args.entries)))
    config = args.work / "paperboy.toml"
    config.write_text(f'[[sources]]\nname = "arxiv"\nkind = "feed"\nlocation = "{feed}"\n')
    import feedparser

    timings: dict[str, list[float]] = {"feedparser": [], "end to end": [], "in process": []}
    for round_ in range(args.rounds):
        data = feed.read_bytes()
        started = time.perf_counter()
        parsed = feedparser.parse(data)
        timings["feedparser"].append(time.perf_counter() - started)
        assert len(parsed.entries) == args.entries

        url = args.database_url or f"sqlite:///{args.work / f'e2e{round_}.db'}"
        reset_schema(url)
        env = clean_env(PAPERBOY_DATABASE_URL=url, PAPERBOY_INBOX=str(args.work / "inbox"))
        # The schema is made before the clock starts, as on an installation that runs already.
        subprocess.run([sys.executable, "-m", "bot", "status", "--quiet"], env=env, cwd=ROOT, check=False)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "ingest", "--json"], env=env,
                             cwd=ROOT, capture_output=True, text=True, check=True)
        timings["end to end"].append(time.perf_counter() - started)
        assert f'"new": {args.entries}' in out.stdout, out.stdout[-300:]

        from bot.pipeline import ingest_sources
        from bot.settings import load_settings
        from bot.store import open_database

        url = args.database_url or f"sqlite:///{args.work / f'inproc{round_}.db'}"
        reset_schema(url)
        settings = load_settings(config, env={"PAPERBOY_DATABASE_URL": url, "PAPERBOY_INBOX": str(args.work / "inbox")})
        database = open_database(settings.database_url)
        started = time.perf_counter()
        summary = ingest_sources(database, settings)
        timings["in process"].append(time.perf_counter() - started)
        assert summary.new == args.entries
        database.close()

    size = feed.stat().st_size / 2**20
    backend = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    best = {name: min(values) for name, values in timings.items()}
    print(f"Measured {dt.date.today()} on {os.cpu_count()} cores, {backend}; an arXiv RSS listing of "
          f"{args.entries:,} entries ({size:.1f} MiB), best of {args.rounds}.\n")
    print("| measurement | seconds | vs feedparser's parse | target |")
    print("|---|---|---|---|")
    print(f"| feedparser.parse of the file | {best['feedparser']:.2f} | 1.00x | |")
    print(f"| `paperboy ingest`, end to end (new process, parse, diff, store) | {best['end to end']:.2f} | "
          f"{best['end to end'] / best['feedparser']:.2f}x | ≤ 3 s |")
    print(f"| `ingest_sources` in process | {best['in process']:.2f} | "
          f"{best['in process'] / best['feedparser']:.2f}x | |")


if __name__ == "__main__":
    main()
