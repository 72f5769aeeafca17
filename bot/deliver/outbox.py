"""The outbox worker: claim due deliveries, render each subscriber's copy, send, record.

Each of ``delivery.concurrency`` threads owns one transport (one SMTP connection) and claims a
few deliveries at a time under a lease; all threads share one rate limit. A message is recorded
as sent only after the transport returned, that is after the server's 250. The subscriber's
status is read again just before each send. Temporary failures are retried with exponential
backoff up to ``delivery.max_attempts``; permanent ones fail the delivery and count towards
the subscriber's bounce. A setup error (login, TLS, sender refused) stops every thread and gives
the untried claims back.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import jinja2
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bot.deliver.transport import Transport
from bot.digest import for_subscriber
from bot.errors import MailSetupError, PermanentError, TransientError
from bot.models import Edition, Preferences
from bot.render.email import (
    HeaderError,
    Prepared,
    links_for,
    message_bytes,
    prepare,
    render_email,
)
from bot.settings import Settings
from bot.store import Database
from bot.store import deliveries as outbox
from bot.store import editions as edition_store
from bot.subscribers import Signer, manage_link, unsubscribe_links

log = logging.getLogger(__name__)
CLAIM_BATCH = 10
Progress = Callable[[str], None]


ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


def redact(text: str) -> str:
    """Addresses appear in logs only at debug level (servers often quote them in their replies)."""
    return ADDRESS.sub("<address>", text)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class RateLimit:
    """At most ``per_second`` acquisitions per second across threads (0: no limit)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class Copies:
    """Each subscriber's copy of an edition, rendered once per distinct set of preferences."""

    def __init__(self, database: Database, settings: Settings, env: jinja2.Environment, sent_at: dt.datetime,
                 capacity: int = 256) -> None:
        self.database, self.settings, self.env, self.sent_at = database, settings, env, sent_at
        self._editions: dict[dt.date, Edition] = {}
        self._prepared: OrderedDict[tuple[dt.date, Preferences], Prepared | None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, date: dt.date, preferences: Preferences) -> Prepared | None:
        key = (date, preferences)
        with self._lock:
            if key in self._prepared:
                self._prepared.move_to_end(key)
                return self._prepared[key]
            edition = self._editions.get(date)
            if edition is None:
                with self.database.read() as session:
                    found = edition_store.find_edition(session, date)
                assert found is not None, date
                edition = self._editions[date] = found
            variant = for_subscriber(edition, preferences)
            prepared = None
            if variant is not None:
                parts = render_email(self.env, variant, links_for(self.settings.base_url, edition),
                                     self.settings.digest_email_top_n)
                prepared = prepare(parts, edition=variant, sender=self.settings.mail_from, date=self.sent_at)
            self._prepared[key] = prepared
            if len(self._prepared) > self._capacity:
                self._prepared.popitem(last=False)
            return prepared


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed delivery, recorded in the sender's next transaction."""

    claim: outbox.Claim
    kind: str  # sent, skipped, failed, retrying
    error: str = ""
    hard: bool = False


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    bounced: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class Run:
    """One delivery run: the shared state of its threads."""

    database: Database
    settings: Settings
    transport: Callable[[], Transport]
    signer: Signer
    copies: Copies
    edition: int | None
    clock: Callable[[], dt.datetime]
    progress: Progress | None = None
    worker: str = field(default_factory=worker_name)
    tally: Tally = field(default_factory=Tally)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.limit = RateLimit(self.settings.delivery_rate_limit)
        self.lease = dt.timedelta(seconds=self.settings.delivery_lease_seconds)

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.delivery_retry_seconds * 2 ** max(0, attempts - 1))

    def thread(self) -> None:
        """One sender: its own transport, and its own database connection held for the run
        (which saves the pool's checkout and ping on every transaction)."""
        transport = None
        try:
            transport = self.transport()
            with self.database.engine.connect() as connection, self._autocommit() as fast:
                self._loop(transport, connection, fast)
        except BaseException as exc:  # one thread's fatal error stops the run; the caller re-raises it
            if self.error is None:
                self.error = exc
            self.stop.set()
        finally:
            if transport is not None:
                transport.close()

    def _autocommit(self) -> AbstractContextManager[Connection | None]:
        """On PostgreSQL, a second connection in autocommit mode for the one-statement fast path."""
        if self.database.dialect != "postgresql":
            return nullcontext(None)
        return self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _loop(self, transport: Transport, connection: Connection, fast: Connection | None) -> None:
        while not self.stop.is_set():
            with self.database.write(connection) as session:
                claims = outbox.claim(session, self.worker, self.clock(), self.lease, CLAIM_BATCH, self.edition)
            if claims:
                self._work(transport, connection, fast, claims)
            elif not self._wait_for_more(connection):
                return

    def _wait_for_more(self, connection: Connection) -> bool:
        with self.database.write(connection) as session:
            due = outbox.next_due(session, self.edition, exclude_worker=self.worker)
        if due is None:
            return False
        wait = (due - self.clock()).total_seconds()
        if wait > self.settings.delivery_wait_seconds:
            return False
        self.stop.wait(min(max(wait, 0.05), 1.0))
        return True

    def _work(self, transport: Transport, connection: Connection, fast: Connection | None,
              claims: list[outbox.Claim]) -> None:
        """Send a batch of claims. Each message costs one transaction: the previous message's
        outcome is recorded in the same one that reads the next subscriber's status (on
        PostgreSQL, after a plain success, in one autocommit statement)."""
        leased_until = self.clock() + self.lease
        outcome: Outcome | None = None
        try:
            for index, claim in enumerate(claims):
                now, stopping = self.clock(), self.stop.is_set()
                simple = outcome is None or (outcome.kind == "sent" and not outcome.claim.hard_failures)
                if fast is not None and simple and not stopping and leased_until - now >= self.lease / 2:
                    wanted = outbox.sent_then_wanted(fast, outcome.claim.id if outcome else None, now, claim.id)
                    self._tally(outcome)
                    outcome = self._deliver_or_release(transport, connection, claims, index, wanted)
                    continue
                with self.database.write(connection) as session:
                    if outcome is not None:
                        self._apply(session, outcome, now)
                    if stopping:
                        outbox.release(session, [c.id for c in claims[index:]], self.worker)
                    elif leased_until - now < self.lease / 2:
                        leased_until = now + self.lease
                        outbox.extend(session, [c.id for c in claims[index:]], self.worker, leased_until)
                    wanted = not stopping and outbox.still_wanted(session, claim.id)
                self._tally(outcome)
                outcome = None
                if stopping:
                    return
                outcome = self._deliver_or_release(transport, connection, claims, index, wanted)
        finally:
            if outcome is not None:
                with self.database.write(connection) as session:
                    self._apply(session, outcome, self.clock())
                self._tally(outcome)

    def _deliver_or_release(self, transport: Transport, connection: Connection, claims: list[outbox.Claim],
                            index: int, wanted: bool) -> Outcome:
        try:
            return self._deliver(transport, claims[index], wanted)
        except MailSetupError:
            with self.database.write(connection) as session:
                outbox.release(session, [c.id for c in claims[index:]], self.worker)
            raise

    def _deliver(self, transport: Transport, claim: outbox.Claim, wanted: bool) -> Outcome:
        if not wanted:
            return Outcome(claim, "skipped", "the subscriber left before it was sent")
        prepared = self.copies.get(claim.edition_date, claim.preferences)
        if prepared is None:
            return Outcome(claim, "skipped", "nothing in this edition matches the subscriber's topics and keywords")
        url, mailto = unsubscribe_links(self.settings.base_url, self.settings.mail_from,
                                        self.signer.sign(claim.token, "unsubscribe"))
        try:
            message = message_bytes(prepared, to=claim.address, unsubscribe_url=url, unsubscribe_mailto=mailto,
                                    message_id=claim.message_id,
                                    manage_url=manage_link(self.settings.base_url,
                                                           self.signer.sign(claim.token, "manage")))
            self.limit.acquire()
            transport.send(self.settings.mail_from, claim.address, message)
        except HeaderError as exc:
            return Outcome(claim, "failed", str(exc))
        except PermanentError as exc:
            return Outcome(claim, "failed", str(exc), hard=True)
        except TransientError as exc:
            if claim.attempts >= self.settings.delivery_max_attempts:
                return Outcome(claim, "failed", f"{exc} (gave up after {claim.attempts} attempts)")
            return Outcome(claim, "retrying", str(exc))
        return Outcome(claim, "sent")

    def _apply(self, session: Session, outcome: Outcome, now: dt.datetime) -> None:
        claim = outcome.claim
        if outcome.kind == "sent":
            outbox.mark_sent(session, claim.id, now)
            if claim.hard_failures:
                outbox.mark_delivered_to(session, claim.id)
        elif outcome.kind == "skipped":
            outbox.mark_skipped(session, claim.id, outcome.error)
        elif outcome.kind == "retrying":
            outbox.mark_retry(session, claim.id, outcome.error, now + self.backoff(claim.attempts))
        elif outbox.mark_failed(session, claim.id, outcome.error, hard=outcome.hard,
                                bounce_after=self.settings.delivery_bounce_after, now=now):
            self.tally.add("bounced")

    def _tally(self, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        if outcome.kind != "sent":
            log.info("%s: %s: %s", outcome.claim.message_id, outcome.kind, redact(outcome.error))
            log.debug("%s was to %s: %s", outcome.claim.message_id, outcome.claim.address, outcome.error)
        self.tally.add(outcome.kind)
        if self.progress is not None:
            self.progress(outcome.kind)


def run(work: Run) -> Tally:
    """Run the threads until nothing is due soon; re-raise the first fatal error."""
    threads = [threading.Thread(target=work.thread, name=f"sender-{n}", daemon=True)
               for n in range(work.settings.delivery_concurrency)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        work.stop.set()
        for thread in threads:
            thread.join()
        raise
    if work.error is not None:
        raise work.error
    return work.tally
