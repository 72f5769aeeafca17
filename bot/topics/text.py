"""Words of titles and abstracts, normalised so that variants of one term count as one.

Both mechanisms (configured phrases and discovered groups) and the labels use the same
canonical tokens: lower case, hyphens and slashes split, plurals folded to the singular
("LLMs" and "LLM" are one term, as are "policies" and "policy"). The surface form a term was
written in is kept separately so that labels read as the papers wrote them ("GUI agents").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import snowballstemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_STEMMER = snowballstemmer.stemmer("english")

_URL = re.compile(
    r"(?:https?://|www\.)\S+?(?=[.,;:)\]]*(?:\s|$))|\b[\w.-]+\.(?:github\.io|com|org|net)(?:/\S*?)?"
    r"(?=[.,;:)\]]*(?:\s|$))",
    re.I,
)
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"]+")
BREAK = "|"
_SENTENCE = re.compile(r"[^.!?]*[.!?]?")
# A sentence that only says where code, data or a demo can be found says nothing about the topic.
_AVAILABILITY = re.compile(
    r"\b(?:code|codes|data|dataset|datasets|model|models|weights|checkpoints|implementation|demo|"
    r"project page|benchmark|toolkit|library|resources|materials)\b[^.!?]*?\b(?:available|released|"
    r"release|open[- ]sourced?|publicly|accessible|github|found at|hosted)\b",
    re.I,
)
_AVAILABILITY_HINTS = ("availab", "releas", "open", "public", "accessib", "github", "found at", "hosted")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

# Words every abstract uses, whatever its field. They never name a topic: they are dropped
# before grouping and a label is never made of them alone.
GENERIC = frozenset(
    """
    ability able abstract accuracy achieve achieved achieves achieving across address addressed
    addresses addressing advance advanced advances aim aims algorithm allow allows also analysis
    analyze approach art available based baseline benchmark best better can capability challenge
    challenging code competitive comprehensive conduct conducted consistently contribution
    critical crucial current data dataset demonstrate demonstrated demonstrates demonstrating
    design designed develop developed different effective effectively effectiveness efficiency
    efficient enable enables enabling enhance enhanced enhances enhancing et evaluate evaluated
    evaluation even existing experiment experimental extensive extensively finally first
    framework furthermore further gain general github goal high however important improve
    improved improvement improves improving including introduce introduced introduces issue key
    lack large learn learning leverage leverages leveraging limitation limited low making
    method methodology model modeling moreover multiple new notably novel often outperform
    outperformed outperforming outperforms overall paper particular particularly perform
    performance performing performs potential present presented presents previous prior problem
    promising propose proposed proposes providing provide provides publicly range real
    recent recently remain remains remarkable research respectively result robust scenario
    second set setting show showed showing shown shows significant significantly simple small
    solution specifically stage state still strong study substantial substantially superior
    task technique therefore thus toward towards typically use used using various via well
    wide widely within without work world yet
    apply applied applying certain common commonly complex consider considered considering
    diverse empirical empirically examine examined explore explored exploring given investigate
    investigated known main major obtain obtained possible primary require required requires
    several specific standard studied studies typical
    """.split()
)

STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | frozenset("et al ie eg vs".split())

# Words ending in "s" that are not plurals, or whose singular is not what the rule would give.
_SINGULAR_EXCEPTIONS = {
    "analyses": "analysis", "axes": "axis", "bias": "bias", "biases": "bias", "corpus": "corpus",
    "corpora": "corpus", "data": "data", "indices": "index", "lens": "lens", "matrices": "matrix",
    "news": "news", "series": "series", "species": "species", "status": "status", "vertices":
    "vertex", "hypotheses": "hypothesis", "theses": "thesis", "diagnoses": "diagnosis",
    "crises": "crisis", "criteria": "criterion", "phenomena": "phenomenon", "gas": "gas",
    "chaos": "chaos", "ethics": "ethics", "physics": "physics", "mathematics": "mathematics",
    "economics": "economics", "robotics": "robotics", "graphics": "graphics", "linguistics":
    "linguistics", "statistics": "statistics", "dynamics": "dynamics", "kinematics": "kinematics",
    "semantics": "semantics", "analytics": "analytics", "logistics": "logistics", "metrics":
    "metric", "genomics": "genomics", "proteomics": "proteomics", "optics": "optics", "electronics":
    "electronics", "mechanics": "mechanics", "atlas": "atlas", "canvas": "canvas", "alias": "alias",
    "thesaurus": "thesaurus", "consensus": "consensus", "focus": "focus", "campus": "campus",
    "virus": "virus", "radius": "radius", "apparatus": "apparatus", "census": "census",
    "plus": "plus", "minus": "minus", "versus": "versus", "bonus": "bonus", "nexus": "nexus",
}


@lru_cache(maxsize=200_000)
def singular(word: str) -> str:
    """The singular of a lower-case word by English spelling rules; acronyms ("llms") included."""
    if word in _SINGULAR_EXCEPTIONS:
        return _SINGULAR_EXCEPTIONS[word]
    if len(word) <= 3 or not word.endswith("s") or word[-2] in "su'" or word[-2].isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("is", "ous")):
        return word
    return word[:-1]


def clean(text: str) -> str:
    """Remove URLs and the sentences that only say where code or data can be found."""
    if "://" in text or "www." in text or ".com" in text or ".org" in text or ".io" in text or ".net" in text:
        text = _URL.sub(" ", text)
    lowered = text.lower()
    if not any(hint in lowered for hint in _AVAILABILITY_HINTS) or not _AVAILABILITY.search(text):
        return text
    kept = [s for s in _SENTENCE.findall(text) if s.strip() and not _AVAILABILITY.search(s)]
    return " ".join(s.strip() for s in kept)


def surface_words(text: str) -> list[str]:
    """The words as written (case kept), hyphens, slashes and apostrophes' tails split off."""
    return [w.split("'")[0] for w in _WORD.findall(text.replace("-", " ").replace("/", " "))]


