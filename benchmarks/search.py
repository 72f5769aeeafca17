"""Search: index build time and size, and query latency, over a large store.

    python benchmarks/search.py [--papers 1000000] [--queries 200] [--database-url URL] [--work DIR]

On a fresh database, ``--papers`` generated papers (dumpgen's titles, abstracts, eight authors
and an organisation, as a Daily Papers API item carries them) are written straight into the
papers table in batches (not timed: ingest has its own benchmark). Then the whole index is built
as the daemon builds it after an ingest (``index_search``: FTS5 on SQLite, a tsvector with a
GIN index on PostgreSQL), timed, and its size read from the database. Then ``--queries`` queries
of each kind, drawn from the titles' words with a fixed seed, are run through the store's
``search`` (first page of 20, with the total and the marked snippets, as ``/search`` asks):
two words, one word, a rare word (an author's name), and a phrase that matches nothing. Reported:
p50, p99 and max per kind, after one warm-up query. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text

from benchmarks.common import fresh_database
from bot.pipeline import index_search
from bot.sources.dumpgen import _ADJ, _NOUN, _ORGS, _TASK, abstract_of, title_of
from bot.store import Database, open_database
from bot.store import search as search_store
from bot.store.schema import PaperRow

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
TARGET = "≤ 50 ms p99 (SQLite)"
FIRST = ("Ada", "Alan", "Grace", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret")
LAST = ("Lovelace", "Turing", "Hopper", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton")


def fill(database: Database, papers: int, batch: int = 5000) -> float:
    started = time.perf_counter()
    for start in range(0, papers, batch):
        rows = [{"key": f"arxiv:9{i:09d}", "arxiv_id": f"9{i:09d}", "title_key": f"t{i}", "title": title_of(i),
                 "abstract": abstract_of(i), "authors": [f"{FIRST[(i + k) % 10]} {LAST[(i * 7 + k) % 10]}{i % 997}"
                                                         for k in range(8)],
                 "organization": _ORGS[i % len(_ORGS)], "first_seen_at": NOW - dt.timedelta(minutes=i)}
                for i in range(start, min(papers, start + batch))]
        with database.write() as session:
            session.execute(insert(PaperRow), rows)
    return time.perf_counter() - started


def index_size(database: Database) -> int:
    with database.read() as session:
        if session.get_bind().dialect.name == "sqlite":
            return int(session.execute(text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'paper_search%'"))
                       .scalar_one() or 0)
        return int(session.execute(text("SELECT pg_total_relation_size('paper_search')")).scalar_one())


def queries(kind: str, count: int, papers: int) -> list[str]:
    chance = random.Random(f"{kind}-20261203")
    words = [w.lower() for phrase in (*_ADJ, *_NOUN, *_TASK) for w in phrase.replace("-", " ").split()]
    if kind == "two words":
        return [f"{chance.choice(words)} {chance.choice(words)}" for _ in range(count)]
    if kind == "one word":
        return [chance.choice(words) for _ in range(count)]
    if kind == "an author":
        return [f"{LAST[chance.randrange(10)]}{chance.randrange(min(997, papers))}" for _ in range(count)]
    return [f"quantum chromodynamics {chance.randrange(10**6)}" for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", help="PostgreSQL to use (a schema bench_search in it is replaced)")
    parser.add_argument("--work", type=Path, help="a directory to work in (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true",
                        help="query the database an earlier run left (in --work, or the bench_search schema) "
                        "instead of a new one")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="paperboy-search-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.reuse and (args.database_url or (work / "search.db").exists()):
            if args.database_url:
                from urllib.parse import quote
                where = f"{args.database_url}{'&' if '?' in args.database_url else '?'}"
                database = open_database(f"{where}options={quote('-csearch_path=bench_search')}")
            else:
                database = open_database(f"sqlite:///{work / 'search.db'}")
            filled = built = float("nan")
            with database.read() as session:
                indexed = int(session.execute(text("SELECT count(*) FROM papers")).scalar_one())
        else:
            database = open_database(fresh_database(args.database_url, work, "search"))
            filled = fill(database, args.papers)
            started = time.perf_counter()
            indexed = index_search(database)
            built = time.perf_counter() - started
        size = index_size(database)
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(f"| measurement ({backend}, {args.papers:,} papers; written in {filled:.0f} s) | result | target |")
        print("|---|---|---|")
        print(f"| build the index (`index_search`, {indexed:,} papers) | {built:.1f} s "
              f"({indexed / built:,.0f} papers/s) | |")
        print(f"| index size | {size / 2**20:,.0f} MB ({size / max(indexed, 1):,.0f} bytes a paper) | |")
        for kind in ("two words", "one word", "an author", "nothing matches"):
            asked = queries(kind, args.queries, args.papers)
            times, totals = [], []
            for label in ("first pass", "second pass"):
                times.clear()
                totals.clear()
                with database.read() as session:
                    search_store.search(session, asked[0])
                    for query in asked:
                        started = time.perf_counter()
                        found = search_store.search(session, query)
                        times.append((time.perf_counter() - started) * 1000)
                        totals.append(found.total)
                times.sort()
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                print(f"| {kind}, first page of 20 with the total, {label} ({args.queries} queries; median "
                      f"{statistics.median(totals):,.0f} matches) | p50 {statistics.median(times):.1f} ms, "
                      f"p99 {p99:.1f} ms, max {times[-1]:.1f} ms | {TARGET if kind == 'two words' else ''} |")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| peak memory of the process | {peak:.0f} MB | |")
        database.close()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
