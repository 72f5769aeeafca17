"""Per-reader ranking: a TF-IDF profile of the papers a reader liked against those they did not,
scored against an edition's papers (pure, no I/O, no model to download).

The profile is built when the reader's verdicts change (:func:`profile_of`) and stored with
them, so that an edition's send only scores: the edition's papers are indexed once
(:class:`EditionIndex`), and a reader's scores are one matrix product over the few hundred terms
of their profile, whatever the list's size.

The stop words are a short list of English function words written here rather than
scikit-learn's: the sender imports no scikit-learn (it stays in the process that groups), and
the IDF of the edition weighs down the rest of the common words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import numpy as np
import snowballstemmer

from bot.models import Edition, EditionPaper
from bot.models.readers import Profile, Verdict

PROFILE_TERMS = 300
"""The terms a profile keeps (by weight): enough for a few dozen papers' subjects."""
LIKED_KEPT = 20
"""The liked papers a profile remembers by name, to say why a paper was picked."""
LIKED_TERMS = 25
STOP_WORDS = frozenset("""
a about above across after again against all almost along also although am among an and another any are
around as at be because been before being below between both but by can cannot could did do does doing
done down during each either else enough etc even ever every few for from further get gets given had has
have having he her here hers him his how however if in into is it its itself just least less many may
me might more most much must my neither no nor not now of off often on once one only onto or other our
ours out over own per perhaps rather same several she should show shows shown since so some such than
that the their theirs them themselves then there these they this those though through thus to too two
under until up upon us use used uses using very via was we well were what when where whether which while
who whom whose why will with within without would yet you your paper papers propose proposes proposed
present presents approach approaches method methods new novel result results work study based
et al first second three four five
""".split())
_WORD = re.compile(r"[^\W\d_][\w-]*[^\W_]|[^\W\d_]")


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Snowball's English stem ("models", "modelling" and "model" are one term)."""
    return str(_STEMMER.stemWord(word))


def terms(text: str) -> Counter[str]:
    """The content words of ``text`` with their counts: lower case, stemmed, no stop words."""
    return Counter(_stem(w) for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in STOP_WORDS)


def _unit(counts: Counter[str], idf: dict[str, float] | None = None) -> dict[str, float]:
    """Log-scaled counts (times ``idf`` when given) with norm 1."""
    weights = {t: (1.0 + math.log(n)) * (idf.get(t, 1.0) if idf is not None else 1.0) for t, n in counts.items()}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {t: w / norm for t, w in weights.items()}


def paper_text(title: str, abstract: str) -> str:
    """What the profile reads of a paper: the title (twice: it is the paper's own summary) and abstract."""
    return f"{title}\n{title}\n{abstract}"


def profile_of(verdicts: Sequence[Verdict]) -> Profile:
    """The reader's profile from their verdicts (newest first): the sum of the liked papers' term
    vectors less the disliked ones', cut to its :data:`PROFILE_TERMS` strongest terms."""
    total: dict[str, float] = {}
    liked: list[tuple[str, str, tuple[str, ...]]] = []
    for verdict in verdicts:
        vector = _unit(terms(verdict.text))
        for term, weight in vector.items():
            total[term] = total.get(term, 0.0) + verdict.sign * weight
        if verdict.sign > 0 and len(liked) < LIKED_KEPT:
            strongest = sorted(vector, key=lambda t: (-vector[t], t))[:LIKED_TERMS]
            liked.append((verdict.key, verdict.title, tuple(strongest)))
    kept = sorted(((t, w) for t, w in total.items() if abs(w) > 1e-9), key=lambda tw: (-abs(tw[1]), tw[0]))
    kept = kept[:PROFILE_TERMS]
    norm = math.sqrt(sum(w * w for _, w in kept)) or 1.0
    return Profile(tuple((t, round(w / norm, 5)) for t, w in kept), tuple(liked))


@dataclass(frozen=True, slots=True, eq=False)
class EditionIndex:
    """An edition's papers as TF-IDF vectors (IDF over the edition), in one dense matrix (terms
    by papers; a hundred papers hold a few thousand terms), so that a reader's scores are one
    product over the rows of their profile's terms."""

    keys: tuple[str, ...]
    vocabulary: dict[str, int]
    matrix: np.ndarray[Any, np.dtype[np.float32]]

    @classmethod
    def of(cls, papers: Iterable[EditionPaper]) -> EditionIndex:
        unique = list({p.key: p for p in papers}.values())
        counts = [terms(paper_text(p.title, p.abstract)) for p in unique]
        df = Counter(t for c in counts for t in c)
        n = len(unique)
        idf = {t: math.log((1 + n) / (1 + d)) + 1.0 for t, d in df.items()}
        vocabulary = {t: i for i, t in enumerate(sorted(df))}
        matrix = np.zeros((len(vocabulary), n), dtype=np.float32)
        for column, c in enumerate(counts):
            for term, weight in _unit(c, idf).items():
                matrix[vocabulary[term], column] = weight
        return cls(tuple(p.key for p in unique), vocabulary, matrix)

    def scores(self, profile: Profile) -> dict[str, float]:
        """Each paper's cosine with the profile, -1 to 1."""
        vocabulary = self.vocabulary
        found = [(vocabulary[t], w) for t, w in profile.terms if t in vocabulary]
        if not found:
            return {}
        rows, weights = zip(*found, strict=True)
        return dict(zip(self.keys, (np.array(weights, dtype=np.float32) @ self.matrix[list(rows)]).tolist(),
                        strict=True))

    def matching(self, search: str) -> set[str]:
        """The papers that hold every content word of ``search`` (stemmed, as the profile reads)."""
        wanted = list(terms(search))
        if not wanted or any(t not in self.vocabulary for t in wanted):
            return set()
        held = cast(list[bool], (self.matrix[[self.vocabulary[t] for t in wanted]] > 0).all(axis=0).tolist())
        return {key for key, yes in zip(self.keys, held, strict=True) if yes}

    def closest_liked(self, key: str, profile: Profile) -> str | None:
        """The title of the liked paper that shares the most with paper ``key``, for "why"."""
        try:
            row = self.matrix[:, self.keys.index(key)]
        except ValueError:
            return None
        best, title = 0.0, None
        for liked_key, liked_title, liked_terms in profile.liked:
            if liked_key == key:
                continue
            columns = [self.vocabulary[t] for t in liked_terms if t in self.vocabulary]
            overlap = float(row[columns].sum()) if columns else 0.0
            if overlap > best:
                best, title = overlap, liked_title
        return title


def index_of(edition: Edition) -> EditionIndex:
    return EditionIndex.of([p for s in edition.sections for p in s.papers] + list(edition.climbing))
