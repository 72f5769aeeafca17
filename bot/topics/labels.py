"""Names for topics, as a person would write them: a noun phrase from the papers' own titles.

Candidates are the phrases of one to four words that occur in a group's titles, as written
("Retrieval-Augmented Generation", "Gaussian Splatting"), that neither begin nor end with a
stop word, a filler verb or adjective, or a word every abstract uses ("approach", "revisits",
"limitations", "features"), and hold at least one word specific enough to name a subject. A
phrase counts as used by a paper when its words occur in that order in the title or abstract
(compared in canonical form, so "LLMs" matches "LLM" and plural headings match singular text).
Its weight in a group is class-based TF-IDF (as in BERTopic): the share of the group's papers
that use it, times ``log(1 + A / f)``, where ``A`` is the average group size and ``f`` the
number of the day's papers that use it; longer phrases read better and get a small bonus. The
label is the best phrase, joined by the one that reaches most of the papers it missed when it
covers fewer than ``TARGET_COVERAGE`` of them, within ``MAX_WORDS`` words, in title case.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from bot.topics.text import BREAK, GENERIC_TERMS, STOP_WORDS, canonical, clean, is_generic

MAX_WORDS = 4
MAX_PHRASE = 4
TARGET_COVERAGE = 0.6
MIN_SHARE = 0.1  # of a group's papers a phrase must reach to name it (one odd title does not)
LONGER = 0.5  # weight bonus per extra word of a phrase
_CANDIDATES = 60
JOINER = " · "

# Words that make a title phrase but never begin or end a topic's name: verbs of the paper's
# own action, evaluative adjectives, and nouns of method that name no subject.
FILLER = frozenset(canonical(w) for w in """
    revisit revisiting revisits discuss discussing discusses limitation limitations step steps
    feature features approach approaches toward towards beyond rethinking rethink unlocking
    unlock unleashing boosting boost scaling make making made need needs matter matters
    efficient scalable unified robust general generic open simple fast faster better novel new
    adaptive dynamic interpretable diverse effective accurate reliable lightweight universal
    generalizable generalist large small high low deep good strong stronger free aware guided
    driven based enhanced improved efficiently via using use beyond case cases study studies
    empirical preliminary comprehensive systematic survey review lessons insight insights
    analysis evaluation benchmark benchmarking framework method methods technique techniques
    pipeline system systems toolkit library train trained trains
""".split())
# Words every abstract uses that still end a subject's name well ("Reinforcement Learning",
# "Diffusion Models", "Synthetic Data"); the phrase still needs a specific word besides.
ENDS = frozenset(canonical(w) for w in "learning model modeling data dataset algorithm".split())
# Small words a phrase may hold inside ("Chain of Thought", "Text to Speech"), never at an end.
INSIDE = frozenset("of and for to in on with from".split())

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_TITLE_BREAK = re.compile(r"[:;,.!?()\[\]{}\"|]|\s[-–—]\s")


@dataclass(frozen=True, slots=True)
class Phrase:
    key: tuple[str, ...]  # canonical content words, stop words left out
    text: str  # as a title wrote it


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    terms: tuple[str, ...]  # each phrase's key, space-joined: what a paper must hold to match it
    coverage: float


def title_phrases(title: str) -> set[Phrase]:
    """The candidate phrases of one title: runs of up to MAX_PHRASE content words within a clause,
    a small word allowed between two of them, ends neither small words nor filler."""
    found: set[Phrase] = set()
    for clause in _TITLE_BREAK.split(clean(title)):
        words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(clause)]
        parts = [[canonical(p) for p in w.replace("'", "-").split("-") if p and p.lower() not in STOP_WORDS]
                 for w, _, _ in words]
        for start in range(len(words)):
            if not _can_end(words[start][0], parts[start]):
                continue
            key: list[str] = []
            inside = 0
            for end in range(start, len(words)):
                word, _, stop = words[end]
                if word.lower() in STOP_WORDS:
                    if word.lower() not in INSIDE or inside or end == start:
                        break
                    inside += 1
                    continue
                key += parts[end]
                if len(key) > MAX_PHRASE:
                    break
                if _can_end(word, parts[end]) and not _participle(word) and key \
                        and not all(k in GENERIC_TERMS for k in key) and (end > start or _noun_alone(word)):
                    found.add(Phrase(tuple(key), clause[words[start][1]:stop]))
    return found


def _can_end(word: str, parts: list[str]) -> bool:
    """A word that may begin or end a name: a content word, not filler, not a number."""
    if word.lower() in STOP_WORDS or not parts or not word[0].isalpha():
        return False
    return not any(p in FILLER or (p in GENERIC_TERMS and p not in ENDS) for p in (parts[0], parts[-1]))


def _participle(word: str) -> bool:
    """"Fine-Tuned", "Self-Supervised": an adjective, which leaves a name unfinished."""
    last = word.rsplit("-", 1)[-1].lower()
    return len(last) > 4 and last.endswith("ed")


_ADJECTIVE = ("al", "ive", "ous", "ic", "ful", "less", "able", "ible", "ary")


def _acronym(word: str) -> bool:
    return word.isupper() or word[:-1].isupper()


def _noun_alone(word: str) -> bool:
    """A one-word name must be a noun: not a compound modifier ("Black-Box", "Inference-Time")
    nor a word with an adjective's ending ("Temporal", "Interactive"); acronyms pass."""
    if _acronym(word):
        return True
    return "-" not in word and not word.lower().endswith(_ADJECTIVE)


