"""Topic grouping: quality against arXiv categories, and speed.

    python benchmarks/topics.py [FILE.jsonl ...]   quality (default: ../shared/eval/topics/*.jsonl)
    python benchmarks/topics.py --speed            time and peak memory for 1,000 and 10,000 papers
    python benchmarks/topics.py --continuity       topics from day to day: replays of the shared samples

Quality is scored against each paper's ``primary_category`` (see ../shared/eval/topics/README.md):
AMI and ARI as the headline, homogeneity and completeness, a cross-list-aware purity (a paper
counts as right when its group's majority category is any of its categories), the largest
group's share, label coverage (the share of labelled papers whose text holds one of their
group's label terms) and label distinctness. "Other" counts as one more group everywhere.
The baseline, measured in the same run, is TF-IDF + NMF with 8 fixed groups.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    completeness_score,
    homogeneity_score,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.models import KnownTopic, TopicDoc
from bot.topics import Options, group_papers, tokens_of
from bot.topics.labels import grams

EVAL = ROOT.parent / "shared" / "eval" / "topics"
RUNS = 3  # the time reported is the median of this many runs (the first includes warm-up)


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def purity(groups: list[list[int]], rows: list[dict]) -> float:
    right = 0
    for members in groups:
        majority = Counter(rows[i]["primary_category"] for i in members).most_common(1)[0][0]
        right += sum(1 for i in members if majority in rows[i]["categories"])
    return right / len(rows)


def score(rows: list[dict]) -> dict:
    docs = [TopicDoc(r["id"], r["title"], r["abstract"]) for r in rows]
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        grouping = group_papers(docs)
        times.append(time.perf_counter() - started)
    seconds = float(np.median(times))
    index = {r["id"]: i for i, r in enumerate(rows)}
    truth = [r["primary_category"] for r in rows]
    assigned = np.empty(len(rows), dtype=int)
    members = []
    for number, group in enumerate(grouping.groups):
        positions = [index[i] for i in group.ids]
        assigned[positions] = number
        members.append(positions)
    labelled = [(g, m) for g, m in zip(grouping.groups, members, strict=True) if g.kind != "other"]
    covered = sum(
        1 for g, m in labelled for i in m
        if any(tuple(t.split()) in grams(tokens_of(docs[i]).words) for t in g.terms)
    )
    total_labelled = sum(len(m) for _, m in labelled)
    labels = [g.label for g in grouping.groups]
    return {
        "papers": len(rows),
        "groups": len(grouping.groups),
        "ami": adjusted_mutual_info_score(truth, assigned),
        "ari": adjusted_rand_score(truth, assigned),
        "homogeneity": homogeneity_score(truth, assigned),
        "completeness": completeness_score(truth, assigned),
        "purity": purity(members, rows),
        "largest": max(len(m) for m in members) / len(rows),
        "other": sum(len(m) for g, m in zip(grouping.groups, members, strict=True) if g.kind == "other") / len(rows),
        "coverage": covered / total_labelled if total_labelled else 0.0,
        "distinct": len(set(labels)) == len(labels),
        "seconds": seconds,
        "labels": [(g.label, len(m), Counter(truth[i] for i in m).most_common(2))
                   for g, m in zip(grouping.groups, members, strict=True)],
    }


def seed_spread(rows: list[dict], seeds: int) -> tuple[float, float, float]:
    """AMI over several seeds of the k-means runs: (mean, min, max). The shipped seed is 0."""
    docs = [TopicDoc(r["id"], r["title"], r["abstract"]) for r in rows]
    truth = {r["id"]: r["primary_category"] for r in rows}
    scores = []
    for seed in range(seeds):
        grouping = group_papers(docs, options=Options(seed=seed))
        pairs = [(truth[i], n) for n, g in enumerate(grouping.groups) for i in g.ids]
        scores.append(adjusted_mutual_info_score(*zip(*pairs, strict=True)))
    return float(np.mean(scores)), min(scores), max(scores)


def baseline(rows: list[dict], k: int = 8) -> dict:
    started = time.perf_counter()
    texts = [f"{r['title']}. {r['abstract']}" for r in rows]
    matrix = TfidfVectorizer(stop_words="english", min_df=2, max_df=0.5, sublinear_tf=True).fit_transform(texts)
    assigned = NMF(k, init="nndsvd", random_state=0, max_iter=400).fit_transform(matrix).argmax(1)
    truth = [r["primary_category"] for r in rows]
    return {
        "ami": adjusted_mutual_info_score(truth, assigned),
        "ari": adjusted_rand_score(truth, assigned),
        "largest": np.bincount(assigned).max() / len(rows),
        "seconds": time.perf_counter() - started,
    }


def quality(paths: list[Path]) -> None:
    print("| listing | papers | groups | AMI | ARI | homog. | compl. | purity | largest | other "
          "| label coverage | distinct | time | AMI, seeds 0-4 | baseline AMI / ARI (NMF, 8) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|")
    details = []
    for path in paths:
        rows = load(path)
        ours, base, spread = score(rows), baseline(rows), seed_spread(rows, 5)
        details.append((path.name, ours))
        print(f"| {path.name} | {ours['papers']} | {ours['groups']} | {ours['ami']:.3f} | {ours['ari']:.3f} "
              f"| {ours['homogeneity']:.3f} | {ours['completeness']:.3f} | {ours['purity']:.3f} "
              f"| {ours['largest']:.0%} | {ours['other']:.0%} | {ours['coverage']:.3f} "
              f"| {'yes' if ours['distinct'] else 'NO'} | {ours['seconds']:.2f} s "
              f"| {spread[0]:.3f} ({spread[1]:.3f}–{spread[2]:.3f}) "
              f"| {base['ami']:.3f} / {base['ari']:.3f} |", flush=True)
    for name, ours in details:
        print(f"\n{name}:")
        for label, size, top in ours["labels"]:
            print(f"  {size:4d}  {label:55s} {', '.join(f'{c} {n}' for c, n in top)}")


SAMPLES = ROOT.parent / "shared" / "samples" / "hf-daily-papers"


def replay(days: list[list[TopicDoc]], categories: dict[str, str] | None = None,
           options: Options | None = None) -> list[dict]:
    """Group each day's new papers with the topics the days before left, as editions do (a
    paper seen on an earlier day is not new again); per day: papers, topics, the share of its
    papers placed in a topic that existed before, how many continued topics changed label, and
    (with ``categories``) the AMI of the day's grouping."""
    from bot.topics.continuity import blend

    known: dict[str, KnownTopic] = {}
    seen: set[str] = set()
    history: list[TopicDoc] = []
    out = []
    for docs in days:
        fresh = [d for d in docs if d.id not in seen]
        seen.update(d.id for d in docs)
        grouping = group_papers(fresh, known=list(known.values()), history=history, options=options)
        history += fresh
        placed = {i: g for g in grouping.groups for i in g.ids}
        shown = {slug for slug, k in known.items() if k.kind == "discovered"}
        continued = sum(1 for d in fresh if placed[d.id].slug in shown)
        relabelled = sum(1 for g in grouping.groups if g.slug in shown and known[g.slug].label != g.label)
        row = {"papers": len(fresh), "topics": len(grouping.groups), "continued": continued / max(1, len(fresh)),
               "relabelled": relabelled, "existing": len(shown), "labels": [g.label for g in grouping.groups]}
        if categories is not None:
            truth = [categories[d.id] for d in fresh]
            row["ami"] = adjusted_mutual_info_score(truth, [placed[d.id].slug for d in fresh])
        for g in (*grouping.groups, *grouping.candidates):  # as save_topics keeps them
            if g.kind in ("discovered", "candidate"):
                old = known.get(g.slug)
                known[g.slug] = KnownTopic(g.slug, old.label if old else g.label, g.kind,
                                           blend(old.profile, g.profile) if old else dict(g.profile))
        out.append(row)
    return out


