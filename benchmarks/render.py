"""Rendering: complete emails per second for a 40-paper edition, and all feeds for 10,000 papers.

    python benchmarks/render.py [--subscribers N] [--papers N]

Emails: the edition's shared parts are rendered once (templates, CSS inlining), then for each
subscriber the personal parts (the unsubscribe link) are filled in and the complete MIME message
(text and HTML, quoted-printable) is serialised to bytes, on one core. Feeds: editions of 100
generated papers each, written by `bot.render.feeds.build` into a temporary directory (every
feed, the JSON Feed and one archive page per edition), default settings (500 entries per feed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.policy
import os
import resource
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.deliver.message import message_bytes, prepare
from bot.models import Edition, EditionPaper, Section
from bot.render import environment
from bot.render.email import links_for, personalise, render_email
from bot.render.feeds import build
from bot.sources.dumpgen import abstract_of, title_of

NOW = dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC)


def edition(number: int, papers: int, topics: int = 6) -> Edition:
    made = [
        EditionPaper(f"arxiv:2611.{number:03d}{i:02d}", f"2611.{number:03d}{i:02d}", title_of(number * 1000 + i),
                     abstract_of(number * 1000 + i), 5 + i % 7, None, dt.date(2026, 11, 1), 100 - i % 90,
                     f"topic-{i % topics}", f"Topic {i % topics} · things")
        for i in range(papers)
    ]
    sections = tuple(
        Section(f"topic-{t}", f"Topic {t} · things", tuple(p for p in made if p.topic_slug == f"topic-{t}"))
        for t in range(topics)
    )
    return Edition(dt.date(2026, 11, 21) - dt.timedelta(days=number), NOW - dt.timedelta(days=number), sections)


def emails(subscribers: int) -> None:
    os.sched_setaffinity(0, {0})
    one = edition(0, 40)
    env = environment()
    started = time.perf_counter()
    parts = render_email(env, one, links_for("https://papers.example.org/", one), 5)
    prepared = prepare(parts, edition=one, sender="paperboy@example.org", date=NOW)
    shared = time.perf_counter() - started
    started = time.perf_counter()
    size = 0
    for n in range(subscribers):
        size += len(message_bytes(prepared, to=f"reader{n}@example.org",
                                  unsubscribe_url=f"https://papers.example.org/unsubscribe?token=t{n:08d}"))
    seconds = time.perf_counter() - started
    baseline_count = max(1, subscribers // 20)
    started = time.perf_counter()
    for n in range(baseline_count):
        html_body, text_body = personalise(parts, f"https://papers.example.org/unsubscribe?token=t{n:08d}")
        message = EmailMessage(policy=email.policy.SMTP)
        message["Subject"], message["From"], message["To"] = parts.subject, "paperboy@example.org", f"r{n}@example.org"
        message.set_content(text_body, cte="quoted-printable")
        message.add_alternative(html_body, subtype="html", cte="quoted-printable")
        message.as_bytes()
    baseline = baseline_count / (time.perf_counter() - started)
    print(f"| 40-paper edition: shared parts (templates, CSS inlining, encoding), once | {shared * 1000:.1f} ms | | |")
    print(f"| 40-paper edition: complete emails for {subscribers:,} subscribers, one core "
          f"| {subscribers / seconds:,.0f} emails/s ({size / subscribers / 1024:.0f} KB each) | ≥ 1,000/s | |")
    print(f"| baseline, same run: each message built with email.message.EmailMessage ({baseline_count:,}) "
          f"| {baseline:,.0f} emails/s ({subscribers / seconds / baseline:.0f}x slower) | | |")


def feeds(papers: int) -> None:
    editions = [edition(n, 100) for n in range(papers // 100)]
    env = environment()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        written = build(editions, "https://papers.example.org/", Path(out), env, 500)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| all feeds and archive pages for {papers:,} papers ({len(written)} files) "
          f"| {seconds:.2f} s | ≤ 2 s | {peak:.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=5_000)
    parser.add_argument("--papers", type=int, default=10_000)
    args = parser.parse_args()
    print("| measurement | result | target | peak memory |")
    print("|---|---|---|---|")
    emails(args.subscribers)
    feeds(args.papers)


if __name__ == "__main__":
    main()
