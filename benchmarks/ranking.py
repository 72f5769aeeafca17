"""Per-reader ranking: what "more / less like this" does to a copy, and what it costs.

    python benchmarks/ranking.py [--readers 1000] [--papers 100] [--shared ../shared]

From the shared balanced set of arXiv papers (eight primary categories), each simulated reader
likes three papers of one category and dislikes two of another (their verdicts, as the email's
links record them); an edition is ``--papers`` other papers, drawn at random. Reported:

- quality: of the papers "Picked for you" (cosine with the profile at least ``PICK_SCORE``),
  the share in the liked category (precision), and the share of the liked category's papers
  in the edition that were picked (recall, capped by the section's size); the share of papers
  in the disliked category among the last fifth of the copy, against a fifth (chance);
- cost: building the edition's index (once per edition), and per reader the whole
  ``for_subscriber`` (scores, picks, reasons, order) and the scoring alone, in microseconds,
  medians with min–max over five rounds. The issue's target: at most 1 ms per reader per
  edition of 100 papers.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.digest import PICK_SCORE, PICKED_SLUG, for_subscriber
from bot.digest.ranking import index_of, paper_text, profile_of
from bot.models import Edition, EditionPaper, Section
from bot.models.readers import Preferences, Verdict


def _load(shared: Path) -> list[dict[str, str]]:
    path = shared / "eval" / "topics" / "balanced_8cat_1000.jsonl"
    if not path.exists():
        sys.exit(f"{path}: not found (pass --shared, the folder that holds eval/topics)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _edition(rows: list[dict[str, str]]) -> Edition:
    papers = [EditionPaper(r["id"], r["id"], r["title"], r["abstract"], None, None, None, None,
                           r["primary_category"], r["primary_category"]) for r in rows]
    buckets = [tuple(papers[i::4]) for i in range(4)]  # topics that mix subjects, so that order shows
    return Edition(dt.date(2026, 12, 3), dt.datetime(2026, 12, 3, 7, tzinfo=dt.UTC),
                   tuple(Section(f"topic-{i}", f"Topic {i}", ps) for i, ps in enumerate(buckets)))


def _places(copy: Edition, category: str) -> list[float]:
    """Where the papers of ``category`` sit in their topics, 0 (first) to 1 (last)."""
    return [i / (len(s.papers) - 1) for s in copy.sections if s.slug != PICKED_SLUG and len(s.papers) > 1
            for i, p in enumerate(s.papers) if p.topic_label == category]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--papers", type=int, default=100)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    rows = _load(args.shared)
    randomness = random.Random(20261203)
    categories = sorted({r["primary_category"] for r in rows})
    readers = []
    precision: list[float] = []
    recall: list[float] = []
    risen: list[float] = []
    sunk: list[float] = []
    editions = []
    for _ in range(args.readers):
        liked_cat, disliked_cat = randomness.sample(categories, 2)
        liked = randomness.sample([r for r in rows if r["primary_category"] == liked_cat], 3)
        disliked = randomness.sample([r for r in rows if r["primary_category"] == disliked_cat], 2)
        rated = {r["id"] for r in liked + disliked}
        edition = _edition(randomness.sample([r for r in rows if r["id"] not in rated], args.papers))
        verdicts = [Verdict(r["id"], r["title"], paper_text(r["title"], r["abstract"]), 1) for r in liked]
        verdicts += [Verdict(r["id"], r["title"], paper_text(r["title"], r["abstract"]), -1) for r in disliked]
        prefs = Preferences(profile=profile_of(verdicts))
        readers.append((edition, prefs))
        editions.append(edition)
        copy = for_subscriber(edition, prefs)
        assert copy is not None
        picked = [p for s in copy.sections if s.slug == PICKED_SLUG for p in s.papers]
        in_liked = sum(1 for s in edition.sections for p in s.papers if p.topic_label == liked_cat)
        if picked:
            precision.append(sum(p.topic_label == liked_cat for p in picked) / len(picked))
        if in_liked:
            recall.append(sum(p.topic_label == liked_cat for p in picked) / min(in_liked, 5))
        risen += _places(copy, liked_cat)
        sunk += _places(copy, disliked_cat)

    index_us, full_us, score_us = [], [], []
    for _ in range(5):
        started = time.perf_counter()
        indexes = [index_of(e) for e, _ in readers]
        index_us.append((time.perf_counter() - started) / len(readers) * 1e6)
        started = time.perf_counter()
        for (edition, prefs), index in zip(readers, indexes, strict=True):
            for_subscriber(edition, prefs, index)
        full_us.append((time.perf_counter() - started) / len(readers) * 1e6)
        started = time.perf_counter()
        for (_, prefs), index in zip(readers, indexes, strict=True):
            index.scores(prefs.profile)
        score_us.append((time.perf_counter() - started) / len(readers) * 1e6)

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} µs ({min(values):.0f}–{max(values):.0f})"

    picks = sum(1 for _ in precision)
    print(f"{args.readers} readers, editions of {args.papers} papers from 8 categories, pick score {PICK_SCORE}\n")
    print("| Measure | Value |\n|---|---|")
    print(f"| Readers with a Picked for you section | {picks / args.readers:.0%} |")
    print(f"| Picks in the liked category (precision) | {statistics.mean(precision):.0%} (chance 12.5 %) |")
    print(f"| Liked category's papers picked (recall, of at most 5) | {statistics.mean(recall):.0%} |")
    print(f"| Where the liked category's other papers sit in their topics (0 first, 1 last) "
          f"| {statistics.mean(risen):.2f} (chance 0.50) |")
    print(f"| Where the disliked category's papers sit | {statistics.mean(sunk):.2f} (chance 0.50) |")
    print(f"| Index an edition (once per edition) | {spread(index_us)} |")
    print(f"| A reader's copy (`for_subscriber`: scores, picks, reasons, order) | {spread(full_us)} |")
    print(f"| Scoring alone | {spread(score_us)} |")


if __name__ == "__main__":
    main()
