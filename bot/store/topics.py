"""Queries over persisted topics and the papers grouping reads. The caller owns the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.models import Grouping, KnownTopic, TopicDoc, TopicHistory
from bot.store.database import conflict_insert
from bot.store.schema import EditionItemRow, EditionRow, PaperRow, SightingRow, TopicRow

topics = cast(Table, TopicRow.__table__)


def known_topics(session: Session) -> list[KnownTopic]:
    rows = session.execute(
        select(topics.c.slug, topics.c.label, topics.c.kind, topics.c.profile).order_by(topics.c.id)
    )
    return [KnownTopic(slug, label, kind, dict(profile or {})) for slug, label, kind, profile in rows]


def list_topics(session: Session, today: dt.date, weeks: int = 8) -> list[TopicHistory]:
    """Every persisted topic, by slug, with its papers in each of the last ``weeks`` weeks of
    editions up to ``today``."""
    rows = session.execute(
        select(topics.c.slug, topics.c.label, topics.c.kind, topics.c.profile,
               topics.c.created_at, topics.c.updated_at, topics.c.papers, topics.c.merged_into,
               topics.c.split_from).order_by(topics.c.slug)
    ).all()
    counts = _weekly(session, today, weeks)
    return [TopicHistory(KnownTopic(s, label, k, dict(p or {})), c, u, n, counts.get(s, (0,) * weeks),
                         merged_into=m, split_from=f)
            for s, label, k, p, c, u, n, m, f in rows]


def topic_history(session: Session, slug: str, today: dt.date, weeks: int = 12,
                  latest: int = 5) -> TopicHistory | None:
    """One topic, its weeks, and the titles of its ``latest`` papers (newest edition first)."""
    row = session.execute(
        select(topics.c.slug, topics.c.label, topics.c.kind, topics.c.profile, topics.c.created_at,
               topics.c.updated_at, topics.c.papers, topics.c.merged_into, topics.c.split_from)
        .where(topics.c.slug == slug)
    ).first()
    if row is None:
        return None
    titles = session.execute(
        select(PaperRow.title).join(EditionItemRow, EditionItemRow.paper_id == PaperRow.id)
        .join(EditionRow, EditionRow.id == EditionItemRow.edition_id)
        .where(EditionItemRow.topic_slug == slug, EditionItemRow.section == "new")
        .order_by(EditionRow.date.desc(), EditionItemRow.position).limit(latest)
    ).scalars().all()
    weekly = _weekly(session, today, weeks, slug).get(slug, (0,) * weeks)
    return TopicHistory(KnownTopic(row.slug, row.label, row.kind, dict(row.profile or {})), row.created_at,
                        row.updated_at, row.papers, weekly, tuple(titles), row.merged_into, row.split_from)


def _weekly(session: Session, today: dt.date, weeks: int, slug: str | None = None) -> dict[str, tuple[int, ...]]:
    """Papers per topic in each of the ``weeks`` weeks of editions up to ``today``, oldest first."""
    since = today - dt.timedelta(days=7 * weeks - 1)
    query = (select(EditionItemRow.topic_slug, EditionRow.date, func.count())
             .join(EditionRow, EditionRow.id == EditionItemRow.edition_id)
             .where(EditionItemRow.section == "new", EditionItemRow.topic_slug.is_not(None),
                    EditionRow.date >= since, EditionRow.date <= today)
             .group_by(EditionItemRow.topic_slug, EditionRow.date))
    if slug is not None:
        query = query.where(EditionItemRow.topic_slug == slug)
    out: dict[str, list[int]] = {}
    for topic, date, n in session.execute(query):
        if topic is None:
            continue
        week = weeks - 1 - (today - date).days // 7
        out.setdefault(topic, [0] * weeks)[week] += int(n)
    return {topic: tuple(counts) for topic, counts in out.items()}


Merge = Callable[[Mapping[str, float], Mapping[str, float]], dict[str, float]]


def save_topics(session: Session, grouping: Grouping, now: dt.datetime, *, merge: Merge) -> int:
    """Persist the named groups of a grouping; returns how many topics are new.

    A new slug is inserted with ``ON CONFLICT DO NOTHING`` so that two processes saving at once
    cannot create it twice; a known one has its profile merged with today's by ``merge`` (the
    topics stage's rule, ``bot.topics.continuity.blend``).
    """
    created = 0
    existing = {k.slug: k for k in known_topics(session)}
    for group in (*grouping.groups, *grouping.candidates):
        if group.kind == "other":
            continue
        known = existing.get(group.slug)
        if known is None:
            inserted = session.execute(
                conflict_insert(session, topics).on_conflict_do_nothing().returning(topics.c.id).values(
                    slug=group.slug, label=group.label, kind=group.kind, profile=group.profile,
                    created_at=now, updated_at=now, papers=len(group.ids), split_from=group.split_from,
                )
            )
            created += len(inserted.all())
            continue
        session.execute(
            update(topics).where(topics.c.slug == group.slug).values(
                profile=merge(known.profile, group.profile) if group.profile else known.profile,
                updated_at=now, papers=topics.c.papers + len(group.ids), kind=group.kind, label=group.label,
            )
        )
    return created


def topic_docs(session: Session, *where: ColumnElement[bool]) -> list[TopicDoc]:
    """Papers as grouping sees them (with the best rank any dump gave them), oldest first,
    narrowed by ``where`` conditions on the papers table."""
    best_rank = (
        select(SightingRow.paper_id, func.min(SightingRow.rank).label("rank"))
        .group_by(SightingRow.paper_id)
        .subquery()
    )
    query = (
        select(PaperRow.key, PaperRow.title, PaperRow.abstract, PaperRow.upvotes, best_rank.c.rank,
               PaperRow.comments, PaperRow.github_stars)
        .outerjoin(best_rank, best_rank.c.paper_id == PaperRow.id)
        .where(*where)
        .order_by(PaperRow.id)
    )
    return [TopicDoc(key, title, abstract or "", upvotes, rank, comments, stars)
            for key, title, abstract, upvotes, rank, comments, stars in session.execute(query)]


def history_docs(session: Session, until: dt.datetime, limit: int) -> list[TopicDoc]:
    """The ``limit`` papers first seen last up to ``until``, newest first, as grouping fits its
    term space on them (title and abstract only)."""
    query = (select(PaperRow.key, PaperRow.title, PaperRow.abstract)
             .where(PaperRow.first_seen_at <= until).order_by(PaperRow.id.desc()).limit(limit))
    return [TopicDoc(key, title, abstract or "") for key, title, abstract in session.execute(query)]


CANDIDATE_DAYS = 14


def retire(session: Session, now: dt.datetime, days: int) -> list[KnownTopic]:
    """Discovered topics without a paper for ``days`` days, and candidates for
    ``CANDIDATE_DAYS``, become ``retired``: no longer offered to papers, but kept (their slug
    is never given to another topic, and a group that matches one takes it up again).
    Returns those retired now."""
    quiet = or_(and_(topics.c.kind == "discovered", topics.c.updated_at < now - dt.timedelta(days=days)),
                and_(topics.c.kind == "candidate", topics.c.updated_at < now - dt.timedelta(days=CANDIDATE_DAYS)))
    rows = session.execute(select(topics.c.slug, topics.c.label, topics.c.kind).where(quiet)).all()
    if rows:
        session.execute(update(topics).where(topics.c.slug.in_([r.slug for r in rows])).values(kind="retired"))
    return [KnownTopic(slug, label, kind) for slug, label, kind in rows]


def sizes(session: Session) -> dict[str, int]:
    """Papers each topic has held."""
    return {row.slug: row.papers for row in session.execute(select(topics.c.slug, topics.c.papers))}


def merge_topics(session: Session, pairs: Sequence[tuple[str, str]], now: dt.datetime) -> None:
    """Each (merged, into) pair: the first becomes an alias of the second (kind "merged"), its
    papers counted there; earlier aliases of it now point at the second too."""
    session.info.pop("topic_aliases", None)
    for merged, into in pairs:
        held = session.execute(select(topics.c.papers).where(topics.c.slug == merged)).scalar() or 0
        session.execute(update(topics).where(topics.c.slug == merged)
                        .values(kind="merged", merged_into=into, updated_at=now))
        session.execute(update(topics).where(topics.c.merged_into == merged).values(merged_into=into))
        session.execute(update(topics).where(topics.c.slug == into)
                        .values(papers=topics.c.papers + held, updated_at=now))


def aliases(session: Session) -> dict[str, str]:
    """The slug of every merged topic and the topic it now is (feeds and follows go there).
    Read once per session: an import checks it for every row."""
    found: dict[str, str] | None = session.info.get("topic_aliases")
    if found is None:
        rows = session.execute(select(topics.c.slug, topics.c.merged_into).where(topics.c.merged_into.is_not(None)))
        found = session.info["topic_aliases"] = {slug: into for slug, into in rows if into}
    return found


def rename_topics(session: Session, renames: Sequence[tuple[str, str]], now: dt.datetime) -> list[tuple[str, str]]:
    """Give topics the slugs an operator chose: each (old, new) whose old topic exists (and is
    no alias already) and whose new slug is free becomes a topic under the new slug, and the old
    one is merged into it (:func:`merge_topics`). Returns the renames made now."""
    done: list[tuple[str, str]] = []
    for old, new in renames:
        row = session.execute(select(topics).where(topics.c.slug == old, topics.c.merged_into.is_(None))).first()
        if row is None or session.execute(select(topics.c.id).where(topics.c.slug == new)).first() is not None:
            continue
        session.execute(topics.insert().values(slug=new, label=row.label, kind=row.kind, profile=row.profile,
                                               created_at=row.created_at, updated_at=now, papers=0))
        merge_topics(session, [(old, new)], now)
        done.append((old, new))
    return done
