"""The topics stage: papers in, labelled topic groups out, with no I/O.

Configured topics (``[[topics]]`` in the config) claim the papers they match; the rest are
grouped by :mod:`bot.topics.discover`, labelled by :mod:`bot.topics.labels` and named by
:mod:`bot.topics.continuity`, so a subject keeps its slug and label from one day to the next.
The same papers (in any order) and the same known topics always give the same groups.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from bot.identity import slugify
from bot.models import Grouping, KnownTopic, TopicDoc, TopicGroup, TopicRule
from bot.topics.assign import Space, assign
from bot.topics.continuity import SPLIT, new_slug, pair, similarity
from bot.topics.discover import OTHER, Options, discover, thread_limit
from bot.topics.labels import JOINER, canonical_text, grams, name_groups
from bot.topics.rules import Matcher
from bot.topics.text import Tokens, content_tokens

__all__ = ["OTHER_SLUG", "Options", "group_papers", "slugify"]

OTHER_SLUG = "other"
OTHER_LABEL = "Other"
SMOOTH = 0.3
"""The day's own clustering settles where a paper goes: a cluster whose most common placement
is a known topic, for at least this share of its papers, joins that topic whole (its other
papers fit no topic or a neighbouring one). On the evaluation listings this keeps the second
day's grouping as good as the first's (benchmarks/topics.py --continuity)."""
NEW_TOPIC_SHARE = 0.04
"""A new group with this share of the day's papers (and ``min_size``) is a topic at once."""
SPLIT_SHARE = 0.1
"""A known topic holding more than ``Options.max_share`` of the day's papers splits when the
day's clustering sets apart at least this share of the day's papers in it as a distinct subject
(:func:`_split_off`): the part becomes a new topic, and the topic's readers follow both."""


def group_papers(
    docs: Iterable[TopicDoc],
    *,
    rules: Sequence[TopicRule] = (),
    known: Sequence[KnownTopic] = (),
    options: Options | None = None,
    history: Sequence[TopicDoc] = (),
    pins: Mapping[str, str] | None = None,
) -> Grouping:
    """Group papers into configured topics, discovered topics and "Other"; every paper once.
    ``history`` is earlier papers (the store's recent ones): only the term space is fitted on
    them, with today's. ``pins`` are labels an operator set on discovered topics (by slug):
    they win over any found."""
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
    discovered, other, candidates = _discovered(rest, known, reserved, options or Options(), history)
    if pins:
        discovered = [replace(g, label=pins[g.slug]) if g.slug in pins else g for g in discovered]
        candidates = [replace(g, label=pins[g.slug]) if g.slug in pins else g for g in candidates]
    groups += discovered
    if other:
        groups.append(TopicGroup(OTHER_SLUG, OTHER_LABEL, "other", _ordered(other)))
    return Grouping(tuple(groups), time.perf_counter() - started, tuple(candidates))


