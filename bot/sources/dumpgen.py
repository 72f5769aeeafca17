"""Synthetic Daily Papers dumps in each layout, at any size, for tests, benchmarks and examples.

Paper ``i`` always has the same title and abstract whatever the layout, so two dumps generated
over overlapping index ranges share exactly the papers in the overlap. Titles are unique: each
one spells its index in words. Run ``python -m bot.sources.dumpgen --help``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from bot.models import Layout

LAYOUTS: tuple[Layout, ...] = ("flat-list", "blocks", "blocks-with-meta")

_ADJ = ("Scalable", "Efficient", "Robust", "Sparse", "Unified", "Adaptive", "Latent", "Causal", "Multimodal",
        "Hierarchical", "Contrastive", "Federated", "Generative", "Self-Supervised", "Zero-Shot", "Continual",
        "Compositional", "Interpretable", "Differentiable", "Probabilistic", "Long-Context", "Lightweight",
        "Open-Vocabulary", "Reward-Guided", "Diffusion-Based", "Retrieval-Augmented", "Equivariant", "Tokenized")
_NOUN = ("Transformers", "Diffusion Models", "Reward Models", "World Models", "Graph Networks", "Agents",
         "Mixture-of-Experts", "Vision Encoders", "Language Models", "Policies", "Planners", "Tokenizers",
         "Value Functions", "Retrievers", "Autoencoders", "Neural Fields", "State-Space Models", "Critics")
_TASK = ("Robot Manipulation", "Code Generation", "Video Understanding", "Theorem Proving", "GUI Navigation",
         "Speech Recognition", "Protein Design", "Image Editing", "Machine Translation", "Offline RL",
         "Question Answering", "3D Reconstruction", "Weather Forecasting", "Recommendation", "Math Reasoning",
         "Tabular Prediction", "Document Parsing", "Text-to-Image Synthesis", "Motion Planning", "Summarization")
_SENTENCES = (
    "{noun} have become a central tool for {task_l}, yet their cost grows quickly with the size of the input.",
    "We introduce {acro}, a {adj_l} approach that revisits how {noun_l} are trained and evaluated.",
    "Prior work mostly assumes clean supervision, which rarely holds in practice.",
    "Our method combines a lightweight scoring module with a curriculum over increasingly difficult examples.",
    "On {n} benchmarks, {acro} improves accuracy by {p}% while using {k}x less compute than strong baselines.",
    "We further show that the learned representations transfer to {task_l} without additional fine-tuning.",
    "Ablations reveal that the gains come mainly from the data mixture rather than from model size.",
    "Extensive experiments demonstrate consistent improvements across model scales from 1B to {k}0B parameters.",
    "We release code, checkpoints and an evaluation suite to support future research.",
    "Theoretical analysis shows that the estimator is unbiased and its variance decays as O(1/n).",
    "Human evaluation confirms that outputs are preferred in {p}% of pairwise comparisons.",
    "Finally, we discuss limitations, including sensitivity to hyperparameters and the cost of annotation.",
)
_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
_ORGS = ("Google DeepMind", "Meta AI", "Tsinghua University", "Allen Institute for AI", "ByteDance Seed")


def title_of(index: int) -> str:
    rng = random.Random(index)
    acro = "".join(rng.choice("ABCDEFGHKLMNPRSTVXZ") for _ in range(rng.randint(3, 6)))
    spelled = "-".join(_DIGITS[int(d)] for d in str(index))
    return (f"{acro}-{spelled}: {rng.choice(_ADJ)} {rng.choice(_NOUN)} for {rng.choice(_TASK)}"
            f" via {rng.choice(_ADJ)} {rng.choice(_NOUN)}")


def abstract_of(index: int, sentences: int | None = None) -> str:
    rng = random.Random(-index - 1)
    words = {"acro": title_of(index).split("-", 1)[0], "noun": rng.choice(_NOUN), "adj_l": rng.choice(_ADJ).lower(),
             "n": rng.randint(3, 14), "p": rng.randint(2, 40), "k": rng.randint(2, 9),
             "task_l": rng.choice(_TASK).lower()}
    words["noun_l"] = str(words["noun"]).lower()
    count = sentences if sentences is not None else rng.randint(6, 9)
    chosen = [_SENTENCES[0], _SENTENCES[1], *rng.sample(_SENTENCES[2:], k=min(count - 2, len(_SENTENCES) - 2))]
    return " ".join(s.format(**words) for s in chosen)


def _meta(index: int, dump_date: dt.date) -> list[str]:
    rng = random.Random(index * 7 + 3)
    published = dump_date - dt.timedelta(days=rng.randint(0, 900))
    who = f"  • {rng.randint(1, 40)} authors" if rng.random() < 0.85 else rng.choice(_ORGS)
    when = f"{published:%b} {published.day}" + (f", {published.year}" if published.year != dump_date.year else "")
    upvotes = rng.choice((0, 0, 1, 2, 5, 17, 120))
    return [who, "·", f"{when} {upvotes}" if upvotes else when]


def generate(
    layout: Layout, start: int, count: int, *, dump_date: dt.date, sentences: int | None = None
) -> Iterator[str]:
    """The dump's text, in pieces, for papers ``start`` .. ``start + count - 1``."""
    if layout == "flat-list":
        yield "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\nSubscribe"
        for index in range(start, start + count):
            yield f"{title_of(index)}\n{abstract_of(index, sentences)}\n"
        return
    yield f"new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n" \
          f"byAK and the research community\n\n{dump_date:%b} {dump_date.day}\n\n"
    for index in range(start, start + count):
        block = f"{title_of(index)}\n\n{abstract_of(index, sentences)}\n\n"
        if layout == "blocks-with-meta":
            block += "\n".join(_meta(index, dump_date)) + "\n\n"
        yield block


