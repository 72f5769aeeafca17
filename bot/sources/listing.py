"""JSON Lines listings of papers (``id``, ``title``, ``abstract``; other fields ignored).

This is the format of arXiv listings used to evaluate grouping, and a simple way to group any
list of papers. The file is untrusted: each problem is reported with its line number.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.errors import SourceError
from bot.models import TopicDoc
from bot.sources.text import read_lines

MAX_PAPERS = 200_000


def read_listing(path: Path) -> list[TopicDoc]:
    """All papers of a listing, or a SourceError naming the file, the line and the problem."""
    name = str(path)
    if not path.is_file():
        raise SourceError(name, "no such file" if not path.exists() else "not a regular file")
    docs: list[TopicDoc] = []
    seen: set[str] = set()
    try:
        for number, line in enumerate(read_lines(path), 1):
            if not line.strip():
                continue
            docs.append(_paper(line, f"{name}:{number}", seen))
            if len(docs) > MAX_PAPERS:
                raise SourceError(name, f"more than {MAX_PAPERS:,} papers")
    except OSError as exc:
        raise SourceError(name, f"cannot be read ({exc.strerror or exc})") from None
    if not docs:
        raise SourceError(name, "no papers in it")
    return docs


def _paper(line: str, where: str, seen: set[str]) -> TopicDoc:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SourceError(where, f"not valid JSON ({exc.msg})") from None
    if not isinstance(item, dict):
        raise SourceError(where, "expected a JSON object")
    paper_id = item.get("id")
    if isinstance(paper_id, bool) or not isinstance(paper_id, (str, int)) or not str(paper_id).strip():
        raise SourceError(where, "'id' must be a non-empty string or number")
    paper_id = str(paper_id).strip()
    if paper_id in seen:
        raise SourceError(where, f"id {paper_id!r} appears twice")
    seen.add(paper_id)
    title, abstract = item.get("title"), item.get("abstract", "")
    if not isinstance(title, str) or not title.strip():
        raise SourceError(where, "'title' must be a non-empty string")
    if abstract is None:
        abstract = ""
    if not isinstance(abstract, str):
        raise SourceError(where, "'abstract' must be a string")
    return TopicDoc(paper_id, " ".join(title.split()), " ".join(abstract.split()))
