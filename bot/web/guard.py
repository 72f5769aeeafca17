"""What keeps the subscribe form honest: CSRF tokens, rate limits and expiring confirmation links.

CSRF is a double submit: a random cookie, and in the form the cookie's value signed with the
secret key; a cross-site page can make the browser send the cookie but cannot read it to sign
it. Confirmation links carry the subscriber's token signed with a timestamp (itsdangerous), so
a forged, altered or expired link is recognised as such and changes nothing. Rate limits are a
sliding window in this process's memory: enough for one web process, which is what a digest
needs; several processes would each allow the limit.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CSRF_COOKIE = "paperboy_csrf"
CONFIRM_MAX_AGE = 3 * 24 * 3600


class Csrf:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def field_for(self, cookie: str) -> str:
        return hmac.new(self._secret, b"csrf:" + cookie.encode(), "sha256").hexdigest()

    def valid(self, cookie: str | None, field: str | None) -> bool:
        if not cookie or not field:
            return False
        return hmac.compare_digest(self.field_for(cookie), field)


class ConfirmLinks:
    """Signed, expiring tokens for the confirmation link; ``read`` says why one is refused."""

    def __init__(self, secret: str, max_age: int = CONFIRM_MAX_AGE) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="paperboy-confirm")
        self.max_age = max_age

    def make(self, token: str) -> str:
        return str(self._serializer.dumps(token))

    def read(self, signed: str) -> tuple[str | None, str]:
        """(token, "") when valid, else (None, "expired" or "invalid")."""
        try:
            value = self._serializer.loads(signed, max_age=self.max_age)
        except SignatureExpired:
            return None, "expired"
        except BadSignature:
            return None, "invalid"
        return (value, "") if isinstance(value, str) else (None, "invalid")


class RateLimit:
    """At most ``limit`` events per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: object = time.monotonic) -> None:
        self.limit, self.window = limit, window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            events = self._events[key]
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            if len(self._events) > 100_000:  # forget idle keys rather than grow without bound
                for stale in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
                    del self._events[stale]
            return True
