"""What keeps a claim alive and a send bounded: who a sender is, the claims this process holds,
the deadline of every message in flight, the run's heartbeat that renews the one and enforces the
other, and taking back the claims of senders that died on this host.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

from bot.deliver.transport import Transport
from bot.store import Database, problem
from bot.store import deliveries as outbox

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def alive(worker: str) -> bool:
    """Whether the process behind a worker name of this host still runs (a zombie does not)."""
    try:
        pid = int(worker.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class Held:
    """The claims the runs of this process hold: each token with the deliveries claimed under
    it. A token is registered before its claim is made, so :func:`reclaim_dead` can never
    expire a claim that is being made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._claims: dict[str, list[int]] = {}

    def register(self, token: str) -> None:
        with self.lock:
            self._claims[token] = []

    def claimed(self, token: str, ids: Sequence[int]) -> None:
        with self.lock:
            self._claims[token] = list(ids)

    def release(self, token: str) -> None:
        with self.lock:
            self._claims.pop(token, None)

    def tokens(self) -> set[str]:
        """Call with :attr:`lock` held."""
        return set(self._claims)

    def snapshot(self) -> tuple[list[str], list[int]]:
        with self.lock:
            return list(self._claims), [i for ids in self._claims.values() for i in ids]


HELD = Held()  # one per process, like the worker name it stands for


def dead_holders(holders: Callable[[str], Sequence[str]], worker: str) -> list[str]:
    """The senders of this host (asked of ``holders`` by its name's prefix) whose process is
    gone, but for ``worker`` itself: an outbox takes their claims back at once."""
    return [w for w in holders(worker.rsplit(":", 1)[0] + ":") if w != worker and not alive(w)]


def reclaim_dead(database: Database, worker: str) -> int:
    """Claims left by senders of this host whose process is gone, and by earlier runs of this
    process, are taken back now rather than when their lease runs out."""
    with HELD.lock, database.write() as session:
        dead = dead_holders(lambda host: outbox.holders(session, host), worker)
        count = outbox.expire(session, dead) + outbox.expire(session, [worker], keep=HELD.tokens())
    if count:
        log.warning("deliver: %d claims left by senders that stopped (%s) taken back", count,
                    ", ".join(dead) or "this process")
    return count


class Watch:
    """Messages in flight and their deadlines, for the watch thread to abort. An abort happens
    under the same lock as :meth:`end`, so it can only reach the send it was meant for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[int, tuple[Transport, float]] = {}

    def start(self, transport: Transport, deadline: float) -> None:
        with self._lock:
            self._flying[threading.get_ident()] = (transport, deadline)

    def end(self) -> None:
        with self._lock:
            self._flying.pop(threading.get_ident(), None)

    def abort(self, now: float, everything: bool) -> None:
        with self._lock:
            for transport, deadline in self._flying.values():
                if everything or now >= deadline:
                    transport.abort()


STOP_GRACE = 2.0  # seconds a message in flight may finish after a stop before it is aborted
WATCH_EVERY = 0.25


def heartbeat(database: Database, watch: Watch, lease: dt.timedelta, clock: Callable[[], dt.datetime], *,
              cancel: threading.Event, halt: threading.Event, done: threading.Event) -> None:
    """A run's watch thread, until ``done``: aborts sends past their deadline (all of them
    ``STOP_GRACE`` after a ``cancel``, which also sets ``halt``) and renews the leases of this
    process's claims every quarter lease."""
    beat = time.monotonic()
    cancelled_at: float | None = None
    said = False
    while not done.wait(WATCH_EVERY):
        now = time.monotonic()
        if cancel.is_set() and cancelled_at is None:
            cancelled_at = now
            halt.set()
        watch.abort(now, everything=cancelled_at is not None and now - cancelled_at >= STOP_GRACE)
        if now - beat < lease.total_seconds() / 4:
            continue
        beat = now
        tokens, ids = HELD.snapshot()
        try:
            with database.write() as session:
                outbox.renew(session.connection(), ids, tokens, clock() + lease)
            said = False
        except Exception as exc:  # noqa: BLE001 - the take-up before each send still guards; say it once
            if not said:
                log.warning("deliver: cannot renew leases: %s", problem(exc))
                said = True
