"""Delivery: messages per second through the outbox to an SMTP sink, against a bare smtplib loop.

    python benchmarks/deliver.py [--subscribers 10000] [--big 100000] [--concurrency 4] [--rounds 2]
                                 [--database-url URL] [--work DIR]

An aiosmtpd sink runs in a process of its own on loopback and accepts everything. Then, in the
same run and alternating, each in a fresh process (so its peak memory is its own):

- baseline: the same messages paperboy would send (each subscriber's complete MIME message,
  built before the clock starts), sent by a bare smtplib loop over the same number of
  connections, one thread each;
- paperboy: ``send_edition`` as ``paperboy send`` runs it (queue the edition for every
  subscriber, claim, render each copy, send, record each delivery), with no message built in
  advance.

- previous: the same ``paperboy send`` from ``--previous`` (a git revision, checked out beside
  the work directory), to price a change against the code before it, in the same run.

Then faults, counted by a sink that records every message it took: ``--subscribers`` messages
through a sink that drops the connection after taking the whole message (before its reply) for
5 % of the recipients, once each; and two senders at once, a lease of 10 s, with one recipient
whose server takes 25 s to answer. Extra copies are split into those an uncertain resend
explains (at most one per uncertain message) and those it does not (a lease that expired while
its message was in flight: the target is 0).

Finally ``paperboy send`` to ``--big`` subscribers gives the peak memory with the list streamed.
The edition has 40 generated papers. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import fresh_database
from bot.settings import Settings, load_settings
from bot.store import open_database

DATE = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sink(port: int, mode: str = "accept", counts_file: str = "") -> None:
    """Accept every message and discard it (the time is the sender's, not a mailbox's). Modes for
    the faults: ``drop5`` drops the connection after the whole message, before the reply, the
    first time for every 20th recipient; ``slow`` answers reader000007 after 25 s. Both count
    what they took per recipient and write the counts to ``counts_file`` on SIGTERM."""
    from aiosmtpd.smtp import SMTP

    counts: dict[str, int] = {}

    class Discard:
        async def handle_DATA(self, server, session, envelope):
            if mode == "accept":
                return "250 OK"
            rcpt = envelope.rcpt_tos[0]
            counts[rcpt] = counts.get(rcpt, 0) + 1
            if mode == "drop5" and counts[rcpt] == 1 and int(rcpt[6:12]) % 20 == 0:
                server.transport.abort()
                return "421 gone"
            if mode == "slow" and rcpt.startswith("reader000007@"):
                await asyncio.sleep(25)
            return "250 OK"

    def write_counts(*_: object) -> None:
        Path(counts_file).write_text(json.dumps(counts))
        os._exit(0)

    if counts_file:
        signal.signal(signal.SIGTERM, write_counts)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Discard(), hostname="sink"), "127.0.0.1", port)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(serve())


def settings_for(url: str, port: int, concurrency: int) -> Settings:
    return load_settings(env={}, database_url=url, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none",
                         mail_from="digest@papers.example.org", base_url="https://papers.example.org/",
                         delivery_concurrency=concurrency, secret_key="benchmark")


def child_setup(url: str, subscribers: int, work: Path) -> dict[str, float]:
    """An edition of 40 generated papers and ``subscribers`` active subscribers, written in bulk."""
    import secrets

    from bot.pipeline import build_edition, ingest
    from bot.sources.dumpgen import write_dump
    from bot.store.schema import SubscriberRow

    dump = work / "edition.txt"
    write_dump(dump, "blocks-with-meta", 0, 40, dump_date=DATE)
    database = open_database(url)
    settings = load_settings(env={}, database_url=url)
    assert ingest(database, settings, [dump], now=lambda: NOW).ok
    assert build_edition(database, settings, DATE, NOW) is not None
    table = SubscriberRow.__table__
    with database.write() as session:
        for start in range(0, subscribers, 10_000):
            session.execute(table.insert(), [
                {"address": f"reader{i:06d}@example.org", "address_key": f"reader{i:06d}@example.org",
                 "status": "active", "follow": [], "mute": [], "include": [], "exclude": [],
                 "token": secrets.token_urlsafe(24), "hard_failures": 0, "created_at": NOW,
                 "confirmed_at": NOW, "updated_at": NOW}
                for i in range(start, min(subscribers, start + 10_000))])
    return {"subscribers": subscribers}


def child_baseline(url: str, port: int, concurrency: int) -> dict[str, float]:
    """Every subscriber's message built first (as paperboy would build it), then a bare smtplib
    loop: ``concurrency`` connections, one thread each, sendmail after sendmail."""
    from bot.deliver import signer
    from bot.deliver.message import message_bytes, prepare
    from bot.render import environment
    from bot.render.email import links_for, render_email
    from bot.store.editions import find_edition
    from bot.store.subscribers import iter_subscribers
    from bot.subscribers import unsubscribe_links

    settings = settings_for(url, port, concurrency)
    database = open_database(url)
    with database.read() as session:
        edition = find_edition(session, DATE)
        people = [(s.address, s.token) for s in iter_subscribers(session, "active")]
    assert edition is not None
    parts = render_email(environment(), edition, links_for(settings.base_url, edition), 5)
    prepared = prepare(parts, edition=edition, sender=settings.mail_from, date=NOW)
    links = signer(database, settings)
    messages = []
    for n, (address, token) in enumerate(people):
        url_, mailto = unsubscribe_links(settings.base_url, settings.mail_from, links.sign(token, "unsubscribe"))
        messages.append((address, message_bytes(prepared, to=address, unsubscribe_url=url_, unsubscribe_mailto=mailto,
                                                message_id=f"<{DATE}.{n}.baseline@papers.example.org>")))
    shares = [messages[i::concurrency] for i in range(concurrency)]

    def send(share: list[tuple[str, bytes]]) -> None:
        smtp = smtplib.SMTP("127.0.0.1", port)
        for address, message in share:
            smtp.sendmail(settings.mail_from, [address], message)
        smtp.quit()

    started, cpu = time.perf_counter(), cpu_seconds()
    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {"sent": len(messages), "seconds": seconds, "rate": len(messages) / seconds, "peak_mb": peak_mb(),
            "cpu_ms": (cpu_seconds() - cpu) * 1000 / len(messages)}


def child_paperboy(url: str, port: int, concurrency: int, **changes: float) -> dict[str, float]:
    from bot.deliver import send_edition
    from bot.store import deliveries as outbox

    settings = replace(settings_for(url, port, concurrency), **changes)
    database = open_database(url)
    with database.write() as session:
        session.execute(outbox.deliveries.delete())
    started, cpu = time.perf_counter(), cpu_seconds()
    summary = send_edition(database, replace(settings))
    seconds = time.perf_counter() - started
    assert summary.failed == 0 and (changes or summary.sent == summary.queued), summary
    return {"sent": summary.sent, "seconds": seconds, "rate": summary.sent / seconds, "peak_mb": peak_mb(),
            "uncertain": getattr(summary, "uncertain", 0),
            "cpu_ms": (cpu_seconds() - cpu) * 1000 / max(1, summary.sent)}


def child_queue(url: str) -> dict[str, float]:
    """The edition queued for everyone, nothing sent: what several senders then share."""
    from bot.deliver import _domain
    from bot.store import deliveries as outbox
    from bot.store import queue
    from bot.store.editions import edition_ref

    database = open_database(url)
    settings = settings_for(url, 25, 4)
    with database.write() as session:
        session.execute(outbox.deliveries.delete())
        number, day = edition_ref(session, DATE)
        return {"queued": queue.enqueue(session, number, day, _domain(settings), NOW)}


def child_sender(url: str, port: int, concurrency: int) -> dict[str, float]:
    """One ``paperboy send`` among several on one outbox (the edition queued already)."""
    from bot.deliver import send_edition

    database = open_database(url)
    summary = send_edition(database, settings_for(url, port, concurrency))
    assert summary.failed == 0, summary
    return {"sent": summary.sent, "cpu_ms": 0.0}


def postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (a local server only): the
    live ones', and through the postmaster's children times those of backends that have ended."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, _, rest = stat.read_text().rpartition(")")
            fields = rest.split()
            if name.endswith("(postgres"):
                total += sum(int(f) for f in fields[11:15])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def processes(url: str, port: int, concurrency: int, count: int) -> dict[str, float]:
    """``count`` senders started at once on one queued outbox: the rate of all of them together,
    whether every delivery went out once (their sent counts add up to the queue), and the
    PostgreSQL server's CPU per message."""
    queued = run_child("queue", url)["queued"]
    server_cpu = postgres_cpu()
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, __file__, "--child", "sender", url, str(port), str(concurrency)],
                                 stdout=subprocess.PIPE, text=True) for _ in range(count)]
    sent = [json.loads(child.communicate()[0])["sent"] for child in children]
    seconds = time.perf_counter() - started
    return {"queued": queued, "sent": sum(sent), "each": sent, "seconds": seconds, "rate": sum(sent) / seconds,
            "server_ms": (postgres_cpu() - server_cpu) * 1000 / max(1, sum(sent))}


