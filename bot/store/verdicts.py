"""A reader's verdicts (more or less like this, their library) and the profile learnt from them.
The caller owns the transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from bot.models.readers import Profile, Verdict
from bot.store.database import upsert
from bot.store.schema import SubscriberRow, VerdictRow

verdicts = typing_cast(Table, VerdictRow.__table__)
subscribers = typing_cast(Table, SubscriberRow.__table__)
KEPT = 500
"""The verdicts a reader keeps (newest): the profile reads these."""


def subscriber_id(session: Session, token: str) -> int | None:
    found = session.execute(select(subscribers.c.id).where(subscribers.c.token == token)).scalar_one_or_none()
    return int(found) if found is not None else None


def record(session: Session, subscriber: int, given: Sequence[Verdict], now: dt.datetime) -> None:
    """Each verdict stored, replacing the reader's earlier one on the same paper; the oldest
    beyond :data:`KEPT` forgotten."""
    for verdict in given:
        upsert(session, verdicts, {"subscriber_id": subscriber, "paper_key": verdict.key},
               {"title": verdict.title, "text": verdict.text, "sign": verdict.sign, "origin": verdict.origin,
                "created_at": verdict.at or now})
    count = session.execute(select(func.count()).where(verdicts.c.subscriber_id == subscriber)).scalar_one()
    if count > KEPT:
        oldest = (select(verdicts.c.id).where(verdicts.c.subscriber_id == subscriber)
                  .order_by(verdicts.c.created_at, verdicts.c.id).limit(count - KEPT))
        session.execute(delete(verdicts).where(verdicts.c.id.in_(oldest.scalar_subquery())))


def forget_one(session: Session, subscriber: int, key: str) -> bool:
    done = session.connection().execute(
        delete(verdicts).where(verdicts.c.subscriber_id == subscriber, verdicts.c.paper_key == key))
    return done.rowcount > 0


def of_reader(session: Session, subscriber: int) -> list[Verdict]:
    """The reader's verdicts, newest first."""
    rows = session.execute(select(verdicts).where(verdicts.c.subscriber_id == subscriber)
                           .order_by(verdicts.c.created_at.desc(), verdicts.c.id.desc()))
    return [Verdict(r.paper_key, r.title, r.text, r.sign, r.origin, r.created_at) for r in rows]


def set_profile(session: Session, subscriber: int, profile: Profile, now: dt.datetime) -> None:
    session.execute(update(subscribers).where(subscribers.c.id == subscriber)
                    .values(profile=profile_json(profile) if profile else None, updated_at=now))


def profile_json(profile: Profile) -> dict[str, Any]:
    return {"terms": [[t, w] for t, w in profile.terms],
            "liked": [[key, title, list(terms)] for key, title, terms in profile.liked]}


def profile_from(value: Any) -> Profile:
    """The stored profile as a record (an empty one for a reader who rated nothing, or for a
    value this version cannot read: the reader then gets the unranked copy)."""
    if not isinstance(value, dict):
        return Profile()
    try:
        terms = tuple((str(t), float(w)) for t, w in value.get("terms", ()))
        liked = tuple((str(k), str(title), tuple(map(str, words))) for k, title, words in value.get("liked", ()))
        return Profile(terms, liked)
    except (TypeError, ValueError):
        return Profile()
