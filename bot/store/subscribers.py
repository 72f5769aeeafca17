"""Queries over subscribers and the instance's own values. The caller owns the transaction.

One person is one row: the case-folded address is unique, and every insert is an upsert on it,
so an import run twice, or two operators adding the same address at once, change nothing more.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import String, Table, cast, delete, func, select, update
from sqlalchemy.orm import Session

from bot.identity import address_key
from bot.models.readers import Preferences, Subscriber, SubscriberStatus
from bot.store.database import conflict_insert
from bot.store.schema import DeliveryRow, EditionRow, InstanceRow, NoticeRow, SubscriberRow
from bot.store.topics import aliases as topic_aliases
from bot.store.verdicts import of_reader, profile_from

subscribers = typing_cast(Table, SubscriberRow.__table__)
instance = typing_cast(Table, InstanceRow.__table__)
deliveries = typing_cast(Table, DeliveryRow.__table__)
notices = typing_cast(Table, NoticeRow.__table__)


def instance_value(session: Session, name: str, make: Any = lambda: secrets.token_urlsafe(32)) -> str:
    """A value this installation generated once (made by ``make`` on first use)."""
    session.execute(conflict_insert(session, instance).on_conflict_do_nothing().values(name=name, value=make()))
    return str(session.execute(select(instance.c.value).where(instance.c.name == name)).scalar_one())


PREFERENCE_COLUMNS = (subscribers.c.follow, subscribers.c.mute, subscribers.c.include, subscribers.c.exclude,
                      subscribers.c.send_at, subscribers.c.time_zone, subscribers.c.people, subscribers.c.mute_people,
                      subscribers.c.cadence, subscribers.c.weekday, subscribers.c.profile, subscribers.c.searches)
"""What :func:`preferences_of` reads from a row."""


def preferences_of(row: Any) -> Preferences:
    """A row's preferences (one that selected :data:`PREFERENCE_COLUMNS`)."""
    return Preferences(tuple(row.follow or ()), tuple(row.mute or ()), tuple(row.include or ()),
                       tuple(row.exclude or ()), row.send_at, row.time_zone, tuple(row.people or ()),
                       tuple(row.mute_people or ()), row.cadence or "daily", row.weekday or 0,
                       profile_from(row.profile), tuple(row.searches or ()))


def _record(row: Any) -> Subscriber:
    return Subscriber(
        address=row.address, status=row.status, preferences=preferences_of(row),
        token=row.token, created_at=row.created_at, confirmed_at=row.confirmed_at,
        hard_failures=row.hard_failures,
    )


def _prefs(preferences: Preferences) -> dict[str, list[str] | str | int | None]:
    return {"follow": list(preferences.follow), "mute": list(preferences.mute),
            "include": list(preferences.include), "exclude": list(preferences.exclude),
            "send_at": preferences.send_at, "time_zone": preferences.time_zone,
            "people": list(preferences.people), "mute_people": list(preferences.mute_people),
            "cadence": None if preferences.cadence == "daily" else preferences.cadence,
            "weekday": preferences.weekday if preferences.cadence == "weekly" else None,
            "searches": list(preferences.searches)}


def _current(session: Session, preferences: Preferences) -> Preferences:
    """Slugs of merged topics (an old form, an old link) as the topics they went into."""
    if not preferences.follow and not preferences.mute:
        return preferences
    merged = topic_aliases(session)
    if not merged:
        return preferences
    return replace(preferences, follow=tuple(dict.fromkeys(merged.get(s, s) for s in preferences.follow)),
                   mute=tuple(dict.fromkeys(merged.get(s, s) for s in preferences.mute)))


@dataclass(frozen=True, slots=True)
class Upsert:
    subscriber: Subscriber
    outcome: str  # added, updated, unchanged, kept (unsubscribed or bounced, left so)


def upsert_subscriber(
    session: Session, address: str, preferences: Preferences, now: dt.datetime, *,
    status: SubscriberStatus = "active", reactivate: bool = False,
) -> Upsert:
    """Add ``address`` or update its preferences.

    An operator's explicit add (``reactivate``) brings back someone who left; an import does
    not, because a list exported before someone unsubscribed must not subscribe them again.
    """
    key = address_key(address)
    preferences = _current(session, preferences)
    inserted = session.execute(
        conflict_insert(session, subscribers).on_conflict_do_nothing().returning(subscribers.c.id).values(
            address=address, address_key=key, status=status, token=secrets.token_urlsafe(24), hard_failures=0,
            created_at=now, confirmed_at=now if status == "active" else None, updated_at=now,
            **_prefs(preferences),
        )
    ).first()
    row = session.execute(select(subscribers).where(subscribers.c.address_key == key)).one()
    if inserted is not None:
        return Upsert(_record(row), "added")
    changes: dict[str, Any] = {}
    if _prefs(preferences) != _prefs(_record(row).preferences):
        changes.update(_prefs(preferences))
    if reactivate and row.status != "active":
        changes.update(status="active", hard_failures=0, confirmed_at=now)
    if row.status in ("unsubscribed", "bounced") and not reactivate:
        return Upsert(_record(row), "kept")
    if not changes:
        return Upsert(_record(row), "unchanged")
    session.execute(update(subscribers).where(subscribers.c.id == row.id).values(updated_at=now, **changes))
    updated = session.execute(select(subscribers).where(subscribers.c.id == row.id)).one()
    return Upsert(_record(updated), "updated")


