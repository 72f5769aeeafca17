"""Queries over dumps, papers and sightings. The caller owns the session and its transaction.

Writes go through SQLAlchemy Core in batches (one multi-row statement per batch) because ingest
is the hot path: tens of thousands of papers a second is the target, which per-object ORM
inserts do not reach. "New" is decided by the database: a paper is new exactly when this dump's
``INSERT ... ON CONFLICT DO NOTHING`` created its row, which its ``first_dump_id`` records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import JSON, Connection, Date, Table, and_, any_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from bot.identity import abstracts_agree, is_short, paper_key, title_key
from bot.models import DumpHeader, Paper, PaperLinks, StoredPaper
from bot.store.database import conflict_insert
from bot.store.schema import DumpRow, PaperRow, SightingRow, UTCDateTime, sqlite_text

papers = cast(Table, PaperRow.__table__)
sightings = cast(Table, SightingRow.__table__)
dumps = cast(Table, DumpRow.__table__)

_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class KnownDump:
    id: int
    path: str
    ingested_at: dt.datetime
    items: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    new: int
    seen: int


def find_dump(session: Session, content_hash: str) -> KnownDump | None:
    row = session.execute(
        select(dumps.c.id, dumps.c.path, dumps.c.ingested_at, dumps.c["items"])
        .where(dumps.c.content_hash == content_hash)
    ).first()
    return KnownDump(*row) if row else None


def start_dump(
    session: Session, *, content_hash: str, path: str, header: DumpHeader, size: int, now: dt.datetime
) -> int:
    """Insert the dump's row first, so that a concurrent ingest of the same bytes conflicts early."""
    return int(session.execute(
        insert(dumps).values(
            content_hash=content_hash, path=path, layout=header.layout, dump_date=header.dump_date,
            dump_date_in_file=header.dump_date_in_file, ingested_at=now, size_bytes=size,
            items=0, new=0, seen=0, warnings=[],
        ).returning(dumps.c.id)
    ).scalar_one())


def finish_dump(
    session: Session, dump_id: int, *, items: int, new: int, seen: int, warnings: Sequence[str]
) -> None:
    session.execute(
        update(dumps).where(dumps.c.id == dump_id)
        .values(items=items, new=new, seen=seen, warnings=list(warnings))
    )


def known_keys(session: Session, keys: Iterable[str]) -> dict[str, int]:
    """The diff: which of ``keys`` the store has, with their paper ids."""
    return dict(_by_key(session, list(keys), papers.c.id))


def _by_key(session: Session, keys: list[str], *columns: Any) -> list[Any]:
    """Rows of (key, *columns) for the stored papers among ``keys``."""
    rows: list[Any] = []
    for chunk in chunks(session, keys):
        rows.extend(session.execute(select(papers.c.key, *columns).where(among(session, papers.c.key, chunk))).all())
    return rows


def chunks(session: Session, values: list[str]) -> Iterator[list[str]]:
    """``values`` in bounded IN lists on SQLite; whole on PostgreSQL, where they go as one array."""
    size = len(values) if session.get_bind().dialect.name == "postgresql" else _LOOKUP_CHUNK
    for start in range(0, len(values), max(size, 1)):
        yield values[start : start + size]


