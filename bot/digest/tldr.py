"""A TL;DR for every paper, never invented: the source's own summary when it gave one, else the
abstract's key sentences, picked by paperboy over the day's TF-IDF.

Picking is extractive and local (no model to download, no key): each sentence of an abstract is
scored by the rarity across the day's papers of the words it uses (inverse document frequency,
so what every abstract says, "we propose a novel method", weighs little and what this paper
alone says weighs much), per word so that long sentences do not win by length, with a nudge for
the sentences that state what the paper does ("we introduce", "we show"). The best one, and the
next best while both fit in :data:`LIMIT` characters, are shown in the abstract's own order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

LIMIT = 200
"""Characters a TL;DR may take: four lines of a card on a phone."""

# A sentence ends at . ! or ? before a space and a capital, digit or opening mark, but not after
# the abbreviations abstracts use (e.g., i.e., et al., Fig., vs.) or a single capital (J. Smith).
_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)(?<!\bFig)(?<!\bEq)(?<!\bvs)(?<!\b[A-Z])"
                  r"([.!?])\s+(?=[A-Z0-9\"“(\[])")
_WORD = re.compile(r"[a-z][a-z0-9-]+")
_CUES = re.compile(r"\b(?:we (?:propose|introduce|present|show|find|demonstrate|release|develop)|this (?:paper|work)"
                   r"|our (?:method|model|approach|results)|outperform\w*|achiev\w+|state-of-the-art)\b")
_STOP = frozenset("""a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he
her here hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or
other our ours out over own same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you
your via using use used based paper work show propose approach method methods results""".split())


def sentences(text: str) -> list[str]:
    """An abstract's sentences, as written."""
    parts = _END.split(" ".join(text.split()))
    # split() keeps each end mark as its own item: join it back to its sentence
    joined = [parts[i] + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]
    return [s.strip() for s in joined if s.strip()]


def _words(sentence: str) -> list[str]:
    return [w for w in _WORD.findall(sentence.lower()) if w not in _STOP]


def key_sentences(abstracts: Sequence[str], limit: int = LIMIT) -> list[str | None]:
    """For each abstract, its key sentences (at most ``limit`` characters), scored against all of
    ``abstracts`` (the day's papers); None for an empty abstract."""
    split = [sentences(a) for a in abstracts]
    words = [[_words(s) for s in doc] for doc in split]
    df: Counter[str] = Counter()
    for doc in words:
        df.update({w for sentence in doc for w in sentence})
    n = len(abstracts) + 1
    idf = {w: math.log(n / (1 + count)) + 1 for w, count in df.items()}
    return [_pick(doc, doc_words, idf, limit) for doc, doc_words in zip(split, words, strict=True)]


def _pick(doc: list[str], doc_words: list[list[str]], idf: dict[str, float], limit: int) -> str | None:
    if not doc:
        return None
    if len(doc) == 1:
        return _fit(doc[0], limit)
    scores = []
    for i, (sentence, ws) in enumerate(zip(doc, doc_words, strict=True)):
        distinct = set(ws)
        score = sum(idf[w] for w in distinct) / math.sqrt(len(ws) + 4)
        if _CUES.search(sentence.lower()):
            score *= 1.3
        if i == 0 and not _CUES.search(sentence.lower()):
            score *= 0.85  # the opening sentence is most often the field's background
        scores.append((score, i))
    ranked = [i for _, i in sorted(scores, key=lambda si: (-si[0], si[1]))]
    chosen = [ranked[0]]
    second = next((i for i in ranked[1:] if doc[i] != doc[chosen[0]]), None)  # a sentence said twice counts once
    if second is not None and len(doc[chosen[0]]) + 1 + len(doc[second]) <= limit:
        chosen.append(second)
    return _fit(" ".join(doc[i] for i in sorted(chosen)), limit)


def _fit(text: str, limit: int) -> str:
    """``text`` cut at a word to ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-–—") + "…"
