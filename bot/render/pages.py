"""What the archive's and the web's pages know besides an edition: the topics that have a feed,
and the ones a reader can choose (active lately, or followed and gone quiet)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bot.models import Edition
from bot.render import clean


def site_context(editions: Sequence[Edition], base_url: str) -> dict[str, object]:
    """What every archive page knows: the editions and the topics that have a feed."""
    labels: dict[str, str] = {}
    for edition in editions:
        for section in edition.sections:
            labels.setdefault(section.slug, clean(section.label))
        for paper in edition.climbing:
            if paper.topic_slug:
                labels.setdefault(paper.topic_slug, clean(paper.topic_label))
    return {"base_url": base_url, "editions": editions, "topics": sorted(labels.items(), key=lambda kv: kv[1]),
            "active_topics": active_topics(editions)}


ACTIVE_DAYS = 28


def active_topics(editions: Sequence[Edition], days: int = ACTIVE_DAYS) -> list[tuple[str, str, int]]:
    """The topics a reader can choose: those with papers in the editions of the last ``days``
    days before the newest (editions newest first), as (slug, label, papers), most papers
    first. A topic that went quiet drops out of the forms; its feed stays."""
    if not editions:
        return []
    since = editions[0].date - dt.timedelta(days=days - 1)
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for edition in editions:
        if edition.date < since:
            break
        for section in edition.sections:
            if section.slug != "other":
                counts[section.slug] += len(section.papers)
                labels.setdefault(section.slug, clean(section.label))
    return sorted(((slug, labels[slug], n) for slug, n in counts.items()), key=lambda t: (-t[2], t[1]))


def topic_choices(context: dict[str, Any], chosen: Sequence[str]) -> list[tuple[str, str, int]]:
    """The topics a subscriber's page offers: the active ones, and any they follow or mute
    that went quiet (so that they can untick it), under its last label."""
    active: list[tuple[str, str, int]] = list(context.get("active_topics", []))
    labels = dict(context.get("topics", []))
    shown = {slug for slug, _, _ in active}
    quiet = [(slug, labels.get(slug, slug), 0) for slug in dict.fromkeys(chosen) if slug not in shown]
    return active + quiet
