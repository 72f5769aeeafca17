"""The editions stage wired to the store: grouping the stored papers, building the edition of
a date once, previewing it as a subscriber gets it, and writing the feeds and archive.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy.orm import Session

from bot.clock import utc_now
from bot.digest import periodic, plan
from bot.digest.model import ModelConfig, summarise
from bot.digest.tldr import key_sentences
from bot.errors import EditionError, PaperboyError, StoreConflict
from bot.models import (
    Edition,
    FeedsWrite,
    Grouping,
    TopicDoc,
)
from bot.render import environment
from bot.render.feeds import build, feed_limits
from bot.settings import Settings
from bot.store import Database
from bot.store import editions as edition_store
from bot.store import service as service_store
from bot.store import subscribers as subscriber_store
from bot.store import tldrs as tldr_store
from bot.store import topics as topic_store

if TYPE_CHECKING:
    from bot.topics import Options

def grouping_options(settings: Settings) -> Options:
    from bot.topics import Options

    return Options(
        min_size=settings.grouping_min_size,
        max_share=settings.grouping_max_share / 100,
        max_groups=settings.grouping_max_groups,
    )


def group_stored(
    database: Database, settings: Settings, *, new_only: bool = True, save: bool = False,
    now: dt.datetime | None = None,
) -> tuple[Grouping, list[TopicDoc]]:
    """Group the stored papers (with ``new_only``, those no edition has carried yet);
    with ``save``, persist the topics so that their names stick. Returns the papers too."""
    with database.read() as session:
        if new_only:
            latest = edition_store.latest_edition(session)
            docs = edition_store.new_papers(session, latest.cutoff if latest else None,
                                            now or utc_now())
        else:
            docs = topic_store.topic_docs(session)
        known = topic_store.known_topics(session)
        history = _history(session, docs, now or utc_now())
    from bot.topics import (
        group_papers,  # scikit-learn loads in about 2 s; ingest does not need it
    )

    grouping = group_papers(docs, rules=settings.topics, known=known, options=grouping_options(settings),
                            history=history, pins=dict(settings.topic_labels))
    if save and grouping.groups:
        with database.write() as session:
            _save_topics(session, grouping, now or utc_now())
    return grouping, docs


log = logging.getLogger(__name__)

HISTORY = 2000
"""Earlier papers the topics' term space is fitted on, with the day's: about six weeks of Daily
Papers, enough for a term's weight not to swing with one day's mix (benchmarks/topics.py)."""


def _history(session: Session, docs: list[TopicDoc], now: dt.datetime) -> list[TopicDoc]:
    today = {d.id for d in docs}
    earlier = topic_store.history_docs(session, now, HISTORY + len(today))
    return [d for d in earlier if d.id not in today][:HISTORY]


def _save_topics(session: Session, grouping: Grouping, now: dt.datetime) -> None:
    """Persist the day's topics (their names stick); the readers of a topic that split follow
    (or mute) its new part too."""
    from bot.topics.continuity import blend

    topic_store.save_topics(session, grouping, now, merge=blend)
    split = {g.split_from: g.slug for g in grouping.groups if g.split_from is not None}
    if split:
        shared = subscriber_store.share_follows(session, split, now)
        for parent, part in split.items():
            count = shared.get(parent, 0)
            log.info("topics: %r split off %r (a subject of its own now); %d subscriber%s follow both", part,
                     parent, count, "" if count == 1 else "s")


def _rename(session: Session, settings: Settings, now: dt.datetime) -> None:
    """The slugs an operator chose (``[topic_slugs]``) replace the ones found."""
    if settings.topic_slugs:
        _moved(session, topic_store.rename_topics(session, settings.topic_slugs, now), now, "is now %r (topic_slugs)")


def _merge(session: Session, now: dt.datetime) -> None:
    """Shown topics that became one subject merge into the larger."""
    from bot.topics.continuity import merges

    shown = [k for k in topic_store.known_topics(session) if k.kind == "discovered"]
    pairs = merges(shown, topic_store.sizes(session))
    if pairs:
        topic_store.merge_topics(session, pairs, now)
        _moved(session, pairs, now, "merged into %r (one subject now)")


def _moved(session: Session, pairs: list[tuple[str, str]], now: dt.datetime, what: str) -> None:
    """After a merge or a rename: the old slug is an alias (its feed redirects), and its readers
    follow (or mute) the topic it went into."""
    if not pairs:
        return
    moved = subscriber_store.move_follows(session, dict(pairs), now)
    for old, new in pairs:
        count = moved.get(old, 0)
        log.info("topics: %r %s; %d subscriber%s moved with it", old, what % (new,), count,
                 "" if count == 1 else "s")


def local_date(settings: Settings, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(settings.schedule_timezone)).date()


def build_edition(
    database: Database, settings: Settings, date: dt.date | None = None, now: dt.datetime | None = None,
    note: str | None = None,
) -> Edition | None:
    """The edition of ``date`` (default: today, in the digest's time zone), built once.

    If it exists, the stored one comes back unchanged. Otherwise it takes every paper first seen
    since the previous edition's cutoff, grouped by topic, plus the Climbing papers, in one
    transaction that also persists the topics. Returns None on a day with nothing new, unless
    empty editions are configured. An edition cannot be built for a date before the latest one.
    ``note`` is one line the edition carries (the scheduler's health warning).
    """
    now = now or utc_now()
    date = date or local_date(settings, now)
    if settings.summaries_url:
        _ask_model(database, settings, date, now)
    try:
        with database.write() as session:
            existing = edition_store.find_edition(session, date)
            if existing is not None:
                return existing
            latest = edition_store.latest_edition(session)
            if latest is not None and latest.date > date:
                raise EditionError(f"edition {date}: a later edition ({latest.date}) exists already")
            docs = edition_store.new_papers(session, latest.cutoff if latest else None, now)
            if not docs and not settings.digest_empty_editions:
                return None
            _rename(session, settings, now)
            from bot.topics import group_papers

            grouping = group_papers(docs, rules=settings.topics, known=topic_store.known_topics(session),
                                    options=grouping_options(settings), history=_history(session, docs, now),
                                    pins=dict(settings.topic_labels))
            climbers = edition_store.climbers(session, latest.cutoff) if latest else []
            items = plan(grouping, climbers, settings.digest_climbing_min_upvotes)
            edition_store.insert_edition(session, date, now, now, items, note)
            _tldrs(session, [i.key for i in items], {d.id: d.abstract for d in docs})
            _save_topics(session, grouping, now)
            for topic in topic_store.retire(session, now, settings.grouping_retire_days):
                log.info("topics: %s %r (%s) retired: no paper for %d days", topic.kind, topic.label, topic.slug,
                         settings.grouping_retire_days if topic.kind == "discovered" else topic_store.CANDIDATE_DAYS)
            _merge(session, now)
            built = edition_store.find_edition(session, date)
    except StoreConflict:
        # Another process built this date (or claimed these papers) first: theirs stands.
        with database.read() as session:
            built = edition_store.find_edition(session, date)
        if built is None:
            raise EditionError(f"edition {date}: another build claimed its papers; run it again") from None
        return built
    assert built is not None
    return replace(built, created=True)


def _ask_model(database: Database, settings: Settings, date: dt.date, now: dt.datetime) -> None:
    """Before the edition of ``date`` is built: the operator's language model summarises its
    new papers that have no summary of their source's, within ``summaries.timeout``. What it
    does not answer keeps paperboy's key sentences; nothing here can fail the edition."""
    with database.read() as session:
        if edition_store.find_edition(session, date) is not None:
            return
        latest = edition_store.latest_edition(session)
        keys = [doc.id for doc in edition_store.new_papers(session, latest.cutoff if latest else None, now)]
        wanted = tldr_store.needing_model(session, keys, settings.summaries_max_papers)
    if not wanted:
        return
    config = ModelConfig(settings.summaries_url, settings.summaries_model, settings.summaries_api_key,
                         settings.summaries_timeout)
    answers = summarise(config, wanted)
    if answers:
        with database.write() as session:
            tldr_store.set_tldrs(session, [(key, text, "model") for key, text in answers.items()])


def _tldrs(session: Session, keys: list[str], day: dict[str, str]) -> None:
    """Each paper of the edition gets its TL;DR once: the source's summary, else key sentences
    of its abstract scored against the day's abstracts (``day``, by paper key)."""
    missing = tldr_store.needing_tldr(session, keys)
    corpus = {**day, **{key: abstract for key, abstract, _ in missing}}
    picked = dict(zip(corpus, key_sentences(list(corpus.values())), strict=True))
    tldrs: list[tuple[str, str, str]] = []
    for key, _abstract, summary in missing:
        if summary:
            tldrs.append((key, summary, "source"))
        elif picked[key]:
            tldrs.append((key, picked[key] or "", "extract"))
    tldr_store.set_tldrs(session, tldrs)


def build_feeds(
    database: Database, settings: Settings, out: Path | None = None, now: dt.datetime | None = None,
    templates: jinja2.Environment | None = None,
) -> list[Path]:
    """Write the feeds and the static archive of every stored edition (to ``public_dir`` unless
    ``out`` is given; only writes to ``public_dir`` count as the service's feeds)."""
    with database.read() as session:
        editions = edition_store.all_editions(session)
        aliases = topic_store.aliases(session)
    target = out or settings.public_dir
    try:
        written = build(editions, settings.base_url, target, templates or environment(settings.templates_dir),
                        feed_limits(settings), aliases, periodic(editions))
    except OSError as exc:
        error = f"{target}: cannot be written ({exc.strerror or exc})"
        if out is None:
            _record_feeds(database, target, now, error=error)
        raise PaperboyError(error) from None
    if out is None:
        _record_feeds(database, target, now, files=len(written))
    return written


def _record_feeds(database: Database, target: Path, now: dt.datetime | None, *, files: int = 0,
                  error: str | None = None) -> None:
    """The public directory's last write, or why it failed (a failing verdict until it works)."""
    at = now or utc_now()
    with database.write() as session:
        previous = service_store.read_feeds(session)
        written_at = (previous.written_at if previous else None) if error else at
        service_store.record_feeds(session, FeedsWrite(at, str(target), files, error, written_at))
