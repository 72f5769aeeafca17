"""The ingest stage wired to the store: dump files, and every configured source (the inbox,
feeds, the Daily Papers API), each file or document in its own transaction, so one that fails
half-way leaves the database as it was and the next still goes in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import replace
from functools import partial
from pathlib import Path

from bot.clock import utc_now
from bot.errors import NotDecodable, PaperboyError, SourceError, StoreConflict, StoreError
from bot.models import (
    DumpHeader,
    FileReport,
    IngestCheck,
    IngestSummary,
    Layout,
    Paper,
    SourceSpec,
)
from bot.redact import printable, redact_url
from bot.settings import Settings
from bot.sources.dump import DumpParser
from bot.sources.feed import parse_feed
from bot.sources.fetch import FetchPolicy, fetch, read_local, user_agent
from bot.sources.hfapi import parse_hf_api
from bot.sources.text import Sniff, read_lines, sniff
from bot.store import Database
from bot.store import papers as store
from bot.store import service as service_store
from bot.store import sources as source_store

log = logging.getLogger(__name__)
BATCH = 5000
MAX_WARNINGS = 50

Progress = Callable[[Path, int, int], None]
"""Called as ``progress(path, bytes_done, bytes_total)`` while a file is read."""


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the visible regular files of each directory, sorted by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def ingest(
    database: Database,
    settings: Settings,
    paths: Iterable[Path],
    *,
    dump_date: dt.date | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest every file under ``paths`` in order; one report per file, failures included.
    What was read and what failed is kept for ``paperboy status`` and the health verdict."""
    paths = list(paths)
    reports: list[FileReport] = []
    notes: list[str] = []
    for given in paths:
        try:
            files = expand_paths([given])
        except OSError as exc:  # a directory that cannot be listed, a path under one that cannot be entered
            shown = printable(str(given))
            reports.append(FileReport(path=shown, status="failed",
                                      error=f"{shown}: cannot be read ({exc.strerror or exc})"))
            continue
        if not files:
            notes.append(f"{printable(str(given))}: nothing to ingest (no visible files)")
        reports.extend(ingest_file(database, settings, path, dump_date=dump_date, now=now(), progress=progress)
                       for path in files)
    summary = IngestSummary(files=tuple(reports), notes=tuple(notes))
    _record_check(database, [str(p) for p in paths], summary, now())
    return summary


def _record_check(database: Database, sources: list[str], summary: IngestSummary, at: dt.datetime) -> None:
    with database.write(durable=False) as session:  # a status line, written again by the next check
        service_store.record_ingest(session, IngestCheck(
            at, tuple(sources), len(summary.files), summary.count("ingested"), summary.count("unchanged"),
            summary.count("failed"), summary.new, tuple(summary.errors)))


def ingest_sources(
    database: Database, settings: Settings, *, now: Callable[[], dt.datetime] = utc_now,
    progress: Progress | None = None, cancel: threading.Event | None = None,
) -> IngestSummary:
    """The inbox and every ``[[sources]]`` entry, each read as its kind says. A source that
    fails (unreachable, an HTTP error, a body that does not parse) is reported and skipped: it
    marks nothing seen and its stored validators stay as they were. ``cancel`` (SIGTERM) ends a
    fetch in progress at once and skips the sources not yet read."""
    with suppress(OSError):  # an inbox that cannot be made is reported below, as a failing source
        settings.inbox.mkdir(parents=True, exist_ok=True)
    reports = _guarded(str(settings.inbox), lambda: [
        ingest_file(database, settings, path, now=now(), progress=progress) for path in expand_paths([settings.inbox])])
    for source in settings.sources:
        if cancel is not None and cancel.is_set():
            break
        reports.extend(_guarded(source.name, partial(_read_source, database, settings, source, now(), cancel)))
    summary = IngestSummary(files=tuple(reports))
    _record_check(database, [str(settings.inbox), *(s.name for s in settings.sources)], summary, now())
    return summary


def _guarded(name: str, read: Callable[[], list[FileReport]]) -> list[FileReport]:
    """One source's reports; a source that cannot be read at all (an inbox without permission,
    a database error on one of its items, anything unforeseen) is one failed report, and the
    other sources still go in."""
    try:
        return read()
    except OSError as exc:
        error = f"{name}: cannot be read ({exc.strerror or exc})"
    except StoreError as exc:
        error = f"{name}: {exc}"
    except Exception as exc:  # broad on purpose: one source must not stop the day; the traceback goes to debug
        log.debug("ingest: %s", name, exc_info=True)
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        error = f"{name}: cannot be ingested ({type(exc).__name__}: {first})"
    return [FileReport(path=name, status="failed", error=error)]


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(timeout=settings.fetch_timeout, deadline=settings.fetch_deadline,
                       max_bytes=settings.fetch_max_mb * 2**20, agent=user_agent(settings.base_url),
                       allow_redirect_hosts=settings.fetch_allow_redirect_hosts)


