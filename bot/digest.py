"""The digest stage: what goes into an edition, and in which order (pure, no I/O).

New papers come in the topic order of the grouping (configured topics, then discovered ones by
size, then Other), each topic's papers by upvotes then rank. Climbing papers, seen in an earlier
edition's window and risen by at least the configured number of upvotes since, follow by rise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import EditionItem, Grouping


@dataclass(frozen=True, slots=True)
class Climber:
    key: str
    upvotes: int
    rise: int


def plan(grouping: Grouping, climbers: Sequence[Climber], min_rise: int) -> list[EditionItem]:
    items: list[EditionItem] = []
    for group in grouping.groups:
        for key in group.ids:
            items.append(EditionItem(key, "new", len(items), group.slug, group.label))
    risen = sorted((c for c in climbers if c.rise >= min_rise), key=lambda c: (-c.rise, -c.upvotes, c.key))
    items += [EditionItem(c.key, "climbing", len(items) + i, rise=c.rise) for i, c in enumerate(risen)]
    return items
