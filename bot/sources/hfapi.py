"""The Daily Papers API's JSON: a list of objects whose ``paper`` holds the arXiv id, title,
summary, authors, publishedAt and upvotes; the top level holds when it reached Daily Papers and
sometimes copies of the paper's fields. A field is read from ``paper`` first, then from the top
level. The position in the list is the day's rank.

Beyond the paper, the API says where its code is (``githubRepo``, ``githubStars``), its project
page, organisation, comment count, who submitted it, its own summary and keywords
(``ai_summary``, ``ai_keywords``) and a thumbnail: kept as :class:`PaperLinks`. A field of the
wrong shape (a link that is not http(s), a count that is not one) is dropped with a warning; the
paper stays.
"""

from __future__ import annotations

import json
from typing import Any

from bot.errors import SourceError
from bot.identity import normalise_arxiv_id
from bot.models import Paper, PaperLinks
from bot.sources.feed import date_of, text_of


def _field(item: dict[str, Any], paper: dict[str, Any], name: str) -> Any:
    value = paper.get(name)
    return value if value not in (None, "", []) else item.get(name)


MAX_UPVOTES = 2**31 - 1  # what both databases' INTEGER holds; more is not a real count
MAX_URL = 500
MAX_TEXT = 2_000
MAX_KEYWORDS = 20


class _BadItem(ValueError):
    pass


def _authors(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _BadItem("authors is not a list")
    names = []
    for author in value:
        name = author.get("name") if isinstance(author, dict) else author
        if not isinstance(name, str):
            raise _BadItem(f"an author's name is not text ({type(name).__name__})")
        names.append(text_of(name))
    return tuple(n for n in names if n) or None


def _upvotes(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_UPVOTES:
        raise _BadItem(f"upvotes {str(value)[:20]!r} is not a count from 0 to {MAX_UPVOTES}")
    return value


def _url(value: Any, name: str, warnings: list[str]) -> str | None:
    """An http(s) link as given; anything else (javascript:, data:, spaces, a list) is dropped."""
    if value in (None, ""):
        return None
    if (isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= MAX_URL
            and value.isprintable() and not any(c.isspace() for c in value) and "<" not in value
            and '"' not in value):
        return value
    warnings.append(f"{name} {str(value)[:60]!r} is not an http(s) link; dropped")
    return None


def _count(value: Any, name: str, warnings: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_UPVOTES:
        return value
    warnings.append(f"{name} {str(value)[:20]!r} is not a count; dropped")
    return None


def _name(value: Any) -> str | None:
    """A person's or organisation's name, given as text or as an object with fullname/name."""
    if isinstance(value, dict):
        value = value.get("fullname") or value.get("name")
    return (text_of(value)[:200] or None) if isinstance(value, str) else None


def _links(item: dict[str, Any], paper: dict[str, Any], warnings: list[str]) -> PaperLinks | None:
    summary = _field(item, paper, "ai_summary")
    keywords = _field(item, paper, "ai_keywords")
    words = (tuple(dict.fromkeys(text_of(k)[:80] for k in keywords[:MAX_KEYWORDS]
                                 if isinstance(k, str) and text_of(k))) or None) if isinstance(keywords, list) else None
    links = PaperLinks(
        github_repo=_url(_field(item, paper, "githubRepo"), "githubRepo", warnings),
        github_stars=_count(_field(item, paper, "githubStars"), "githubStars", warnings),
        project_page=_url(_field(item, paper, "projectPage"), "projectPage", warnings),
        comments=_count(_field(item, paper, "numComments"), "numComments", warnings),
        submitted_by=_name(_field(item, paper, "submittedBy") or item.get("submittedOnDailyBy")),
        ai_summary=text_of(summary)[:MAX_TEXT] or None if isinstance(summary, str) else None,
        ai_keywords=words,
        thumbnail=_url(_field(item, paper, "thumbnail"), "thumbnail", warnings),
    )
    return None if links == PaperLinks() else links


def parse_hf_api(data: bytes, source: str) -> tuple[list[Paper], list[str]]:
    """The papers of one Daily Papers API answer, ranked by position; bad items are warnings."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(source, f"is not JSON ({str(exc).splitlines()[0][:100]})") from None
    except RecursionError:
        raise SourceError(source, "is JSON nested too deeply to be a Daily Papers answer") from None
    if isinstance(document, dict) and isinstance(document.get("papers") or document.get("items"), list):
        document = document.get("papers") or document.get("items")
    if not isinstance(document, list):
        raise SourceError(source, "expected a JSON list of Daily Papers objects")
    papers: list[Paper] = []
    warnings: list[str] = []
    for rank, item in enumerate(document, 1):
        if not isinstance(item, dict):
            warnings.append(f"item {rank}: not an object; skipped")
            continue
        nested = item.get("paper")
        paper: dict[str, Any] = nested if isinstance(nested, dict) else {}
        title = text_of(_field(item, paper, "title") if isinstance(_field(item, paper, "title"), str) else "")
        if not title:
            warnings.append(f"item {rank}: no title; skipped")
            continue
        raw_id = _field(item, paper, "id")
        summary = _field(item, paper, "summary")
        published = _field(item, paper, "publishedAt")
        try:
            authors, upvotes = _authors(_field(item, paper, "authors")), _upvotes(_field(item, paper, "upvotes"))
        except _BadItem as exc:
            warnings.append(f"item {rank} ({title[:60]!r}): {exc}; skipped")
            continue
        dropped: list[str] = []
        links = _links(item, paper, dropped)
        warnings.extend(f"item {rank} ({title[:60]!r}): {problem}" for problem in dropped)
        papers.append(Paper(
            title=title, abstract=text_of(summary) if isinstance(summary, str) else "", rank=rank,
            arxiv_id=normalise_arxiv_id(raw_id) if isinstance(raw_id, str) else None, authors=authors,
            published=date_of(published) if isinstance(published, str) else None, upvotes=upvotes,
            organization=_name(_field(item, paper, "organization")), links=links,
        ))
    if not papers:
        raise SourceError(source, "has no papers")
    return papers, warnings
