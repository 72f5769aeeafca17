"""The outbox worker: claim due deliveries, render each subscriber's copy, send, record.

Each of ``delivery.concurrency`` threads owns one transport (one SMTP connection) and claims a
few deliveries at a time under a lease; all threads share one rate limit. A message is recorded
as sent only after the transport returned, that is after the server's 250, in the statement that
takes up the next claim; on PostgreSQL that statement runs while the next message is prepared
and its envelope sent, and the next body waits for it. Either way the server never holds more
than one message per connection whose sending is not recorded: the most a crash can resend.

No message is sent twice because of a lease: before each send its claim is taken up (the lease
renewed to a whole ``delivery.lease_seconds``, the claim's token checked, the subscriber's status
read), and taken up again if rendering or the rate limit took more than a quarter lease; the
whole SMTP conversation is bounded by a deadline of at most half the lease, enforced by a watch
thread that aborts the socket and also renews the leases of every claim still waiting (the
heartbeat). So a lease cannot run out while its message is in flight, and a sender whose claim
was taken over finds out before sending and sends nothing.

Temporary failures are retried with exponential backoff up to ``delivery.max_attempts``;
permanent ones fail the delivery and count towards the subscriber's bounce; an uncertain send
(the connection lost after the whole message went out) is resent once, after
``delivery.uncertain_retry_seconds``. A setup error (login, TLS, sender refused, a full outbox)
stops every thread and gives the untried claims back; so does a stop from outside (SIGTERM),
after aborting what is still in flight a few seconds later.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection

from bot.deliver.copies import Copies
from bot.deliver.lease import HELD, Watch, heartbeat, reclaim_dead, worker_name
from bot.deliver.message import message_bytes
from bot.deliver.outcomes import Outcome, Tally, of_error, plain, record, redact
from bot.deliver.pace import RateLimit
from bot.deliver.transport import Gate, Transport
from bot.errors import HeaderError, MailSetupError, PermanentError, TransientError
from bot.settings import Settings
from bot.store import Database
from bot.store import deliveries as outbox
from bot.store.lookahead import Lookahead
from bot.subscribers import Signer, manage_link, unsubscribe_links

log = logging.getLogger(__name__)
CLAIM_BATCH = 25  # per claim transaction; the heartbeat keeps a slow batch's leases alive
Progress = Callable[[str], None]


@dataclass
class Pending:
    """A lookahead statement sent and not read yet: it records ``outcome`` (a plain success) and
    takes up the next claim; ``issued`` is when (monotonic), the take-up's time."""

    ahead: Lookahead
    outcome: Outcome | None
    issued: float
    settled: bool = False
    status: str | None = None