@lru_cache(maxsize=200_000)
def canonical(word: str) -> str:
    """The form words are compared in: lower case, singular, then Snowball-stemmed, so that
    "robot", "robots" and "robotics" (or "LLM" and "LLMs") are one term."""
    return str(_STEMMER.stemWord(singular(word.lower())))


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """A configured phrase as canonical tokens, stop words kept (they matter inside a phrase)."""
    return tuple(canonical(w) for w in surface_words(phrase))


def is_generic(term: str) -> bool:
    """True when every word of a (canonical) term is generic: such a term names no topic."""
    return all(word in GENERIC_TERMS for word in term.split())


@dataclass(frozen=True, slots=True)
class Tokens:
    """One document's words (canonical, in order; BREAK between clauses) and how each was written."""

    words: tuple[str, ...]
    forms: tuple[str, ...]

    def terms(self, bigrams: bool = True) -> list[str]:
        """Specific unigrams and bigrams, the vocabulary of grouping and labels.

        Generic words stay in the sequence so that "reinforcement learning" or "reward model"
        form, but a term made only of generic words ("proposed method") is dropped.
        """
        words = self.words
        out = [w for w in words if w not in GENERIC_TERMS and w != BREAK]
        if bigrams:
            out += [
                f"{a} {b}" for a, b in pairwise(words)
                if a != b and BREAK not in (a, b)
                and (a not in GENERIC_TERMS or b not in GENERIC_TERMS)
            ]
        return out

    def phrases(self) -> set[str]:
        """Every term of :meth:`terms` plus trigrams, the candidates for a label."""
        words = self.words
        out = set(self.terms())
        out.update(
            f"{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False)
            if BREAK not in (a, b, c) and len({a, b, c}) == 3
            and not (a in GENERIC_TERMS and b in GENERIC_TERMS and c in GENERIC_TERMS)
        )
        return out


GENERIC_TERMS = frozenset(canonical(w) for w in GENERIC) | frozenset(canonical(w) for w in STOP_WORDS)


def content_tokens(text: str) -> Tokens:
    """Canonical words of a cleaned text, without stop words or numbers."""
    words: list[str] = []
    forms: list[str] = []
    text = _CLAUSE.sub(f" {BREAK} ", clean(text)).replace("-", " ").replace("/", " ")
    for form in _WORD_OR_BREAK.findall(text):
        word = _content(form)
        if word is None or (word == BREAK and (not words or words[-1] == BREAK)):
            continue
        words.append(word)
        forms.append(form)
    if words and words[-1] == BREAK:
        words.pop()
        forms.pop()
    return Tokens(tuple(words), tuple(forms))


_WORD_OR_BREAK = re.compile(r"[^\W_]+|\|")


@lru_cache(maxsize=200_000)
def _content(form: str) -> str | None:
    """The canonical word for a written one, or None for a stop word, a number or a letter."""
    if form == BREAK:
        return BREAK
    word = canonical(form)
    if len(word) < 2 or form.lower() in STOP_WORDS or not word[0].isalpha():
        return None
    return word


def display_forms(docs: Iterable[Tokens], wanted: set[str] | None = None) -> dict[str, str]:
    """How each canonical word is best shown: its most frequent written form.

    A capital that only starts a sentence or a title is not kept; an acronym's or a name's
    capitals are ("RLHF", "LoRA").
    """
    counts: dict[str, Counter[str]] = {}
    for doc in docs:
        for word, form in zip(doc.words, doc.forms, strict=True):
            if word == BREAK or (wanted is not None and word not in wanted):
                continue
            counts.setdefault(word, Counter())[form] += 1
    shown: dict[str, str] = {}
    for word, forms in counts.items():
        lowered: Counter[str] = Counter()
        for form, n in forms.items():
            keep_case = any(c.isupper() for c in form[1:])
            lowered[form if keep_case else form.lower()] += n
        shown[word] = min(lowered.items(), key=lambda item: (-item[1], item[0]))[0]
    return shown


def term_text(term: str, forms: dict[str, str]) -> str:
    return " ".join(forms.get(word, word) for word in term.split())


def contains(doc_terms: set[str], terms: Sequence[str]) -> bool:
    return any(term in doc_terms for term in terms)
