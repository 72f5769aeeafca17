"""Queries over the TL;DR each paper keeps once it is made. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from bot.store.papers import among, chunks, papers


def needing_tldr(session: Session, keys: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """(key, abstract, source summary) of the papers among ``keys`` that have no TL;DR yet, or
    only picked sentences where the source has since given its own summary."""
    rows: list[tuple[str, str, str | None]] = []
    wanted = or_(papers.c.tldr.is_(None), and_(papers.c.tldr_source == "extract", papers.c.ai_summary.is_not(None)))
    for chunk in chunks(session, list(keys)):
        rows.extend((key, abstract or "", summary) for key, abstract, summary in session.execute(
            select(papers.c.key, papers.c.abstract, papers.c.ai_summary)
            .where(among(session, papers.c.key, chunk), wanted)))
    return rows


def needing_model(session: Session, keys: Sequence[str], limit: int) -> list[tuple[str, str, str]]:
    """(key, title, abstract) of the papers among ``keys`` a language model may summarise: an
    abstract, no summary from the source, none from a model yet; most upvoted first."""
    rows: list[Any] = []
    for chunk in chunks(session, list(keys)):
        rows.extend(session.execute(
            select(papers.c.key, papers.c.title, papers.c.abstract, func.coalesce(papers.c.upvotes, -1))
            .where(among(session, papers.c.key, chunk), papers.c.abstract.is_not(None),
                   papers.c.ai_summary.is_(None), or_(papers.c.tldr_source.is_(None), papers.c.tldr_source != "model"))
        ).all())
    rows.sort(key=lambda row: (-row[3], row[0]))
    return [(key, title, abstract) for key, title, abstract, _ in rows[:limit]]


def set_tldrs(session: Session, tldrs: Sequence[tuple[str, str, str]]) -> None:
    """Store (key, TL;DR, where it came from) for each paper."""
    if tldrs:
        session.execute(update(papers).where(papers.c.key == bindparam("k"))
                        .values(tldr=bindparam("t"), tldr_source=bindparam("s")),
                        [{"k": k, "t": t, "s": source} for k, t, source in tldrs])
