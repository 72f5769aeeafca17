"""One-off messages to one reader (the confirmation link, "you are subscribed already"). The web
request only queues them (the notices table, in the same transaction as the subscription);
:func:`send_due` sends what is queued, from a worker thread of the web process and from every
reconcile of the daemon, so that no request waits on a mail server.

Built with the standard library's EmailMessage: one message each needs none of the outbox's
render-once machinery.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from bot.deliver.outcomes import redact
from bot.deliver.transport import Transport
from bot.errors import MailSetupError, PaperboyError, PermanentError
from bot.settings import Settings
from bot.store import Database
from bot.store import notices as store

log = logging.getLogger("paperboy")
LEASE = dt.timedelta(minutes=5)
BATCH = 20
MAX_ATTEMPTS = 5
RETRY = dt.timedelta(minutes=1)  # doubled after each failed attempt


def notice(settings: Settings, to: str, subject: str, text: str, now: dt.datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"paperboy <{settings.mail_from}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    domain = settings.mail_from.rpartition("@")[2] or "paperboy"
    message["Message-ID"] = f"<notice.{secrets.token_hex(12)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def notice_bytes(settings: Settings, to: str, subject: str, text: str, now: dt.datetime) -> bytes:
    """The notice as it is sent. Plain ASCII (the usual case: an ASCII address, our own English
    text) is written out directly, the same headers :func:`notice` gives; EmailMessage's header
    machinery took a millisecond and a half per notice, as much as the rest of the request."""
    lines = text.splitlines()
    if not (to.isascii() and subject.isascii() and text.isascii() and settings.mail_from.isascii()
            and max(map(len, lines), default=0) <= 900 and len(to) <= 900):
        message = notice(settings, to, subject, text, now)
        return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    domain = settings.mail_from.rpartition("@")[2] or "paperboy"
    head = [f"From: paperboy <{settings.mail_from}>", f"To: {to}", f"Subject: {subject}",
            f"Date: {format_datetime(now)}", f"Message-ID: <notice.{secrets.token_hex(12)}@{domain}>",
            "Auto-Submitted: auto-generated", 'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: 7bit", "MIME-Version: 1.0"]
    return "\r\n".join([*head, "", *lines, ""]).encode("ascii")


@dataclass
class NoticeTally:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def send_due(database: Database, settings: Settings, transports: Callable[[], Transport],
             clock: Callable[[], dt.datetime]) -> NoticeTally:
    """Send every notice due now over one connection, a batch at a time: one transaction claims
    a batch and one records it (a sender killed in between sends its batch again when the lease
    ends: notices go at least once). Failures are retried with backoff, then given up and
    logged (the reader can ask again). A mail setup that cannot work stops the round and gives
    the rest of the batch back."""
    tally = NoticeTally()
    transport: Transport | None = None
    try:
        while True:
            with database.write() as session:
                batch = store.claim(session.connection(), clock(), LEASE, BATCH)
            if not batch:
                return tally
            transport = transport or transports()
            done: list[tuple[store.Notice, str | None, dt.datetime | None]] = []  # (notice, error, retry at)
            try:
                for item in batch:
                    done.append(_send_one(settings, transport, item, clock))  # noqa: PERF401 - one at a time: a MailSetupError keeps what went before
            finally:
                with database.write() as session:
                    connection = session.connection()
                    for item, error, retry_at in done:
                        if error is None:
                            store.mark_sent(connection, item, clock())
                        else:
                            store.mark_failed(connection, item, error, retry_at)
                    for item in batch[len(done):]:
                        store.release(connection, item)
            for _, error, retry_at in done:
                tally.sent += error is None
                tally.retrying += error is not None and retry_at is not None
                tally.failed += error is not None and retry_at is None
    finally:
        if transport is not None:
            transport.close()


def _send_one(settings: Settings, transport: Transport, item: store.Notice,
              clock: Callable[[], dt.datetime]) -> tuple[store.Notice, str | None, dt.datetime | None]:
    """(the notice, None) when sent; else its error and when to retry (None: given up).
    MailSetupError is raised: nothing can be sent as configured."""
    message = notice_bytes(settings, item.address, item.subject, item.body, clock())
    try:
        transport.send(settings.mail_from, item.address, message)
    except MailSetupError:
        raise
    except (PaperboyError, OSError) as exc:
        last = isinstance(exc, PermanentError) or item.attempts >= MAX_ATTEMPTS
        log.warning("notice %d: not sent%s: %s", item.id, "" if last else ", will retry", redact(str(exc)))
        return item, str(exc), None if last else clock() + RETRY * 2 ** (item.attempts - 1)
    return item, None, None
