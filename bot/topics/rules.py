"""Configured topics: phrases matched on word boundaries in title and abstract.

Matching runs on the canonical words of :mod:`bot.topics.text`, so it ignores case, plural
endings and hyphens: "reward model" matches "Reward Models" and "reward-model", and
"multi-agent" also matches "multiagent". A paper goes to the rule it matches best (a hit in
the title counts three, one in the abstract one); a tie goes to the rule listed first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import TopicDoc, TopicRule
from bot.topics.text import canonical, clean, phrase_tokens, surface_words

TITLE_WEIGHT = 3


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-") or "topic"


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: TopicRule
    include: tuple[tuple[str, ...], ...]
    exclude: tuple[tuple[str, ...], ...]


def _words(text: str) -> tuple[str, ...]:
    return tuple(canonical(w) for w in surface_words(clean(text)))


def _hits(words: tuple[str, ...], phrase: tuple[str, ...]) -> int:
    size = len(phrase)
    count = sum(1 for i in range(len(words) - size + 1) if words[i : i + size] == phrase)
    if size > 1:  # "multi-agent" written as one word
        joined = "".join(phrase)
        count += sum(1 for w in words if w == joined or w == joined + "s")
    return count


class Matcher:
    """Assigns papers to configured topics; built once per grouping."""

    def __init__(self, rules: Sequence[TopicRule]) -> None:
        self._rules = [
            _Compiled(
                rule,
                tuple(p for p in map(phrase_tokens, rule.include) if p),
                tuple(p for p in map(phrase_tokens, rule.exclude) if p),
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
