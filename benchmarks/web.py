"""The web front: requests per second for /feed.xml, conditional and not.

    python benchmarks/web.py [--papers 500] [--seconds 10] [--connections 32] [--database-url URL]

Builds an edition of ``--papers`` synthetic papers, starts ``paperboy serve`` (one uvicorn
process) and loads it from loopback with wrk (Debian's package), which shares this machine's two
cores with the server. Measured: GET /feed.xml with a matching If-None-Match (what feed readers
send: a 304 from the cache), the same with If-Modified-Since, a full GET with gzip, and a full
GET without. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import clean_env, reset_schema


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
    p99 = re.search(r"99%\s+(\S+)", out)
    return rate, p99[1] if p99 else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url")
    parser.add_argument("--work", type=Path, default=Path("/tmp/paperboy-bench-web"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "inbox").mkdir(parents=True)
    url = args.database_url or f"sqlite:///{args.work / 'paperboy.db'}"
    reset_schema(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = clean_env(PAPERBOY_DATABASE_URL=url, PAPERBOY_INBOX=str(args.work / "inbox"),
                    PAPERBOY_PUBLIC_DIR=str(args.work / "public"), PAPERBOY_OUTBOX=str(args.work / "outbox"),
                    PAPERBOY_SECRET_KEY="benchmark-secret", PAPERBOY_BASE_URL=base)
    subprocess.run([sys.executable, "-m", "bot.sources.dumpgen", str(args.work / "inbox" / "today.txt"),
                    "--layout", "blocks-with-meta", "--papers", str(args.papers)], check=True, cwd=ROOT,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "bot", "run", "--once"], env=env, check=True, cwd=ROOT, capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(base + "feed.xml") as response:
                    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
                    size = len(response.read())
                break
            except OSError:
                time.sleep(0.2)
        rows = []
        for name, headers in (
            ("conditional GET, If-None-Match matches (304)", [f"If-None-Match: {etag}"]),
            ("conditional GET, If-Modified-Since (304)", [f"If-Modified-Since: {modified}"]),
            ("full GET, gzip", ["Accept-Encoding: gzip"]),
            ("full GET, identity", []),
        ):
            rate, p99 = wrk(base + "feed.xml", args.seconds, args.connections, headers)
            rows.append((name, rate, p99))
    finally:
        server.terminate()
        server.wait(20)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"Measured {dt.date.today()} on {os.cpu_count()} cores, {backend}; /feed.xml of {args.papers} papers "
          f"({size / 1024:.0f} KiB), wrk -t2 -c{args.connections} -d{args.seconds}s on loopback, "
          "one uvicorn process.\n")
    print("| request | requests/s | p99 latency | target |")
    print("|---|---|---|---|")
    for name, rate, p99 in rows:
        print(f"| {name} | {rate:,.0f} | {p99} | {'≥ 1,000/s' if '304' in name else ''} |")


if __name__ == "__main__":
    main()
