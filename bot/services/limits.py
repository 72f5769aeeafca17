"""Rate limits that hold across web processes and restarts (the counts live in the database)."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable

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
        digest = hmac.new(self._secret, f"{bucket}:{key}".encode(), "sha256").hexdigest()
        with self._database.write() as session:
            return limit_store.hit(session, bucket, digest, limit=limit, window=window, now=self._clock())
