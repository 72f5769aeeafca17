"""Queries over editions. The caller owns the transaction.

An edition covers the papers first seen in ``(previous cutoff, this cutoff]``; the partial unique
index on ``edition_items(paper_id) WHERE section = 'new'`` makes a second claim on a paper fail,
so no paper is new twice even if two builders race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, distinct, func, insert, select
from sqlalchemy.orm import Session

from bot.errors import EditionError
from bot.identity import paper_anchor
from bot.models import Climber, Edition, EditionItem, EditionPaper, Section, TopicDoc
from bot.store.papers import among, chunks, links_of
from bot.store.schema import DumpRow, EditionItemRow, EditionRow, PaperRow, SightingRow
from bot.store.topics import topic_docs

editions = cast(Table, EditionRow.__table__)
items = cast(Table, EditionItemRow.__table__)
papers = cast(Table, PaperRow.__table__)


@dataclass(frozen=True, slots=True)
class Latest:
    date: dt.date
    cutoff: dt.datetime


def latest_edition(session: Session) -> Latest | None:
    row = session.execute(
        select(editions.c.date, editions.c.cutoff_at).order_by(editions.c.date.desc()).limit(1)
    ).first()
    return Latest(*row) if row else None


def latest_created(session: Session) -> dt.datetime | None:
    """When the newest edition was built (the feeds are current when written after it)."""
    return session.execute(select(func.max(editions.c.created_at))).scalar()


def new_papers(session: Session, after: dt.datetime | None, until: dt.datetime) -> list[TopicDoc]:
    """Papers first seen in (after, until] that no edition has carried as new."""
    claimed = select(items.c.paper_id).where(items.c.section == "new")
    window = [papers.c.first_seen_at <= until, papers.c.id.not_in(claimed)]
    if after is not None:
        window.append(papers.c.first_seen_at > after)
    return topic_docs(session, *window)


def climbers(session: Session, since: dt.datetime) -> list[Climber]:
    """Papers seen by ``since`` whose upvotes changed after it: their rise since then.

    The upvotes a paper had at ``since`` are those of its last sighting up to then.
    """
    moved = (
        select(SightingRow.paper_id).join(DumpRow, DumpRow.id == SightingRow.dump_id)
        .where(DumpRow.ingested_at > since)
    )
    rows = session.execute(
        select(papers.c.key, papers.c.upvotes, SightingRow.upvotes, DumpRow.ingested_at)
        .join(SightingRow, SightingRow.paper_id == papers.c.id)
        .join(DumpRow, DumpRow.id == SightingRow.dump_id)
        .where(papers.c.first_seen_at <= since, papers.c.id.in_(moved), papers.c.upvotes.is_not(None),
               DumpRow.ingested_at <= since, SightingRow.upvotes.is_not(None))
        .order_by(papers.c.key, DumpRow.ingested_at)
    )
    then: dict[str, tuple[int, int]] = {}
    for key, now_upvotes, upvotes, _at in rows:
        then[key] = (now_upvotes, upvotes)
    return [Climber(key, now, now - before) for key, (now, before) in then.items() if now > before]


def insert_edition(
    session: Session, date: dt.date, now: dt.datetime, cutoff: dt.datetime, planned: Sequence[EditionItem],
    note: str | None = None,
) -> int:
    known: dict[str, tuple[int, int | None]] = {}
    keys = [i.key for i in planned]
    for start in range(0, len(keys), 500):
        known.update((key, (pid, up)) for key, pid, up in session.execute(
            select(papers.c.key, papers.c.id, papers.c.upvotes).where(papers.c.key.in_(keys[start:start + 500]))
        ))
    edition_id = session.execute(
        insert(editions).values(
            date=date, created_at=now, cutoff_at=cutoff,
            papers=sum(i.section == "new" for i in planned),
            climbing=sum(i.section == "climbing" for i in planned), note=note,
        ).returning(editions.c.id)
    ).scalar_one()
    if planned:
        session.execute(insert(items), [
            {"edition_id": edition_id, "paper_id": known[i.key][0], "section": i.section,
             "topic_slug": i.topic_slug, "topic_label": i.topic_label, "position": i.position,
             "upvotes": known[i.key][1], "rise": i.rise}
            for i in planned
        ])
    return int(edition_id)


def edition_ref(session: Session, date: dt.date | None) -> tuple[int, dt.date]:
    """The row id and date of the edition of ``date`` (default: the latest), without its papers;
    EditionError as :func:`stored_edition`."""
    query = select(editions.c.id, editions.c.date)
    query = query.where(editions.c.date == date) if date else query.order_by(editions.c.date.desc())
    row = session.execute(query.limit(1)).first()
    if row is None:
        raise EditionError(f"no edition for {date}: run paperboy digest build --date {date}" if date
                           else "no edition yet: run paperboy digest build first")
    return int(row.id), row.date


def stored_edition(session: Session, date: dt.date | None) -> tuple[Edition, int]:
    """The edition of ``date`` (default: the latest) and its row id; EditionError, saying what
    to run, when there is none."""
    if date is None:
        latest = latest_edition(session)
        if latest is None:
            raise EditionError("no edition yet: run paperboy digest build first")
        date = latest.date
    found = _find(session, date)
    if found is None:
        raise EditionError(f"no edition for {date}: run paperboy digest build --date {date}")
    return found


@dataclass(frozen=True, slots=True)
class EditionHead:
    """What the daemon's tick reports of an edition built before, without reading its papers."""

    papers: int
    sections: int
    note: str | None
    created_at: dt.datetime


