"""Channel fan-out: one edition posted to 100 signed webhooks, its time, and what a kill -9
in the middle of it leaves behind.

    python benchmarks/channels.py [--targets 100] [--latency-ms 20] [--rounds 3] [--database-url URL]

A threaded receiver on loopback answers every webhook after ``--latency-ms`` (a stand-in for a
remote endpoint's round trip), checks each signature and records each delivery id. The edition
has 40 generated papers; every target takes all of them (one part of about 25 KB each).

- fan-out: ``paperboy send`` as a process (start-up, queue, post, record), on a fresh database
  each round; against it, in the same run, a bare httpx loop posting the same bodies over the
  same number of threads (16) with nothing recorded;
- kill -9: ``paperboy send`` killed with SIGKILL once half the targets have their post, then
  ``paperboy send`` again; every target must hold exactly one distinct delivery id, and copies
  beyond the first may only be posts that were in flight at the kill (at most one per thread).

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import clean_env, fresh_database

SECRET = "benchmark-secret"
DATE = "2026-11-20"


class Receiver:
    def __init__(self, latency: float) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, list[str]] = {}
        self.bad = 0
        self.count = 0
        self.half = threading.Event()
        self.expect = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(latency)
                stamp = self.headers.get("X-Paperboy-Timestamp", "")
                expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body,
                                                hashlib.sha256).hexdigest()
                with outer.lock:
                    if self.headers.get("X-Paperboy-Signature") and expected != self.headers["X-Paperboy-Signature"]:
                        outer.bad += 1
                    outer.seen.setdefault(self.path, []).append(self.headers.get("X-Paperboy-Delivery", "-"))
                    outer.count += 1
                    if outer.expect and len(outer.seen) >= outer.expect:
                        outer.half.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.seen, self.bad, self.count, self.expect = {}, 0, 0, 0
            self.half.clear()


def config(work: Path, url: str, targets: int) -> tuple[Path, dict[str, str]]:
    tables = "".join(f'\n[[channels]]\nname = "hook-{n}"\nkind = "webhook"\nurl = "{url}/hook/{n}"\n'
                     for n in range(targets))
    path = work / "channels.toml"
    path.write_text('base_url = "https://papers.example.org/"\n' + tables)
    return path, {f"PAPERBOY_CHANNEL_HOOK_{n}_SECRET": SECRET for n in range(targets)}


def prepare(url: str, work: Path) -> None:
    code = ("import datetime as dt, sys; from pathlib import Path; from bot.pipeline import build_edition, ingest;"
            "from bot.settings import load_settings; from bot.store import open_database;"
            "from bot.sources.dumpgen import write_dump;"
            "d=dt.date(2026,11,20); now=dt.datetime(2026,11,20,7,tzinfo=dt.UTC); dump=Path(sys.argv[2]);"
            "write_dump(dump,'blocks-with-meta',0,40,dump_date=d); db=open_database(sys.argv[1]);"
            "s=load_settings(env={},database_url=sys.argv[1]);"
            "assert ingest(db,s,[dump],now=lambda: now).ok; assert build_edition(db,s,d,now) is not None")
    subprocess.run([sys.executable, "-c", code, url, str(work / "edition.txt")], check=True, cwd=ROOT,
                   env=clean_env())


def send(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot", "send", "--date", DATE], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def bare(receiver: Receiver, url: str, targets: int) -> float:
    """The same bodies and headers posted by a bare httpx loop over 16 threads."""
    import datetime as dt

    import httpx

    from bot.deliver.channels import request
    from bot.models.channels import ChannelSpec
    from bot.render.channels import channel_posts
    from bot.store import editions, open_database

    database = open_database(url)
    with database.read() as session:
        edition = editions.stored_edition(session, dt.date(2026, 11, 20))[0]
    now = dt.datetime.now(dt.UTC)
    prepared = []
    for n in range(targets):
        spec = ChannelSpec(f"hook-{n}", "webhook", f"{receiver.url}/hook/{n}", SECRET, per_topic=0)
        body = channel_posts(edition, spec, "https://papers.example.org/")[0].body
        prepared.append(request(spec, f"{n:032x}", body, now))
    t = time.perf_counter()
    with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda r: client.request(r[0], r[1], headers=r[2], content=r[3]).raise_for_status(), prepared))
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="PostgreSQL to use (schemas bench_* in it are replaced)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "channels")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(args.latency_ms / 1000)
    path, secrets = config(args.work, receiver.url, args.targets)
    paperboy, baseline, startup = [], [], []
    for round_ in range(args.rounds):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=ROOT, env=clean_env(), check=True,
                       stdout=subprocess.DEVNULL)
        startup.append(time.perf_counter() - t)
        url = fresh_database(args.database_url, args.work, f"channels{round_}")
        prepare(url, args.work)
        receiver.reset()
        baseline.append(bare(receiver, url, args.targets))
        receiver.reset()
        env = clean_env(PAPERBOY_CONFIG=str(path), PAPERBOY_DATABASE_URL=url, **secrets)
        t = time.perf_counter()
        sender = send(env)
        _, err = sender.communicate(timeout=600)
        paperboy.append(time.perf_counter() - t)
        assert sender.returncode == 0, err.decode()[-2000:]
        assert len(receiver.seen) == args.targets and receiver.bad == 0 and receiver.count == args.targets, (
            len(receiver.seen), receiver.bad, receiver.count)

    url = fresh_database(args.database_url, args.work, "channels_kill")
    prepare(url, args.work)
    receiver.reset()
    receiver.expect = args.targets // 2
    env = clean_env(PAPERBOY_CONFIG=str(path), PAPERBOY_DATABASE_URL=url, **secrets)
    sender = send(env)
    assert receiver.half.wait(300), "the first half never arrived"
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    before = receiver.count
    again = send(env)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()[-2000:]
    with receiver.lock:
        ids = {target: set(keys) for target, keys in receiver.seen.items()}
        copies = sum(len(keys) - 1 for keys in receiver.seen.values())
    one_id = all(len(keys) == 1 for keys in ids.values())

    def show(times: list[float]) -> str:
        return f"{statistics.median(times):.2f} s ({min(times):.2f}–{max(times):.2f})"

    load = os.getloadavg()[0]
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{where}, {args.targets} webhook targets, {args.latency_ms:g} ms per answer, load average {load:.1f}\n")
    print("| measurement | result |\n|---|---|")
    print(f"| bare httpx loop, 16 threads, the same {args.targets} bodies | {show(baseline)} |")
    print(f"| `paperboy send` as a process (start-up, queue, post, record) | {show(paperboy)} |")
    print(f"| of which start-up: `paperboy --help` as a process | {show(startup)} |")
    print(f"| kill -9 after {args.targets // 2} targets had their post ({before} posts arrived), then `paperboy send` "
          f"| {len(ids)} of {args.targets} targets posted; one delivery id each: {one_id}; "
          f"{copies} second copies (each of a post in flight at the kill, same delivery id) |")


if __name__ == "__main__":
    main()
