"""Benchmark of ingest: parse against a bare read, ingest against a raw load, ingest against a large store.

    python benchmarks/ingest.py [--database-url URL] [--mb 50] [--stored 10000,100000,1000000]
                                [--diff-papers 10000] [--rounds 3] [--big-mb 100] [--work DIR]

Each measurement runs in a process of its own, so its peak memory (max RSS) is its own, and the
two sides of each ratio are alternated in one run (``--rounds`` times; medians with min–max):

- parse: sniff + decode + parse a blocks-with-meta dump into records, against a bare read of the
  same file (read, decode, splitlines): the floor of any line parser in Python;
- ingest into an empty database (the whole ``paperboy ingest`` of that dump: parse, diff, write,
  commit) against a raw load of the same rows (the paper and sighting rows paperboy writes, built
  before the clock starts) into an empty database with the same schema and indexes, by the
  driver's own ``executemany`` on SQLite and ``COPY`` on PostgreSQL, in one transaction;
- the whole ingest of a ``--diff-papers`` dump, half of them stored already, against stores of
  each ``--stored`` size (filled by the raw load): flat means the store's size does not show.

Dumps come from bot.sources.dumpgen (about 850 bytes of abstract per paper, the size of real
ones). PostgreSQL runs in schemas ``bench_*`` of ``--database-url``, replaced. Prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from benchmarks.common import fresh_database
from bot.models import DumpHeader, Paper
from bot.pipeline import ingest
from bot.settings import load_settings
from bot.sources.dump import DumpParser
from bot.sources.dumpgen import abstract_of, papers_for_size, title_of, write_dump
from bot.sources.text import read_lines, sniff
from bot.store import open_database
from bot.store import papers as store

DATE = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_bare(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    lines = path.read_bytes().decode("utf-8").splitlines()
    seconds = time.perf_counter() - started
    return {"lines": len(lines), "seconds": seconds, "mb_s": path.stat().st_size / 2**20 / seconds}


def child_parse(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    how = sniff(path, 2**40)
    parser = DumpParser(read_lines(path), today=DATE)
    count = sum(1 for _ in parser.papers())
    seconds = time.perf_counter() - started
    return {"papers": count, "seconds": seconds, "mb_s": how.size / 2**20 / seconds, "peak_mb": peak_mb()}


def child_ingest(path: Path, url: str) -> dict[str, float]:
    settings = load_settings(env={}, database_url=url, ingest_max_file_mb=100_000)
    database = open_database(url)
    started = time.perf_counter()
    report = ingest(database, settings, [path], now=lambda: NOW).files[0]
    seconds = time.perf_counter() - started
    assert report.status == "ingested", report
    return {"papers": report.new, "seen": report.seen, "seconds": seconds, "rate": report.new / seconds,
            "peak_mb": peak_mb(), "mb_s": path.stat().st_size / 2**20 / seconds}


def _rows(papers: list[Paper], dump_id: int, first_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows paperboy writes for these papers: each paper's row and its sighting."""
    rows, seen = [], []
    for n, paper in enumerate(papers):
        rows.append({"id": first_id + n, **store._new_row(store.key_for(paper), paper, dump_id, NOW)})
        seen.append({"paper_id": first_id + n, "dump_id": dump_id, "rank": paper.rank, "upvotes": paper.upvotes})
    return rows, seen


