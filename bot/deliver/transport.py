"""Transports: how a finished message leaves. SMTP for production, a Maildir when no SMTP host
is configured (so the whole pipeline runs offline on a fresh machine).

A transport sends one message to one recipient and returns only when the server accepted it
(250); otherwise it raises :class:`TransientError` (4xx, a dropped or refused connection: retry
later), :class:`UncertainError` (the server had the whole message, then its reply never came:
it may have been delivered), :class:`PermanentError` (5xx for this recipient: do not retry) or
:class:`MailSetupError` (nothing can be sent as configured: stop).

``timeout`` bounds one message's whole conversation, connecting included, not each read: the
socket's timeout is the time left, and :meth:`SmtpTransport.abort` (called from another thread
when the deadline passes or the run is stopped) shuts the socket down under a blocked read.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import mailbox
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.errors import MailSetupError, PermanentError, TransientError, UncertainError
from bot.settings import Settings

IDLE_CHECK_SECONDS = 20.0  # reused connections idle this long are probed with NOOP first
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


Gate = Callable[[], object]
"""Called once the server is ready for the body, before any of it goes out; whatever it raises
ends the send with nothing delivered (the connection is dropped: a server in DATA mode takes
anything that ends with a dot)."""


class Transport(Protocol):
    def send(self, sender: str, recipient: str, message: bytes, timeout: float | None = None,
             gate: Gate | None = None) -> None: ...

    def abort(self) -> None:
        """End the send in flight now (from another thread); it raises a transient or uncertain error."""

    def close(self) -> None: ...


def _angle(address: str) -> str:
    """An envelope address as smtplib's ``quoteaddr`` gives it, without parsing a bare one."""
    if any(c in address for c in '<>"( '):
        return smtplib.quoteaddr(address)
    return f"<{address}>"


def _stuffed(message: bytes) -> bytes:
    """The body as DATA carries it: lines that begin with a dot get another, and the final dot.
    A search and a replace: smtplib runs a regular expression over the whole body."""
    if message.startswith(b"."):
        message = b"." + message
    if b"\n." in message:
        message = message.replace(b"\n.", b"\n..")
    return message + (b".\r\n" if message.endswith(b"\r\n") else b"\r\n.\r\n")


class _Tracked(smtplib.SMTP):
    """An SMTP session that sends one message at a time the cheap way (:meth:`deliver`) and
    knows whether the body and its final dot went out: after that, a lost connection leaves the
    message's fate unknown, since the server may already have taken it."""

    body_sent = False
    _stage = ""

    def deliver(self, sender: str, recipient: str, message: bytes, options: list[str],
                gate: Gate | None = None) -> None:
        """smtplib's ``sendmail`` for one recipient, raising the same errors; MAIL, RCPT and DATA
        go in one write when the server offers PIPELINING (RFC 2920), one round trip for three."""
        self.ehlo_or_helo_if_needed()
        extra = [f"SIZE={len(message)}"] if self.does_esmtp and self.has_extn("size") else []
        if options and not self.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
        encoding = "utf-8" if options else "ascii"
        mail = f"MAIL FROM:{_angle(sender)}{''.join(' ' + o for o in extra + options)}\r\n".encode(encoding)
        rcpt = f"RCPT TO:{_angle(recipient)}\r\n".encode(encoding)
        self.body_sent = False
        try:
            if self.does_esmtp and self.has_extn("pipelining"):
                self.send(mail + rcpt + b"DATA\r\n")
                mailed, to = self.getreply(), self.getreply()
                self._stage = "data"
                data = self.getreply()
            else:
                self.send(mail)
                mailed = to = data = self.getreply()
                if mailed[0] == 250:
                    self.send(rcpt)
                    to = data = self.getreply()
                    if to[0] in (250, 251):
                        self._stage = "data"
                        self.send(b"DATA\r\n")
                        data = self.getreply()
            if data[0] == 354 and (mailed[0] != 250 or to[0] not in (250, 251)):
                self.send(b".\r\n")  # a server that took DATA after refusing the envelope: send nothing
                self.getreply()
            if mailed[0] != 250:
                self._failed(mailed[0])
                raise smtplib.SMTPSenderRefused(mailed[0], mailed[1], sender)
            if to[0] not in (250, 251):
                self._failed(to[0])
                raise smtplib.SMTPRecipientsRefused({recipient: to})
            if data[0] != 354:
                self._failed(data[0])
                raise smtplib.SMTPDataError(*data)
            if gate is not None:
                try:
                    gate()
                except BaseException:
                    self.close()
                    raise
            self.send(_stuffed(message))
            code, text = self.getreply()
            if code != 250:
                self._failed(code)
                raise smtplib.SMTPDataError(code, text)
        finally:
            self._stage = ""

    def _failed(self, code: int) -> None:
        if code == 421:
            self.close()
        else:
            with contextlib.suppress(smtplib.SMTPServerDisconnected):
                self.rset()

    def getreply(self) -> tuple[int, bytes]:
        if self._stage == "body":
            self.body_sent = True
        reply = super().getreply()
        if self._stage == "data" and reply[0] == 354:
            self._stage = "body"
        return reply


