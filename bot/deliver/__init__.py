"""The deliver stage: editions to subscribers and channels through the outbox, exactly once.

:func:`send_edition` queues an edition for every active subscriber (one statement, unique per
pair) and every configured channel, and runs both outboxes side by side until nothing is due
soon; :func:`retry` makes failed and waiting deliveries and posts due now and runs them again.
Both report a :class:`SendSummary`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from bot.calendar import reader_due
from bot.clock import utc_now
from bot.deliver.channels import ChannelTally, post_due, queue_edition
from bot.deliver.copies import Copies
from bot.deliver.outbox import Progress, Run, run
from bot.deliver.transport import Transport, open_transport
from bot.digest import for_subscriber
from bot.models import Edition
from bot.models.readers import PostCounts, SendSummary
from bot.render import environment
from bot.render.channels import channel_posts
from bot.settings import Settings
from bot.store import Database, problem, queue
from bot.store import channels as channel_store
from bot.store import deliveries as outbox
from bot.store import editions as edition_store
from bot.store import subscribers as subscriber_store
from bot.subscribers import Signer

LINK_SECRET = "link_secret"
log = logging.getLogger(__name__)


def signer(database: Database, settings: Settings) -> Signer:
    """Links are signed with ``PAPERBOY_SECRET_KEY``, or else with a key this installation made
    once and keeps in its database, so links work out of the box and survive restarts."""
    if settings.secret_key:
        return Signer(settings.secret_key)
    with database.write() as session:
        return Signer(subscriber_store.instance_value(session, LINK_SECRET))


def _edition(database: Database, date: dt.date | None) -> tuple[Edition, int]:
    with database.read() as session:
        return edition_store.stored_edition(session, date)


def _ref(database: Database, date: dt.date | None) -> tuple[int, dt.date]:
    with database.read() as session:
        return edition_store.edition_ref(session, date)


def _domain(settings: Settings) -> str:
    return settings.mail_from.rpartition("@")[2] or "paperboy"


def send_edition(
    database: Database, settings: Settings, date: dt.date | None = None, *, dry_run: bool = False,
    transport: Callable[[], Transport] | None = None, progress: Progress | None = None,
    clock: Callable[[], dt.datetime] | None = None, stop: threading.Event | None = None,
    templates: jinja2.Environment | None = None, link_signer: Signer | None = None,
) -> SendSummary:
    """Queue the edition of ``date`` (default: the latest) for every active subscriber and deliver it.

    ``queued`` counts the deliveries this call added; ``sent``, ``failed`` and ``skipped`` what
    this run did (a second run after a complete one queues and sends nothing). Setting ``stop``
    gives the message in flight a moment to finish (then aborts it), gives the other claims back
    and returns; it is only read, never set, so a failed run does not stop its caller.
    """
    clock = clock or utc_now
    if dry_run:
        return _dry_run(database, settings, *_edition(database, date))
    number, day = _ref(database, date)
    started = clock()
    with database.write() as session:
        queued = queue.enqueue(session, number, day, _domain(settings), started, reader_hours(settings))
    posts = queue_edition(database, settings, _edition(database, day)[0], number, started) if settings.channels else 0
    return _alongside(database, settings, clock, stop, posts, lambda: _deliver(
        database, settings, day, number, queued, transport, progress, clock, stop, templates, link_signer))


def _alongside(database: Database, settings: Settings, clock: Callable[[], dt.datetime],
               stop: threading.Event | None, queued: int, mail: Callable[[], SendSummary]) -> SendSummary:
    """The mail run, with the channels' posts running beside it in a thread of their own: a
    slow or failing channel delays no email, and a mail setup error posts nothing less."""
    if not settings.channels:
        return mail()
    done: list[ChannelTally] = []

    def channels() -> None:
        try:
            done.append(post_due(database, settings, clock, stop))
        except Exception as exc:  # noqa: BLE001 - the channels' failure is theirs; the mail run goes on
            log.error("channels: not posted: %s", problem(exc))
            done.append(ChannelTally(errors={"*": problem(exc)}))

    thread = threading.Thread(target=channels, name="paperboy-channels")
    thread.start()
    try:
        summary = mail()
    finally:
        thread.join()
    return dataclasses.replace(summary, posts=(done[0] if done else ChannelTally()).counts(queued))


def post_channels(database: Database, settings: Settings, clock: Callable[[], dt.datetime] = utc_now,
                  stop: threading.Event | None = None) -> PostCounts:
    """The channels' parts that are due (retries, and parts a stopped sender left), posted."""
    return post_due(database, settings, clock, stop).counts(0)


