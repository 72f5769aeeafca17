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

Finally ``paperboy send`` to ``--big`` subscribers gives the peak memory with the list streamed.
The edition has 40 generated papers. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import Settings, load_settings  # noqa: E402
from bot.store import open_database  # noqa: E402

DATE = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sink(port: int) -> None:
    """Accept every message and discard it (the time is the sender's, not a mailbox's)."""
    from aiosmtpd.smtp import SMTP

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            return "250 OK"

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
    from bot.render import environment
    from bot.render.email import links_for, message_bytes, prepare, render_email
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

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {"sent": len(messages), "seconds": seconds, "rate": len(messages) / seconds, "peak_mb": peak_mb()}


def child_paperboy(url: str, port: int, concurrency: int) -> dict[str, float]:
    from bot.deliver import send_edition
    from bot.store import deliveries as outbox

    settings = settings_for(url, port, concurrency)
    database = open_database(url)
    with database.write() as session:
        session.execute(outbox.deliveries.delete())
    started = time.perf_counter()
    summary = send_edition(database, replace(settings))
    seconds = time.perf_counter() - started
    assert summary.failed == 0 and summary.sent == summary.queued, summary
    return {"sent": summary.sent, "seconds": seconds, "rate": summary.sent / seconds, "peak_mb": peak_mb()}


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def fresh_database(url: str | None, work: Path, name: str) -> str:
    if url:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        return url
    for leftover in work.glob(f"{name}.db*"):
        leftover.unlink()
    return f"sqlite:///{work / name}.db"


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
    parser.add_argument("--database-url", help="PostgreSQL to use (its public schema is replaced!)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "deliver")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task, *rest = args.child
        if task == "sink":
            sink(int(rest[0]))
            return
        result = {"setup": lambda: child_setup(rest[0], int(rest[1]), Path(rest[2])),
                  "baseline": lambda: child_baseline(rest[0], int(rest[1]), int(rest[2])),
                  "paperboy": lambda: child_paperboy(rest[0], int(rest[1]), int(rest[2]))}[task]()
        print(json.dumps(result))
        return

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--child", "sink", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        url = fresh_database(args.database_url, work, "deliver")
        run_child("setup", url, str(args.subscribers), str(work))
        baseline, ours = [], []
        for _ in range(args.rounds):
            baseline.append(run_child("baseline", url, str(port), str(args.concurrency)))
            ours.append(run_child("paperboy", url, str(port), str(args.concurrency)))
        base_rate = statistics.median(r["rate"] for r in baseline)
        our_rate = statistics.median(r["rate"] for r in ours)
        backend = "PostgreSQL" if args.database_url else "SQLite"
        n = f"{args.subscribers:,}"
        print("| measurement | result | target | peak memory |")
        print("|---|---|---|---|")
        print(f"| baseline: bare smtplib loop, {n} pre-built messages, {args.concurrency} connections "
              f"| {base_rate:,.0f} messages/s | | {max(r['peak_mb'] for r in baseline):.0f} MB |")
        print(f"| paperboy send ({backend}): queue, render, send and record {n} deliveries, "
              f"{args.concurrency} connections | {our_rate:,.0f} messages/s ({our_rate / base_rate:.0%} of the "
              f"baseline) | ≥ 70 % | {max(r['peak_mb'] for r in ours):.0f} MB |")
        if args.big:
            big_url = fresh_database(args.database_url, work, "big")
            run_child("setup", big_url, str(args.big), str(work))
            big = run_child("paperboy", big_url, str(port), str(args.concurrency))
            print(f"| paperboy send ({backend}) to {args.big:,} subscribers | {big['rate']:,.0f} messages/s, "
                  f"{big['seconds']:.0f} s | ≤ 300 MB | {big['peak_mb']:.0f} MB |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