def child_concurrent(url: str, port: int) -> dict[str, float]:
    """Two senders at once (the second a second later), a lease of 10 s, uncertain resends due
    at once: the deliveries are queued first so both work on the same outbox."""
    from bot.deliver import send_edition

    settings = replace(settings_for(url, port, 4), delivery_lease_seconds=10, delivery_uncertain_retry_seconds=0,
                       delivery_wait_seconds=60)
    database = open_database(url)
    results: list[object] = []
    runs = [threading.Thread(target=lambda: results.append(send_edition(database, settings)))]
    runs[0].start()
    time.sleep(1)
    runs.append(threading.Thread(target=lambda: results.append(send_edition(database, settings))))
    runs[1].start()
    for run in runs:
        run.join()
    return {"sent": sum(r.sent for r in results), "uncertain": sum(r.uncertain for r in results)}  # type: ignore[attr-defined]


def spread(runs: list[dict[str, float]]) -> str:
    return f"{min(r['rate'] for r in runs):,.0f}–{max(r['rate'] for r in runs):,.0f}"


def cpu(runs: list[dict[str, float]]) -> str:
    return f"{statistics.median(r['cpu_ms'] for r in runs):.2f} ms CPU per message"


def run_child(*args: str, script: Path = Path(__file__)) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(script), "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def start_smtp_sink(port: int, binary: str) -> subprocess.Popen[str]:
    """Postfix's smtp-sink (C): accepts everything, as fast as the machine allows.

    Run from an extracted package too (``apt-get download postfix && dpkg -x postfix_*.deb pf``):
    its libraries are then found in ``../lib/postfix`` beside the binary."""
    path = Path(shutil.which(binary) or binary).resolve()
    libs = path.parents[1] / "lib" / "postfix"
    env = {**os.environ, "LD_LIBRARY_PATH": str(libs)} if libs.is_dir() else None
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    server = subprocess.Popen([str(path), *user, "-c", f"127.0.0.1:{port}", "1000"], env=env, text=True,
                              stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"smtp-sink did not start: {path}") from None
            time.sleep(0.05)


