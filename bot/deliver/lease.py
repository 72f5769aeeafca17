"""What keeps a claim alive and a send bounded: who a sender is, the claims this process holds
(renewed by each run's heartbeat), the deadline of every message in flight, and taking back the
claims of senders that died on this host.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence

from bot.deliver.transport import Transport
from bot.store import Database
from bot.store import deliveries as outbox

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def _alive(worker: str) -> bool:
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


def reclaim_dead(database: Database, worker: str) -> int:
    """Claims left by senders of this host whose process is gone, and by earlier runs of this
    process, are taken back now rather than when their lease runs out."""
    host = worker.rsplit(":", 1)[0] + ":"
    with HELD.lock, database.write() as session:
        dead = [w for w in outbox.holders(session, host) if w != worker and not _alive(w)]
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