def find_subscriber(session: Session, address: str) -> Subscriber | None:
    row = session.execute(select(subscribers).where(subscribers.c.address_key == address_key(address))).first()
    return _record(row) if row else None


def set_status(session: Session, address: str, status: SubscriberStatus, now: dt.datetime) -> bool:
    done = session.connection().execute(
        update(subscribers).where(subscribers.c.address_key == address_key(address))
        .values(status=status, updated_at=now)
    )
    return done.rowcount > 0


def purge_subscriber(session: Session, address: str) -> bool:
    """Forget the address entirely, with its delivery history (the deliveries cascade)."""
    done = session.connection().execute(delete(subscribers).where(subscribers.c.address_key == address_key(address)))
    return done.rowcount > 0


def iter_subscribers(session: Session, status: str | None = None, batch: int = 1000) -> Iterator[Subscriber]:
    """Every subscriber in address order, streamed (a list may be larger than memory likes)."""
    query = select(subscribers).order_by(subscribers.c.address_key)
    if status:
        query = query.where(subscribers.c.status == status)
    for row in session.execute(query.execution_options(yield_per=batch)):
        yield _record(row)



def request_subscription(session: Session, address: str, preferences: Preferences, now: dt.datetime) -> Upsert:
    """A reader asked to subscribe through the web: a new or former subscriber becomes pending
    with the chosen preferences until they confirm; an active one is left exactly as is (a
    stranger must not be able to change someone's topics by typing their address)."""
    existing = find_subscriber(session, address)
    if existing is not None and existing.status == "active":
        return Upsert(existing, "kept")
    if existing is None:
        return upsert_subscriber(session, address, preferences, now, status="pending")
    session.execute(update(subscribers).where(subscribers.c.address_key == address_key(address))
                    .values(status="pending", updated_at=now, **_prefs(preferences)))
    found = find_subscriber(session, address)
    assert found is not None
    return Upsert(found, "updated")


def reader_data(session: Session, token: str) -> dict[str, Any] | None:
    """Everything stored about one reader, for them to take away: their subscription, choices,
    the papers they rated or brought, and the copies of each edition mailed to them (newest first)."""
    row = session.execute(select(subscribers).where(subscribers.c.token == token)).first()
    if row is None:
        return None
    copies = session.execute(
        select(EditionRow.date, deliveries.c.since, deliveries.c.status, deliveries.c.attempts, deliveries.c.due_at,
               deliveries.c.sent_at, deliveries.c.message_id)
        .join(EditionRow, EditionRow.id == deliveries.c.edition_id)
        .where(deliveries.c.subscriber_id == row.id).order_by(EditionRow.date.desc())).all()

    def when(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "address": row.address, "status": row.status, "subscribed": when(row.created_at),
        "confirmed": when(row.confirmed_at), "changed": when(row.updated_at), "bounces": row.hard_failures,
        "preferences": {"follow": list(row.follow or ()), "mute": list(row.mute or ()),
                        "include": list(row.include or ()), "exclude": list(row.exclude or ()),
                        "send_at": row.send_at, "time_zone": row.time_zone, "people": list(row.people or ()),
                        "mute_people": list(row.mute_people or ()), "cadence": row.cadence or "daily",
                        "weekday": row.weekday, "searches": list(row.searches or ())},
        "verdicts": [{"paper": v.key, "title": v.title, "verdict": "more" if v.sign > 0 else "less",
                      "from": v.origin, "at": when(v.at)} for v in of_reader(session, row.id)],
        "editions": [{"date": c.date.isoformat(), "since": c.since.isoformat() if c.since else None,
                      "status": c.status, "attempts": c.attempts,
                      "due": when(c.due_at), "sent": when(c.sent_at), "message_id": c.message_id} for c in copies],
    }