def edition_head(session: Session, date: dt.date) -> EditionHead | None:
    head = session.execute(select(editions.c.id, editions.c.papers, editions.c.note, editions.c.created_at)
                           .where(editions.c.date == date)).first()
    if head is None:
        return None
    sections = session.execute(select(func.count(distinct(items.c.topic_slug)))
                               .where(items.c.edition_id == head.id, items.c.section != "climbing")).scalar_one()
    return EditionHead(head.papers, int(sections), head.note, head.created_at)


def find_edition(session: Session, date: dt.date) -> Edition | None:
    found = _find(session, date)
    return found[0] if found else None


def _find(session: Session, date: dt.date) -> tuple[Edition, int] | None:
    head = session.execute(
        select(editions.c.id, editions.c.created_at, editions.c.note).where(editions.c.date == date)
    ).first()
    if head is None:
        return None
    rows = session.execute(
        select(items.c.section, items.c.topic_slug, items.c.topic_label, items.c.upvotes.label("shown_upvotes"),
               items.c.rise, *(papers.c[name] for name in _CARD))
        .join(papers, papers.c.id == items.c.paper_id)
        .where(items.c.edition_id == head.id)
        .order_by(items.c.position)
    )
    sections: list[tuple[str, str, list[EditionPaper]]] = []
    climbing: list[EditionPaper] = []
    for row in rows:
        paper = card(row, row.shown_upvotes, row.topic_slug, row.topic_label, row.rise)
        if row.section == "climbing":
            climbing.append(paper)
        elif sections and sections[-1][0] == row.topic_slug:
            sections[-1][2].append(paper)
        else:
            sections.append((row.topic_slug, row.topic_label, [paper]))
    return Edition(date, head.created_at,
                   tuple(Section(slug, label, tuple(ps)) for slug, label, ps in sections), tuple(climbing),
                   note=head.note), head.id


_CARD = ("key", "arxiv_id", "title", "abstract", "author_count", "organization", "published", "authors",
         "categories", "first_seen_at", "github_repo", "github_stars", "project_page", "comments", "submitted_by",
         "ai_summary", "ai_keywords", "thumbnail", "tldr", "tldr_source")