def among(session: Session, column: Any, values: list[str]) -> Any:
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter and one statement
    text whatever the count, where an IN list of 500 was rendered, converted and planned anew."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _executemany(session: Session, table: Table, rows: list[dict[str, Any]], *,
                 ignore_conflicts: bool = False) -> None:
    """Insert ``rows`` into ``table`` the fastest way each driver offers; with
    ``ignore_conflicts``, rows that conflict with stored ones are skipped.

    SQLAlchemy's per-row parameter processing was a third of the ingest time on SQLite, so the
    hot inserts hand the driver values already in the forms SQLAlchemy itself stores there
    (naive-UTC datetime text, ISO dates, JSON text). On PostgreSQL the batch goes by COPY
    (:func:`_insert_copied`): an executemany was a statement per row, and arrays of values
    (``unnest``) spent their time in the driver's Python array formatting.
    """
    if not rows:
        return
    # columns no row of the batch fills (most of the API's fields, for a dump) are left to
    # their default, NULL, instead of being bound row by row
    filled = [key for key in rows[0] if any(row[key] is not None for row in rows)]
    if len(filled) < len(rows[0]):
        rows = [{key: row[key] for key in filled} for row in rows]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _insert_copied(connection, table, rows, ignore_conflicts)
        return
    statement = conflict_insert(session, table)
    if ignore_conflicts:
        statement = statement.on_conflict_do_nothing()
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(rows[0]))
    order = compiled.positiontup or ()
    fixes = [(i, convert) for i, key in enumerate(order)
             if (convert := _sqlite_converter(table.c[key].type)) is not None]
    row_of = itemgetter(*order)
    params: list[Any] = []
    for row in rows:
        values = row_of(row)
        if fixes:
            values = list(values)
            for i, convert in fixes:
                if values[i] is not None:
                    values[i] = convert(values[i])
            values = tuple(values)
        params.append(values)
    connection.exec_driver_sql(str(compiled), params)


def _insert_copied(connection: Connection, table: Table, rows: list[dict[str, Any]], ignore: bool) -> None:
    """PostgreSQL: the batch is COPied into a temporary table of the same columns, then inserted
    from it in one statement (where conflicts can be skipped, which COPY cannot). The
    temporary table lives with the connection and is emptied at each commit."""
    columns = list(rows[0])
    names = ", ".join(columns)
    stage = f"paperboy_stage_{table.name}"
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # every column of the table, whichever a batch fills: one stage serves every batch
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                       f"AS SELECT * FROM {table.name} WITH NO DATA")
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
                                for c in columns])
        cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage}"
                       + (" ON CONFLICT DO NOTHING" if ignore else ""))
    finally:
        cursor.close()


_sqlite_datetime = lru_cache(maxsize=64)(sqlite_text)  # a batch's rows share their moments


def _sqlite_converter(kind: Any) -> Callable[[Any], Any] | None:
    if isinstance(kind, UTCDateTime):
        return _sqlite_datetime
    if isinstance(kind, Date):
        return dt.date.isoformat
    if isinstance(kind, JSON):
        return json.dumps
    return None


def record_batch(
    session: Session, dump_id: int, batch: Sequence[tuple[str, Paper]], now: dt.datetime
) -> BatchResult:
    """Store one batch of a dump's papers (keyed, no key twice) and their sightings."""
    ids = known_keys(session, (key for key, _ in batch))
    unknown = [(key, paper) for key, paper in batch if key not in ids]
    if unknown:
        ids.update(_same_papers(session, unknown))
    fresh = [(key, paper) for key, paper in batch if key not in ids]
    inserted: set[str] = set()
    if fresh:
        # A plain executemany is several times faster than INSERT ... RETURNING row by row;
        # which rows this dump inserted (rather than a concurrent writer) reads back from
        # first_dump_id.
        _executemany(session, papers, [_new_row(key, paper, dump_id, now) for key, paper in fresh],
                     ignore_conflicts=True)
        for key, paper_id, first_dump in _by_key(session, [key for key, _ in fresh], papers.c.id,
                                                 papers.c.first_dump_id):
            ids[key] = paper_id
            if first_dump == dump_id:
                inserted.add(key)
    seen = [(key, paper) for key, paper in batch if key not in inserted]
    if seen:
        extras = any(paper.links is not None or paper.announce is not None for _, paper in seen)
        session.execute(_REFRESH_EXTRAS if extras else _REFRESH,
                        [_refresh_params(ids[key], paper, extras) for key, paper in seen])
    _executemany(session, sightings,
                 [{"paper_id": ids[key], "dump_id": dump_id, "rank": paper.rank, "upvotes": paper.upvotes}
                  for key, paper in batch])
    return BatchResult(new=len(inserted), seen=len(seen))


