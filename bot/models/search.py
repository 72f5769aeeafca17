"""What a search finds: papers, best first, with the matched words marked."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

START, STOP = "\x02", "\x03"
"""What marks a matched word in a hit's title and snippet: the shells make it bold or <mark>
after escaping the rest (a stray one in a paper's text could only mark a word)."""
_MARKS = re.compile(f"([{START}{STOP}])")


def pieces(text: str) -> list[str]:
    """A marked text cut at its marks, the marks kept as pieces of their own (for a shell to
    replace them, and escape the rest)."""
    return [piece for piece in _MARKS.split(text) if piece]


def unmarked(text: str) -> str:
    return _MARKS.sub("", text)


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    arxiv_id: str | None
    title: str
    """With each matched word between :data:`START` and :data:`STOP`."""
    snippet: str
    """The abstract's best passage, marked the same way."""
    authors: tuple[str, ...]
    organization: str | None
    first_seen: dt.datetime
    edition: dt.date | None
    """The edition the paper was new in (None: not in an edition yet)."""
    score: float


@dataclass(frozen=True, slots=True)
class Found:
    hits: tuple[Hit, ...]
    total: int
    exact: bool = True
    """False when more papers match than were counted (``total`` is then the bound: "1,000+")."""