def reader_hours(settings: Settings) -> queue.Due:
    """A reader's due instant from their ``send_at`` and ``time_zone``, each defaulting to the
    digest's ``schedule.time`` and ``schedule.timezone``. A zone the system's database no longer
    knows counts as the digest's (the web and the CLI only take known ones)."""
    def due(send_at: str | None, zone: str | None, built: dt.datetime) -> dt.datetime:
        at = dt.time.fromisoformat(send_at) if send_at else settings.schedule_time
        try:
            where = ZoneInfo(zone or settings.schedule_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            where = ZoneInfo(settings.schedule_timezone)
        return reader_due(at, where, built)

    return due


def retry(
    database: Database, settings: Settings, date: dt.date | None = None, *,
    transport: Callable[[], Transport] | None = None, progress: Progress | None = None,
    clock: Callable[[], dt.datetime] | None = None, templates: jinja2.Environment | None = None,
    link_signer: Signer | None = None,
) -> SendSummary:
    """Failed deliveries (to subscribers still active) and those waiting for a retry, due now."""
    clock = clock or utc_now
    number, day = _ref(database, date) if date else (None, None)
    with database.write() as session:
        outbox.make_due(session, clock(), number)
        channel_store.make_due(session, clock(), number)
    return _alongside(database, settings, clock, None, 0, lambda: _deliver(
        database, settings, day, number, 0, transport, progress, clock, None, templates, link_signer))


def _deliver(database: Database, settings: Settings, day: dt.date | None, number: int | None, queued: int,
             transport: Callable[[], Transport] | None, progress: Progress | None,
             clock: Callable[[], dt.datetime], stop: threading.Event | None,
             templates: jinja2.Environment | None = None, link_signer: Signer | None = None) -> SendSummary:
    """The composition root passes its templates and signer; a direct call makes its own."""
    started = clock()
    work = Run(database=database, settings=settings, transport=transport or (lambda: open_transport(settings)),
               signer=link_signer or signer(database, settings),
               copies=Copies(database, settings, templates or environment(settings.templates_dir), started),
               edition=number, clock=clock, progress=progress, cancel=stop or threading.Event())
    tally = run(work)
    return SendSummary(day or started.date(), queued=queued, sent=tally.sent,
                       failed=tally.failed, skipped=tally.skipped, retrying=tally.retrying,
                       uncertain=tally.uncertain, seconds=(clock() - started).total_seconds())


def _dry_run(database: Database, settings: Settings, edition: Edition, number: int) -> SendSummary:
    """What sending would do, writing nothing: who would be queued, and whose copy is empty."""
    queued = sent = skipped = 0
    with database.read() as session:
        done = {d.address for d in outbox.iter_deliveries(session, edition=number)}
        for subscriber in subscriber_store.iter_subscribers(session, status="active"):
            if subscriber.address in done:
                continue
            queued += 1
            if for_subscriber(edition, subscriber.preferences) is None:
                skipped += 1
            else:
                sent += 1
        queued_posts = {post.channel for post in channel_store.iter_posts(session, edition=number)}
    posts = sum(len(channel_posts(edition, channel, settings.base_url))
                for channel in settings.channels if channel.name not in queued_posts)
    would_post = dataclasses.replace(ChannelTally().counts(posts), sent=posts) if settings.channels else None
    return SendSummary(edition.date, queued=queued, sent=sent, skipped=skipped, posts=would_post)