def continuity() -> None:
    import datetime as dt

    from bot.identity import title_key
    from bot.sources.dump import DumpParser
    from bot.sources.text import read_lines

    print("| replay | day | new papers | topics | in a topic from before | labels changed | AMI |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    files = [SAMPLES / name for name in ("flat-list.txt", "blocks.txt", "blocks-with-meta.txt")]
    if all(f.exists() for f in files):
        days = []
        for f in files:
            parser = DumpParser(read_lines(f), today=dt.date(2026, 11, 20))
            days.append([TopicDoc(title_key(p.title), p.title, p.abstract) for p in parser.papers()])
        _rows("shared samples as three days", replay(days))
    listing = EVAL / "daily_2025-06-03.jsonl"
    if listing.exists():
        rows = load(listing)
        half = len(rows) // 2
        docs = [TopicDoc(r["id"], r["title"], r["abstract"]) for r in rows]
        _rows("daily listing in two halves", replay([docs[:half], docs[half:]],
                                                   {r["id"]: r["primary_category"] for r in rows}))
    balanced = EVAL / "balanced_8cat_1000.jsonl"
    if balanced.exists():
        novelty(load(balanced))


def novelty(rows: list[dict]) -> None:
    """The other side of continuity: subjects a first day lacked. The balanced set shuffled, day 1
    without cs.CR and cs.HC (375 papers), day 2 the rest (625 papers): how many of day 2's papers
    of those two new subjects went to a topic of day 1 (lower is better), against those of the
    six subjects day 1 had (higher is better)."""
    import random

    rows = rows[:]
    random.Random(0).shuffle(rows)
    new = {"cs.CR", "cs.HC"}
    day1 = [r for r in rows if r["primary_category"] not in new][:375]
    chosen = {r["id"] for r in day1}
    day2 = [r for r in rows if r["id"] not in chosen]

    def doc(r: dict) -> TopicDoc:
        return TopicDoc(r["id"], r["title"], r["abstract"])

    first = group_papers([doc(r) for r in day1])
    known = [KnownTopic(g.slug, g.label, g.kind, dict(g.profile)) for g in first.groups if g.kind == "discovered"]
    second = group_papers([doc(r) for r in day2], known=known, history=[doc(r) for r in day1])
    old = {k.slug for k in known}
    where = {i: g.slug for g in second.groups for i in g.ids}
    fresh = [r for r in day2 if r["primary_category"] in new]
    same = [r for r in day2 if r["primary_category"] not in new]
    print()
    print("| new subjects (balanced set, day 1 without cs.CR and cs.HC) | day 2 papers | in a day-1 topic |")
    print("|---|---:|---:|")
    print(f"| of the two new subjects | {len(fresh)} | {sum(where[r['id']] in old for r in fresh) / len(fresh):.0%} |")
    print(f"| of the six known ones | {len(same)} | {sum(where[r['id']] in old for r in same) / len(same):.0%} |")


def _rows(name: str, days: list[dict]) -> None:
    for n, day in enumerate(days, 1):
        ami = f"{day['ami']:.3f}" if "ami" in day else ""
        print(f"| {name} | {n} | {day['papers']} | {day['topics']} | "
              f"{day['continued']:.0%} | {day['relabelled']} of {day['existing']} | {ami} |", flush=True)
    for n, day in enumerate(days, 1):
        print(f"|  | labels, day {n}: {'; '.join(day['labels'])} | | | | | |")


def one(n: int) -> None:
    """Group n generated papers in this fresh process, as an edition does: the term space fitted
    with HISTORY earlier papers, and the topics an earlier day made known. Print seconds and
    peak RSS."""
    from bot.pipeline.editions import HISTORY
    from bot.sources.dumpgen import abstract_of, title_of

    history = [TopicDoc(f"h{i}", title_of(n + i), abstract_of(n + i, 5)) for i in range(HISTORY)]
    known = [KnownTopic(g.slug, g.label, g.kind, dict(g.profile))
             for g in group_papers(history[:n]).groups if g.kind == "discovered"]
    docs = [TopicDoc(f"p{i}", title_of(i), abstract_of(i, 5), rank=i) for i in range(n)]
    started = time.perf_counter()
    grouping = group_papers(docs, known=known, history=history)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"papers": n, "groups": len(grouping.groups), "seconds": seconds, "peak_mb": peak}))


