"""Rendering: complete emails per second for a 40-paper edition, the size of a 100-paper email,
TL;DRs for 1,000 papers, and all feeds for 10,000 papers.

    python benchmarks/render.py [--subscribers N] [--papers N]

Every paper has a full card, as the Daily Papers API gives it: eight authors, an organisation,
code with stars, a project page (every other paper), comments, categories and a TL;DR (the
API's summary for half, key sentences for the rest). Emails: the edition's shared parts are
rendered once (templates, CSS inlining), then for each subscriber the personal parts (the
unsubscribe link) are filled in and the complete MIME message (text and HTML, quoted-printable)
is serialised to bytes, on one core. Size: the HTML part of a 100-paper edition in 10 topics,
which Gmail clips above 102 KB. TL;DR: key sentences for 1,000 generated abstracts, scored
against each other (:func:`bot.digest.tldr.key_sentences`). Feeds: editions of 100 generated
papers each, written by `bot.render.feeds.build` into a temporary directory (every feed, the
JSON Feed and one archive page per edition), default settings (500 entries per feed).
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
from bot.digest.tldr import key_sentences
from bot.models import Edition, EditionPaper, PaperLinks, Section
from bot.render import environment
from bot.render.email import FEEDBACK_MARK, FEEDBACK_ROOM, links_for, personalise, render_email
from bot.render.feeds import FeedLimits, build
from bot.sources.dumpgen import abstract_of, title_of

NOW = dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC)


AUTHORS = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
           "Frances Allen", "John McCarthy")


def edition(number: int, papers: int, topics: int = 6) -> Edition:
    abstracts = [abstract_of(number * 1000 + i) for i in range(papers)]
    tldrs = key_sentences(abstracts)
    made = []
    for i in range(papers):
        ident = f"2611.{number:03d}{i:02d}"
        links = PaperLinks(github_repo=f"https://github.com/example-lab/project-{number}-{i}", github_stars=40 * i + 7,
                           project_page=f"https://example-lab.github.io/project-{i}/" if i % 2 else None,
                           comments=i % 5, submitted_by="Ada Example",
                           ai_summary=f"Kernel {i} makes sparse attention faster on long inputs." if i % 2 else None)
        made.append(EditionPaper(
            f"arxiv:{ident}", ident, title_of(number * 1000 + i), abstracts[i], 8, "Example Lab", dt.date(2026, 11, 1),
            100 - i % 90, f"topic-{i % topics}", f"Topic {i % topics} · things", authors=AUTHORS,
            categories=("cs.LG", "cs.CL"), first_seen=NOW - dt.timedelta(days=number), links=links,
            tldr=links.ai_summary or tldrs[i], tldr_source="source" if links.ai_summary else "extract"))
    sections = tuple(
        Section(f"topic-{t}", f"Topic {t} · things", tuple(p for p in made if p.topic_slug == f"topic-{t}"))
        for t in range(topics)
    )
    return Edition(dt.date(2026, 11, 21) - dt.timedelta(days=number), NOW - dt.timedelta(days=number), sections)


def size_and_tldr() -> None:
    for papers in (60, 100):
        big = edition(0, papers, topics=10)
        parts = render_email(environment(), big, links_for("https://papers.example.org/", big), 5)
        html_size = len(parts.html.encode()) + parts.html.count(FEEDBACK_MARK) * (FEEDBACK_ROOM - len(FEEDBACK_MARK))
        print(f"| {papers}-paper edition in 10 topics, full cards with their feedback links: the email's HTML part "
              f"(each reader's token counted) | {html_size / 1000:.1f} KB; {parts.shown} of {papers} papers shown "
              f"| < 102 KB | |")
    abstracts = [abstract_of(i) for i in range(1000)]
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        key_sentences(abstracts)
        runs.append(time.perf_counter() - started)
    print(f"| key sentences (extractive TL;DR) for 1,000 papers | {sorted(runs)[1]:.2f} s (median of 3) | ≤ 1 s | |")


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
                                  unsubscribe_url=f"https://papers.example.org/unsubscribe?token=t{n:08d}",
                                  feedback_token=f"{n:032d}.{'s' * 27}"))  # as Signer.sign_card makes them
    seconds = time.perf_counter() - started
    baseline_count = max(1, subscribers // 20)
    started = time.perf_counter()
    for n in range(baseline_count):
        html_body, text_body = personalise(parts, f"https://papers.example.org/unsubscribe?token=t{n:08d}",
                                           feedback_token=f"{n:032d}.{'s' * 27}")
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
        written = build(editions, "https://papers.example.org/", Path(out), env, FeedLimits())
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
    size_and_tldr()
    feeds(args.papers)


if __name__ == "__main__":
    main()