@dataclass
class Run:
    """One delivery run: the shared state of its threads. ``cancel`` is the caller's stop (a
    signal); ``halt`` is the run's own, also set when one of its threads fails."""

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
    cancel: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.limit = RateLimit(self.settings.delivery_rate_limit)
        self.lease = dt.timedelta(seconds=self.settings.delivery_lease_seconds)
        self.message_timeout = min(float(self.settings.smtp_timeout), self.settings.delivery_lease_seconds / 2)
        self.halt = threading.Event()
        self.done = threading.Event()
        self.watch = Watch()
        self.sqlite = self.database.engine.dialect.name == "sqlite"

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.delivery_retry_seconds * 2 ** max(0, attempts - 1))

    def watcher(self) -> None:
        heartbeat(self.database, self.watch, self.lease, self.clock, cancel=self.cancel, halt=self.halt,
                  done=self.done)

    def thread(self) -> None:
        """One sender: its own transport, and its own database connection held for the run
        (which saves the pool's checkout and ping on every transaction)."""
        transport = None
        try:
            transport = self.transport()
            with self.database.engine.connect() as connection, self._lookahead() as ahead:
                self._loop(transport, connection, ahead)
        except BaseException as exc:  # noqa: BLE001 - one thread's fatal error stops the run; the caller re-raises it
            if self.error is None:
                self.error = exc
            self.halt.set()
        finally:
            if transport is not None:
                transport.close()

    @contextmanager
    def _lookahead(self) -> Iterator[Lookahead | None]:
        """On PostgreSQL, a second connection, in autocommit mode, for the lookahead statements."""
        if self.database.dialect != "postgresql":
            yield None
            return
        with self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield Lookahead(connection)

    def _loop(self, transport: Transport, connection: Connection, ahead: Lookahead | None) -> None:
        while not self.halt.is_set():
            token = secrets.token_hex(16)
            HELD.register(token)  # before the claim exists: see reclaim_dead
            try:
                with self.database.begin(connection) as held:
                    claims = outbox.claim(held, self.worker, self.clock(), self.lease, CLAIM_BATCH, self.edition,
                                          token=token)
                if claims:
                    HELD.claimed(token, [c.id for c in claims])
                    if ahead is not None:
                        self._work_ahead(transport, connection, ahead, claims)
                    else:
                        self._work(transport, connection, claims)
            finally:
                HELD.release(token)
            if not claims and not self._wait_for_more(connection):
                return

    def _next_due(self, connection: Connection | None = None) -> float | None:
        """Seconds until a delivery of this run becomes claimable, when that is within
        ``delivery.wait_seconds``; None when nothing is due that soon."""
        with self.database.write(connection) as session:
            due = outbox.next_due(session, self.edition, exclude_worker=self.worker)
        if due is None:
            return None
        wait = (due - self.clock()).total_seconds()
        return None if wait > self.settings.delivery_wait_seconds else wait

    def due_soon(self) -> bool:
        return self._next_due() is not None

    def _wait_for_more(self, connection: Connection) -> bool:
        wait = self._next_due(connection)
        if wait is None:
            return False
        self.halt.wait(min(max(wait, 0.05), 1.0))
        return True

    def _work(self, transport: Transport, connection: Connection, claims: list[outbox.Claim]) -> None:
        """Send a batch of claims (SQLite). The claim itself takes up the first (it read the
        subscriber's status a moment ago); after that each message costs one transaction: the
        previous message's outcome is recorded in the same one that takes up the next claim."""
        outcome: Outcome | None = None
        try:
            for index, claim in enumerate(claims):
                now, stopping = self.clock(), self.halt.is_set()
                status: str | None
                if index == 0 and not stopping:
                    status = claim.status
                elif self.sqlite and plain(outcome) and not stopping:
                    sent = (outcome.claim.id, outcome.claim.claim) if outcome else None
                    status = outbox.record_then_take_up_sqlite(self.database, connection, sent, now, claim.id,
                                                               claim.claim, now + self.lease)
                else:
                    status = self._record_slowly(connection, outcome, claims[index:], now, stopping, take_up=True)
                self._tally(outcome)
                outcome = None
                if stopping:
                    return
                if status is None:
                    self._lost(claim)
                    continue
                outcome = self._deliver_or_release(transport, connection, claims, index, status == "active",
                                                   time.monotonic())
        finally:
            if outcome is not None:
                with self.database.begin(connection) as held:
                    self._apply(held, outcome, self.clock())
                self._tally(outcome)

    def _work_ahead(self, transport: Transport, connection: Connection, ahead: Lookahead,
                    claims: list[outbox.Claim]) -> None:
        """Send a batch of claims (PostgreSQL), the database's round trip off the sender's path.
        While a message's SMTP exchange goes on, one autocommit statement on the lookahead's
        connection records the previous message as sent and takes up the next claim; the
        message's body does not go out before that statement returned (the transport's gate).
        So, as on SQLite, at most one message per connection is ever accepted by the server
        but not recorded (the one just sent), and no claim is sent without its take-up."""
        outcome: Outcome | None = None
        pending: Pending | None = None  # took up ``claims[index]`` and records the outcome before
        status: str | None
        try:
            for index, claim in enumerate(claims):
                now, stopping = self.clock(), self.halt.is_set()
                following = claims[index + 1] if index + 1 < len(claims) else None
                if pending is None:
                    status, taken_at = claim.status, time.monotonic()  # the claim read it
                else:
                    status, taken_at = self._settle(pending), pending.issued
                    pending = None
                if plain(outcome) and not stopping:
                    pending = self._send_ahead(ahead, outcome, following, now)
                else:
                    self._record_slowly(connection, outcome, claims[index:], now, stopping, take_up=False)
                    self._tally(outcome)
                    if not stopping and following is not None:
                        pending = self._send_ahead(ahead, None, following, now)
                outcome = None
                if stopping:
                    return
                if status is None:
                    self._lost(claim)
                    continue
                gate = None if pending is None else functools.partial(self._settle, pending)
                try:
                    outcome = self._deliver(transport, connection, claim, status == "active", taken_at, gate)
                except MailSetupError:
                    if pending is not None:
                        self._settle(pending)
                        pending = None
                    with self.database.begin(connection) as held:
                        outbox.release(held, [c.id for c in claims[index:]], claim.claim)
                    raise
        finally:
            if pending is not None:
                self._settle(pending)
            if outcome is not None:
                if plain(outcome):
                    self._settle(self._send_ahead(ahead, outcome, None, self.clock()))
                else:
                    with self.database.begin(connection) as held:
                        self._apply(held, outcome, self.clock())
                    self._tally(outcome)

    def _send_ahead(self, ahead: Lookahead, outcome: Outcome | None, following: outbox.Claim | None,
                    now: dt.datetime) -> Pending:
        ahead.send((outcome.claim.id, outcome.claim.claim) if outcome is not None else None, now,
                   (following.id, following.claim) if following is not None else None, now + self.lease)
        return Pending(ahead, outcome, time.monotonic())

    def _settle(self, pending: Pending) -> str | None:
        """Wait for a lookahead statement (once; the gate and the loop both call it) and count
        the outcome it recorded. Returns the status it read for the claim it took up."""
        if not pending.settled:
            pending.settled = True  # a statement that failed is not read again, nor its outcome counted
            pending.status = pending.ahead.result()
            self._tally(pending.outcome)
        return pending.status

    def _record_slowly(self, connection: Connection, outcome: Outcome | None, rest: list[outbox.Claim],
                       now: dt.datetime, stopping: bool, *, take_up: bool) -> str | None:
        """Record any outcome in a transaction of its own; when the run is stopping, give the
        untried claims ``rest`` back, otherwise (``take_up``) take up the first of them."""
        with self.database.begin(connection) as held:
            if outcome is not None:
                self._apply(held, outcome, now)
            if stopping:
                outbox.release(held, [c.id for c in rest], rest[0].claim)
                return None
            return outbox.take_up(held, rest[0].id, rest[0].claim, now + self.lease) if take_up else None

    def _lost(self, claim: outbox.Claim) -> None:
        log.warning("%s: its lease ran out and another sender took it; not sent here", claim.message_id)
        self.tally.add("lost")

    def _deliver_or_release(self, transport: Transport, connection: Connection, claims: list[outbox.Claim],
                            index: int, wanted: bool, taken_at: float) -> Outcome | None:
        try:
            return self._deliver(transport, connection, claims[index], wanted, taken_at)
        except MailSetupError:
            with self.database.begin(connection) as held:
                outbox.release(held, [c.id for c in claims[index:]], claims[index].claim)
            raise

    def _take_up_again(self, connection: Connection, claim: outbox.Claim) -> str | None:
        """Just before the send: the claim was taken up a while ago (a slow render, the rate
        limit, a pool that kept us waiting), so renew it again, or find out that it is lost."""
        with self.database.begin(connection) as held:
            return outbox.take_up(held, claim.id, claim.claim, self.clock() + self.lease)

    def _deliver(self, transport: Transport, connection: Connection, claim: outbox.Claim, wanted: bool,
                 taken_at: float, gate: Gate | None = None) -> Outcome | None:
        """None when the claim turned out to be lost before the send. ``gate`` runs before the
        body goes out (see :meth:`_work_ahead`)."""
        if not wanted:
            return Outcome(claim, "skipped", "the subscriber left before it was sent")
        skip: frozenset[dt.date] = frozenset()
        if claim.since is not None:  # a weekly or monthly copy leaves out what the reader got already
            with self.database.begin(connection) as held:
                skip = outbox.mailed_dates(held, claim.token, claim.since, claim.edition_date)
        prepared = self.copies.get(claim.edition_date, claim.preferences, claim.since, skip)
        if prepared is None:
            return Outcome(claim, "skipped", "nothing in this edition matches the subscriber's topics and keywords")
        url, mailto = unsubscribe_links(self.settings.base_url, self.settings.mail_from,
                                        self.signer.sign(claim.token, "unsubscribe"))
        try:
            message = message_bytes(prepared, to=claim.address, unsubscribe_url=url, unsubscribe_mailto=mailto,
                                    message_id=claim.message_id,
                                    manage_url=manage_link(self.settings.base_url,
                                                           self.signer.sign(claim.token, "manage")),
                                    feedback_token=self.signer.sign_card(claim.token))
            self.limit.acquire()
            if time.monotonic() - taken_at > self.lease.total_seconds() / 4:
                status = self._take_up_again(connection, claim)
                if status is None:
                    self._lost(claim)
                    return None
                if status != "active":
                    return Outcome(claim, "skipped", "the subscriber left before it was sent")
            self.watch.start(transport, time.monotonic() + self.message_timeout)
            try:
                transport.send(self.settings.mail_from, claim.address, message, timeout=self.message_timeout,
                               gate=gate)
            finally:
                self.watch.end()
        except (HeaderError, PermanentError, TransientError) as exc:
            return of_error(claim, exc, stopping=self.halt.is_set(), max_attempts=self.settings.delivery_max_attempts,
                            uncertain_retry=self.settings.delivery_uncertain_retry_seconds)
        return Outcome(claim, "sent")

    def _apply(self, connection: Connection, outcome: Outcome, now: dt.datetime) -> None:
        recorded, bounced = record(connection, outcome, now, backoff=self.backoff(outcome.claim.attempts),
                                   bounce_after=self.settings.delivery_bounce_after)
        if bounced:
            self.tally.add("bounced")
        if not recorded:
            log.warning("%s: %s, but its claim was lost before that was recorded", outcome.claim.message_id,
                        outcome.kind)

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
    """Run the threads until nothing is due soon; re-raise the first fatal error. When nothing is
    due soon from the start (the daemon's idle tick), no thread starts."""
    reclaim_dead(work.database, work.worker)
    if not work.due_soon():
        return work.tally
    threads = [threading.Thread(target=work.thread, name=f"sender-{n}", daemon=True)
               for n in range(work.settings.delivery_concurrency)]
    watcher = threading.Thread(target=work.watcher, name="sender-watch", daemon=True)
    watcher.start()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        work.cancel.set()
        for thread in threads:
            thread.join()
        raise
    finally:
        work.done.set()
        watcher.join()
    if work.error is not None:
        raise work.error
    return work.tally