def speed(sizes: list[int]) -> None:
    print("| papers | groups | time | peak memory |")
    print("|---:|---:|---:|---:|")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                             capture_output=True, text=True).stdout
        result = json.loads(out)
        print(f"| {n:,} | {result['groups']} | {result['seconds']:.2f} s | {result['peak_mb']:.0f} MB |",
              flush=True)


def threads(n: int, rounds: int) -> None:
    """Grouping time with the numeric libraries' default thread pools, two threads and one thread,
    alternated in one process, on an idle machine and with two busy processes beside it (what CI
    and a shared host do)."""
    import multiprocessing
    import os
    import statistics

    from bot.sources.dumpgen import abstract_of, title_of
    from bot.topics import Options
    docs = [TopicDoc(f"p{i}", title_of(i), abstract_of(i, 5), rank=i) for i in range(n)]
    modes = {"libraries' default pools (threads=0)": 0, "two threads": 2, "one thread (the default)": 1}
    print(f"| {n:,} papers, {os.cpu_count()} cores | {' | '.join(modes)} |")
    print("|---|" + "---|" * len(modes))
    for busy in (0, 2):
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(busy)]
        for spinner in spinners:
            spinner.start()
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(rounds):
            for mode, count in modes.items():
                started = time.perf_counter()
                group_papers(docs, options=Options(threads=count))
                times[mode].append(time.perf_counter() - started)
        for spinner in spinners:
            spinner.terminate()
        cells = [f"{statistics.median(t):.2f} s ({min(t):.2f}–{max(t):.2f})" for t in times.values()]
        what = "idle" if not busy else f"{busy} busy processes beside it"
        print(f"| {what} | {' | '.join(cells)} |", flush=True)


def _spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--continuity", action="store_true", help="replay the shared samples as consecutive days")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, metavar="ROUNDS",
                        help="time 1,000 papers with the libraries' thread pools, grouping's limit and one thread")
    args = parser.parse_args()
    if args.one:
        one(args.one)
    elif args.continuity:
        continuity()
    elif args.threads:
        threads(1_000, args.threads)
    elif args.speed:
        speed([1_000, 10_000])
    else:
        paths = args.files or sorted(EVAL.glob("*.jsonl"))
        if not paths:
            sys.exit(f"no listings given and none in {EVAL}")
        quality(paths)


if __name__ == "__main__":
    main()
