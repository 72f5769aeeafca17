"""The tables, as SQLAlchemy 2.0 typed models.

Identity and "seen" are guarded here, by unique constraints, not by checks in Python: a paper
key exists once, a dump's content is ingested once, a paper is sighted once per dump.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def sqlite_text(value: dt.datetime) -> str:
    """What :class:`UTCDateTime` stores in SQLite for ``value`` (naive UTC text), for the hot
    paths that hand the driver values themselves."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DumpRow(Base):
    """A file ingested once, known by the hash of its bytes."""

    __tablename__ = "dumps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    layout: Mapped[str] = mapped_column(String(32))
    dump_date: Mapped[dt.date]
    dump_date_in_file: Mapped[bool]
    ingested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)


class PaperRow(Base):
    """One row per identity; the descriptive fields fill in as better sightings arrive."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    arxiv_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    title_key: Mapped[str] = mapped_column(Text, index=True)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    author_count: Mapped[int | None] = mapped_column(Integer)
    organization: Mapped[str | None] = mapped_column(Text)
    published: Mapped[dt.date | None]
    upvotes: Mapped[int | None] = mapped_column(Integer)
    categories: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    first_dump_id: Mapped[int | None] = mapped_column(ForeignKey("dumps.id"))
    # What the Daily Papers API and arXiv's feeds add (migration 0012).
    announce: Mapped[str | None] = mapped_column(String(16))
    github_repo: Mapped[str | None] = mapped_column(Text)
    github_stars: Mapped[int | None] = mapped_column(Integer)
    project_page: Mapped[str | None] = mapped_column(Text)
    comments: Mapped[int | None] = mapped_column(Integer)
    submitted_by: Mapped[str | None] = mapped_column(Text)
    ai_summary: Mapped[str | None] = mapped_column(Text)
    ai_keywords: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    thumbnail: Mapped[str | None] = mapped_column(Text)
    # The TL;DR shown, kept once made: the source's summary, picked sentences or a model's.
    tldr: Mapped[str | None] = mapped_column(Text)
    tldr_source: Mapped[str | None] = mapped_column(String(16))


class SightingRow(Base):
    """A paper seen in a dump, at a rank and with the upvotes it had then."""

    __tablename__ = "sightings"
    __table_args__ = (Index("ix_sightings_dump_id", "dump_id"),)

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    dump_id: Mapped[int] = mapped_column(ForeignKey("dumps.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    upvotes: Mapped[int | None] = mapped_column(Integer)


class TopicRow(Base):
    """A named topic; its slug and label are what feeds and follows hold on to."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    label: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    profile: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    papers: Mapped[int] = mapped_column(Integer, default=0)
    merged_into: Mapped[str | None] = mapped_column(String(80))
    """Set when the topic was merged into another (kind "merged"): its slug is then an alias."""
    split_from: Mapped[str | None] = mapped_column(String(80))
    """Set when the topic split off another, a subject grown apart inside it."""


