"""A small made-up corpus of clearly separate subjects, for topic tests that must run anywhere.

Each subject has its own vocabulary; every paper draws a few of its words and some generic
research prose, so papers of one subject share terms without being copies of each other.
"""

from __future__ import annotations

import random

from bot.models import TopicDoc

SUBJECTS = {
    "robots": ["robot grasping", "manipulation policy", "gripper", "tactile sensing", "pick and place",
               "dexterous hand", "robot arm", "sim-to-real transfer", "grasp planning", "end effector"],
    "speech": ["speech recognition", "acoustic model", "spoken language", "speaker diarization",
               "phoneme", "ASR", "audio encoder", "word error rate", "voice activity", "prosody"],
    "proteins": ["protein folding", "amino acid", "protein structure", "molecular dynamics", "enzyme",
                 "binding affinity", "protein design", "residue contacts", "drug discovery", "antibody"],
    "privacy": ["differential privacy", "membership inference", "privacy budget", "federated clients",
                "data leakage", "secure aggregation", "privacy attack", "anonymization", "noise calibration",
                "privacy guarantees"],
}
FILLER = [
    "We propose a novel framework that achieves state-of-the-art results.",
    "Extensive experiments demonstrate the effectiveness of our method.",
    "Our approach outperforms existing baselines on several benchmarks.",
    "Code is available at https://github.com/example/project.",
    "We study this problem and present a simple and effective solution.",
]


def corpus(per_subject: int = 24, seed: int = 7, subjects: tuple[str, ...] | None = None) -> list[tuple[str, TopicDoc]]:
    """(subject, paper) pairs, ids like ``robots-003``."""
    rng = random.Random(seed)
    out = []
    for subject in subjects or tuple(SUBJECTS):
        words = SUBJECTS[subject]
        for i in range(per_subject):
            picked = rng.sample(words, 4)
            title = f"{picked[0].capitalize()} with {picked[1]} for {picked[2]}"
            abstract = " ".join([
                f"This work studies {picked[0]} and {picked[1]}.",
                rng.choice(FILLER),
                f"We combine {picked[2]} with {picked[3]} and {rng.choice(words)}.",
                rng.choice(FILLER),
            ])
            out.append((subject, TopicDoc(f"{subject}-{i:03d}", title, abstract, upvotes=rng.randint(0, 50), rank=i + 1)))
    return out