def _same_papers(session: Session, unknown: Sequence[tuple[str, Paper]]) -> dict[str, int]:
    """Papers the store knows under another key: an arXiv id already attached to a title-keyed
    row, or the same title (folded) on a row that has no id yet or, for a paper without an id,
    on any row. A short title meets a row only when their abstracts agree too. A title match
    with an id attaches the id to the row, whose key, first sighting and history stay: one
    paper, now with its arXiv page."""
    found: dict[str, int] = {}
    by_id = {paper.arxiv_id: key for key, paper in unknown if paper.arxiv_id}
    for chunk in chunks(session, list(by_id)):
        for arxiv_id, paper_id in session.execute(select(papers.c.arxiv_id, papers.c.id)
                                                  .where(among(session, papers.c.arxiv_id, chunk))):
            found[by_id[arxiv_id]] = paper_id
    titled: dict[str, list[tuple[str, Paper]]] = {}
    for key, paper in unknown:
        if key not in found:
            titled.setdefault(title_key(paper.title), []).append((key, paper))
    for chunk in chunks(session, list(titled)):
        rows = session.execute(select(papers.c.title_key, papers.c.id, papers.c.arxiv_id, papers.c.abstract)
                               .where(among(session, papers.c.title_key, chunk)).order_by(papers.c.id)).all()
        for folded, paper_id, arxiv_id, abstract in rows:
            for key, paper in titled[folded]:
                if key in found or (is_short(folded) and not abstracts_agree(paper.abstract, abstract)):
                    continue
                if paper.arxiv_id is None:
                    found[key] = paper_id
                elif arxiv_id is None:
                    session.execute(update(papers).where(papers.c.id == paper_id, papers.c.arxiv_id.is_(None))
                                    .values(arxiv_id=paper.arxiv_id))
                    found[key] = paper_id
                    arxiv_id = paper.arxiv_id
    return found


def _new_row(key: str, paper: Paper, dump_id: int, now: dt.datetime) -> dict[str, object]:
    return {
        "key": key, "arxiv_id": paper.arxiv_id,
        "title_key": title_key(paper.title),
        "title": paper.title, "abstract": paper.abstract or None,
        "authors": list(paper.authors) if paper.authors is not None else None,
        "author_count": paper.author_count, "organization": paper.organization,
        "published": paper.published, "upvotes": paper.upvotes,
        "categories": list(paper.categories) if paper.categories else None,
        "first_seen_at": now, "first_dump_id": dump_id,
        **_extras(paper),
    }


_NO_LINKS = PaperLinks()


def _extras(paper: Paper) -> dict[str, object]:
    """The columns beyond the paper itself, by column name (None where the source said nothing)."""
    links = paper.links or _NO_LINKS
    return {"announce": paper.announce, "github_repo": links.github_repo, "github_stars": links.github_stars,
            "project_page": links.project_page, "comments": links.comments, "submitted_by": links.submitted_by,
            "ai_summary": links.ai_summary,
            "ai_keywords": list(links.ai_keywords) if links.ai_keywords else None, "thumbnail": links.thumbnail}


def _refresh_params(paper_id: int, paper: Paper, extras: bool) -> dict[str, object]:
    return {
        "pid": paper_id, "up": paper.upvotes, "abstract": paper.abstract or None,
        "ac": paper.author_count, "org": paper.organization, "pub": paper.published,
        "authors": list(paper.authors) if paper.authors else None,
        "cats": list(paper.categories) if paper.categories else None,
        **(_extras(paper) if extras else {}),
    }


# A later sighting fills in what was missing and raises upvotes, but never erases anything.
def _typed(name: str, column: str):  # type: ignore[no-untyped-def]
    return bindparam(name, type_=papers.c[column].type)


_UP = _typed("up", "upvotes")
_FILLS = [(papers.c.abstract, _typed("abstract", "abstract")), (papers.c.author_count, _typed("ac", "author_count")),
          (papers.c.organization, _typed("org", "organization")), (papers.c.published, _typed("pub", "published")),
          (papers.c.authors, _typed("authors", "authors")), (papers.c.categories, _typed("cats", "categories"))]