def grams(words: Sequence[str]) -> set[tuple[str, ...]]:
    """Every run of up to MAX_PHRASE canonical words of a text (not across a clause break)."""
    out: set[tuple[str, ...]] = set()
    run: list[str] = []
    for word in (*words, BREAK):
        if word == BREAK:
            for i in range(len(run)):
                for n in range(1, MAX_PHRASE + 1):
                    if i + n <= len(run):
                        out.add(tuple(run[i:i + n]))
            run = []
        else:
            run.append(word)
    return out


def name_groups(titles: Sequence[Sequence[str]], used: Sequence[Sequence[set[tuple[str, ...]]]],
                corpus: Sequence[set[tuple[str, ...]]], taken: AbstractSet[str] = frozenset()) -> list[Label]:
    """A label for each group: ``titles[g]`` are its papers' titles, ``used[g]`` their grams;
    ``corpus`` is the grams of every paper of the day (how common a phrase is). No two labels
    begin with the same phrase, nor with one of ``taken`` (the labels already in use), and no
    label's further phrase is another's first ("Language Models" and "LLMs · Language Models"
    read as one subject twice): the first phrases are chosen for every group, then the rest."""
    candidates = [_candidates(group) for group in titles]
    everywhere: Counter[tuple[str, ...]] = Counter()
    keys = {key for group in candidates for key in group}
    for paper in corpus:
        everywhere.update(keys & paper)
    average = sum(len(g) for g in used) / max(1, len(used))
    leading = {canonical_text(text) for text in taken}
    scored = [_scored(found, papers, everywhere, average) for found, papers in zip(candidates, used, strict=True)]
    firsts: list[tuple[str, ...] | None] = []
    for group in scored:
        first = _first(group, leading)
        if first is not None:
            leading.add(" ".join(first))
        firsts.append(first)
    return [_extend(first, group, leading) for first, group in zip(firsts, scored, strict=True)]


def canonical_text(text: str) -> str:
    """A label's first phrase as a key (to keep two labels from starting alike)."""
    first = text.split(JOINER)[0]
    return " ".join(canonical(w) for w in _WORD.findall(first.replace("-", " ")) if w.lower() not in STOP_WORDS)


def _candidates(titles: Sequence[str]) -> dict[tuple[str, ...], tuple[str, int]]:
    """Each phrase of the group's titles: its most frequent written form, and in how many titles."""
    forms: dict[tuple[str, ...], Counter[str]] = {}
    for title in titles:
        for phrase in title_phrases(title):
            forms.setdefault(phrase.key, Counter())[phrase.text] += 1
    return {key: (min(seen.items(), key=lambda kv: (-kv[1], kv[0]))[0], sum(seen.values()))
            for key, seen in forms.items()}