class _TrackedSSL(_Tracked, smtplib.SMTP_SSL):
    pass


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}"[:300]


@dataclass
class SmtpConfig:
    host: str
    port: int
    tls: str
    user: str
    password: str | None
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_tls, settings.smtp_user,
                   settings.smtp_password, float(settings.smtp_timeout))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@functools.lru_cache(maxsize=4)
def _tls_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """One per process and CA setting: making one loads the system's certificates (about 30 ms
    of CPU), which every confirmation mail paid, even without TLS."""
    return ssl.create_default_context()


def connect(config: SmtpConfig, opened: Callable[[_Tracked], None] | None = None,
            timeout: float | None = None) -> _Tracked:
    """An SMTP session, TLS and login done. Failures that retrying will not fix raise
    MailSetupError with the likely fix; others (the server is down) raise TransientError.
    ``opened`` is told of the session before it connects, so that it can be aborted."""
    context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) \
        if config.tls != "none" else None
    wait = config.timeout if timeout is None else min(timeout, config.timeout)
    try:
        smtp = (_TrackedSSL(timeout=wait, context=context) if config.tls == "tls" else _Tracked(timeout=wait))
        smtp._host = config.host  # type: ignore[attr-defined]  # what the constructor would set: TLS checks the certificate against it
        if opened is not None:
            opened(smtp)
        smtp.connect(config.host, config.port)
        smtp.ehlo()
        if config.tls == "starttls":
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise MailSetupError("smtp.tls", f"{config.where} does not offer STARTTLS; use tls = \"tls\" "
                                     "(implicit TLS, usually port 465) or, on a trusted network only, \"none\"")
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.user:
            if not config.password:
                smtp.close()
                raise MailSetupError("PAPERBOY_SMTP_PASSWORD", "smtp.user is set but the password is not "
                                     "(it is read from the environment only)")
            smtp.login(config.user, config.password)
        return smtp
    except smtplib.SMTPAuthenticationError as exc:
        raise MailSetupError("smtp.user", f"{config.where} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}; "
                             "check smtp.user and PAPERBOY_SMTP_PASSWORD") from None
    except ssl.SSLError as exc:
        hint = ("port 465 expects tls = \"tls\"" if config.port == 465 and config.tls != "tls"
                else "port 587 expects tls = \"starttls\"" if config.port == 587 and config.tls == "tls"
                else "check smtp.tls against what the server speaks on this port")
        raise MailSetupError("smtp.tls", f"TLS with {config.where} failed ({exc.reason or exc}); {hint}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailSetupError("smtp.user", f"{config.where}: {exc}") from None
    except smtplib.SMTPServerDisconnected as exc:
        hint = " (port 465 expects tls = \"tls\")" if config.port == 465 and config.tls != "tls" else ""
        raise TransientError(f"{config.where} closed the connection{hint}: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        error = TransientError if 400 <= exc.smtp_code < 500 else MailSetupError
        if error is TransientError:
            raise TransientError(f"{config.where}: {_reply(exc.smtp_code, exc.smtp_error)}") from None
        raise MailSetupError("smtp.host", f"{config.where} refused the session: "
                             f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
    except (OSError, smtplib.SMTPException) as exc:
        reason = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else (exc.strerror or str(exc)) \
            if isinstance(exc, OSError) else str(exc)
        raise TransientError(f"cannot connect to {config.where}: {reason}") from None


class SmtpTransport:
    """One reused SMTP connection (a worker thread owns one). A connection the server closed while
    idle is opened again and the message sent on it, not counted as a failure; a connection lost
    once the body went out is not: that send is uncertain."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: _Tracked | None = None
        self._opening: _Tracked | None = None
        self._used = 0.0
        self._aborted = False

    def _session(self, deadline: float) -> _Tracked:
        if self._smtp is not None and time.monotonic() - self._used > IDLE_CHECK_SECONDS:
            try:
                if self._smtp.noop()[0] != 250:
                    self._drop()
            except (OSError, smtplib.SMTPException):
                self._drop()
        if self._smtp is None:
            try:
                self._smtp = connect(self.config, self._track, self._left(deadline))
            finally:
                self._opening = None
        assert self._smtp.sock is not None
        self._smtp.sock.settimeout(self._left(deadline))
        return self._smtp

    def _track(self, smtp: _Tracked) -> None:
        self._opening = smtp

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0 or self._aborted:
            raise TransientError(f"{self.config.where}: {'stopped' if self._aborted else 'timed out'}")
        return left

    def abort(self) -> None:
        self._aborted = True
        smtp = self._smtp or self._opening
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError):
                self._smtp.close()
        self._smtp = None

    def send(self, sender: str, recipient: str, message: bytes, timeout: float | None = None,
             gate: Gate | None = None) -> None:
        self._aborted = False
        deadline = time.monotonic() + (timeout if timeout is not None else self.config.timeout)
        options = [] if recipient.isascii() else ["SMTPUTF8"]
        for again in (True, False):
            smtp = self._session(deadline)
            try:
                smtp.deliver(sender, recipient, message, options, gate)
                self._used = time.monotonic()
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(recipient, (550, b"refused"))
                raise (TransientError if 400 <= code < 500 else PermanentError)(_reply(code, text)) from None
            except smtplib.SMTPSenderRefused as exc:
                if 400 <= exc.smtp_code < 500:
                    raise TransientError(_reply(exc.smtp_code, exc.smtp_error)) from None
                raise MailSetupError("mail.from", f"{self.config.where} refuses the sender {sender}: "
                                     f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
            except smtplib.SMTPNotSupportedError:
                raise PermanentError(f"{self.config.where} cannot deliver to a non-ASCII address "
                                     "(no SMTPUTF8)") from None
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise (TransientError if 400 <= exc.smtp_code < 500 else PermanentError)(
                    _reply(exc.smtp_code, exc.smtp_error)) from None
            except OSError as exc:  # the connection failed, or was aborted: smtplib raises these
                self._drop()
                why = ("stopped" if self._aborted else "timed out" if time.monotonic() >= deadline
                       or isinstance(exc, TimeoutError) else f"closed the connection: {exc}")
                if smtp.body_sent:
                    raise UncertainError(f"{self.config.where} {why} after the whole message was sent; "
                                         "it may have been delivered") from None
                if not again or self._aborted or time.monotonic() >= deadline \
                        or not isinstance(exc, smtplib.SMTPServerDisconnected):
                    raise TransientError(f"{self.config.where}: {why}") from None
            except BaseException:
                if smtp.sock is None:  # the gate refused and the session was dropped
                    self._drop()
                raise

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
        self._drop()


class MaildirTransport:
    """Messages into a Maildir (``new/``), each written whole or not at all (tmp, then rename)."""

    def __init__(self, path: Path) -> None:
        try:
            for sub in ("tmp", "new", "cur"):  # one per thread may race here: creating is idempotent
                (path / sub).mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(path, factory=None, create=False)
        except OSError as exc:
            raise MailSetupError("outbox", f"{path} cannot be used as a Maildir ({exc.strerror or exc})") from None
        self.path = path

    def send(self, sender: str, recipient: str, message: bytes, timeout: float | None = None,
             gate: Gate | None = None) -> None:
        if gate is not None:
            gate()
        try:
            self._box.add(message.replace(b"\r\n", b"\n"))
        except OSError as exc:
            if exc.errno in FULL:  # nothing more can go in until the operator acts: stop, and say so
                raise MailSetupError("outbox", f"{self.path} cannot be written ({exc.strerror or exc})") from None
            raise TransientError(f"{self.path}: {exc.strerror or exc}") from None

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_transport(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(SmtpConfig.from_settings(settings))
    return MaildirTransport(settings.outbox)
