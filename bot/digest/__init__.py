"""The digest stage: what goes into an edition, and in which order (pure, no I/O).

New papers come in the topic order of the grouping (configured topics, then discovered ones by
size, then Other), each topic's papers by upvotes then rank. Climbing papers, seen in an earlier
edition's window and risen by at least the configured number of upvotes since, follow by rise.
A subscriber's copy is the edition narrowed to their preferences (:func:`for_subscriber`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from bot.models import (
    Climber,
    Edition,
    EditionItem,
    EditionPaper,
    Grouping,
    Preferences,
    Section,
)


def plan(grouping: Grouping, climbers: Sequence[Climber], min_rise: int) -> list[EditionItem]:
    items: list[EditionItem] = []
    for group in grouping.groups:
        for key in group.ids:
            items.append(EditionItem(key, "new", len(items), group.slug, group.label))
    risen = sorted((c for c in climbers if c.rise >= min_rise), key=lambda c: (-c.rise, -c.upvotes, c.key))
    items += [EditionItem(c.key, "climbing", len(items) + i, rise=c.rise) for i, c in enumerate(risen)]
    return items


@lru_cache(maxsize=1024)
def _keywords(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive matching of any of ``words`` ("RL" must not match "URL")."""
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)


def _wanted(paper: EditionPaper, include: re.Pattern[str] | None, exclude: re.Pattern[str] | None) -> bool:
    text = f"{paper.title}\n{paper.abstract}"
    return (include is None or include.search(text) is not None) and (exclude is None or not exclude.search(text))


def for_subscriber(edition: Edition, preferences: Preferences) -> Edition | None:
    """The edition as one subscriber gets it: followed topics only (all when none), muted topics
    and papers with an excluded keyword removed, and with include keywords only the papers that
    mention one. None when nothing is left, so that nobody receives an empty digest."""
    if preferences.everything:
        return edition
    include, exclude = _keywords(preferences.include), _keywords(preferences.exclude)

    def topic_ok(slug: str | None) -> bool:
        if preferences.follow and slug not in preferences.follow:
            return False
        return slug not in preferences.mute

    sections = tuple(
        Section(s.slug, s.label, papers)
        for s in edition.sections if topic_ok(s.slug)
        for papers in [tuple(p for p in s.papers if _wanted(p, include, exclude))] if papers
    )
    climbing = tuple(p for p in edition.climbing if topic_ok(p.topic_slug) and _wanted(p, include, exclude))
    if not sections and not climbing:
        return None
    return replace(edition, sections=sections, climbing=climbing)
