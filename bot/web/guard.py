"""What keeps the subscribe form honest: CSRF tokens, rate limits and expiring confirmation links.

CSRF is a double submit: a random cookie, and in the form the cookie's value signed with the
secret key; a cross-site page can make the browser send the cookie but cannot read it to sign
it. Confirmation links carry the subscriber's token signed with a timestamp (itsdangerous), so
a forged, altered or expired link is recognised as such and changes nothing. Rate limits are
counted in the database (:class:`Limits`), per client address (believed from X-Forwarded-For
only when the connection comes from one of ``web.trusted_proxies``) and per mailbox.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import time

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.redact import printable

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


def client_key(host: str | None) -> str:
    """Whom a request is counted against: its address, or for IPv6 its /64 (one host's share)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and not address.ipv4_mapped:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else str(address)


CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class Guard:
    """ASGI middleware: the security headers on every answer, and one access-log line per
    request with its method, path (never the query, which carries tokens), status and time;
    never the client's address."""

    def __init__(self, app: ASGIApp, log: logging.Logger) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in names)]
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            self.log.info("%s %s %d %.0f ms", scope["method"], printable(scope["path"])[:200], status,
                          (time.perf_counter() - started) * 1000)
