"""The channel outbox: one row per (channel, edition, part), posted in order, each once.

As for mail (:mod:`bot.store.deliveries`), exactly once rests on the schema and on fenced
writes. Queuing inserts a channel's parts of an edition with ``ON CONFLICT DO NOTHING``, so a
second send queues nothing. A part is claimed (``sending``, a lease, a fresh token) only when
every earlier part of its channel is settled, so a channel reads its messages in order; it is
recorded as sent, with the same token, only after the channel answered 2xx. A sender killed in
between leaves a ``sending`` row whose lease expires (at once, when it died on this host); the
resend carries the same body and key, which Matrix (its transaction id) and the webhook's
receivers (its delivery id) use to drop the repeat, and is counted in ``resent``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from bot.models.channels import ChannelPost, Post
from bot.store.database import conflict_insert
from bot.store.schema import ChannelPostRow, EditionRow

posts = typing_cast(Table, ChannelPostRow.__table__)
editions = typing_cast(Table, EditionRow.__table__)
OPEN = ("pending", "retrying", "sending")
EXPIRED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A part this worker holds until its lease ends: what is needed to post and record it."""

    id: int
    channel: str
    edition_date: dt.date
    part: int
    parts: int
    key: str
    body: dict[str, Any]
    attempts: int
    token: str
    resend: bool
    """A sender before this one claimed it and stopped without recording: it may be there already."""


def queue(session: Session, channel: str, edition: int, parts: Sequence[Post], now: dt.datetime) -> int:
    """Queue ``parts`` of ``edition`` for ``channel`` unless any part of it is queued already
    (what was rendered first stands); returns how many were added."""
    if not parts or session.execute(select(posts.c.id).where(
            posts.c.channel == channel, posts.c.edition_id == edition).limit(1)).first():
        return 0
    rows = [{"channel": channel, "edition_id": edition, "part": number, "parts": len(parts),
             "key": secrets.token_hex(16), "body": json.dumps(post.body, ensure_ascii=False),
             "status": "pending", "attempts": 0, "next_attempt_at": now, "resent": 0, "created_at": now}
            for number, post in enumerate(parts, 1)]
    result = session.connection().execute(conflict_insert(session, posts).on_conflict_do_nothing(), rows)
    return len(rows) if result.rowcount is None or result.rowcount < 0 else int(result.rowcount)


def next_part(session: Session, channel: str, now: dt.datetime, lease_until: dt.datetime, worker: str
              ) -> Claimed | dt.datetime | None:
    """Claim the channel's earliest unsettled part if it is due and nobody holds it; else when
    it will be due (its retry time or its lease's end), or None when all are settled."""
    row = session.execute(
        select(posts, editions.c.date).join(editions, editions.c.id == posts.c.edition_id)
        .where(posts.c.channel == channel, posts.c.status.in_(OPEN))
        .order_by(posts.c.edition_id, posts.c.part).limit(1)
    ).mappings().first()
    if row is None:
        return None
    if row["status"] == "sending" and row["lease_until"] and row["lease_until"] > now:
        return typing_cast(dt.datetime, row["lease_until"])
    if row["status"] != "sending" and row["next_attempt_at"] > now:
        return typing_cast(dt.datetime, row["next_attempt_at"])
    token = secrets.token_hex(16)
    resend = row["status"] == "sending"
    claimed = session.connection().execute(
        update(posts).where(posts.c.id == row["id"], posts.c.status == row["status"],
                            _same(posts.c.claim_token, row["claim_token"]))
        .values(status="sending", lease_until=lease_until, worker=worker, claim_token=token,
                attempts=posts.c.attempts + 1, resent=posts.c.resent + (1 if resend else 0))
    ).rowcount
    if not claimed:
        return now  # another sender took it in between: look again at once
    return Claimed(row["id"], channel, row["date"], row["part"], row["parts"], row["key"], json.loads(row["body"]),
                   row["attempts"] + 1, token, resend)


