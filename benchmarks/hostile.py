"""What a hostile source costs paperboy: the peak memory of refusing decompression bombs, and how
long it takes to give up on a server that drips (and to stop on SIGTERM while it does).

Each bomb is fetched by a fresh process (``bot.sources.fetch.fetch`` with the default 50 MiB
limit); its peak is that process's max RSS, against the same process's RSS before the fetch.
The drip server sends a byte every 0.2 s, so no single read ever times out.

    python benchmarks/hostile.py [--deadline 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile_server import body, gzip_bytes, gzip_of_zeros, hostile_server

_FETCH = """
import json, resource, sys
from bot.sources.fetch import FetchPolicy, fetch
from bot.errors import SourceError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    fetch(sys.argv[1], FetchPolicy(timeout=30, deadline=120))
    outcome = "read"
except SourceError as exc:
    outcome = exc.problem
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "before_mb": before / 1024, "peak_mb": peak / 1024}))
"""


def bomb_rows() -> list[tuple[str, str, str]]:
    rows = []
    with hostile_server() as server:
        inner = gzip_of_zeros(4 * 2**30)  # 4 GiB of zeros
        server.routes["/gzip"] = body(inner, headers={"Content-Encoding": "gzip"})
        server.routes["/gzip-gzip"] = body(gzip_bytes(inner), headers={"Content-Encoding": "gzip, gzip"})
        for path, what in (("/gzip", f"gzip, {len(inner) / 2**20:.1f} MiB inflating to 4 GiB"),
                           ("/gzip-gzip", f"gzip, gzip, {len(gzip_bytes(inner)) / 1024:.1f} KiB inflating to 4 GiB")):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", _FETCH, server.base + path], capture_output=True, text=True,
                                  cwd=ROOT, check=True)
            seconds = time.perf_counter() - started
            result = json.loads(done.stdout)
            rows.append((f"bomb: {what}", f"refused in {seconds:.2f} s: {result['outcome']}",
                         f"{result['peak_mb']:.0f} MB ({result['peak_mb'] - result['before_mb']:+.0f} MB "
                         "for the fetch)"))
    return rows


def drip_rows(deadline: float) -> list[tuple[str, str, str]]:
    from bot.errors import SourceError
    from bot.sources.fetch import FetchPolicy, fetch

    rows = []
    with hostile_server() as server:
        server.routes["/drip"] = server.drip()
        started = time.perf_counter()
        try:
            fetch(server.base + "/drip", FetchPolicy(timeout=30, deadline=deadline))
        except SourceError as exc:
            outcome = exc.problem
        rows.append((f"drip, a byte every 0.2 s, fetch.deadline = {deadline:g} s",
                     f"gave up after {time.perf_counter() - started:.2f} s ({outcome})", ""))
    with hostile_server() as server, tempfile.TemporaryDirectory() as folder:
        server.routes["/drip"] = server.drip()
        config = Path(folder) / "paperboy.toml"
        config.write_text(f'[fetch]\ntimeout = 600\ndeadline = 3600\n\n[[sources]]\nname = "drip"\nkind = "feed"\n'
                          f'location = "{server.base}/drip"\n')
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")},
               "PAPERBOY_DATABASE_URL": f"sqlite:///{folder}/p.db", "PAPERBOY_INBOX": f"{folder}/inbox",
               "PAPERBOY_OUTBOX": f"{folder}/outbox", "PAPERBOY_PUBLIC_DIR": f"{folder}/public"}
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run", "--once"], env=env,
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server.asked.wait(120)
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        code = process.wait(120)
        rows.append(("SIGTERM to `run --once` while its source drips (deadline 3600 s)",
                     f"exited {code} after {time.perf_counter() - started:.2f} s", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=5.0)
    args = parser.parse_args()
    print("| measurement | result | peak memory |")
    print("|---|---|---|")
    for row in [*bomb_rows(), *drip_rows(args.deadline)]:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
