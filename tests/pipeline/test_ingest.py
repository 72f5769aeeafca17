"""Ingest and the diff: identity, idempotence, one transaction per file, bad input."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.pipeline import BATCH, ingest
from bot.settings import Settings
from bot.sources.dumpgen import write_dump
from bot.store import Database
from bot.store.papers import list_papers
from bot.store.schema import DumpRow, PaperRow, SightingRow

NOW = dt.datetime(2026, 11, 21, 7, 0, tzinfo=dt.UTC)
ORDER = ("flat-list.txt", "blocks.txt", "blocks-with-meta.txt")


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(table))  # type: ignore[return-value]
                     for table in (DumpRow, PaperRow, SightingRow))


def run(db: Database, settings: Settings, *paths: Path, **options: object):  # type: ignore[no-untyped-def]
    return ingest(db, settings, list(paths), now=lambda: NOW, **options)  # type: ignore[arg-type]


def test_samples_in_order_give_141_61_40_new(db: Database, settings: Settings, samples: Path) -> None:
    news = [run(db, settings, samples / name).files[0] for name in ORDER]
    assert [(f.status, f.items, f.new, f.seen) for f in news] == [
        ("ingested", 141, 141, 0), ("ingested", 69, 61, 8), ("ingested", 46, 40, 6)]
    assert counts(db) == (3, 242, 256)
    for name in ORDER:
        again = run(db, settings, samples / name).files[0]
        assert (again.status, again.new) == ("unchanged", 0)
    assert counts(db) == (3, 242, 256)


def test_same_papers_in_a_new_file_are_seen_not_new(db: Database, settings: Settings, samples: Path,
                                                    tmp_path: Path) -> None:
    run(db, settings, samples / "blocks.txt")
    copy = tmp_path / "copy.txt"
    copy.write_text((samples / "blocks.txt").read_text() + "\n\n")
    report = run(db, settings, copy).files[0]
    assert (report.status, report.new, report.seen) == ("ingested", 0, 69)


def test_first_seen_and_sightings_are_recorded(db: Database, settings: Settings, samples: Path) -> None:
    run(db, settings, samples / "flat-list.txt")
    later = NOW + dt.timedelta(days=1)
    ingest(db, settings, [samples / "blocks.txt"], now=lambda: later)
    with db.read() as session:
        papers = {p.title: p for p in list_papers(session)}
        overlap = [p for p in papers.values() if p.first_seen == NOW and p.first_dump_date == NOW.date()]
        assert len(overlap) == 141
        sightings = session.execute(text(
            "SELECT count(*) FROM sightings GROUP BY paper_id HAVING count(*) = 2")).all()
        assert len(sightings) == 8
    with db.read() as session:
        newest = list_papers(session, new_since=later.date())
    assert len(newest) == 61 and all(p.first_seen == later for p in newest)


def test_upvotes_and_metadata_fill_in_but_never_erase(db: Database, settings: Settings, tmp_path: Path) -> None:
    banner = "byAK and the research community\n\nMar 12\n\n"
    first = tmp_path / "a.txt"
    first.write_text(banner + "Same Paper About Things\n\nAbstract one.\n\n  • 3 authors\n·\nMar 1 4\n")
    second = tmp_path / "b.txt"
    second.write_text(banner + "Same paper about things.\n\nAbstract two.\n\nOther\n\nAbstract.\n")
    third = tmp_path / "c.txt"
    third.write_text(banner + "SAME PAPER ABOUT THINGS\n\nAbstract three.\n\n  • 3 authors\n·\nMar 1 9\n")
    assert [r.new for r in run(db, settings, first, second, third).files] == [1, 1, 0]
    with db.read() as session:
        paper = next(p for p in list_papers(session) if p.title == "Same Paper About Things")
    assert (paper.upvotes, paper.author_count, paper.abstract) == (9, 3, "Abstract one.")


def test_a_paper_twice_in_one_dump_counts_once(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("Daily Papers\n\nMar 12\n\nTwin Papers Of One Title\n\nFirst abstract.\n\nOther\n\nAbstract.\n\nTwin Papers Of One Title\n\nSecond abstract.\n")
    report = run(db, settings, path).files[0]
    assert (report.items, report.new) == (2, 2)
    assert any("listed twice" in w for w in report.warnings)


def test_a_failing_file_changes_nothing_and_the_others_go_on(db: Database, settings: Settings,
                                                             tmp_path: Path, samples: Path) -> None:
    bad = tmp_path / "bad.txt"
    write_dump(bad, "blocks", 0, BATCH * 2, dump_date=NOW.date())
    with bad.open("a") as handle:  # fails after two batches were written in its transaction
        handle.write("\n" + "x" * (2**20 + 10) + "\n")
    reports = run(db, settings, bad, samples / "blocks.txt").files
    assert [r.status for r in reports] == ["failed", "ingested"]
    assert "longer than" in (reports[0].error or "") and str(bad) in (reports[0].error or "")
    assert counts(db) == (1, 69, 69)


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("Title\n\nAbstract.\n".encode("utf-16"), "UTF-16"),
    (b"\n\n   \n\t\n", "no papers found"),
    (b"Get trending papers in your email inbox!\n\nSubscribe\n", "no papers found"),
    (b"Title \x81\x8d\x8f\n\nAbstract \x90\x9d.\n", "neither UTF-8 nor Windows-1252"),
])
def test_bad_files_fail_with_one_line(db: Database, settings: Settings, tmp_path: Path,
                                      content: bytes, problem: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    report = run(db, settings, path).files[0]
    assert report.status == "failed"
    assert problem in (report.error or "") and str(path) in (report.error or "")
    assert "\n" not in (report.error or "")
    assert counts(db) == (0, 0, 0)


def test_missing_path_and_directory_reports(db: Database, settings: Settings, tmp_path: Path) -> None:
    report = run(db, settings, tmp_path / "nope.txt").files[0]
    assert (report.status, report.error) == ("failed", f"{tmp_path / 'nope.txt'}: no such file")


def test_windows_1252_is_decoded_with_a_warning(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cp1252.txt"
    path.write_bytes("Daily Papers\n\nMar 12\n\nCaf\u00e9 \u201cQuoted\u201d Models\n\nAn abstract \u2013 with dashes.\n".encode("cp1252"))
    report = run(db, settings, path).files[0]
    assert report.status == "ingested"
    assert any("Windows-1252" in w for w in report.warnings)
    with db.read() as session:
        assert list_papers(session)[0].title == "Caf\u00e9 \u201cQuoted\u201d Models"


def test_oversized_file_is_refused(db: Database, settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace
    path = tmp_path / "big.txt"
    write_dump(path, "blocks", 0, 2000, dump_date=NOW.date())
    report = run(db, replace(settings, ingest_max_file_mb=1), path).files[0]
    assert report.status == "failed" and "ingest.max_file_mb" in (report.error or "")


def test_directories_are_read_in_name_order(db: Database, settings: Settings, tmp_path: Path,
                                            samples: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for index, name in enumerate(ORDER):
        (inbox / f"{index}-{name}").write_bytes((samples / name).read_bytes())
    (inbox / ".hidden").write_text("ignored")
    reports = run(db, settings, inbox).files
    assert [r.new for r in reports] == [141, 61, 40]


def test_generated_dumps_overlap_exactly(db: Database, settings: Settings, tmp_path: Path) -> None:
    for layout, start in (("flat-list", 0), ("blocks", 500), ("blocks-with-meta", 900)):
        write_dump(tmp_path / f"{layout}.txt", layout, start, 1000, dump_date=NOW.date())  # type: ignore[arg-type]
    reports = run(db, settings, *(tmp_path / f"{layout}.txt" for layout in ("flat-list", "blocks", "blocks-with-meta"))).files
    assert [(r.layout, r.items, r.new, r.seen) for r in reports] == [
        ("flat-list", 1000, 1000, 0), ("blocks", 1000, 500, 500), ("blocks-with-meta", 1000, 400, 600)]


@pytest.mark.slow
def test_two_processes_ingesting_the_same_dumps(database_url: str, tmp_path: Path) -> None:
    """Real concurrent writers: every paper is new exactly once, whichever process wins."""
    for index in range(4):
        write_dump(tmp_path / f"d{index}.txt", "blocks", index * 3000, 6000, dump_date=NOW.date())
    script = ("import json,sys; from pathlib import Path; from bot.settings import load_settings;"
              "from bot.store import open_database; from bot.pipeline import ingest;"
              "s=load_settings(env={}, database_url=sys.argv[1]); db=open_database(s.database_url);"
              "r=ingest(db, s, [Path(p) for p in sys.argv[2:]]);"
              "print(json.dumps([[f.status, f.new, f.error] for f in r.files]))")
    files = [str(tmp_path / f"d{i}.txt") for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", script, database_url, *order], stdout=subprocess.PIPE,
                              text=True) for order in (files, files[::-1])]
    import json
    results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(status in ("ingested", "unchanged") for result in results for status, _, _ in result)
    assert sum(new for result in results for _, new, _ in result) == 15000


def test_example_inbox_is_the_generators_output(tmp_path: Path, db: Database, settings: Settings) -> None:
    from bot.sources.dumpgen import write_example_inbox
    root = Path(__file__).resolve().parents[2] / "examples" / "inbox"
    for path in write_example_inbox(tmp_path / "inbox"):
        assert path.read_bytes() == (root / path.name).read_bytes(), path.name
    reports = run(db, settings, root).files
    assert [(r.layout, r.new, r.seen) for r in reports] == [
        ("flat-list", 12, 0), ("blocks", 8, 4), ("blocks-with-meta", 6, 6)]


def test_batches_that_fill_different_columns_share_one_transaction(db: Database, settings: Settings) -> None:
    """A batch leaves out the columns none of its rows fill (NULL by default): a dump without
    metadata, then one with author counts and dates, then the API with its links, in one
    connection (PostgreSQL's staging table holds every column whichever a batch fills)."""
    from bot.pipeline import ingest_document
    from bot.sources.dumpgen import write_dump
    from bot.sources.samples import hf_api, synthetic
    from bot.store.papers import list_papers

    plain, rich = settings.inbox.parent / "plain.txt", settings.inbox.parent / "rich.txt"
    write_dump(plain, "flat-list", 0, 30, dump_date=dt.date(2026, 11, 20))
    write_dump(rich, "blocks-with-meta", 30, 30, dump_date=dt.date(2026, 11, 20))
    summary = ingest(db, settings, [plain, rich], now=lambda: NOW)
    assert summary.ok and summary.new == 60
    assert ingest_document(db, "api", hf_api(synthetic(4)), "hf-api", NOW).new == 4
    with db.read() as session:
        stored = list_papers(session)
    assert sum(p.published is not None for p in stored) == 34  # the second dump's and the API's dates
    assert sum(p.links.github_repo is not None for p in stored) == 2


@pytest.mark.slow
def test_processes_starting_together_on_a_new_sqlite_file_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL takes an exclusive lock that SQLite reports as "database is
    locked" at once, without its busy handler, to another process opening the same new file;
    and both used to find the schema missing and migrate it. Pairs of real processes, each pair
    on a fresh file (about one pair in ten failed before)."""
    code = "import sys; from bot.store import open_database; open_database(sys.argv[1]).close()"
    for n in range(20):
        url = f"sqlite:///{tmp_path / f'fresh{n}.db'}"
        pair = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        for process in pair:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.strip().splitlines()[-1]
