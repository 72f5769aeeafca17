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

from bot.deliver.outbox import redact
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


@dataclass
class NoticeTally:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def send_due(database: Database, settings: Settings, transports: Callable[[], Transport],
             clock: Callable[[], dt.datetime]) -> NoticeTally:
    """Send every notice due now over one connection; failures are retried with backoff, then
    given up and logged (the reader can ask again). A mail setup that cannot work stops the
    round and gives the rest back."""
    tally = NoticeTally()
    transport: Transport | None = None
    try:
        while True:
            with database.write() as session:
                batch = store.claim(session.connection(), clock(), LEASE, BATCH)
            if not batch:
                return tally
            transport = transport or transports()
            for index, item in enumerate(batch):
                message = notice(settings, item.address, item.subject, item.body, clock())
                try:
                    transport.send(settings.mail_from, item.address,
                                   message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
                except MailSetupError:
                    with database.write() as session:
                        for rest in batch[index:]:
                            store.release(session.connection(), rest)
                    raise
                except (PaperboyError, OSError) as exc:
                    last = isinstance(exc, PermanentError) or item.attempts >= MAX_ATTEMPTS
                    retry_at = None if last else clock() + RETRY * 2 ** (item.attempts - 1)
                    log.warning("notice %d: not sent%s: %s", item.id, "" if last else ", will retry",
                                redact(str(exc)))
                    with database.write() as session:
                        store.mark_failed(session.connection(), item, str(exc), retry_at)
                    tally.failed, tally.retrying = tally.failed + last, tally.retrying + (not last)
                    continue
                with database.write() as session:
                    store.mark_sent(session.connection(), item, clock())
                tally.sent += 1
    finally:
        if transport is not None:
            transport.close()
