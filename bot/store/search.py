"""Full-text search over every paper paperboy has seen, one interface over each database's own
index: SQLite's FTS5 (porter stemming, accents folded) and PostgreSQL's tsvector with a GIN index
(the english configuration), ranked by relevance then by date (every word in the title first:
:func:`_tiers` on SQLite, :func:`_blocks` on PostgreSQL), with the matched words marked. The
caller owns the transaction.

The index is filled after ingest, never inside it (:func:`catch_up`): indexing a paper costs
more than storing it, and ingest has its speed to keep. A catch-up indexes the papers added since
the last one, and again those a later sighting or an edition may have changed (the papers sighted
in the dumps since, the papers of the editions built since), so the index reads what the store
holds.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from bot.identity import without_accents
from bot.models.search import START, STOP, Found, Hit
from bot.store.database import upsert
from bot.store.schema import DumpRow, EditionItemRow, EditionRow, InstanceRow, PaperRow, SightingRow

papers = cast(Table, PaperRow.__table__)
sightings = cast(Table, SightingRow.__table__)
items = cast(Table, EditionItemRow.__table__)
editions = cast(Table, EditionRow.__table__)
dumps = cast(Table, DumpRow.__table__)
instance = cast(Table, InstanceRow.__table__)
MARK = "search_marks"
"""The instance value that holds how far the index has read: papers, dumps and editions by id."""
BATCH = 2000
RANKED = 1000
"""On SQLite, how many matches are put in order at most: a reader pages through no more
(bot.services.search.MAX_PAGE)."""
COUNTED = 1000
"""Matches are counted up to here: beyond, the total says "1,000+"."""
_WORD = re.compile(r"\w+", re.UNICODE)


def words(query: str) -> list[str]:
    """The query's words, as both indexes are asked for them (each must occur)."""
    return _WORD.findall(without_accents(query.casefold()))[:20]


def _people(authors: Any, organization: str | None, submitted_by: str | None) -> str:
    return " ".join([*(str(a) for a in (authors or ())), organization or "", submitted_by or ""])


def _marks(session: Session) -> dict[str, int]:
    found = session.execute(select(instance.c.value).where(instance.c.name == MARK)).scalar_one_or_none()
    values = [int(v) for v in (found or "0,0,0").split(",")]
    return dict(zip(("paper", "dump", "edition"), values, strict=True))


def _newest(session: Session) -> dict[str, int]:
    return {"paper": session.execute(select(func.coalesce(func.max(papers.c.id), 0))).scalar_one(),
            "dump": session.execute(select(func.coalesce(func.max(dumps.c.id), 0))).scalar_one(),
            "edition": session.execute(select(func.coalesce(func.max(editions.c.id), 0))).scalar_one()}


def behind(session: Session) -> bool:
    """Whether the store changed since the last catch-up (three reads of a primary key's end)."""
    return _newest(session) != _marks(session)


def catch_up(session: Session) -> int:
    """Index what the store changed since the last catch-up; how many papers were (re)indexed."""
    marks, newest = _marks(session), _newest(session)
    if newest == marks:
        return 0
    changed = set(session.execute(
        select(sightings.c.paper_id).where(sightings.c.dump_id > marks["dump"], sightings.c.dump_id <= newest["dump"],
                                           sightings.c.paper_id <= marks["paper"])).scalars())
    changed |= set(session.execute(
        select(items.c.paper_id).where(items.c.edition_id > marks["edition"], items.c.edition_id <= newest["edition"],
                                       items.c.paper_id <= marks["paper"])).scalars())
    count = _reindex(session, sorted(changed))
    start = marks["paper"]
    while start < newest["paper"]:
        ids = list(session.execute(select(papers.c.id).where(papers.c.id > start, papers.c.id <= newest["paper"])
                                   .order_by(papers.c.id).limit(BATCH)).scalars())
        if not ids:
            break
        count += _index(session, ids, fresh=True)
        start = ids[-1]
    upsert(session, instance, {"name": MARK}, {"value": ",".join(str(newest[k]) for k in ("paper", "dump", "edition"))})
    return count