def _read_source(database: Database, settings: Settings, source: SourceSpec, now: dt.datetime,
                 cancel: threading.Event | None = None) -> list[FileReport]:
    name = f"{source.name} ({redact_url(source.location)})"
    limit = settings.fetch_max_mb * 2**20
    if not source.is_url:
        paths = expand_paths([Path(source.location).expanduser()])
        if source.kind == "dump":
            return [ingest_file(database, settings, path, now=now) for path in paths]
        reports = []
        for path in paths:
            try:
                reports.append(ingest_document(database, f"{source.name} ({path})", read_local(path, limit),
                                               source.kind, now))
            except SourceError as exc:
                reports.append(FileReport(path=printable(str(path)), status="failed", error=str(exc)))
        return reports
    started = time.perf_counter()
    with database.read() as session:
        state = source_store.find_state(session, source.name)
    try:
        got = fetch(source.location, fetch_policy(settings), etag=state.etag if state else None,
                    last_modified=state.last_modified if state else None, cancel=cancel)
        if got.body is None:
            report = FileReport(path=name, status="unchanged")
        elif source.kind == "dump":
            report = _ingest_fetched_dump(database, settings, name, got.body, now)
        else:
            report = ingest_document(database, name, got.body, source.kind, now)
    except SourceError as exc:
        report = FileReport(path=name, status="failed", error=f"{source.name}: {exc}")
    with database.write() as session:
        if report.status == "failed":
            source_store.record_failure(session, source.name, now, report.error or "failed")
        else:
            source_store.record_success(session, source.name, now, got.etag, got.last_modified)
    return [replace(report, seconds=time.perf_counter() - started)]


def _ingest_fetched_dump(database: Database, settings: Settings, name: str, body: bytes,
                         now: dt.datetime) -> FileReport:
    """A dump from a URL goes through the same parser as a file: written to a temporary file first."""
    with tempfile.TemporaryDirectory(prefix="paperboy-") as folder:
        path = Path(folder) / "dump.txt"
        path.write_bytes(body)
        report = ingest_file(database, settings, path, now=now)
    return replace(report, path=name, error=report.error.replace(str(path), name) if report.error else None)


def ingest_document(database: Database, name: str, data: bytes, kind: str, now: dt.datetime) -> FileReport:
    """A feed or a Daily Papers API answer, in one transaction; the same bytes again are unchanged."""
    started = time.perf_counter()
    digest = hashlib.sha256(data).hexdigest()
    with database.read() as session:
        if store.find_dump(session, digest) is not None:
            return FileReport(path=name, status="unchanged")
    layout: Layout = "hf-api"
    try:
        if kind == "feed":
            parsed = parse_feed(data, name)
            papers, warnings, layout = parsed.papers, parsed.warnings, parsed.kind
        else:
            papers, warnings = parse_hf_api(data, name)
        header = DumpHeader(layout=layout, dump_date=now.date(), dump_date_in_file=False)
        with database.write() as session:
            dump_id = store.start_dump(session, content_hash=digest, path=name, header=header, size=len(data), now=now)
            new = seen = items = 0
            for batch in _batches(_unique(papers, warnings, now.date()), BATCH):
                result = store.record_batch(session, dump_id, batch, now)
                new, seen, items = new + result.new, seen + result.seen, items + len(batch)
            warnings = _capped(warnings)
            store.finish_dump(session, dump_id, items=items, new=new, seen=seen, warnings=warnings)
    except StoreConflict:  # another process stored the same bytes first
        return FileReport(path=name, status="unchanged")
    except StoreError as exc:  # a value the database refuses: the document fails, the other sources go on
        return FileReport(path=name, status="failed", error=f"{name}: {exc}", seconds=time.perf_counter() - started)
    except PaperboyError as exc:
        return FileReport(path=name, status="failed", error=str(exc), seconds=time.perf_counter() - started)
    return FileReport(path=name, status="ingested", items=items, new=new, seen=seen, warnings=tuple(warnings),
                      layout=layout, dump_date=now.date(), seconds=time.perf_counter() - started)


def ingest_file(
    database: Database,
    settings: Settings,
    path: Path,
    *,
    now: dt.datetime,
    dump_date: dt.date | None = None,
    progress: Progress | None = None,
) -> FileReport:
    """Ingest one file in one transaction; a text that is not UTF-8 is read again as Windows-1252."""
    started = time.perf_counter()
    name = printable(str(path))
    try:
        if path.is_dir():
            raise SourceError(name, "is a directory")
        how = sniff(path, settings.ingest_max_file_mb * 2**20)
        try:
            report = _ingest_text(database, path, how, "utf-8-sig", now, dump_date, progress)
        except NotDecodable as exc:
            try:
                report = _ingest_text(database, path, how, "cp1252", now, dump_date, progress)
            except NotDecodable:
                raise SourceError(name, f"is neither UTF-8 nor Windows-1252 text "
                                        f"(bad byte at offset {exc.offset})") from None
    except StoreError as exc:
        report = FileReport(path=name, status="failed", error=f"{name}: {exc}")
    except PaperboyError as exc:
        report = FileReport(path=name, status="failed", error=str(exc))
    except OSError as exc:
        report = FileReport(path=name, status="failed", error=f"{name}: cannot be read ({exc.strerror or exc})")
    return replace(report, seconds=time.perf_counter() - started)