class EditionRow(Base):
    """The digest of one local date; every channel renders this one stored selection."""

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date] = mapped_column(unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cutoff_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    papers: Mapped[int] = mapped_column(Integer)
    climbing: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    # the newest subscriber change its last queuing saw: re-queuing looks only at later ones
    queued_through: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EditionItemRow(Base):
    """A paper in an edition, in its section and topic, at its place.

    The partial unique index makes "new" happen once per paper across all editions.
    """

    __tablename__ = "edition_items"
    __table_args__ = (
        Index("uq_edition_items_new_paper", "paper_id", unique=True,
              sqlite_where=text("section = 'new'"), postgresql_where=text("section = 'new'")),
    )

    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    section: Mapped[str] = mapped_column(String(16))
    topic_slug: Mapped[str | None] = mapped_column(String(80))
    topic_label: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    upvotes: Mapped[int | None] = mapped_column(Integer)
    rise: Mapped[int | None] = mapped_column(Integer)


class InstanceRow(Base):
    """Values this installation made for itself once, such as the key that signs links when
    ``PAPERBOY_SECRET_KEY`` is not set (every process on the database then agrees on it)."""

    __tablename__ = "instance"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SubscriberRow(Base):
    """A reader. ``address_key`` (the case-folded address) makes a person one row."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    address_key: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    follow: Mapped[list[str]] = mapped_column(JSON, default=list)
    mute: Mapped[list[str]] = mapped_column(JSON, default=list)
    include: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude: Mapped[list[str]] = mapped_column(JSON, default=list)
    people: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    mute_people: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    cadence: Mapped[str | None] = mapped_column(String(16))
    """"weekdays", "weekly" or "monthly" (None: daily)."""
    weekday: Mapped[int | None] = mapped_column(Integer)
    send_at: Mapped[str | None] = mapped_column(String(5))
    """"HH:MM" in ``time_zone``: when this reader's copy of an edition is due (None: the digest's)."""
    time_zone: Mapped[str | None] = mapped_column(String(64))
    searches: Mapped[list[str] | None] = mapped_column(JSON)
    """Saved searches: the edition's papers holding every word of one come first ("Your searches")."""
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the ranking learnt from the reader's verdicts (``bot.digest.ranking.profile_of``)."""
    token: Mapped[str] = mapped_column(String(64), unique=True)
    hard_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class DeliveryRow(Base):
    """One edition to one subscriber. The unique pair makes "queued" happen once; the stored
    Message-ID makes a retry the same message; the lease lets a crashed sender's claims expire."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id"),
        Index("ix_deliveries_status_next_attempt_at_id", "status", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When this copy was first due (the reader's hour); lateness counts from here (None: the
    edition's due time)."""
    since: Mapped[dt.date | None] = mapped_column(Date)
    """A weekly or monthly copy: the first date of the editions it gathers (None: its own)."""
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(64))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    uncertain: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ChannelPostRow(Base):
    """One part of an edition for one chat or webhook channel. The unique triple makes "queued"
    happen once; the stored body and key make a retry, or a resend after a crash, the same post."""

    __tablename__ = "channel_posts"
    __table_args__ = (UniqueConstraint("channel", "edition_id", "part"), Index(None, "channel", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"), index=True)
    part: Mapped[int] = mapped_column(SmallInteger)
    parts: Mapped[int] = mapped_column(SmallInteger)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(64))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    resent: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class VerdictRow(Base):
    """A paper a reader asked more (sign 1) or less (-1) of from a card, or brought from their
    library (1). One per reader and paper: a later click replaces the earlier. ``text`` is what
    the profile reads, kept here so that the profile can be rebuilt whatever the store forgets."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("subscriber_id", "paper_key"),
                      Index("ix_verdicts_subscriber_id_created_at", "subscriber_id", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    paper_key: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    sign: Mapped[int] = mapped_column(SmallInteger)
    origin: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class NoticeRow(Base):
    """A one-off mail to one reader (a confirmation link, "subscribed already"), queued by the web
    request that asked for it and sent by a worker, so that no request waits on a mail server.
    Claimed under a lease like a delivery; sent at least once (a sender killed between the
    server's 250 and the record sends it again when the lease ends)."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SkippedDayRow(Base):
    """A scheduled date that got no edition, so that it is decided once: ``missed`` (the service
    was down past ``schedule.max_lateness``) or ``empty`` (nothing new by then)."""

    __tablename__ = "skipped_days"

    date: Mapped[dt.date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)


class ServiceStateRow(Base):
    """The latest of each kind of service event (``ingest``, ``feeds``, ``health``), for status."""

    __tablename__ = "service_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SchedulerLockRow(Base):
    """Who runs the schedule. On SQLite the row is the lock (taken when absent or expired, kept
    alive by a heartbeat); on PostgreSQL an advisory lock decides and the row only says who."""

    __tablename__ = "scheduler_lock"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SourceStateRow(Base):
    """What each configured source last answered: its validators for conditional GET (a 304
    means nothing new), when it was last read and whether that worked."""

    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class RateCountRow(Base):
    """Requests counted per bucket and key in fixed windows (the web front's rate limits), kept
    here so every web process and every restart sees the same counts. Keys are keyed hashes,
    never addresses."""

    __tablename__ = "rate_counts"

    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
