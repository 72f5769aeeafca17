"""Reading a source: a URL over HTTP (httpx) or a local file, within limits a hostile server
cannot stretch.

HTTP requests name paperboy in their User-Agent and send the source's stored ETag and
Last-Modified; a 304 means nothing new. What a server can do against us, and what stops it:

- *a decompression bomb*: the body is inflated here, not by httpx, a bounded piece at a time,
  and the decoded bytes are counted against ``fetch.max_mb`` as they come; one encoding at most
  (``gzip, gzip`` is refused);
- *a slow drip*: ``fetch.timeout`` bounds each wait, ``fetch.deadline`` the whole fetch; a watch
  thread shuts the socket down when the deadline passes or the caller cancels (SIGTERM);
- *redirects*: followed by hand, at most five, only to http(s), only within the source's own
  scheme, host and port (http to https on the same host is an upgrade and allowed) unless
  ``fetch.allow_redirect_hosts`` names the target, and never to a loopback, private or
  link-local address unless the source itself is on one.

Every failure is one SourceError line naming the URL with its credentials redacted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot import __version__
from bot.errors import SourceError
from bot.redact import redact_text, redact_url

MAX_REDIRECTS = 5
_PIECE = 64 * 1024
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

Resolver = Callable[[str], list[str]]


class _Redacting(logging.Filter):
    """httpx logs each request's full URL at INFO, credentials and API keys included."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_text(record.getMessage()), ()
        return True


logging.getLogger("httpx").addFilter(_Redacting())


def _resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except (OSError, UnicodeError):
        return []


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The limits of one fetch, from ``fetch.*``; ``resolve`` is injectable so the address rule
    can be tested without a DNS server."""

    timeout: float = 30.0
    deadline: float = 60.0
    max_bytes: int = 50 * 2**20
    agent: str = f"paperboy/{__version__}"
    allow_redirect_hosts: tuple[str, ...] = ()
    resolve: Resolver = field(default=_resolve, compare=False)


@dataclass(frozen=True, slots=True)
class Fetched:
    """``body`` is None when the server said 304 Not Modified."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None


def user_agent(base_url: str) -> str:
    return f"paperboy/{__version__} (+{base_url})"


