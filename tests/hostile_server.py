"""A local HTTP server that behaves as an attacker's would: bombs, drips, redirects anywhere,
bodies that are not what they claim. Each path is a function writing the raw answer."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[BaseHTTPRequestHandler], None]


def gzip_of_zeros(size: int, *, piece: int = 2**20) -> bytes:
    """gzip of ``size`` zero bytes, made a piece at a time (a bomb without holding it)."""
    encoder = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(piece)
    parts = [encoder.compress(zeros) for _ in range(size // piece)]
    return b"".join([*parts, encoder.compress(bytes(size % piece)), encoder.flush()])


def gzip_bytes(data: bytes) -> bytes:
    encoder = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return encoder.compress(data) + encoder.flush()


def body(payload: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(payload)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    return answer


def redirect(location: str) -> Answer:
    return body(b"", status=302, headers={"Location": location})


class Hostile:
    """Routes by path; ``asked`` is set (and ``requests`` grows) as each request arrives, so a
    test waits on the request rather than on a timer; ``release`` ends every drip."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.asked = threading.Event()
        self.release = threading.Event()
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drip(self, *, in_headers: bool = False, every: float = 0.2) -> Answer:
        """One byte at a time, forever (until released): each read is quick, the whole never ends."""
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            if not in_headers:
                handler.wfile.write(b"Content-Type: application/rss+xml\r\n\r\n<rss>")
            while not self.release.wait(every):
                handler.wfile.write(b"X-Drip: y\r\n"[:1] if in_headers else b" ")
                handler.wfile.flush()
        return answer


@contextmanager
def hostile_server() -> Iterator[Hostile]:
    state = Hostile()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            state.asked.set()
            answer = state.routes.get(self.path.split("?")[0])
            try:
                if answer is None:
                    self.send_error(404, "Not Found")
                else:
                    answer(self)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
