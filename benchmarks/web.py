"""The web front: /feed.xml against nginx serving the same bytes, and /subscribe at a steady rate.

    python benchmarks/web.py [--papers 500] [--seconds 10] [--connections 32] [--rounds 2]
                             [--rate 100] [--subscribe-seconds 20] [--database-url URL]

Builds an edition of ``--papers`` synthetic papers and starts ``paperboy serve`` (one uvicorn
process) and nginx (Debian's nginx-light, one worker process, ``gzip_static``) serving the same
feed bytes (and their gzip copy) from a folder. wrk (Debian's package) loads each from loopback,
alternating, ``--rounds`` times; the rate is the median, and paperboy's share of nginx's is
computed per round. Both servers and wrk share this machine's two cores. Requests: a matching
If-None-Match (what feed readers send: a 304), If-Modified-Since, a full GET with gzip, and one
without.

/subscribe: an open-loop load (requests start every 1/``--rate`` s whether or not earlier ones
finished, so a slow server shows in the latency instead of slowing the load) of distinct
addresses, each from its own client address (X-Forwarded-For, the server trusting loopback as
its proxy), for ``--subscribe-seconds``; latency from each request's scheduled start to its last
byte. The confirmation mails go to the Maildir through the notices outbox; how long the last
one took to be written after the load ended is shown too. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import clean_env, reset_schema

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ application/rss+xml xml; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        gzip_static on;
        location / {{ }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, seconds: int, connections: int, headers: list[str]) -> tuple[float, str]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)  # the latency distribution line, not a 99.99% stdev share
    return rate, p99[1] if p99 else "?"


def validators(url: str) -> tuple[str, str, bytes]:
    with urllib.request.urlopen(url) as response:
        return response.headers["ETag"], response.headers["Last-Modified"], response.read()


def wait_for(url: str) -> None:
    for _ in range(150):
        try:
            with urllib.request.urlopen(url):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


async def subscribe_load(base: str, rate: float, seconds: float, connections: int = 64) -> tuple[list[float], int]:
    """Latencies (s) of an open-loop subscribe load, and how many answers were not 200.

    A small HTTP/1.1 client on asyncio streams, ``connections`` kept alive: requests are made
    before the clock starts, each is released at its scheduled moment onto a queue that the
    connections take from, and its latency runs from that moment to the answer's last byte, so
    a server that falls behind shows in the latency (no coordinated omission). httpx's pool
    spent more CPU than the server at this rate, which made the client the bottleneck."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    with urllib.request.urlopen(base) as response:
        page = response.read().decode()
        cookie = response.headers["Set-Cookie"].split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]
    total = int(rate * seconds)
    requests = []
    for n in range(total):
        body = urllib.parse.urlencode({"email": f"reader{n}@example.org", "csrf": csrf}).encode()
        requests.append((f"POST /subscribe HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                         f"X-Forwarded-For: 10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}\r\n"
                         "Content-Type: application/x-www-form-urlencoded\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    bad = 0

    async def connection() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, int(port))
        while (item := await queue.get()) is not None:
            at, request = item
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - at)
            bad += not head.startswith(b"HTTP/1.1 200")
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.perf_counter() + 0.5
    for n, request in enumerate(requests):
        at = start + n / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        queue.put_nowait((at, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--subscribe-seconds", type=float, default=20)
    parser.add_argument("--database-url")
    parser.add_argument("--work", type=Path, default=Path("/tmp/paperboy-bench-web"))
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed: apt-get install -y wrk nginx-light")
    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "inbox").mkdir(parents=True)
    url = args.database_url or f"sqlite:///{args.work / 'paperboy.db'}"
    reset_schema(url)
    port, nginx_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}/"
    env = clean_env(PAPERBOY_DATABASE_URL=url, PAPERBOY_INBOX=str(args.work / "inbox"),
                    PAPERBOY_PUBLIC_DIR=str(args.work / "public"), PAPERBOY_OUTBOX=str(args.work / "outbox"),
                    PAPERBOY_SECRET_KEY="benchmark-secret", PAPERBOY_BASE_URL=base,
                    PAPERBOY_WEB_TRUSTED_PROXIES="127.0.0.1")
    subprocess.run([sys.executable, "-m", "bot.sources.dumpgen", str(args.work / "inbox" / "today.txt"),
                    "--layout", "blocks-with-meta", "--papers", str(args.papers)], check=True, cwd=ROOT,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "bot", "run", "--once"], env=env, check=True, cwd=ROOT, capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=(args.work / "serve.log").open("w"))
    nginx = None
    try:
        wait_for(base + "feed.xml")
        etag, modified, body = validators(base + "feed.xml")
        root = args.work / "static"
        root.mkdir()
        (root / "feed.xml").write_bytes(body)
        (root / "feed.xml.gz").write_bytes(gzip.compress(body, 6, mtime=0))
        conf = args.work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=args.work, port=nginx_port, root=root))
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-e", str(args.work / "nginx-error.log")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(f"http://127.0.0.1:{nginx_port}/feed.xml")
        n_etag, n_modified, _ = validators(f"http://127.0.0.1:{nginx_port}/feed.xml")
        rows = []
        for name, ours, theirs in (
            ("conditional GET, If-None-Match matches (304)", [f"If-None-Match: {etag}"], [f"If-None-Match: {n_etag}"]),
            ("conditional GET, If-Modified-Since (304)", [f"If-Modified-Since: {modified}"],
             [f"If-Modified-Since: {n_modified}"]),
            ("full GET, gzip", ["Accept-Encoding: gzip"], ["Accept-Encoding: gzip"]),
            ("full GET, identity", [], []),
        ):
            mine, nginx_rates, shares, p99s = [], [], [], []
            for _ in range(args.rounds):
                n_rate, _ = wrk(f"http://127.0.0.1:{nginx_port}/feed.xml", args.seconds, args.connections, theirs)
                rate, p99 = wrk(base + "feed.xml", args.seconds, args.connections, ours)
                mine.append(rate)
                nginx_rates.append(n_rate)
                shares.append(rate / n_rate)
                p99s.append(p99)
            rows.append((name, mine, nginx_rates, shares, p99s))

        latencies, bad = asyncio.run(subscribe_load(base, args.rate, args.subscribe_seconds))
        ended = time.perf_counter()
        expected = int(args.rate * args.subscribe_seconds)
        new = args.work / "outbox" / "new"
        while len(list(new.iterdir()) if new.is_dir() else []) < expected and time.perf_counter() - ended < 120:
            time.sleep(0.05)
        mailed = len(list(new.iterdir())) if new.is_dir() else 0
        drained = time.perf_counter() - ended
    finally:
        server.terminate()
        server.wait(20)
        if nginx is not None:
            nginx.terminate()
            nginx.wait(20)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"Measured {dt.date.today()} on {os.cpu_count()} cores, {backend}; /feed.xml of {args.papers} papers "
          f"({len(body) / 1024:.0f} KiB), wrk -t2 -c{args.connections} -d{args.seconds}s on loopback, "
          f"one uvicorn process against one nginx worker, {args.rounds} rounds alternated.\n")
    print("| request | paperboy req/s | nginx req/s | paperboy / nginx | paperboy p99 | target |")
    print("|---|---|---|---|---|---|")
    for name, mine, theirs, shares, p99s in rows:
        print(f"| {name} | {statistics.median(mine):,.0f} | {statistics.median(theirs):,.0f} | "
              f"{statistics.median(shares):.0%} ({min(shares):.0%}–{max(shares):.0%}) | {', '.join(p99s)} | "
              f"{'≥ 15 %' if '304' in name else ''} |")
    latencies.sort()
    print(f"\n| /subscribe, {args.rate:.0f} req/s open loop for {args.subscribe_seconds:.0f} s | result | target |")
    print("|---|---|---|")
    print(f"| latency p50 / p99 / max | {latencies[len(latencies) // 2] * 1000:.0f} / "
          f"{latencies[int(len(latencies) * 0.99)] * 1000:.0f} / {latencies[-1] * 1000:.0f} ms | p99 ≤ 100 ms |")
    print(f"| answers other than 200 | {bad} of {len(latencies)} | 0 |")
    print(f"| confirmation mails written to the Maildir | {mailed} of {expected}, the last {drained:.1f} s after "
          "the load ended | all |")


if __name__ == "__main__":
    main()
