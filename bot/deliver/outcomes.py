"""What became of one claimed delivery: the outcome a send ends in, how each is recorded in the
outbox (fenced by the claim's token), and a run's count of them."""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass, field

from sqlalchemy import Connection

from bot.errors import HeaderError, PermanentError, TransientError, UncertainError
from bot.models.readers import Outcome as OutcomeKind
from bot.store import deliveries as outbox

ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


def redact(text: str) -> str:
    """Addresses appear in logs only at debug level (servers often quote them in their replies)."""
    return ADDRESS.sub("<address>", text)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed delivery, recorded in the sender's next transaction."""

    claim: outbox.Claim
    kind: OutcomeKind
    error: str = ""
    hard: bool = False
    again_in: float | None = None  # seconds before a retry (None: the backoff)


def plain(outcome: Outcome | None) -> bool:
    """Nothing to record, or a success that changes nothing but its own row: the one-statement
    paths take those."""
    return outcome is None or (outcome.kind == "sent" and not outcome.claim.hard_failures)


def of_error(claim: outbox.Claim, exc: HeaderError | PermanentError | TransientError, *, stopping: bool,
             max_attempts: int, uncertain_retry: float) -> Outcome:
    """The outcome of a send that raised: a bad header or a 5xx fails (only a 5xx counts towards
    a bounce); an uncertain send is resent once; a temporary failure is retried until
    ``max_attempts`` (at once when the run was stopped: it was not the server's fault)."""
    if isinstance(exc, HeaderError):
        return Outcome(claim, "failed", str(exc))
    if isinstance(exc, PermanentError):
        return Outcome(claim, "failed", str(exc), hard=True)
    if isinstance(exc, UncertainError):
        if claim.uncertain + 1 >= outbox.MAX_UNCERTAIN:
            return Outcome(claim, "uncertain", f"{exc}; uncertain twice, not sent again")
        return Outcome(claim, "uncertain", f"{exc}; sent once more later", again_in=uncertain_retry)
    if stopping:
        return Outcome(claim, "retrying", f"{exc} (the run was stopped)", again_in=0.0)
    if claim.attempts >= max_attempts:
        return Outcome(claim, "failed", f"{exc} (gave up after {claim.attempts} attempts)")
    return Outcome(claim, "retrying", str(exc))


def record(connection: Connection, outcome: Outcome, now: dt.datetime, *, backoff: dt.timedelta,
           bounce_after: int) -> tuple[bool, bool]:
    """Write one outcome while its claim is still ours. Returns whether it was recorded (False:
    the claim was lost first) and whether the subscriber bounced now."""
    claim, token = outcome.claim, outcome.claim.claim
    if outcome.kind == "sent":
        recorded = outbox.mark_sent(connection, claim.id, token, now)
        if recorded and claim.hard_failures:
            outbox.mark_delivered_to(connection, claim.id)
        return recorded, False
    if outcome.kind == "skipped":
        return outbox.mark_skipped(connection, claim.id, token, outcome.error), False
    if outcome.kind == "retrying":
        at = now + (dt.timedelta(seconds=outcome.again_in) if outcome.again_in is not None else backoff)
        return outbox.mark_retry(connection, claim.id, token, outcome.error, at), False
    if outcome.kind == "uncertain":
        return outbox.mark_uncertain(connection, claim.id, token, outcome.error,
                                     now + dt.timedelta(seconds=outcome.again_in or 0)), False
    return True, outbox.mark_failed(connection, claim.id, token, outcome.error, hard=outcome.hard,
                                    bounce_after=bounce_after, now=now)


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    uncertain: int = 0
    bounced: int = 0
    lost: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