def _ingest_text(
    database: Database, path: Path, how: Sniff, encoding: str, now: dt.datetime,
    dump_date: dt.date | None, progress: Progress | None,
) -> FileReport:
    name = printable(str(path))
    warnings: list[str] = []
    if encoding == "cp1252":
        warnings.append("not valid UTF-8; decoded as Windows-1252")
    elif how.cut_mid_character:
        warnings.append("the file ends in the middle of a character (cut off?)")
    try:
        with database.write() as session:
            if store.find_dump(session, how.sha256) is not None:
                return FileReport(path=name, status="unchanged")
            lines = read_lines(path, encoding, drop_cut_tail=how.cut_mid_character,
                               on_chunk=(lambda done: progress(path, done, how.size)) if progress else None)
            parser = DumpParser(
                lines, today=now.astimezone().date(),
                dump_date=dump_date, ends_cleanly=how.ends_with_newline, surely_cut=how.cut_mid_character,
            )
            if not parser.recognised and parser.has_text:
                raise SourceError(name, "not a Daily Papers dump: none of the page's banner lines (\"Daily "
                                        "Papers\", \"Subscribe\") nor its metadata lines (\"• 3 authors\", "
                                        "\"·\") in its first lines")
            dump_id = store.start_dump(session, content_hash=how.sha256, path=name,
                                       header=parser.header, size=how.size, now=now)
            new = seen = items = 0
            for batch in _batches(_unique(parser.papers(), parser.warnings, now.date()), BATCH):
                result = store.record_batch(session, dump_id, batch, now)
                new, seen, items = new + result.new, seen + result.seen, items + len(batch)
            if items == 0:
                raise SourceError(name, "no papers found: expected a title line followed by an abstract")
            warnings = _capped([*warnings, *parser.warnings])
            store.finish_dump(session, dump_id, items=items, new=new, seen=seen, warnings=warnings)
    except StoreConflict:
        # Another process ingested the same bytes between our check and our insert.
        with database.read() as session:
            if store.find_dump(session, how.sha256) is None:
                raise
        return FileReport(path=name, status="unchanged")
    return FileReport(path=name, status="ingested", items=items, new=new, seen=seen,
                      warnings=tuple(warnings), layout=parser.header.layout, dump_date=parser.header.dump_date)


MAX_TITLE_CHARS = 500
MAX_ABSTRACT_CHARS = 20_000
FUTURE_SLACK = dt.timedelta(days=2)


def _bounded(paper: Paper, warnings: list[str], today: dt.date) -> Paper:
    """A paper within what the store keeps: a title of at most :data:`MAX_TITLE_CHARS`, an
    abstract of at most :data:`MAX_ABSTRACT_CHARS`, no publication date in the future (time
    zones aside). What is cut or dropped is a warning."""
    title, abstract, published = paper.title, paper.abstract, paper.published
    if len(title) > MAX_TITLE_CHARS:
        warnings.append(f"paper {title[:60]!r}: the title of {len(title):,} characters is cut to {MAX_TITLE_CHARS}")
        title = title[:MAX_TITLE_CHARS - 1].rstrip() + "…"
    if len(abstract) > MAX_ABSTRACT_CHARS:
        warnings.append(f"paper {title[:60]!r}: the abstract of {len(abstract):,} characters is cut to "
                        f"{MAX_ABSTRACT_CHARS:,}")
        abstract = abstract[:MAX_ABSTRACT_CHARS - 1].rstrip() + "…"
    if published is not None and published > today + FUTURE_SLACK:
        warnings.append(f"paper {title[:60]!r}: its date {published} is in the future; dropped")
        published = None
    if (title, abstract, published) == (paper.title, paper.abstract, paper.published):
        return paper
    return replace(paper, title=title, abstract=abstract, published=published)


def _unique(papers: Iterable[Paper], warnings: list[str], today: dt.date) -> Iterator[tuple[str, Paper]]:
    """Key each paper and bound it; a paper listed twice in one dump keeps its first (best) rank."""
    ranks: dict[str, int] = {}
    for paper in papers:
        key = store.key_for(paper)  # of the whole title: two long titles that differ only late stay two
        paper = _bounded(paper, warnings, today)
        first = ranks.setdefault(key, paper.rank)
        if first != paper.rank:
            warnings.append(f"paper {paper.title[:60]!r} is listed twice (ranks {first} and "
                            f"{paper.rank}); the second is ignored")
            continue
        yield key, paper


def _batches(items: Iterable[tuple[str, Paper]], size: int) -> Iterator[list[tuple[str, Paper]]]:
    batch: list[tuple[str, Paper]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _capped(warnings: list[str]) -> list[str]:
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    return [*warnings[:MAX_WARNINGS], f"... and {len(warnings) - MAX_WARNINGS} more warnings"]
