"""``paperboy mail check``: can mail go out as configured? Each step says what it found and,
when it failed, the likely fix."""

from __future__ import annotations

import contextlib
import smtplib
import socket
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from bot.clock import utc_now
from bot.deliver.transport import MaildirTransport, SmtpConfig, SmtpTransport, connect
from bot.errors import PaperboyError
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    ok: bool
    detail: str


def _test_message(settings: Settings, to: str) -> bytes:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = "paperboy mail check"
    message["Date"] = format_datetime(utc_now())
    message["Message-ID"] = make_msgid("check", settings.mail_from.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("This is a test message from `paperboy mail check`. Mail can go out as configured.\n")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def check_mail(settings: Settings, to: str | None = None) -> list[Step]:
    steps: list[Step] = []
    if not settings.base_url.startswith("https://"):
        steps.append(Step("links", True, f"base_url is {settings.base_url}: unsubscribe links should be https "
                                         "in production (set PAPERBOY_BASE_URL)"))
    if not settings.smtp_host:
        steps.append(Step("transport", True, f"no smtp.host: mail goes to the Maildir {settings.outbox}"))
        if to:
            try:
                MaildirTransport(settings.outbox).send(settings.mail_from, to, _test_message(settings, to))
                steps.append(Step("send", True, f"test message to {to} written to {settings.outbox}/new"))
            except PaperboyError as exc:
                steps.append(Step("send", False, str(exc)))
        return steps
    config = SmtpConfig.from_settings(settings)
    try:
        socket.getaddrinfo(config.host, config.port)
    except OSError:
        steps.append(Step("resolve", False, f"cannot resolve {config.host}: check smtp.host"))
        return steps
    try:
        session = connect(config)
    except PaperboyError as exc:
        detail = str(exc)
        if "Connection refused" in detail:
            detail += f" (nothing listens on port {config.port}: check smtp.host and smtp.port)"
        steps.append(Step("connect", False, detail))
        return steps
    tls = {"tls": "implicit TLS", "starttls": "STARTTLS", "none": "no TLS (trusted networks only)"}[config.tls]
    steps.append(Step("connect", True, f"{config.where} answered; {tls}"))
    steps.append(Step("login", True, f"logged in as {config.user}" if config.user else "no login configured"))
    with contextlib.suppress(OSError, smtplib.SMTPException):
        session.quit()
    if to:
        transport = SmtpTransport(config)
        try:
            transport.send(settings.mail_from, to, _test_message(settings, to))
            steps.append(Step("send", True, f"{config.where} accepted a test message to {to}"))
        except PaperboyError as exc:
            steps.append(Step("send", False, str(exc)))
        finally:
            transport.close()
    return steps
