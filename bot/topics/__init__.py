"""The topics stage: papers in, labelled topic groups out, with no I/O.

Configured topics (``[[topics]]`` in the config) claim the papers they match; the rest are
grouped by :mod:`bot.topics.discover`, labelled by :mod:`bot.topics.labels` and named by
:mod:`bot.topics.continuity`, so a subject keeps its slug and label from one day to the next.
The same papers (in any order) and the same known topics always give the same groups.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np

from bot.identity import slugify
from bot.models import Grouping, KnownTopic, TopicDoc, TopicGroup, TopicRule
from bot.topics.continuity import new_slug, pair
from bot.topics.discover import Options, discover, thread_limit
from bot.topics.labels import Label, choose, weights
from bot.topics.rules import Matcher
from bot.topics.text import Tokens, content_tokens, display_forms, term_text

__all__ = ["OTHER_SLUG", "Options", "group_papers", "label_text", "slugify"]

OTHER_SLUG = "other"
OTHER_LABEL = "Other"


def group_papers(
    docs: Iterable[TopicDoc],
    *,
    rules: Sequence[TopicRule] = (),
    known: Sequence[KnownTopic] = (),
    options: Options | None = None,
) -> Grouping:
    """Group papers into configured topics, discovered topics and "Other"; every paper once."""
    started = time.perf_counter()
    papers = sorted(docs, key=lambda d: d.id)
    ids = [d.id for d in papers]
    if len(set(ids)) != len(ids):
        raise ValueError("paper ids must be unique")
    matcher = Matcher(rules)
    claimed: dict[str, list[TopicDoc]] = {rule.slug: [] for rule in rules}
    rest: list[TopicDoc] = []
    for doc in papers:
        rule = matcher.match(doc) if matcher else None
        (claimed[rule.slug] if rule else rest).append(doc)

    groups = [
        TopicGroup(rule.slug, rule.name, "configured", _ordered(claimed[rule.slug]))
        for rule in rules
        if claimed[rule.slug]
    ]
    reserved = {rule.slug for rule in rules} | {OTHER_SLUG}
    discovered, other = _discovered(rest, known, reserved, options or Options())
    groups += discovered
    if other:
        groups.append(TopicGroup(OTHER_SLUG, OTHER_LABEL, "other", _ordered(other)))
    return Grouping(tuple(groups), time.perf_counter() - started)


def _discovered(
    papers: list[TopicDoc], known: Sequence[KnownTopic], reserved: set[str], options: Options
) -> tuple[list[TopicGroup], list[TopicDoc]]:
    tokens = [tokens_of(d) for d in papers]
    with thread_limit(options):
        numbers = discover(tokens, options)
    members = [[int(i) for i in np.flatnonzero(numbers == g)] for g in range(int(numbers.max(initial=-1)) + 1)]
    phrases = [t.phrases() for t in tokens]
    labels = _labels(members, phrases)
    keep = [g for g, label in enumerate(labels) if label.terms and members[g]]
    forms = display_forms(tokens, {w for g in keep for t in labels[g].terms for w in t.split()})
    partners = pair([labels[g].profile for g in keep], [k for k in known if k.kind == "discovered"])
    taken = reserved | {k.slug for k in known}
    shown = {partner.label for partner in partners if partner is not None}
    groups = []
    for g, partner in zip(keep, partners, strict=True):
        label = labels[g]
        if partner is not None:
            slug, text, is_new = partner.slug, partner.label, False
        else:
            slug, is_new = new_slug(label_text(label.terms[:2], forms), taken), True
            text = label_text(label.terms, forms)
            if text in shown:  # a continued topic already carries these words
                text = f"{text} ({slug})"
        taken.add(slug)
        shown.add(text)
        chosen = [papers[i] for i in members[g]]
        groups.append(TopicGroup(slug, text, "discovered", _ordered(chosen), label.terms,
                                 label.profile, is_new))
    placed = {i for g in keep for i in members[g]}
    other = [paper for i, paper in enumerate(papers) if i not in placed]
    groups.sort(key=lambda group: -len(group.ids))
    return groups, other


def _labels(members: list[list[int]], phrases: list[set[str]]) -> list[Label]:
    group_phrases = [[phrases[i] for i in m] for m in members]
    labels: list[Label] = []
    leading: set[str] = set()
    for papers, weight in zip(group_phrases, weights(group_phrases), strict=True):
        label = choose(papers, weight, leading)
        if label.terms:
            leading.add(label.terms[0])
        labels.append(label)
    return labels


def _rehome(members: list[list[int]], labels: list[Label], phrases: list[set[str]]) -> list[list[int]]:
    """Move a paper its section's heading does not mention to a section whose heading it uses."""
    moved: list[list[int]] = [[] for _ in members]
    for g, papers in enumerate(members):
        for i in papers:
            if any(term in phrases[i] for term in labels[g].terms):
                moved[g].append(i)
                continue
            fits = [
                (sum(labels[h].profile.get(t, 0.0) for t in phrases[i]), -h)
                for h in range(len(members))
                if h != g and any(term in phrases[i] for term in labels[h].terms)
            ]
            moved[-max(fits)[1] if fits else g].append(i)
    return [sorted(m) for m in moved]


def label_text(terms: Sequence[str], forms: dict[str, str]) -> str:
    shown = [term_text(term, forms) for term in terms]
    text = " · ".join(shown)
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def _ordered(papers: Sequence[TopicDoc]) -> tuple[str, ...]:
    """Most upvoted first, then most discussed, then most starred code, then by rank in the
    dump; a paper that lacks a count comes after those that have it."""
    def key(doc: TopicDoc) -> tuple[int, int, int, int, str]:
        return (-(doc.upvotes if doc.upvotes is not None else -1),
                -(doc.comments if doc.comments is not None else -1),
                -(doc.stars if doc.stars is not None else -1),
                doc.rank if doc.rank is not None else 1 << 30, doc.id)

    return tuple(doc.id for doc in sorted(papers, key=key))


def tokens_of(doc: TopicDoc) -> Tokens:
    """The words grouping and labels see: the title, then the abstract."""
    return content_tokens(f"{doc.title}.\n{doc.abstract}")
