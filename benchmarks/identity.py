"""How well abstracts tell one paper from another when two records share a short title.

Same paper: each real abstract against the forms another source gives of it (LaTeX markup
added, line-wrapped with odd whitespace, HTML entities, the last sentence cut). Different
papers: every pair of distinct real abstracts. Prints the lowest same-paper score, the highest
different-paper score and where SAME_ABSTRACT sits between them.

    python benchmarks/identity.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import time
from pathlib import Path

from bot.identity import SAME_ABSTRACT, _pairs, abstract_similarity


def variants(abstract: str) -> list[str]:
    sentences = re.split(r"(?<=[.!?])\s+", abstract)
    words = abstract.split()
    return [
        re.sub(r"\b([A-Z][A-Za-z]+)\b", r"\\textbf{\1}", abstract, count=3),
        "\n".join(" ".join(words[i:i + 9]) + "  " for i in range(0, len(words), 9)),
        html.escape(abstract).replace("&#x27;", "&apos;"),
        " ".join(sentences[:-1]) if len(sentences) > 2 else abstract,
        abstract.replace("-", " - ").replace(",", " ,"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    abstracts: list[str] = []
    for path in sorted((args.shared / "eval" / "topics").glob("*.jsonl")):
        abstracts += [json.loads(line)["abstract"] for line in path.read_text().splitlines() if line.strip()]
    abstracts = list(dict.fromkeys(abstracts))
    t = time.perf_counter()
    same = [abstract_similarity(a, v) for a in abstracts for v in variants(a)]
    seconds = time.perf_counter() - t
    sets = [_pairs(a) for a in abstracts]  # the same measure, each abstract's pairs made once
    different = [len(sets[i] & sets[j]) / len(sets[i] | sets[j])
                 for i in range(len(sets)) for j in range(i + 1, len(sets))]
    print(f"{len(abstracts)} abstracts, {len(same)} same-paper variants, {len(different)} different pairs")
    print(f"same paper:       lowest {min(same):.3f}, {sum(s < SAME_ABSTRACT for s in same)} below the threshold")
    print(f"different papers: highest {max(different):.3f}, {sum(d >= SAME_ABSTRACT for d in different)} at or "
          "above it")
    print(f"threshold SAME_ABSTRACT = {SAME_ABSTRACT}; {len(same) / seconds:,.0f} comparisons/s from text")


if __name__ == "__main__":
    main()
