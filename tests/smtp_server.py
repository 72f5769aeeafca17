"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and can be told to
answer some recipients with a 4xx or 5xx first, to drop the connection after taking a whole
message (before its reply), or to stall after taking it until released."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Recorder:
    """The handler: ``replies[address]`` is a list of replies used up one per RCPT for it."""

    received: list[Received] = field(default_factory=list)
    replies: dict[str, list[str]] = field(default_factory=dict)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    drops: dict[str, int] = field(default_factory=dict)  # recipient (or "*"): how many DATA to drop
    stall: set[str] = field(default_factory=set)  # recipients (or "*") whose DATA reply waits for release
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)  # set when a stalled message came
    pipelining: bool = False  # offer PIPELINING (RFC 2920), as Postfix does; aiosmtpd does not by itself
    accepting: Callable[[Received], None] | None = None  # called with each whole message, before its 250

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            planned = self.replies.get(address)
            reply = planned.pop(0) if planned else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        with self.lock:
            key = rcpt if self.drops.get(rcpt) else "*" if self.drops.get("*") else None
            if key is not None and key != "*":
                self.drops[key] -= 1
            dropping = key is not None
            stalling = rcpt in self.stall or "*" in self.stall
            if dropping or stalling:  # the server has the whole message: it may deliver it
                self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                              envelope.original_content))
        if dropping:
            server.transport.abort()
            return "421 gone"
        if stalling:
            self.arrived.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            server.transport.abort()
            return "421 gone"
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.accepting is not None:
            self.accepting(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(r for message in self.received for r in message.recipients)

    def wait_for(self, count: int, timeout: float = 60, sender: subprocess.Popen[str] | None = None) -> None:
        """Wait until ``count`` messages arrived. With ``sender`` (the process sending them) the
        wait lasts as long as it runs, up to a ten-minute ceiling, so a loaded machine only makes
        it slower; a sender that exits first fails the wait at once, with what it printed."""
        deadline = time.monotonic() + (600 if sender is not None else timeout)
        while self.count() < count:
            if sender is not None and sender.poll() is not None:
                raise AssertionError(f"the sender exited ({sender.returncode}) after {self.count()} of {count} "
                                     f"messages: {sender.communicate()[1][-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.count()} of {count} messages arrived")
            time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """aiosmtpd in a thread; ``stop`` and ``start`` again keep the same port."""

    def __init__(self, recorder: Recorder, port: int | None = None, idle_timeout: float = 300) -> None:
        self.recorder = recorder
        self.port = port or free_port()
        self.idle_timeout = idle_timeout
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port,
                                      timeout=self.idle_timeout, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