@dataclass(frozen=True, slots=True)
class _Scored:
    """A group's candidate phrases, best first, with their written forms, weights and the
    papers each reaches."""

    ranked: list[tuple[str, ...]]
    forms: dict[tuple[str, ...], str]
    titles: dict[tuple[str, ...], int]  # how many of the group's titles hold each
    weight: dict[tuple[str, ...], float]
    reach: dict[tuple[str, ...], set[int]]
    size: int


def _scored(found: dict[tuple[str, ...], tuple[str, int]], papers: Sequence[set[tuple[str, ...]]],
            everywhere: Counter[tuple[str, ...]], average: float) -> _Scored:
    size = max(1, len(papers))
    forms = {key: text for key, (text, _) in found.items()}
    reach = {key: {i for i, grams_ in enumerate(papers) if key in grams_} for key in forms}
    weight = {
        key: len(reach[key]) / size * math.log(1 + average / max(1, everywhere[key])) * (1 + LONGER * (len(key) - 1))
        for key in forms if len(reach[key]) >= max(2 if size >= 4 else 1, MIN_SHARE * size)
        and not is_generic(" ".join(key))
    }
    ranked = sorted(weight, key=lambda k: (-weight[k], k))[:_CANDIDATES]
    return _Scored(ranked, forms, {key: n for key, (_, n) in found.items()}, weight, reach, size)


def _first(scored: _Scored, leading: AbstractSet[str]) -> tuple[str, ...] | None:
    """The phrase a label begins with. A name of two words or more reads as a subject; a lone
    word leads only when no phrase will (or when it is an acronym, "LLMs", which names one by
    itself)."""
    ranked = scored.ranked
    if not ranked:
        return None
    phrases = [k for k in ranked if len(k) > 1 or (_acronym(scored.forms[k]) and scored.titles[k] >= 2)]
    return next((k for k in phrases + ranked if " ".join(k) not in leading), ranked[0])


def _extend(first: tuple[str, ...] | None, scored: _Scored, leading: AbstractSet[str]) -> Label:
    """The label: its first phrase, joined by the phrases that reach most of the papers it
    missed while it covers fewer than ``TARGET_COVERAGE`` of them (or is one word), within
    ``MAX_WORDS`` words; never another label's first phrase."""
    if first is None:
        return Label("", (), 0.0)
    forms, reach, weight = scored.forms, scored.reach, scored.weight
    chosen, covered = [first], set(reach[first])
    words = _words(forms[first])
    while len(covered) < TARGET_COVERAGE * scored.size or words < 2:
        best, best_gain = None, 0.0
        for key in scored.ranked:
            extra = _words(forms[key])
            overlap = set(key) & {w for c in chosen for w in c}
            if key in chosen or overlap or words + extra > MAX_WORDS or " ".join(key) in leading:
                continue
            gain = len(reach[key] - covered) + (0.5 if words < 2 else 0.0)
            score = math.sqrt(weight[key]) * gain
            if score > best_gain:
                best, best_gain = key, score
        if best is None:
            break
        chosen.append(best)
        covered |= reach[best]
        words += _words(forms[best])
    text = JOINER.join(title_case(forms[k]) for k in chosen)
    return Label(text, tuple(" ".join(k) for k in chosen), len(covered) / scored.size)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def title_case(text: str) -> str:
    """Each word capitalised, small words inside kept small, a word's own capitals kept ("LLMs",
    "3D", "iPhone" stay as written)."""
    out = []
    for n, word in enumerate(text.split(" ")):
        if n and word.lower() in INSIDE:
            out.append(word.lower())
        elif any(c.isupper() for c in word[1:]) or not word[:1].islower():
            out.append(word)
        else:
            out.append("-".join(part[:1].upper() + part[1:] for part in word.split("-")))
    return " ".join(out)