def _reindex(session: Session, ids: Sequence[int]) -> int:
    return sum(_index(session, list(ids[i:i + BATCH]), fresh=False) for i in range(0, len(ids), BATCH))


def _index(session: Session, ids: list[int], *, fresh: bool) -> int:
    if not ids:
        return 0
    rows = session.execute(select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.authors,
                                  papers.c.organization, papers.c.submitted_by, papers.c.tldr, papers.c.ai_summary)
                           .where(papers.c.id.in_(ids))).all()
    values = [{"id": r.id, "title": r.title or "", "people": _people(r.authors, r.organization, r.submitted_by),
               "tldr": r.tldr or r.ai_summary or "", "abstract": r.abstract or ""} for r in rows]
    if _sqlite(session):
        if not fresh:
            session.execute(text("DELETE FROM paper_search WHERE rowid = :id"), [{"id": i} for i in ids])
        session.execute(text("INSERT INTO paper_search (rowid, title, people, tldr, abstract) "
                             "VALUES (:id, :title, :people, :tldr, :abstract)"), values)
    else:
        # FTS5's remove_diacritics folds accents; PostgreSQL's english configuration keeps them
        # (unaccent is an extension an operator may not be allowed to create): folded here
        values = [{k: without_accents(v) if isinstance(v, str) else v for k, v in row.items()} for row in values]
        session.execute(text(
            "INSERT INTO paper_search (paper_id, document) VALUES (:id, "
            "setweight(to_tsvector('english', :title), 'A') || setweight(to_tsvector('english', :people), 'B') || "
            "setweight(to_tsvector('english', :tldr), 'C') || setweight(to_tsvector('english', :abstract), 'D')) "
            "ON CONFLICT (paper_id) DO UPDATE SET document = excluded.document"), values)
    return len(values)


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def search(session: Session, query: str, limit: int = 20, offset: int = 0, *, newest: bool = False) -> Found:
    """The papers that hold every word of ``query``, best first, then newest; empty for a query
    with no word. Nothing of the query reaches either index's own syntax: SQLite gets each word
    quoted, PostgreSQL ``plainto_tsquery``. ``newest``: the newest papers first (a feed's order)."""
    terms = words(query)
    if not terms:
        return Found((), 0)
    if _sqlite(session):
        match = " ".join('"' + t.replace('"', "") + '"' for t in terms)
        total = session.execute(text("SELECT count(*) FROM (SELECT 1 FROM paper_search WHERE paper_search MATCH :q "
                                     "LIMIT :bound)"), {"q": match, "bound": COUNTED + 1}).scalar_one()
        order = _tiers(session, match, offset + limit, newest)[offset:offset + limit]
        marked = {r.id: r for r in session.execute(text(
            "SELECT rowid AS id, highlight(paper_search, 0, :start, :stop) AS marked, "
            "snippet(paper_search, 3, :start, :stop, '…', 32) AS passage FROM paper_search "
            "WHERE paper_search MATCH :q AND rowid IN (SELECT value FROM json_each(:ids))"),
            {"q": match, "start": START, "stop": STOP, "ids": json.dumps([i for i, _ in order])})}
    else:
        asked = {"q": " ".join(terms)}
        total = session.execute(text("SELECT count(*) FROM (SELECT 1 FROM paper_search WHERE document @@ "
                                     "plainto_tsquery('english', :q) LIMIT :bound) found"),
                                {**asked, "bound": COUNTED + 1}).scalar_one()
        order = _blocks(session, asked, offset + limit, newest, few=int(total) <= COUNTED)[offset:offset + limit]
        marked = {r.id: r for r in session.execute(text(
            "SELECT p.id, ts_headline('english', p.title, q, :title_options) AS marked, "
            "ts_headline('english', coalesce(p.abstract, ''), q, :options) AS passage "
            "FROM papers p, plainto_tsquery('english', :q) q WHERE p.id = ANY(:ids)"),
            {**asked, "ids": [i for i, _ in order],
             "title_options": f"StartSel={START}, StopSel={STOP}, HighlightAll=true",
             "options": f"StartSel={START}, StopSel={STOP}, MaxWords=32, MinWords=12"})}
    scored = [(i, marked[i].marked, marked[i].passage, score) for i, score in order if i in marked]
    return Found(tuple(_hits(session, scored)), min(int(total), COUNTED), exact=int(total) <= COUNTED)


