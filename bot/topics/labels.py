"""Labels for groups of papers: their most distinctive terms, as the papers wrote them.

A term's weight in a group is class-based TF-IDF (as in BERTopic): the share of the group's
papers that use it, times ``log(1 + A / f)`` where ``A`` is the average number of papers per
group and ``f`` the number of papers using the term anywhere. Terms made only of generic words
never qualify. The label takes the best term, then adds the distinctive terms that reach the
group's papers the first term missed, so that nearly every paper in a section carries one of
the words in its heading.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from bot.topics.text import is_generic

MAX_TERMS = 4
MAX_WORDS = 6
LONGER_PHRASE = 0.9
MIN_WORDS = 2
TARGET_COVERAGE = 0.9
PROFILE_TERMS = 30
_CANDIDATES = 40
PHRASE_BONUS = 1.2
COVERAGE_EXPONENT = 0.5
_POOL = 200


@dataclass(frozen=True, slots=True)
class Label:
    terms: tuple[str, ...]
    profile: dict[str, float]
    coverage: float


def weights(groups: Sequence[Sequence[set[str]]]) -> list[dict[str, float]]:
    """c-TF-IDF weight of every term in every group; a group is its papers' term sets."""
    frequency: Counter[str] = Counter()
    per_group: list[Counter[str]] = []
    for papers in groups:
        counts: Counter[str] = Counter()
        for terms in papers:
            counts.update(terms)
        per_group.append(counts)
        frequency.update(counts)
    average = sum(len(p) for p in groups) / max(1, len(groups))
    out = []
    for papers, counts in zip(groups, per_group, strict=True):
        size = max(1, len(papers))
        out.append({
            term: (n / size) * math.log(1 + average / frequency[term])
            for term, n in counts.items()
            if n >= 2 or size < 4
        })
    return out


def _fragment(term: str, pool: Sequence[str], weight: dict[str, float]) -> bool:
    """True when a longer phrase holding this term is used by nearly every paper that uses it.

    "large language" is then shown as "large language models", and "speech" as "speech
    recognition" when the papers never say one without the other.
    """
    own = weight[term]
    return any(
        other != term and weight[other] >= LONGER_PHRASE * own and not is_generic(other)
        and f" {term} " in f" {other} "
        for other in pool
        if other.count(" ") == term.count(" ") + 1
    )


def _readable(term: str, weight: dict[str, float]) -> float:
    """A phrase reads better than a lone word ("speech recognition" over "speech")."""
    return weight[term] * (PHRASE_BONUS if " " in term else 1.0)


def choose(papers: Sequence[set[str]], weight: dict[str, float], taken: AbstractSet[str] = frozenset()) -> Label:
    """The label of one group: up to MAX_TERMS terms, best first, covering as many papers as it can.

    ``taken`` holds terms that already lead another group's label; they can still appear, but
    not first, so that two sections never share a heading.
    """
    profile = dict(heapq.nsmallest(
        PROFILE_TERMS, ((t, w) for t, w in weight.items() if t.count(" ") < 2),
        key=lambda kv: (-kv[1], kv[0]),
    ))
    pool = heapq.nsmallest(_POOL, (t for t in weight if not is_generic(t)), key=lambda t: (-weight[t], t))
    ranked = sorted(
        (t for t in pool if not _fragment(t, pool, weight)),
        key=lambda t: (-_readable(t, weight), t),
    )[:_CANDIDATES]
    if not ranked:
        return Label((), profile, 0.0)
    reach = {t: {i for i, terms in enumerate(papers) if t in terms} for t in ranked}
    first = next((t for t in ranked if t not in taken), ranked[0])
    chosen = [first]
    covered = set(reach[first])
    while len(chosen) < MAX_TERMS:
        words = sum(len(t.split()) for t in chosen)
        if covered and len(covered) >= TARGET_COVERAGE * len(papers) and words >= MIN_WORDS:
            break
        used = {w for t in chosen for w in t.split()}
        best, best_score = None, 0.0
        for term in ranked:
            if term in chosen or used & set(term.split()) or words + len(term.split()) > MAX_WORDS:
                continue
            gain = len(reach[term] - covered)
            score = _readable(term, weight) ** COVERAGE_EXPONENT * (gain + (0.5 if words < MIN_WORDS else 0.0))
            if score > best_score:
                best, best_score = term, score
        if best is None:
            break
        chosen.append(best)
        covered |= reach[best]
    return Label(tuple(chosen), profile, len(covered) / max(1, len(papers)))
