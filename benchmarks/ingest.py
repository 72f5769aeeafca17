"""Benchmark of ingest: parse throughput, ingest rate, the diff against a large store, peak memory.

    python benchmarks/ingest.py [--mb 50] [--stored 1000000] [--big-mb 100] [--work DIR]

Each measurement runs in a process of its own so that its peak memory (max RSS) is its own.
Dumps come from bot.sources.dumpgen; the 1M stored papers are written straight through the store
(with short abstracts, which do not change the cost of a diff by key). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.models import Paper
from bot.pipeline import ingest
from bot.settings import load_settings
from bot.sources.dump import DumpParser
from bot.sources.dumpgen import LAYOUTS, abstract_of, papers_for_size, title_of, write_dump
from bot.sources.text import read_lines, sniff
from bot.store import open_database
from bot.store import papers as store

DATE = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    return {"papers": report.new, "seconds": seconds, "rate": report.new / seconds, "peak_mb": peak_mb(),
            "mb_s": path.stat().st_size / 2**20 / seconds}


def child_fill(url: str, count: int) -> dict[str, float]:
    """Store ``count`` papers (index 0 .. count-1) as if ingested from one big dump."""
    database = open_database(url)
    started = time.perf_counter()
    with database.write() as session:
        from bot.models import DumpHeader
        dump_id = store.start_dump(session, content_hash="f" * 64, path="fill", size=0, now=NOW,
                                   header=DumpHeader("blocks", DATE, True))
        for start in range(0, count, 5000):
            batch = [(store.key_for(p), p) for p in (
                Paper(title=title_of(i), abstract=abstract_of(i, 2), rank=i + 1)
                for i in range(start, min(count, start + 5000)))]
            store.record_batch(session, dump_id, batch, NOW)
        store.finish_dump(session, dump_id, items=count, new=count, seen=0, warnings=[])
    return {"papers": count, "seconds": time.perf_counter() - started, "peak_mb": peak_mb()}


def child_diff(path: Path, url: str) -> dict[str, float]:
    """The diff alone (which of the dump's keys are stored), then the whole ingest of the dump."""
    database = open_database(url)
    started = time.perf_counter()
    parser = DumpParser(read_lines(path), today=DATE)
    keys = [store.key_for(p) for p in parser.papers()]
    parsed = time.perf_counter()
    with database.read() as session:
        known = store.known_keys(session, keys)
    diffed = time.perf_counter()
    settings = load_settings(env={}, database_url=url)
    report = ingest(database, settings, [path], now=lambda: NOW).files[0]
    done = time.perf_counter()
    return {"papers": len(keys), "known": len(known), "diff_s": diffed - parsed, "parse_s": parsed - started,
            "ingest_s": done - diffed, "new": report.new, "seen": report.seen, "peak_mb": peak_mb()}


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of each parse/ingest dump")
    parser.add_argument("--stored", type=int, default=1_000_000, help="papers stored before the diff")
    parser.add_argument("--diff-papers", type=int, default=10_000)
    parser.add_argument("--big-mb", type=float, default=100, help="size of the dump for peak memory")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, *rest = args.child
        result = {"parse": lambda: child_parse(Path(rest[0])),
                  "ingest": lambda: child_ingest(Path(rest[0]), rest[1]),
                  "fill": lambda: child_fill(rest[0], int(rest[1])),
                  "diff": lambda: child_diff(Path(rest[0]), rest[1])}[task]()
        print(json.dumps(result))
        return

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []
    for layout in LAYOUTS:
        path = work / f"{layout}.txt"
        count = papers_for_size(int(args.mb * 2**20), layout)
        write_dump(path, layout, 0, count, dump_date=DATE)
        result = run_child("parse", str(path))
        rows.append((f"parse {layout}, {path.stat().st_size / 2**20:.0f} MB ({result['papers']:,} papers)",
                     f"{result['mb_s']:.1f} MB/s", "≥ 50 MB/s", f"{result['peak_mb']:.0f} MB"))
    for layout in ("blocks-with-meta", "flat-list"):
        db = work / f"ingest-{layout}.db"
        for leftover in work.glob(f"ingest-{layout}.db*"):
            leftover.unlink()
        result = run_child("ingest", str(work / f"{layout}.txt"), f"sqlite:///{db}")
        rows.append((f"ingest {layout} into an empty SQLite database ({result['papers']:,.0f} new)",
                     f"{result['rate']:,.0f} new papers/s", "≥ 20,000/s", f"{result['peak_mb']:.0f} MB"))

    big = work / "big.txt"
    size = papers_for_size(int(args.big_mb * 2**20), "blocks-with-meta")
    write_dump(big, "blocks-with-meta", 0, size, dump_date=DATE)
    db = work / "big.db"
    for leftover in work.glob("big.db*"):
        leftover.unlink()
    result = run_child("ingest", str(big), f"sqlite:///{db}")
    rows.append((f"ingest a {big.stat().st_size / 2**20:.0f} MB dump ({result['papers']:,.0f} papers), peak memory",
                 f"{result['seconds']:.1f} s, {result['mb_s']:.1f} MB/s", "≤ 300 MB", f"{result['peak_mb']:.0f} MB"))

    stored = work / "stored.db"
    marker = stored.with_suffix(".count")
    if not (stored.exists() and marker.exists() and marker.read_text() == str(args.stored)):
        for leftover in work.glob("stored.db*"):
            leftover.unlink()
        fill = run_child("fill", f"sqlite:///{stored}", str(args.stored))
        marker.write_text(str(args.stored))
        print(f"filled {args.stored:,} papers in {fill['seconds']:.0f} s", file=sys.stderr)
    trial = work / "diff.db"
    shutil.copyfile(stored, trial)  # streamed: a child inherits the parent's peak RSS
    dump = work / "diff.txt"
    half = args.diff_papers // 2
    write_dump(dump, "blocks-with-meta", args.stored - half, args.diff_papers, dump_date=DATE)
    result = run_child("diff", str(dump), f"sqlite:///{trial}")
    rows.append((f"diff {result['papers']:,.0f} papers against {args.stored:,} stored ({result['known']:,.0f} known)",
                 f"{result['diff_s']:.3f} s", "≤ 1 s", f"{result['peak_mb']:.0f} MB"))
    rows.append((f"whole ingest of that dump ({result['new']:,.0f} new, {result['seen']:,.0f} seen)",
                 f"{result['ingest_s']:.2f} s", "", ""))
    for leftover in work.glob("diff.db*"):
        leftover.unlink()

    print("| measurement | result | target | peak memory |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