def _discovered(
    papers: list[TopicDoc], known: Sequence[KnownTopic], reserved: set[str], options: Options,
    history: Sequence[TopicDoc],
) -> tuple[list[TopicGroup], list[TopicDoc], list[TopicGroup]]:
    """Papers into the topics that exist first (:mod:`bot.topics.assign`), then the rest into new
    groups, which continue a known topic that got no paper today when their profiles match.
    A candidate (a new group too small to be a topic) that gets papers again becomes a topic; a
    new group becomes one at once when it holds ``NEW_TOPIC_SHARE`` of the day's papers, and
    is a candidate otherwise. A known topic grown too broad splits (:func:`_split_off`)."""
    tokens = [tokens_of(d) for d in papers]
    past = len(history)
    space = Space([*(tokens_of(d) for d in sorted(history, key=lambda d: d.id)), *tokens], options.seed)
    existing = [k for k in known if k.kind in ("discovered", "candidate") and k.profile]
    joined, rest, today = _place(space.points[past:], space.place([k.profile for k in existing]), tokens, options)
    least = max(options.min_size, round(SPLIT_SHARE * len(papers)))
    parts = {t: part for t, members in joined.items() if len(members) > options.max_share * len(papers)
             if (part := _split_off(members, today, space, past, least))}
    big = max(options.min_size, round(NEW_TOPIC_SHARE * len(papers)))

    with thread_limit(options):
        numbers = discover([tokens[i] for i in rest], options)
    members = [[rest[int(i)] for i in np.flatnonzero(numbers == g)] for g in range(int(numbers.max(initial=-1)) + 1)]
    found = len(members)  # then the parts that split off known topics, named with the new groups
    parents = list(parts)
    members += parts.values()
    used = [grams(t.words) for t in tokens]
    labels = name_groups([[papers[i].title for i in m] for m in members], [[used[i] for i in m] for m in members],
                         used, taken={k.label for k in known})
    keep = [g for g, label in enumerate(labels) if label.terms and members[g]]
    profiles = {g: space.profile([past + i for i in members[g]]) for g in keep}
    idle = [k for t, k in enumerate(existing) if t not in joined] + [k for k in known if k.kind == "retired"]
    partners = pair([profiles[g] for g in keep if g < found], idle) + [None] * sum(g >= found for g in keep)
    taken = reserved | {k.slug for k in known}
    shown = {k.label for k in known}
    groups: list[TopicGroup] = []
    candidates: list[TopicGroup] = []
    for g, partner in zip(keep, partners, strict=True):
        label = labels[g]
        if partner is not None:
            slug, text, is_new = partner.slug, partner.label, False
        else:
            slug, text, is_new = new_slug(label.text.split(JOINER)[0], taken), label.text, True
            if text in shown:  # a known topic already carries these words
                text = f"{text} ({slug})"
        taken.add(slug)
        shown.add(text)
        parent = parents[g - found] if g >= found else None
        if parent is not None:
            joined[parent] = [i for i in joined[parent] if i not in set(members[g])]
        small = is_new and len(members[g]) < big and parent is None
        (candidates if small else groups).append(TopicGroup(
            slug, text, "candidate" if small else "discovered", _ordered([papers[i] for i in members[g]]),
            label.terms, profiles[g], is_new, None if parent is None else existing[parent].slug))
    groups += [
        TopicGroup(existing[t].slug, existing[t].label, "discovered", _ordered([papers[i] for i in members]),
                   label_terms(existing[t].label), space.profile([past + i for i in members]),
                   existing[t].kind == "candidate")
        for t, members in joined.items()
    ]
    placed = {paper for group in groups for paper in group.ids}
    other = [paper for paper in papers if paper.id not in placed]
    groups.sort(key=lambda group: (-len(group.ids), group.slug))
    return groups, other, candidates


def _place(points: np.ndarray, topics: np.ndarray, tokens: list[Tokens],
           options: Options) -> tuple[dict[int, list[int]], list[int], np.ndarray]:
    """The day's papers in the known topics (by index), the papers that fit none, and the day's
    own clustering (``OTHER`` throughout when no topic is known). Each paper goes to its nearest
    topic when close enough; then a day cluster that mostly agrees (``SMOOTH``) joins one whole."""
    places = assign(points, topics, options.assign)
    today = np.full(len(tokens), OTHER, dtype=int)
    if len(topics):
        with thread_limit(options):
            today = discover(tokens, options)
        for g in range(int(today.max(initial=-1)) + 1):
            cluster = [int(i) for i in np.flatnonzero(today == g)]
            top, votes = Counter(places[i] for i in cluster).most_common(1)[0]
            if top is not None and votes >= SMOOTH * len(cluster):
                for i in cluster:
                    places[i] = top
    joined: dict[int, list[int]] = {}
    rest: list[int] = []
    for i, place in enumerate(places):
        if place is None:
            rest.append(i)
        else:
            joined.setdefault(place, []).append(i)
    return joined, rest, today


def _split_off(members: list[int], today: np.ndarray, space: Space, past: int, least: int) -> list[int]:
    """The papers of a broad known topic that the day's own clustering sets apart as a subject of
    their own: its largest day cluster but one that holds ``least`` papers and whose profile is
    distinct from the rest of the topic's (below ``SPLIT``). Empty when the topic holds together."""
    clusters = Counter(int(today[i]) for i in members if today[i] >= 0).most_common()
    for cluster, size in clusters[1:]:
        if size < least:
            break
        part = [i for i in members if today[i] == cluster]
        rest = [past + i for i in members if today[i] != cluster]
        if similarity(space.profile([past + i for i in part]), space.profile(rest)) < SPLIT:
            return part
    return []


def label_terms(label: str) -> tuple[str, ...]:
    """A label's phrases as canonical terms (what a paper holds to match it)."""
    return tuple(key for key in (canonical_text(part) for part in label.split(JOINER)) if key)


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
