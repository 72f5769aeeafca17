"""Posting editions to chat and webhook channels through their outbox, each part once.

Every configured channel is worked by its own thread (up to :data:`THREADS` at once), so a
channel that fails or asks to wait holds up nobody else. A channel's parts go out in order:
claim the earliest unsettled part, post it, record the answer. A 2xx is sent; 429, 408 and 5xx
(and a connection that failed or timed out) are retried after the channel's ``Retry-After`` (its
header, or Discord's and Telegram's field in the body) or else an exponential backoff, up to
``delivery.max_attempts``, waiting inside the run when that is within
``delivery.wait_seconds`` and leaving it to the next run (the daemon's next tick) otherwise;
any other 4xx fails the part at once (a revoked token, a deleted webhook). Each exchange is
bounded by a deadline of at most half the lease, so a lease cannot run out while a post is in
flight.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from bot.deliver.lease import dead_holders, worker_name
from bot.models import Edition
from bot.models.channels import ChannelSpec
from bot.models.readers import PostCounts
from bot.render.channels import channel_posts
from bot.settings import Settings
from bot.sources.fetch import DeadlineReached, SocketDeadline, user_agent
from bot.store import Database, problem
from bot.store import channels as store

log = logging.getLogger(__name__)
THREADS = 16
TIMEOUT = 30.0
MAX_ANSWER = 64 * 1024
RETRYABLE = {408, 425, 429}


@dataclass
class ChannelTally:
    """What one run of the channel outbox did, added to by every channel's thread."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    """Parts left waiting for a retry after the run."""
    errors: dict[str, str] = field(default_factory=dict)
    """The last error of each channel that failed a part or was left waiting."""

    def counts(self, queued: int) -> PostCounts:
        return PostCounts(queued, self.sent, self.failed, self.retrying, tuple(sorted(self.errors.items())))


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of one post: ``sent``, ``retry`` (after ``wait`` seconds if the channel
    said) or ``failed``, with a line for the operator."""

    outcome: str
    error: str | None = None
    wait: float | None = None


def queue_edition(database: Database, settings: Settings, edition: Edition, number: int,
                  now: dt.datetime) -> int:
    """Queue ``edition``'s parts for every configured channel that something is routed to, in
    one transaction."""
    rendered = [(channel.name, channel_posts(edition, channel, settings.base_url)) for channel in settings.channels]
    with database.write() as session:
        return sum(store.queue(session, name, number, parts, now) for name, parts in rendered if parts)


def post_due(database: Database, settings: Settings, clock: Callable[[], dt.datetime],
             cancel: threading.Event | None = None, client: httpx.Client | None = None) -> ChannelTally:
    """Post every due part of every configured channel; returns what this run did."""
    tally = ChannelTally()
    if not settings.channels:
        return tally
    cancel = cancel or threading.Event()
    worker = worker_name()
    _reclaim_dead(database, worker)
    own = client is None
    client = client or httpx.Client(follow_redirects=False, timeout=httpx.Timeout(_timeout(settings)),
                                    headers={"User-Agent": user_agent(settings.base_url)})
    lock = threading.Lock()
    try:
        with ThreadPoolExecutor(min(THREADS, len(settings.channels)), thread_name_prefix="paperboy-channel") as pool:
            for channel in settings.channels:
                pool.submit(_channel, database, settings, channel, client, clock, cancel, worker, tally, lock)
    finally:
        if own:
            client.close()
    return tally


def _timeout(settings: Settings) -> float:
    return min(TIMEOUT, settings.delivery_lease_seconds / 2)


def _reclaim_dead(database: Database, worker: str) -> None:
    """Parts left ``sending`` by senders of this host that are gone are taken back now."""
    with database.write() as session:
        dead = dead_holders(lambda host: store.holders(session, host), worker)
        if store.expire(session, dead):
            log.warning("channels: parts left by senders that stopped (%s) taken back", ", ".join(dead))


def _channel(database: Database, settings: Settings, channel: ChannelSpec, client: httpx.Client,
             clock: Callable[[], dt.datetime], cancel: threading.Event, worker: str, tally: ChannelTally,
             lock: threading.Lock) -> None:
    """One channel's parts in order: each answer is recorded in the transaction that claims the
    next part (one write per post, the outbox's fewest)."""
    lease = dt.timedelta(seconds=settings.delivery_lease_seconds)
    waited_until: dt.datetime | None = None
    settle: Settle | None = None
    last_error = ""
    try:
        while True:
            now = max(clock(), waited_until) if waited_until else clock()
            with database.write() as session:
                recorded = settle is not None and store.record(
                    session, settle.claimed, settle.status, settle.at, error=settle.error,
                    next_attempt_at=settle.next_at)
                got = None if cancel.is_set() else store.next_part(session, channel.name, now, now + lease, worker)
            if settle is not None:
                _told(channel, settle, recorded, tally, lock)
                last_error = settle.error or last_error
                settle = None
            if got is None:
                return
            if isinstance(got, dt.datetime):
                delay = (got - now).total_seconds()
                if delay > settings.delivery_wait_seconds or cancel.wait(max(0.0, delay)):
                    with database.read() as session:
                        left = store.open_parts(session, channel.name)
                    with lock:
                        tally.retrying += left
                        if last_error:
                            tally.errors[channel.name] = last_error
                    return
                waited_until = got
                continue
            waited_until = None
            if got.resend:
                log.warning("channels: %s: part %d/%d of %s posted again (its sender stopped before recording it)",
                            channel.name, got.part, got.parts, got.edition_date)
            settle = _verdict(settings, got, post(client, channel, got.key, got.body, _timeout(settings), clock,
                                                  cancel), clock())
    except Exception as exc:  # noqa: BLE001 - one channel's trouble (its database turn) stops only that channel
        log.error("channels: %s: stopped: %s", channel.name, problem(exc))
        with lock:
            tally.errors[channel.name] = problem(exc)


@dataclass(frozen=True, slots=True)
class Settle:
    """A part's answer, to be recorded: its status, error and next attempt."""

    claimed: store.Claimed
    status: str
    error: str | None
    next_at: dt.datetime | None
    at: dt.datetime


def _verdict(settings: Settings, claimed: store.Claimed, answer: Answer, now: dt.datetime) -> Settle:
    if answer.outcome != "retry":
        return Settle(claimed, answer.outcome, answer.error, None, now)
    if claimed.attempts >= settings.delivery_max_attempts:
        return Settle(claimed, "failed", f"gave up after {claimed.attempts} attempts: {answer.error}", None, now)
    backoff = settings.delivery_retry_seconds * 2 ** (claimed.attempts - 1)
    return Settle(claimed, "retrying", answer.error, now + dt.timedelta(seconds=max(backoff, answer.wait or 0.0)),
                  now)


def _told(channel: ChannelSpec, settle: Settle, recorded: bool, tally: ChannelTally, lock: threading.Lock) -> None:
    part = settle.claimed
    where = f"{channel.name}: part {part.part}/{part.parts} of {part.edition_date}"
    if not recorded:
        log.warning("channels: %s: taken over by another sender before it was recorded", where)
        return
    with lock:
        if settle.status == "sent":
            tally.sent += 1
        elif settle.status == "failed":
            tally.failed += 1
            tally.errors[channel.name] = settle.error or ""
    if settle.status == "sent":
        log.info("channels: %s posted", where)
    elif settle.next_at is not None:
        log.warning("channels: %s retrying at %s: %s", where, f"{settle.next_at:%H:%M:%S}", settle.error)
    else:
        log.warning("channels: %s failed: %s", where, settle.error)


def request(channel: ChannelSpec, key: str, body: dict[str, Any], now: dt.datetime
            ) -> tuple[str, str, dict[str, str], bytes]:
    """The HTTP request that posts ``body``: method, URL, headers and the bytes sent."""
    payload = dict(body)
    headers = {"Content-Type": "application/json"}
    method, url = "POST", channel.url
    if channel.kind == "matrix":
        method = "PUT"  # the transaction id makes a repeat of the same PUT the same event
        url = (f"{channel.url}/_matrix/client/v3/rooms/{quote(channel.target or '', safe='')}"
               f"/send/m.room.message/{key}")
        headers["Authorization"] = f"Bearer {channel.secret}"
    elif channel.kind == "telegram":
        url = f"{channel.url}/bot{channel.secret}/sendMessage"
        chat = channel.target or ""
        payload["chat_id"] = int(chat) if chat.lstrip("-").isdigit() else chat
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if channel.kind == "webhook":
        stamp = str(int(now.timestamp()))
        signature = hmac.new((channel.secret or "").encode(), stamp.encode() + b"." + data, hashlib.sha256)
        headers |= {"X-Paperboy-Event": "edition", "X-Paperboy-Delivery": key, "X-Paperboy-Timestamp": stamp,
                    "X-Paperboy-Signature": f"sha256={signature.hexdigest()}"}
    return method, url, headers, data


def post(client: httpx.Client, channel: ChannelSpec, key: str, body: dict[str, Any], timeout: float,
         clock: Callable[[], dt.datetime], cancel: threading.Event | None = None) -> Answer:
    """Post one part and read the channel's answer, within ``timeout`` seconds in all. No error
    names the URL: for Slack, Discord and Telegram it holds the credential."""
    method, url, headers, data = request(channel, key, body, clock())
    deadline = SocketDeadline(timeout, cancel)
    try:
        built = client.build_request(method, url, headers=headers, content=data, extensions={"trace": deadline.trace})
        response = client.send(built, stream=True)
        try:
            answer = bytearray()
            for chunk in response.iter_bytes():
                deadline.check()
                answer += chunk
                if len(answer) > MAX_ANSWER:
                    break
            return judge(channel, response.status_code, response.headers, bytes(answer[:MAX_ANSWER]))
        finally:
            response.close()
    except DeadlineReached as ended:
        return Answer("retry", "stopped while posting" if ended.why == "stopped" else f"no answer in {timeout:g} s")
    except httpx.HTTPError as exc:
        if deadline.why:
            return Answer("retry", f"no answer in {timeout:g} s")
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "cannot connect" \
            if isinstance(exc, httpx.ConnectError) else type(exc).__name__
        return Answer("retry", f"{kind} ({channel.where})")
    finally:
        deadline.close()


def judge(channel: ChannelSpec, status: int, headers: httpx.Headers, answer: bytes) -> Answer:
    """A channel's answer as an outcome: 2xx sent (Telegram also says ``"ok": true``), 429, 408
    and 5xx retried after what the channel asked, any other status failed."""
    document = _json(answer)
    if 200 <= status < 300 and not (channel.kind == "telegram" and document.get("ok") is False):
        return Answer("sent")
    said = _said(document) or _line(answer)
    error = f"HTTP {status}" + (f": {said}" if said else "")
    if status in RETRYABLE or status >= 500:
        return Answer("retry", error, _retry_after(headers, document))
    return Answer("failed", error)


def _json(answer: bytes) -> dict[str, Any]:
    try:
        document = json.loads(answer)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _said(document: dict[str, Any]) -> str:
    """The error a channel's JSON states: Telegram's description, Matrix's errcode and error,
    Discord's message."""
    parts = [document.get(k) for k in ("errcode", "error", "description", "message")]
    return _line(" ".join(p for p in parts if isinstance(p, str)).encode())


def _line(answer: bytes) -> str:
    text = answer[:400].decode("utf-8", "replace")
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:200]


def _retry_after(headers: httpx.Headers, document: dict[str, Any]) -> float | None:
    """Seconds to wait, from Retry-After (seconds or an HTTP date), Discord's ``retry_after``
    or Telegram's ``parameters.retry_after``; at most a day."""
    found: float | None = None
    value = headers.get("retry-after", "").strip()
    if value:
        try:
            found = float(value)
        except ValueError:
            try:
                found = (email.utils.parsedate_to_datetime(value) - dt.datetime.now(dt.UTC)).total_seconds()
            except (TypeError, ValueError):
                found = None
    for candidate in (document.get("retry_after"), (document.get("parameters") or {}).get("retry_after")
                      if isinstance(document.get("parameters"), dict) else None):
        if isinstance(candidate, (int, float)) and not isinstance(candidate, bool):
            found = max(found or 0.0, float(candidate))
    return None if found is None else min(max(found, 0.0), 86_400.0)
