"""Rate limits that hold across web processes and restarts (the counts live in the database)."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable

from sqlalchemy.orm import Session

from bot.clock import utc_now
from bot.store import Database
from bot.store import limits as limit_store


class Limits:
    """At most ``limit`` requests per key in any ``window`` seconds, counted in the database so
    that every web process and every restart sees the same counts. Keys are hashed with the
    secret key before they are stored: the table never holds an address."""

    def __init__(self, database: Database, secret: str, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._database = database
        self._secret = secret.encode()
        self._clock = clock or utc_now

    def allow(self, bucket: str, key: str, limit: int, window: int) -> bool:
        with self._database.write() as session:
            return self.count(session, [(bucket, key, limit, window)]) is None

    def count(self, session: Session, hits: list[tuple[str, str, int, int]]) -> str | None:
        """Count ``hits`` (bucket, key, limit, window) in order, in the caller's transaction (a
        request that writes anyway counts its limits in the same one), up to the first over its
        limit: that one's bucket, or None when all are within."""
        now = self._clock()
        for bucket, key, limit, window in hits:
            digest = hmac.new(self._secret, f"{bucket}:{key}".encode(), "sha256").hexdigest()
            if not limit_store.hit(session, bucket, digest, limit=limit, window=window, now=now):
                return bucket
        return None