# What the Daily Papers API and arXiv's feeds add, filled in the same way
_EXTRA_FILLS = [(papers.c[name], _typed(name, name)) for name in (
    "announce", "github_repo", "project_page", "submitted_by", "ai_summary", "ai_keywords", "thumbnail")]
# Counts that move both ways: the latest sighting that gives one sets it.
_LATEST = [(papers.c[name], _typed(name, name)) for name in ("github_stars", "comments")]


def _refresh(extras: bool) -> Any:
    """The UPDATE a later sighting makes; with ``extras``, of the API's fields too (a dump's
    sightings, which carry none, use the smaller statement: it is most of a day's refreshes)."""
    fills = _FILLS + (_EXTRA_FILLS if extras else [])
    latest = _LATEST if extras else []
    return (
        update(papers)
        # only rows it changes: rewriting a row with its own values still writes its page (and,
        # on PostgreSQL, a new version of it in every index), and most sightings change nothing
        .where(papers.c.id == _typed("pid", "id"),
               or_(and_(_UP.is_not(None), papers.c.upvotes.is_(None) | (papers.c.upvotes < _UP)),
                   *(and_(column.is_(None), value.is_not(None)) for column, value in fills),
                   *(and_(value.is_not(None), column.is_(None) | (column != value)) for column, value in latest)))
        .values(
            upvotes=case(
                (and_(_UP.is_not(None), papers.c.upvotes.is_(None) | (papers.c.upvotes < _UP)), _UP),
                else_=papers.c.upvotes,
            ),
            **{column.name: (case((column.is_(None), value), else_=column) if isinstance(column.type, JSON)
                             else func.coalesce(column, value)) for column, value in fills},
            **{column.name: func.coalesce(value, column) for column, value in latest},
        )
    )


_REFRESH, _REFRESH_EXTRAS = _refresh(extras=False), _refresh(extras=True)


def list_papers(
    session: Session, *, new_since: dt.date | None = None, limit: int | None = None
) -> list[StoredPaper]:
    """Papers newest first (by when they were first seen, then by rank in that dump)."""
    query = (
        select(papers, dumps.c.dump_date, sightings.c.rank)
        .outerjoin(dumps, dumps.c.id == papers.c.first_dump_id)
        .outerjoin(sightings, and_(sightings.c.paper_id == papers.c.id,
                                   sightings.c.dump_id == papers.c.first_dump_id))
        .order_by(papers.c.first_seen_at.desc(), papers.c.first_dump_id.desc(), sightings.c.rank, papers.c.id)
    )
    if new_since is not None:
        query = query.where(papers.c.first_seen_at >= dt.datetime.combine(new_since, dt.time(), dt.UTC))
    if limit is not None:
        query = query.limit(limit)
    return [
        StoredPaper(
            key=row.key, arxiv_id=row.arxiv_id, title=row.title, abstract=row.abstract,
            authors=tuple(row.authors) if row.authors is not None else None,
            author_count=row.author_count, organization=row.organization, published=row.published,
            upvotes=row.upvotes, first_seen=row.first_seen_at, first_dump_date=row.dump_date,
            categories=tuple(row.categories) if row.categories else None, announce=row.announce,
            links=links_of(row), tldr=row.tldr, tldr_source=row.tldr_source,
        )
        for row in session.execute(query)
    ]


def links_of(row: Any) -> PaperLinks:
    """The API's extra fields of a row that selected the paper's columns."""
    return PaperLinks(
        github_repo=row.github_repo, github_stars=row.github_stars, project_page=row.project_page,
        comments=row.comments, submitted_by=row.submitted_by, ai_summary=row.ai_summary,
        ai_keywords=tuple(row.ai_keywords) if row.ai_keywords else None, thumbnail=row.thumbnail,
    )


def key_for(paper: Paper) -> str:
    return paper_key(paper.title, paper.arxiv_id, paper.abstract)