def write_dump(
    path: Path, layout: Layout, start: int, count: int, *,
    dump_date: dt.date, sentences: int | None = None, newline: str = "\n", bom: bool = False,
) -> int:
    """Write a dump file; returns its size in bytes."""
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline=newline) as handle:
        _write(handle, generate(layout, start, count, dump_date=dump_date, sentences=sentences))
    return path.stat().st_size


def _write(handle: TextIO, pieces: Iterator[str]) -> None:
    buffer: list[str] = []
    for piece in pieces:
        buffer.append(piece)
        if len(buffer) >= 1000:
            handle.write("".join(buffer))
            buffer.clear()
    handle.write("".join(buffer))


def papers_for_size(size_bytes: int, layout: Layout) -> int:
    """About how many papers make a dump of ``size_bytes``."""
    sample = sum(len(p.encode()) for p in generate(layout, 10_000, 200, dump_date=dt.date(2026, 1, 1)))
    return max(1, size_bytes * 200 // sample)


EXAMPLE_INBOX = (
    ("2026-11-18.txt", "flat-list", 0, dt.date(2026, 11, 18)),
    ("2026-11-19.txt", "blocks", 8, dt.date(2026, 11, 19)),
    ("2026-11-20.txt", "blocks-with-meta", 14, dt.date(2026, 11, 20)),
)


def write_example_inbox(directory: Path, papers_per_day: int = 12) -> list[Path]:
    """Three days of dumps, one layout each, overlapping as real days do (examples/inbox)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, layout, start, date in EXAMPLE_INBOX:
        write_dump(directory / name, layout, start, papers_per_day, dump_date=date)  # type: ignore[arg-type]
        written.append(directory / name)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sources.dumpgen", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="file to write (a directory with --example-inbox)")
    parser.add_argument("--example-inbox", action="store_true", help="write the example inbox into OUT")
    parser.add_argument("--layout", choices=LAYOUTS, default="blocks-with-meta")
    parser.add_argument("--start", type=int, default=0, help="index of the first paper")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--papers", type=int, default=50)
    size.add_argument("--size-mb", type=float, help="aim for a file of about this many MB")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20))
    args = parser.parse_args(argv)
    if args.example_inbox:
        for path in write_example_inbox(args.out):
            print(path)
        return
    count = papers_for_size(int(args.size_mb * 2**20), args.layout) if args.size_mb else args.papers
    size_written = write_dump(args.out, args.layout, args.start, count, dump_date=args.date)
    print(f"{args.out}: {count} papers, {size_written / 2**20:.1f} MiB, {args.layout}")


if __name__ == "__main__":
    main()
