"""A loopback HTTP server that answers as Slack's and Discord's incoming webhooks, Matrix's
client-server API, Telegram's Bot API and a signed webhook receiver do, checking each request
the way the real API would (shape, limits, credentials) and recording what it accepted.

Scripts make a route misbehave: ``answer(prefix, ...)`` queues answers (429 with Retry-After,
500, 404) given before the normal one; ``hold(prefix)`` keeps the next request waiting for an
answer until :meth:`release`, for crash tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

TOKEN = "123456:test-token-abcdefghijklmnopqrstuvwxyz"
MATRIX_TOKEN = "syt_matrix_test_token"
SECRET = "webhook-signing-key"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic, when it arrived
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class ChannelServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self._scripts: dict[str, list[Scripted]] = {}
        self._held: set[str] = set()
        self._release = threading.Event()
        self.holding = threading.Event()
        self._events: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _handle(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(size)
                request = Request(self.command, unquote(self.path), {k.lower(): v for k, v in self.headers.items()},
                                  body, time.monotonic())
                status, headers, answer = outer._answer(request)
                request.status = status
                with outer.lock:
                    outer.requests.append(request)
                    outer.arrived.notify_all()
                if status < 0:  # held: the client's connection is cut when the test ends it
                    outer.holding.set()
                    outer._release.wait(60)
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ChannelServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, prefix: str, *scripted: Scripted) -> None:
        with self.lock:
            self._scripts.setdefault(prefix, []).extend(scripted)

    def clear(self) -> None:
        """Every route answers as its API does again."""
        with self.lock:
            self._scripts.clear()

    def hold(self, prefix: str) -> None:
        with self.lock:
            self._held.add(prefix)

    def release(self) -> None:
        self._release.set()

    def to(self, prefix: str, accepted: bool = True) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix) and (not accepted or 200 <= r.status < 300)]

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` requests arrived (an event, not a sleep)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout), self.requests

    def _answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            for prefix in list(self._held):
                if request.path.startswith(prefix):
                    self._held.discard(prefix)
                    return -1, {}, b""
            for prefix, queue in self._scripts.items():
                if request.path.startswith(prefix) and queue:
                    step = queue.pop(0)
                    return step.status, step.headers, step.body
        return self._api(request)

    def _api(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        path = request.path
        try:
            document = json.loads(request.body)
        except ValueError:
            return 400, {}, b"invalid_payload"
        if path.startswith("/slack/"):
            blocks = document.get("blocks", [])
            if not document.get("text") or len(blocks) > 50 or any(
                    len(b.get("text", {}).get("text", "")) > 3000 for b in blocks):
                return 400, {}, b"invalid_blocks"
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if path.startswith("/discord/"):
            if not 0 < len(document.get("content", "")) <= 2000 or document.get("allowed_mentions") != {"parse": []}:
                return 400, {"Content-Type": "application/json"}, b'{"message": "Invalid Form Body", "code": 50035}'
            return 204, {}, b""
        if path.startswith("/_matrix/client/v3/rooms/"):
            if request.method != "PUT" or request.headers.get("authorization") != f"Bearer {MATRIX_TOKEN}":
                return 401, {}, b'{"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token"}'
            if document.get("msgtype") != "m.notice" or len(request.body) > 65536:
                return 400, {}, b'{"errcode": "M_BAD_JSON", "error": "bad event"}'
            txn = path.rsplit("/", 1)[1]
            with self.lock:
                event = self._events.setdefault(txn, f"$event{len(self._events)}")
            return 200, {"Content-Type": "application/json"}, json.dumps({"event_id": event}).encode()
        if path.startswith("/bot"):
            if path != f"/bot{TOKEN}/sendMessage":
                return 401, {}, b'{"ok": false, "error_code": 401, "description": "Unauthorized"}'
            if len(document.get("text", "")) > 4096 or not document.get("chat_id"):
                return 400, {}, b'{"ok": false, "error_code": 400, "description": "Bad Request: message is too long"}'
            return 200, {"Content-Type": "application/json"}, b'{"ok": true, "result": {"message_id": 1}}'
        if path.startswith("/hook/"):
            stamp = request.headers.get("x-paperboy-timestamp", "")
            expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get("x-paperboy-signature", ""), f"sha256={expected}"):
                return 401, {}, b"bad signature"
            return 200, {}, b""
        return 404, {}, b"no such route"


def channels_toml(url: str, *, topics: dict[str, list[str]] | None = None, kinds: tuple[str, ...] = (
        "slack", "discord", "matrix", "telegram", "webhook")) -> tuple[str, dict[str, str]]:
    """A ``[[channels]]`` config for this server, one channel per kind, and its environment."""
    tables, env = [], {}
    for kind in kinds:
        name = f"{kind}-papers"
        lines = [f'name = "{name}"', f'kind = "{kind}"']
        variable = f"PAPERBOY_CHANNEL_{name.upper().replace('-', '_')}"
        if kind in ("slack", "discord"):
            env[f"{variable}_URL"] = f"{url}/{kind}/T000/B000/XXXX"
        elif kind == "matrix":
            lines += [f'url = "{url}"', 'room = "!papers:example.org"']
            env[f"{variable}_TOKEN"] = MATRIX_TOKEN
        elif kind == "telegram":
            lines += [f'url = "{url}"', 'chat = "-1001234567890"']
            env[f"{variable}_TOKEN"] = TOKEN
        else:
            lines.append(f'url = "{url}/hook/{name}"')
            env[f"{variable}_SECRET"] = SECRET
        if topics and kind in topics:
            lines.append(f"topics = {json.dumps(topics[kind])}")
        tables.append("[[channels]]\n" + "\n".join(lines))
    return "\n\n".join(tables) + "\n", env
