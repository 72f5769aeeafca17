"""Keeping a subject's name from day to day.

A discovered group is compared with every persisted topic by the cosine of their term profiles
(c-TF-IDF weights of their top terms). Groups and topics are paired one to one, best pairs first
(the Hungarian assignment), and a pair counts when its similarity reaches ``MATCH``: the group
then takes the topic's slug and label. A group with no partner gets a new slug made from its label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from bot.identity import slugify
from bot.models import KnownTopic
from bot.topics.assign import PROFILE_TERMS

MATCH = 0.3
SPLIT = MATCH
"""A part of a topic whose profile is this far from the rest's (no closer than a new group must
be to continue a topic) is a subject of its own: it splits off."""
MERGE = 0.6
"""Two shown topics whose profiles come this close have become one subject (distinct topics of
one day stay under 0.45 on the evaluation listings): the smaller merges into the larger."""


def similarity(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    dot = sum(weight * b[term] for term, weight in a.items() if term in b)
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def pair(profiles: Sequence[Mapping[str, float]], known: Sequence[KnownTopic]) -> list[KnownTopic | None]:
    """For each profile, the persisted topic it continues, or None."""
    out: list[KnownTopic | None] = [None] * len(profiles)
    if not profiles or not known:
        return out
    scores = np.array([[similarity(p, k.profile) for k in known] for p in profiles])
    rows, cols = linear_sum_assignment(-scores)
    for row, col in zip(rows, cols, strict=True):
        if scores[row, col] >= MATCH:
            out[row] = known[col]
    return out


def new_slug(label: str, taken: set[str]) -> str:
    base = slugify(label)
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def blend(old: Mapping[str, float], new: Mapping[str, float], keep: float = 0.5) -> dict[str, float]:
    """A topic's profile after another day: half what it was, half what today's group says."""
    def unit(profile: Mapping[str, float]) -> dict[str, float]:
        norm = math.sqrt(sum(w * w for w in profile.values())) or 1.0
        return {t: w / norm for t, w in profile.items()}

    a, b = unit(old), unit(new)
    merged = {t: keep * a.get(t, 0.0) + (1 - keep) * b.get(t, 0.0) for t in a.keys() | b.keys()}
    top = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:PROFILE_TERMS]
    return {t: round(w, 6) for t, w in top}


def merges(topics: Sequence[KnownTopic], papers: Mapping[str, int]) -> list[tuple[str, str]]:
    """(merged, into) pairs among ``topics``, closest first: each pair's smaller topic (fewer
    ``papers``; the later slug on a tie) goes into the larger, a topic in at most one pair a day."""
    scored = sorted(
        ((similarity(a.profile, b.profile), a, b) for i, a in enumerate(topics) for b in topics[i + 1:]),
        key=lambda t: (-t[0], t[1].slug, t[2].slug),
    )
    used: set[str] = set()
    out: list[tuple[str, str]] = []
    for score, a, b in scored:
        if score < MERGE:
            break
        if a.slug in used or b.slug in used:
            continue
        small, large = sorted((a, b), key=lambda k: (papers.get(k.slug, 0), k.slug == min(a.slug, b.slug)))
        out.append((small.slug, large.slug))
        used.update((a.slug, b.slug))
    return out