class SocketDeadline:
    """Shuts every socket of one fetch down when its deadline passes or ``cancel`` is set, which
    ends a read that is blocked inside httpx; ``why`` says which came first."""

    def __init__(self, deadline: float, cancel: threading.Event | None) -> None:
        self.ends = time.monotonic() + deadline
        self.why: str | None = None
        self._cancel = cancel or threading.Event()
        self._done = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="paperboy-fetch-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            left = self.ends - time.monotonic()
            if self._cancel.is_set():
                self._fire("stopped")
                return
            if left <= 0:
                self._fire("deadline")
                return
            # Two events to wait on (the caller's and ours): a short step sees both.
            self._done.wait(min(left, 0.1))

    def _fire(self, why: str) -> None:
        with self._lock:
            self.why = self.why or why
            for sock in self._sockets:
                _shut(sock)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: each new connection's socket is registered as it opens, and
        again once TLS wraps it (wrapping detaches the plain socket, whose shutdown would then
        reach nothing)."""
        if event not in ("connection.connect_tcp.complete", "connection.connect_unix_socket.complete",
                         "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                if self.why:
                    _shut(sock)

    def check(self) -> None:
        if self._cancel.is_set() or time.monotonic() >= self.ends:
            self._fire("stopped" if self._cancel.is_set() else "deadline")
        if self.why:
            raise DeadlineReached(self.why)

    def close(self) -> None:
        self._done.set()
        self._thread.join()


class DeadlineReached(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def fetch(url: str, policy: FetchPolicy, *, etag: str | None = None, last_modified: str | None = None,
          cancel: threading.Event | None = None) -> Fetched:
    shown = redact_url(url)
    headers = {"User-Agent": policy.agent, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    watch = SocketDeadline(policy.deadline, cancel)
    timeout = httpx.Timeout(min(policy.timeout, policy.deadline))
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout) as client:
            return _get(client, httpx.URL(url), shown, headers, policy, watch)
    except DeadlineReached as ended:
        raise _ended(shown, ended.why, policy) from None
    except (httpx.HTTPError, httpx.InvalidURL, zlib.error) as exc:
        if watch.why:  # the watch shut the socket: whatever httpx says, the deadline or a stop ended it
            raise _ended(shown, watch.why, policy) from None
        if isinstance(exc, httpx.TimeoutException):
            raise SourceError(shown, f"timed out after {policy.timeout:g} s (fetch.timeout)") from None
        if isinstance(exc, httpx.ConnectError):
            raise SourceError(shown, f"cannot connect ({_first_line(exc)})") from None
        raise SourceError(shown, f"failed: {type(exc).__name__}: {_first_line(exc)}") from None
    finally:
        watch.close()


def _ended(shown: str, why: str, policy: FetchPolicy) -> SourceError:
    if why == "stopped":
        return SourceError(shown, "stopped before the answer was complete (the service is shutting down)")
    return SourceError(shown, f"gave up after {policy.deadline:g} s (fetch.deadline): the server sends too slowly")


def _get(client: httpx.Client, url: httpx.URL, shown: str, headers: dict[str, str], policy: FetchPolicy,
         watch: SocketDeadline) -> Fetched:
    source = url
    for _ in range(MAX_REDIRECTS + 1):
        watch.check()
        request = client.build_request("GET", url, headers=headers, extensions={"trace": watch.trace})
        response = client.send(request, stream=True)
        try:
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                target = url.join(response.headers["location"])
                refused = redirect_refused(source, target, policy)
                if refused:
                    raise SourceError(shown, f"redirects to {redact_url(str(target))}, which is refused: {refused}")
                url = target
                continue
            if response.status_code == 304:
                return Fetched(None, headers.get("If-None-Match"), headers.get("If-Modified-Since"))
            if response.status_code >= 400:
                raise SourceError(shown, f"HTTP {response.status_code} {response.reason_phrase}".strip())
            body = _read_body(response, shown, policy, watch)
            return Fetched(body, response.headers.get("etag"), response.headers.get("last-modified"))
        finally:
            response.close()
    raise SourceError(shown, f"redirects more than {MAX_REDIRECTS} times")


def _read_body(response: httpx.Response, shown: str, policy: FetchPolicy, watch: SocketDeadline) -> bytes:
    limit = policy.max_bytes
    too_large = SourceError(shown, f"is larger than {limit / 2**20:g} MiB (fetch.max_mb)")
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise SourceError(shown, f"sends stacked content encodings ({', '.join(codings)}); one at most is read")
    if codings and codings[0] not in _ENCODINGS:
        raise SourceError(shown, f"sends the content encoding {codings[0]!r}, which paperboy did not ask for")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    inflate = _Inflater(codings[0]) if codings else None
    chunks: list[bytes] = []
    size = 0
    for raw in response.iter_raw(_PIECE):
        watch.check()
        for piece in inflate.feed(raw) if inflate else (raw,):
            size += len(piece)
            if size > limit:
                raise too_large
            chunks.append(piece)
    watch.check()
    if inflate:
        tail = inflate.flush()
        size += len(tail)
        if size > limit:
            raise too_large
        chunks.append(tail)
    return b"".join(chunks)


class _Inflater:
    """gzip (concatenated members too) or deflate (zlib-wrapped or raw, as httpx accepts it),
    never more than :data:`_PIECE` decoded bytes per step, so the limit is checked before a
    bomb's next megabyte exists."""

    def __init__(self, coding: str) -> None:
        self._wbits = _ENCODINGS[coding]
        self._raw_fallback = coding == "deflate"
        self._decoder = zlib.decompressobj(self._wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            yield self._step(data)
            data = self._decoder.unconsumed_tail
            if not data and self._decoder.eof and self._decoder.unused_data and self._wbits > zlib.MAX_WBITS:
                data = self._decoder.unused_data  # the next gzip member
                self._decoder = zlib.decompressobj(self._wbits)

    def _step(self, data: bytes) -> bytes:
        """At most :data:`_PIECE` bytes out; deflate that is not zlib-wrapped is read raw."""
        try:
            return self._decoder.decompress(data, _PIECE)
        except zlib.error:
            if not self._raw_fallback:
                raise
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._decoder.decompress(data, _PIECE)
        finally:
            self._raw_fallback = False

    def flush(self) -> bytes:
        return self._decoder.flush(_PIECE)


def redirect_refused(source: httpx.URL, target: httpx.URL, policy: FetchPolicy) -> str | None:
    """Why following a redirect from ``source`` to ``target`` is refused, or None."""
    if target.scheme not in ("http", "https"):
        return f"only http and https are followed, not {target.scheme or 'a relative'}:"
    if _origin(target) != _origin(source) and not _upgrade(source, target):
        if not _listed(target, policy.allow_redirect_hosts):
            return f"it leaves {_origin_text(source)}; allow the host with fetch.allow_redirect_hosts"
        inside = [a for a in policy.resolve(target.host) if not _public(a)]
        if inside and all(_public(a) for a in policy.resolve(source.host)):
            return f"{target.host} is a loopback, private or link-local address ({inside[0]})"
    return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or {"http": 80, "https": 443}.get(url.scheme)


def _origin_text(url: httpx.URL) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def _upgrade(source: httpx.URL, target: httpx.URL) -> bool:
    return (source.scheme, target.scheme) == ("http", "https") and source.host.lower() == target.host.lower() \
        and source.port in (None, 80) and target.port in (None, 443)


def _listed(target: httpx.URL, allowed: tuple[str, ...]) -> bool:
    host, port = target.host.lower(), _origin(target)[2]
    for entry in allowed:
        name, _, want = entry.lower().rpartition(":") if entry.count(":") == 1 else (entry.lower(), "", "")
        if want and (not want.isdigit() or int(want) != port):
            continue
        if host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def _public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _first_line(exc: Exception) -> str:
    text = redact_text(str(exc)).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def read_local(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(str(path), f"is larger than {max_bytes // 2**20} MiB (fetch.max_mb)")
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(str(path), "no such file") from None
    except IsADirectoryError:
        raise SourceError(str(path), "is a directory") from None
    except OSError as exc:
        raise SourceError(str(path), f"cannot be read ({exc.strerror or exc})") from None
