"""The pace of sending: ``delivery.rate_limit`` messages a second at most, shared by every
sender thread of a run (a relay's own limit, kept on this side)."""

from __future__ import annotations

import threading
import time


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
