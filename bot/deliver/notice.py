"""One-off messages to one reader (the confirmation link, "you are subscribed already"), sent at
once through the configured transport; the digest goes through the outbox instead.

Built with the standard library's EmailMessage: one message per request needs none of the
outbox's render-once machinery.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

from bot.clock import utc_now
from bot.deliver.outbox import redact
from bot.deliver.transport import Transport, open_transport
from bot.errors import PaperboyError
from bot.settings import Settings

log = logging.getLogger("paperboy")


def notice(settings: Settings, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"paperboy <{settings.mail_from}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utc_now())
    domain = settings.mail_from.rpartition("@")[2] or "paperboy"
    message["Message-ID"] = f"<notice.{secrets.token_hex(12)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def send_notice(settings: Settings, message: EmailMessage,
                transports: Callable[[], Transport] | None = None) -> bool:
    """Send now; a failure is logged (the reader can ask again), never raised to a web request."""
    transport = None
    try:
        transport = transports() if transports else open_transport(settings)
        transport.send(settings.mail_from, str(message["To"]), message.as_bytes(policy=message.policy.clone(
            linesep="\r\n")))
        return True
    except (PaperboyError, OSError) as exc:
        log.error("notice %s: not sent: %s", message["Message-ID"], redact(str(exc)))
        return False
    finally:
        if transport is not None:
            transport.close()