def start_sink(port: int, mode: str = "accept", counts: Path | None = None) -> subprocess.Popen[str]:
    server = subprocess.Popen([sys.executable, __file__, "--child", "sink", str(port), mode, str(counts or "")],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server


def stop_sink(server: subprocess.Popen[str], counts: Path) -> dict[str, int]:
    server.terminate()
    server.wait()
    return dict(json.loads(counts.read_text()))


def previous_tree(revision: str, work: Path) -> Path:
    """The code before this change, checked out beside the work directory (no commit touched)."""
    tree = work / "previous"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(tree), revision],
                   check=True, capture_output=True)
    return tree


def faults(url_for: Callable[[str], str], subscribers: int, work: Path) -> list[str]:
    rows = []
    port, counts = free_port(), work / "counts.json"
    url = url_for("faults")
    run_child("setup", url, str(subscribers), str(work))
    server = start_sink(port, "drop5", counts)
    try:
        result = run_child("paperboy", url, str(port), "4", "uncertain")
    finally:
        got = stop_sink(server, counts)
    extra = sum(got.values()) - len(got)
    dropped = subscribers // 20
    unexplained = max(0, extra - int(result["uncertain"]))
    rows.append(f"| {subscribers:,} messages, 5 % dropped after DATA (before the reply) | {extra} extra copies "
                f"for {int(result['uncertain'])} uncertain sends ({dropped} dropped); per 10,000: "
                f"{unexplained * 10_000 / subscribers:.0f} from lease expiry, {len(got)} of {subscribers:,} "
                f"received | 0 from lease expiry, ≤ 1 extra per uncertain | |")
    url = url_for("slow")
    run_child("setup", url, "2000", str(work))
    port = free_port()
    server = start_sink(port, "slow", counts)
    try:
        result = run_child("concurrent", url, str(port))
    finally:
        got = stop_sink(server, counts)
    extra = sum(got.values()) - len(got)
    slow = got.get("reader000007@example.org", 0)
    rows.append(f"| 2,000 messages, two senders, lease 10 s, one recipient answered after 25 s | {extra} extra "
                f"copies ({slow} of the slow one's, {int(result['uncertain'])} uncertain sends); per 10,000: "
                f"{max(0, extra - int(result['uncertain'])) * 5:.0f} from lease expiry; sent {int(result['sent'])} "
                f"| 0 from lease expiry | |")
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000, help="subscribers for the peak-memory run (0: skip)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", help="PostgreSQL to use (schemas bench_* in it are replaced)")
    parser.add_argument("--sink", choices=["aiosmtpd", "smtp-sink"], default="smtp-sink",
                        help="what accepts the mail (default: Postfix's smtp-sink, which does not cap the rate)")
    parser.add_argument("--smtp-sink", default="smtp-sink", help="the smtp-sink binary (default: on PATH)")
    parser.add_argument("--previous", default="",
                        help="git revision to compare with, in the same run (default: none)")
    parser.add_argument("--faults", action="store_true", help="also run the fault cases (aiosmtpd sinks)")
    parser.add_argument("--processes", type=int, default=0,
                        help="PostgreSQL: also run 1 and then this many `paperboy send` at once on one outbox")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "deliver")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, *rest = args.child
        if task == "sink":
            sink(int(rest[0]), *rest[1:])
            return
        uncertain = {"delivery_uncertain_retry_seconds": 0} if rest[3:] == ["uncertain"] else {}
        result = {"setup": lambda: child_setup(rest[0], int(rest[1]), Path(rest[2])),
                  "baseline": lambda: child_baseline(rest[0], int(rest[1]), int(rest[2])),
                  "paperboy": lambda: child_paperboy(rest[0], int(rest[1]), int(rest[2]), **uncertain),
                  "queue": lambda: child_queue(rest[0]),
                  "sender": lambda: child_sender(rest[0], int(rest[1]), int(rest[2])),
                  "concurrent": lambda: child_concurrent(rest[0], int(rest[1]))}[task]()
        print(json.dumps(result))
        return

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port = free_port()
    server = start_smtp_sink(port, args.smtp_sink) if args.sink == "smtp-sink" else start_sink(port)
    tree = previous_tree(args.previous, work) if args.previous else None
    try:
        url = fresh_database(args.database_url, work, "deliver")
        run_child("setup", url, str(args.subscribers), str(work))
        old_url = fresh_database(args.database_url, work, "previous")
        if tree is not None:
            run_child("setup", old_url, str(args.subscribers), str(work), script=tree / "benchmarks" / "deliver.py")
        baseline, ours, before = [], [], []
        for _ in range(args.rounds):
            baseline.append(run_child("baseline", url, str(port), str(args.concurrency)))
            if tree is not None:
                before.append(run_child("paperboy", old_url, str(port), str(args.concurrency),
                                        script=tree / "benchmarks" / "deliver.py"))
            ours.append(run_child("paperboy", url, str(port), str(args.concurrency)))
        base_rate = statistics.median(r["rate"] for r in baseline)
        our_rate = statistics.median(r["rate"] for r in ours)
        backend = "PostgreSQL" if args.database_url else "SQLite"
        target = "≥ 70 %" if args.database_url else "≥ 60 %"
        n = f"{args.subscribers:,}"
        print("| measurement | result | target | peak memory |")
        print("|---|---|---|---|")
        print(f"| baseline: bare smtplib loop, {n} pre-built messages, {args.concurrency} connections "
              f"| {base_rate:,.0f} messages/s ({spread(baseline)}), {cpu(baseline)} | | "
              f"{max(r['peak_mb'] for r in baseline):.0f} MB |")
        print(f"| paperboy send ({backend}): queue, render, send and record {n} deliveries, "
              f"{args.concurrency} connections | {our_rate:,.0f} messages/s ({spread(ours)}), {cpu(ours)}; "
              f"{our_rate / base_rate:.0%} of the baseline | {target} | {max(r['peak_mb'] for r in ours):.0f} MB |")
        if before:
            old_rate = statistics.median(r["rate"] for r in before)
            print(f"| the same `paperboy send` from {args.previous} | {old_rate:,.0f} messages/s; this code: "
                  f"{our_rate / old_rate - 1:+.1%} | | {max(r['peak_mb'] for r in before):.0f} MB |")
        if args.processes and args.database_url:
            for count in (1, args.processes):
                result = processes(url, port, args.concurrency, count)
                assert result["sent"] == result["queued"], result
                print(f"| {count} `paperboy send` process{'es' if count > 1 else ''} at once on one outbox, "
                      f"{args.concurrency} connections each | {result['rate']:,.0f} messages/s together; sent "
                      f"{int(result['sent']):,} of {int(result['queued']):,} queued, each once "
                      f"({', '.join(f'{n:,}' for n in result['each'])}); PostgreSQL server CPU "
                      f"{result['server_ms']:.2f} ms per message | | |")
        if args.faults:
            for row in faults(lambda name: fresh_database(args.database_url, work, name), args.subscribers, work):
                print(row)
        if args.big:
            big_url = fresh_database(args.database_url, work, "big")
            run_child("setup", big_url, str(args.big), str(work))
            big = run_child("paperboy", big_url, str(port), str(args.concurrency))
            print(f"| paperboy send ({backend}) to {args.big:,} subscribers | {big['rate']:,.0f} messages/s, "
                  f"{big['seconds']:.0f} s | ≤ 300 MB | {big['peak_mb']:.0f} MB |")
    finally:
        server.terminate()
        server.wait()
        if tree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


if __name__ == "__main__":
    main()
