"""Configured topics: phrases matched on word boundaries in title and abstract.

Matching runs on the canonical words of :mod:`bot.topics.text`, so it ignores case, plural
endings and hyphens: "reward model" matches "Reward Models" and "reward-model", and
"multi-agent" also matches "multiagent". A paper goes to the rule it matches best (a hit in
the title counts three, one in the abstract one); a tie goes to the rule listed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import TopicDoc, TopicRule
from bot.topics.text import canonical, clean, phrase_tokens, surface_words

TITLE_WEIGHT = 3


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    joined: str | None  # "multi-agent" written as one word, for phrases of several words

    @classmethod
    def of(cls, text: str) -> _Phrase:
        words = phrase_tokens(text)
        return cls(words, canonical("".join(surface_words(text))) if len(words) > 1 else None)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: TopicRule
    include: tuple[_Phrase, ...]
    exclude: tuple[_Phrase, ...]


def _words(text: str) -> tuple[str, ...]:
    return tuple(canonical(w) for w in surface_words(clean(text)))


def _hits(words: tuple[str, ...], phrase: _Phrase) -> int:
    size = len(phrase.words)
    count = sum(1 for i in range(len(words) - size + 1) if words[i : i + size] == phrase.words)
    if phrase.joined:
        count += words.count(phrase.joined)
    return count


class Matcher:
    """Assigns papers to configured topics; built once per grouping."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self._rules = [
            _Compiled(
                rule,
                tuple(p for p in map(_Phrase.of, rule.include) if p.words),
                tuple(p for p in map(_Phrase.of, rule.exclude) if p.words),
            )
            for rule in rules
        ]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def match(self, doc: TopicDoc) -> TopicRule | None:
        title, abstract = _words(doc.title), _words(doc.abstract)
        best: TopicRule | None = None
        best_score = 0
        for compiled in self._rules:
            if any(_hits(title, p) or _hits(abstract, p) for p in compiled.exclude):
                continue
            score = sum(TITLE_WEIGHT * _hits(title, p) + _hits(abstract, p) for p in compiled.include)
            if score > best_score:
                best, best_score = compiled.rule, score
        return best