def _same(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


def open_parts(session: Session, channel: str) -> int:
    return int(session.execute(select(func.count()).where(posts.c.channel == channel,
                                                          posts.c.status.in_(OPEN))).scalar() or 0)


def record(session: Session, claimed: Claimed, status: str, now: dt.datetime, *,
           error: str | None = None, next_attempt_at: dt.datetime | None = None) -> bool:
    """Settle a claim (sent, failed) or put it back for a retry; fenced by its token."""
    values: dict[str, Any] = {"status": status, "lease_until": None, "worker": None, "last_error": error}
    if status == "sent":
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    fenced = update(posts).where(posts.c.id == claimed.id, posts.c.claim_token == claimed.token,
                                 posts.c.status == "sending")
    result = session.connection().execute(fenced.values(**values))
    return bool(result.rowcount)


def holders(session: Session, prefix: str) -> list[str]:
    """Workers of this host (``prefix``) holding parts now."""
    return list(session.execute(select(posts.c.worker).where(
        posts.c.status == "sending", posts.c.worker.startswith(prefix, autoescape=True)).distinct()).scalars())


def expire(session: Session, workers: Sequence[str]) -> int:
    """The claims of senders known to be dead end now, not when their lease would have."""
    if not workers:
        return 0
    result = session.connection().execute(update(posts).where(posts.c.status == "sending", posts.c.worker.in_(workers))
                             .values(lease_until=EXPIRED))
    return int(result.rowcount or 0)


def make_due(session: Session, now: dt.datetime, edition: int | None = None) -> int:
    """Failed parts and those waiting for a retry, due now, with a fresh count of attempts."""
    query = update(posts).where(posts.c.status.in_(("failed", "retrying")))
    if edition is not None:
        query = query.where(posts.c.edition_id == edition)
    result = session.connection().execute(query.values(status="retrying", next_attempt_at=now, attempts=0))
    return int(result.rowcount or 0)


def iter_posts(session: Session, status: str | None = None, edition: int | None = None,
               channel: str | None = None) -> Iterator[ChannelPost]:
    """Parts, newest edition first, each channel's in order."""
    query = (select(posts, editions.c.date).join(editions, editions.c.id == posts.c.edition_id)
             .order_by(posts.c.edition_id.desc(), posts.c.channel, posts.c.part))
    if status is not None:
        query = query.where(posts.c.status == status)
    if edition is not None:
        query = query.where(posts.c.edition_id == edition)
    if channel is not None:
        query = query.where(posts.c.channel == channel)
    for row in session.execute(query).mappings():
        yield ChannelPost(row["id"], row["channel"], row["date"], row["part"], row["parts"], row["key"],
                          row["status"], row["attempts"], row["next_attempt_at"], row["last_error"], row["sent_at"],
                          row["resent"])


@dataclass(frozen=True, slots=True)
class Latest:
    """A channel's newest edition in the outbox: its parts by status, and what went wrong last."""

    channel: str
    edition_date: dt.date
    counts: dict[str, int]
    last_error: str | None
    next_attempt_at: dt.datetime | None


def latest(session: Session, channels: Sequence[str]) -> list[Latest]:
    """For ``status``: each channel's newest edition, read with one small query per channel."""
    found = []
    for name in channels:
        newest = session.execute(select(func.max(posts.c.edition_id)).where(posts.c.channel == name)).scalar()
        if newest is None:
            continue
        rows = list(iter_posts(session, edition=newest, channel=name))
        counts: dict[str, int] = {}
        for post in rows:
            counts[post.status] = counts.get(post.status, 0) + 1
        errors = [p.last_error for p in rows if p.last_error]
        waiting = [p.next_attempt_at for p in rows if p.status == "retrying"]
        found.append(Latest(name, rows[0].edition_date, counts, errors[-1] if errors else None,
                            min(waiting) if waiting else None))
    return found