def forget(session: Session, token: str) -> str | None:
    """Delete everything about a reader: the subscriber, the record of every copy mailed to them
    and their verdicts (both cascade) and any mail to them still queued. Returns their address."""
    row = session.execute(select(subscribers.c.id, subscribers.c.address).where(subscribers.c.token == token)).first()
    if row is None:
        return None
    session.execute(delete(notices).where(func.lower(notices.c.address) == row.address.lower()))
    session.execute(delete(subscribers).where(subscribers.c.id == row.id))
    return str(row.address)


def find_by_token(session: Session, token: str) -> Subscriber | None:
    row = session.execute(select(subscribers).where(subscribers.c.token == token)).first()
    return _record(row) if row else None


def confirm(session: Session, token: str, now: dt.datetime) -> Subscriber | None:
    """Double opt-in, second half: a pending subscriber becomes active (again harmless)."""
    session.execute(update(subscribers).where(subscribers.c.token == token, subscribers.c.status == "pending")
                    .values(status="active", confirmed_at=now, hard_failures=0, updated_at=now))
    return find_by_token(session, token)


def unsubscribe(session: Session, token: str, now: dt.datetime) -> Subscriber | None:
    """Idempotent: a second request changes nothing and reports the same."""
    session.execute(update(subscribers).where(subscribers.c.token == token, subscribers.c.status != "unsubscribed")
                    .values(status="unsubscribed", updated_at=now))
    return find_by_token(session, token)


def resubscribe(session: Session, token: str, now: dt.datetime) -> Subscriber | None:
    """An unsubscribed or bounced subscriber back to active, from their own manage link (which
    reached their mailbox, so the address is proven); None for an unknown token."""
    session.execute(update(subscribers).where(subscribers.c.token == token,
                                              subscribers.c.status.in_(("unsubscribed", "bounced")))
                    .values(status="active", hard_failures=0, updated_at=now))
    return find_by_token(session, token)


def set_preferences(session: Session, token: str, preferences: Preferences, now: dt.datetime) -> Subscriber | None:
    session.execute(update(subscribers).where(subscribers.c.token == token)
                    .values(updated_at=now, **_prefs(_current(session, preferences))))
    return find_by_token(session, token)


def _followers(session: Session) -> Iterator[Any]:
    """Active subscribers who follow or mute something (most follow nothing: all topics)."""
    return iter(session.execute(
        select(subscribers.c.id, subscribers.c.follow, subscribers.c.mute)
        .where(subscribers.c.status == "active",
               (func.length(cast(subscribers.c.follow, String)) > 2)
               | (func.length(cast(subscribers.c.mute, String)) > 2))))


def followed_topics(session: Session) -> dict[str, int]:
    """How many active subscribers follow each topic slug."""
    counts: dict[str, int] = {}
    for row in _followers(session):
        for slug in set(row.follow or ()):
            counts[slug] = counts.get(slug, 0) + 1
    return counts


def move_follows(session: Session, renamed: dict[str, str], now: dt.datetime) -> dict[str, int]:
    """Subscribers following (or muting) an old slug of ``renamed`` (old: new) follow (or mute) the
    new one instead, in one pass: a renamed topic keeps its readers. Returns, per old slug, how
    many subscribers moved."""
    return _rewrite_follows(session, renamed, lambda slug: (renamed.get(slug, slug),), now)


def share_follows(session: Session, split: dict[str, str], now: dt.datetime) -> dict[str, int]:
    """Subscribers following (or muting) a topic that ``split`` (parent: new topic) follow (or
    mute) its new part as well: a reader of a topic does not lose half of it. Returns, per
    parent, how many subscribers now have both."""
    return _rewrite_follows(session, split, lambda slug: (slug, split[slug]) if slug in split else (slug,), now)


def _rewrite_follows(session: Session, changed: dict[str, str], becomes: Callable[[str], tuple[str, ...]],
                     now: dt.datetime) -> dict[str, int]:
    """Every follow and mute list that holds a slug of ``changed``, each of its slugs replaced by
    what ``becomes`` makes of it, in one pass; the count of subscribers per changed slug."""
    counts: dict[str, int] = {}
    for row in list(_followers(session)):
        follow, mute = list(row.follow or ()), list(row.mute or ())
        found = changed.keys() & {*follow, *mute}
        if not found:
            continue
        values = {name: list(dict.fromkeys(new for slug in slugs for new in becomes(slug)))
                  for name, slugs in (("follow", follow), ("mute", mute))}
        session.execute(update(subscribers).where(subscribers.c.id == row.id).values(**values, updated_at=now))
        for slug in found:
            counts[slug] = counts.get(slug, 0) + 1
    return counts