def _tiers(session: Session, match: str, need: int, newest: bool) -> list[tuple[int, float]]:
    """SQLite's order of the first ``need`` matches (at most :data:`RANKED`): the papers with
    every word in the title (score 2), then the others (score 1), each newest first (the rowid
    is the order papers were first seen in). Each tier is a walk of FTS5's lists newest first
    that stops once the page is filled. FTS5's ``bm25()`` was the order before, and its cost was
    the search's: it counts, each query, the papers that hold each word (a scan of a common
    word's whole list, 50-75 ms over a million papers)."""
    need = min(need, RANKED)
    newest_first = "SELECT rowid FROM paper_search WHERE paper_search MATCH :q ORDER BY rowid DESC LIMIT :n"
    titled: list[int] = [] if newest else list(session.execute(
        text(newest_first), {"q": "{title} : (" + match + ")", "n": need}).scalars())
    order = [(i, 2.0) for i in titled]
    if len(order) < need:
        seen = set(titled)
        rest = session.execute(text(newest_first), {"q": match, "n": need + len(titled)}).scalars()
        order += [(i, 1.0) for i in rest if i not in seen][:need - len(order)]
    return order


BLOCK = 100
"""On PostgreSQL, matches are put in order a hundred at a time, newest first."""


def _blocks(session: Session, asked: dict[str, Any], need: int, newest: bool, *, few: bool) -> list[tuple[int, float]]:
    """PostgreSQL's order of the first ``need`` matches: the newest matches in blocks of
    :data:`BLOCK`, and in each block the papers with every word in the title first (score 2),
    then the others (score 1), newest first. A GIN index gives its matches in no order, so a
    title tier over all of them (as SQLite's) read every match, as ``ts_rank_cd`` did (p99 0.9 s
    over a million papers); walking the newest ones back from the primary key stops once the
    blocks the page needs are full. Pages stay consistent: a block's order never depends on
    how many blocks were read. With ``few`` matches (the bounded count found them all), they are
    read from the GIN index and put in order here: the walk back would pass a million rows to
    find a rare name's eight hundred."""
    wanted = min(RANKED, -(-need // BLOCK) * BLOCK)
    matches = ("SELECT paper_id AS id, ts_filter(document, '{a}') @@ q AS titled "
               "FROM paper_search, plainto_tsquery('english', :q) q WHERE document @@ q")
    rows: Sequence[Any]
    if few:
        rows = sorted(session.execute(text(matches), asked).all(), key=lambda r: -r.id)[:wanted]
    else:
        rows = session.execute(text(matches + " ORDER BY paper_id DESC LIMIT :n"), {**asked, "n": wanted}).all()
    if newest:
        return [(r.id, 1.0) for r in rows]
    order: list[tuple[int, float]] = []
    for start in range(0, len(rows), BLOCK):
        block = rows[start:start + BLOCK]
        order += [(r.id, 2.0) for r in block if r.titled] + [(r.id, 1.0) for r in block if not r.titled]
    return order


def _hits(session: Session, scored: Iterable[tuple[int, str, str, float]]) -> list[Hit]:
    scored = list(scored)
    if not scored:
        return []
    ids = [s[0] for s in scored]
    rows = {r.id: r for r in session.execute(
        select(papers.c.id, papers.c.key, papers.c.arxiv_id, papers.c.authors, papers.c.organization,
               papers.c.first_seen_at).where(papers.c.id.in_(ids)))}
    dated: dict[int, dt.date] = dict(session.execute(
        select(items.c.paper_id, func.min(editions.c.date)).join(editions, editions.c.id == items.c.edition_id)
        .where(items.c.paper_id.in_(ids), items.c.section == "new").group_by(items.c.paper_id)
    ).all())
    return [Hit(rows[i].key, rows[i].arxiv_id, marked, passage, tuple(rows[i].authors or ()), rows[i].organization,
                rows[i].first_seen_at, dated.get(i), score)
            for i, marked, passage, score in scored if i in rows]