def _load(url: str, papers: list[Paper]) -> float:
    """The raw load: rows built first, then the driver's executemany (SQLite) or COPY
    (PostgreSQL) in one transaction; returns the seconds of the load alone."""
    database = open_database(url)
    with database.write() as session:
        digest = hashlib.sha256(f"{len(papers)} {papers[0].title}".encode()).hexdigest()
        dump_id = store.start_dump(session, content_hash=digest, path="raw", size=0, now=NOW,
                                   header=DumpHeader("blocks", DATE, True))
        first = int(session.execute(select(func.coalesce(func.max(store.papers.c.id), 0))).scalar_one())
    rows, seen = _rows(papers, dump_id, first + 1)
    paper_columns, seen_columns = list(rows[0]), list(seen[0])
    raw = database.engine.raw_connection()
    try:
        started = time.perf_counter()
        cursor = raw.cursor()
        if database.dialect == "postgresql":
            json_columns = {"authors", "categories"}
            with cursor.copy(f"COPY papers ({', '.join(paper_columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
                                    for c in paper_columns])
            with cursor.copy(f"COPY sightings ({', '.join(seen_columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in seen:
                    copy.write_row([row[c] for c in seen_columns])
            cursor.execute("SELECT setval(pg_get_serial_sequence('papers', 'id'), (SELECT max(id) FROM papers))")
        else:
            cursor.execute("BEGIN IMMEDIATE")
            convert = {"authors": json.dumps, "categories": json.dumps, "first_seen_at": store._sqlite_datetime,
                       "published": dt.date.isoformat}
            cursor.executemany(
                f"INSERT INTO papers ({', '.join(paper_columns)}) VALUES ({', '.join('?' * len(paper_columns))})",
                [tuple(convert[c](row[c]) if c in convert and row[c] is not None else row[c] for c in paper_columns)
                 for row in rows])
            cursor.executemany(f"INSERT INTO sightings ({', '.join(seen_columns)}) VALUES (?, ?, ?, ?)",
                               [tuple(row[c] for c in seen_columns) for row in seen])
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def child_raw(path: Path, url: str) -> dict[str, float]:
    papers = list(DumpParser(read_lines(path), today=DATE).papers())
    seconds = _load(url, papers)
    return {"papers": len(papers), "seconds": seconds, "rate": len(papers) / seconds, "peak_mb": peak_mb()}


def child_store(path: Path, url: str) -> dict[str, float]:
    """The store's part of ingest alone: the dump parsed and keyed first, then timed, what
    ``paperboy ingest`` does with the records (the diff, the writes in batches, the commit)."""
    from bot.pipeline.ingest import BATCH

    papers = [(store.key_for(p), p) for p in DumpParser(read_lines(path), today=DATE).papers()]
    database = open_database(url)
    started = time.perf_counter()
    with database.write() as session:
        dump_id = store.start_dump(session, content_hash="e" * 64, path="store", size=0, now=NOW,
                                   header=DumpHeader("blocks", DATE, True))
        new = 0
        for start in range(0, len(papers), BATCH):
            new += store.record_batch(session, dump_id, papers[start : start + BATCH], NOW).new
    seconds = time.perf_counter() - started
    return {"papers": new, "seconds": seconds, "rate": new / seconds, "peak_mb": peak_mb()}


def child_fill(url: str, count: int) -> dict[str, float]:
    """Store ``count`` generated papers (index 0 .. count-1) by the raw load, a million at most
    in memory at once."""
    started = time.perf_counter()
    for start in range(0, count, 250_000):
        _load(url, [Paper(title=title_of(i), abstract=abstract_of(i, 2), rank=i + 1)
                    for i in range(start, min(count, start + 250_000))])
    database = open_database(url)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")  # as autovacuum would have, on a store that size
    return {"papers": count, "seconds": time.perf_counter() - started}


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL to use (schemas bench_* in it are replaced)")
    parser.add_argument("--mb", type=float, default=50, help="size of the parse/ingest dump")
    parser.add_argument("--stored", default="10000,100000,1000000", help="store sizes for the diff, comma-separated")
    parser.add_argument("--diff-papers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=float, default=100, help="size of the dump for peak memory (0: skip)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "ingest")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, *rest = args.child
        result = {"bare": lambda: child_bare(Path(rest[0])),
                  "parse": lambda: child_parse(Path(rest[0])),
                  "ingest": lambda: child_ingest(Path(rest[0]), rest[1]),
                  "raw": lambda: child_raw(Path(rest[0]), rest[1]),
                  "store": lambda: child_store(Path(rest[0]), rest[1]),
                  "fill": lambda: child_fill(rest[0], int(rest[1]))}[task]()
        print(json.dumps(result))
        return

    work, url = args.work, args.database_url
    work.mkdir(parents=True, exist_ok=True)
    backend = "PostgreSQL" if url else "SQLite"
    rows: list[tuple[str, str, str, str]] = []
    dump = work / "blocks-with-meta.txt"
    count = papers_for_size(int(args.mb * 2**20), "blocks-with-meta")
    write_dump(dump, "blocks-with-meta", 0, count, dump_date=DATE)
    size = f"{dump.stat().st_size / 2**20:.0f} MB"

    bare, parsed = [], []
    for _ in range(args.rounds):
        bare.append(run_child("bare", str(dump)))
        parsed.append(run_child("parse", str(dump)))
    ratio = statistics.median(b["seconds"] for b in bare) / statistics.median(p["seconds"] for p in parsed)
    rows.append((f"bare read + decode + splitlines, {size}", spread([b["mb_s"] for b in bare], "MB/s", 0), "", ""))
    rows.append((f"parse blocks-with-meta, {size} ({parsed[0]['papers']:,.0f} papers)",
                 f"{spread([p['mb_s'] for p in parsed], 'MB/s', 1)}; 1/{1 / ratio:.1f} of the bare read",
                 "≥ 1/5 of the bare read", f"{max(p['peak_mb'] for p in parsed):.0f} MB"))

    raw, stored_, ours = [], [], []
    for n in range(args.rounds):
        raw.append(run_child("raw", str(dump), fresh_database(url, work, f"raw{n}")))
        stored_.append(run_child("store", str(dump), fresh_database(url, work, f"store{n}")))
        ours.append(run_child("ingest", str(dump), fresh_database(url, work, f"ingest{n}")))
    raw_s = statistics.median(r["seconds"] for r in raw)
    times = statistics.median(o["seconds"] for o in ours) / raw_s
    store_times = statistics.median(o["seconds"] for o in stored_) / raw_s
    load = "COPY" if url else "executemany"
    rows.append((f"raw {load} of the same rows into an empty {backend} database ({raw[0]['papers']:,.0f} papers)",
                 f"{spread([r['seconds'] for r in raw])}, {statistics.median(r['rate'] for r in raw):,.0f} papers/s",
                 "", f"{max(r['peak_mb'] for r in raw):.0f} MB"))
    rows.append(("paperboy's store part of that ingest (diff, batched writes, commit; parsed beforehand)",
                 f"{spread([o['seconds'] for o in stored_])}; {store_times:.2f}x the raw {load}", "≤ 2.5x",
                 f"{max(o['peak_mb'] for o in stored_):.0f} MB"))
    rows.append((f"paperboy ingest of that dump into an empty {backend} database (sniff, parse, store)",
                 f"{spread([o['seconds'] for o in ours])}, {statistics.median(o['rate'] for o in ours):,.0f} "
                 f"new papers/s; {times:.2f}x the raw {load}", "", f"{max(o['peak_mb'] for o in ours):.0f} MB"))

    half = args.diff_papers // 2
    target = "≤ 2 s" if url else "≤ 1 s"
    for stored in (int(n) for n in args.stored.split(",")):
        store_url = fresh_database(url, work, f"stored{stored}")
        filled = run_child("fill", store_url, str(stored))
        print(f"filled {stored:,} papers in {filled['seconds']:.0f} s", file=sys.stderr)
        diff = work / f"diff{stored}.txt"
        write_dump(diff, "blocks-with-meta", stored - half, args.diff_papers, dump_date=DATE)
        whole = run_child("ingest", str(diff), store_url)
        rows.append((f"whole ingest of a {args.diff_papers:,}-paper dump against {stored:,} stored "
                     f"({whole['papers']:,.0f} new, {whole['seen']:,.0f} seen)", f"{whole['seconds']:.2f} s",
                     target, f"{whole['peak_mb']:.0f} MB"))
        fresh_database(url, work, f"stored{stored}")

    if args.big_mb:
        big = work / "big.txt"
        write_dump(big, "blocks-with-meta", 0, papers_for_size(int(args.big_mb * 2**20), "blocks-with-meta"),
                   dump_date=DATE)
        result = run_child("ingest", str(big), fresh_database(url, work, "big"))
        rows.append((f"ingest a {big.stat().st_size / 2**20:.0f} MB dump ({result['papers']:,.0f} papers) into "
                     f"{backend}", f"{result['seconds']:.1f} s, {result['mb_s']:.1f} MB/s", "≤ 300 MB",
                     f"{result['peak_mb']:.0f} MB"))

    print("| measurement | result | target | peak memory |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