def card(row: Any, upvotes: int | None, slug: str | None, label: str | None, rise: int | None) -> EditionPaper:
    """An edition's paper from a row that selected the :data:`_CARD` columns."""
    return EditionPaper(
        row.key, row.arxiv_id, row.title, row.abstract or "", row.author_count, row.organization, row.published,
        upvotes, slug, label, rise, authors=tuple(row.authors or ()), categories=tuple(row.categories or ()),
        first_seen=row.first_seen_at, links=links_of(row), tldr=row.tldr, tldr_source=row.tldr_source,
        listing_only=row.arxiv_id is None and not row.authors,
    )


def list_editions(session: Session) -> list[tuple[dt.date, int, int]]:
    return [tuple(r) for r in session.execute(
        select(editions.c.date, editions.c.papers, editions.c.climbing).order_by(editions.c.date.desc())
    )]


def edition_dates(session: Session, first: dt.date, last: dt.date) -> list[dt.date]:
    """The dates of the editions from ``first`` to ``last``, both included, oldest first."""
    return list(session.scalars(select(editions.c.date).where(editions.c.date >= first, editions.c.date <= last)
                                .order_by(editions.c.date)).all())


def all_editions(session: Session) -> list[Edition]:
    """Every edition, newest first."""
    dates = session.scalars(select(editions.c.date).order_by(editions.c.date.desc())).all()
    return [e for e in (find_edition(session, d) for d in dates) if e is not None]


def fingerprint(session: Session) -> tuple[object, ...]:
    """What changes whenever an edition is built anywhere: how many, the newest, the last id."""
    return tuple(session.execute(select(func.count(), func.max(editions.c.created_at), func.max(editions.c.id))).one())



def edition_paper(session: Session, key: str | None = None, arxiv_id: str | None = None) -> EditionPaper | None:
    """A paper by its key (or arXiv id) as its latest edition showed it, with that edition's
    topic; None when no edition holds it (a card's link can only name a paper an edition had)."""
    where = papers.c.key == key if key is not None else papers.c.arxiv_id == arxiv_id
    row = session.execute(
        select(items.c.topic_slug, items.c.topic_label, items.c.upvotes.label("shown_upvotes"),
               *(papers.c[name] for name in _CARD))
        .join(papers, papers.c.id == items.c.paper_id).join(editions, editions.c.id == items.c.edition_id)
        .where(where).order_by(editions.c.date.desc(), items.c.section).limit(1)
    ).first()
    return card(row, row.shown_upvotes, row.topic_slug, row.topic_label, None) if row else None


def known_papers(session: Session, arxiv_ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """Of ``arxiv_ids``, those the store holds: id to (key, title, abstract)."""
    found: dict[str, tuple[str, str, str]] = {}
    for chunk in chunks(session, list(arxiv_ids)):
        rows = session.execute(select(papers.c.arxiv_id, papers.c.key, papers.c.title, papers.c.abstract)
                               .where(among(session, papers.c.arxiv_id, chunk)))
        found.update({r.arxiv_id: (r.key, r.title, r.abstract or "") for r in rows})
    return found


ANCHOR_EDITIONS = 120
"""How far back a card's link finds its paper: the editions of about four months."""


def paper_by_anchor(session: Session, anchor: str) -> EditionPaper | None:
    """The paper of a card's link (:func:`bot.identity.paper_anchor`), among the papers of the
    latest :data:`ANCHOR_EDITIONS` editions (a hash is not indexed; a few thousand keys are read)."""
    recent = select(editions.c.id).order_by(editions.c.date.desc()).limit(ANCHOR_EDITIONS).scalar_subquery()
    keys = session.execute(select(papers.c.key).distinct().join(items, items.c.paper_id == papers.c.id)
                           .where(items.c.edition_id.in_(recent))).scalars()
    for key in keys:
        if paper_anchor(key) == anchor:
            return edition_paper(session, key)
    return None
