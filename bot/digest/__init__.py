"""The digest stage: what goes into an edition, and in which order (pure, no I/O).

New papers come in the topic order of the grouping (configured topics, then discovered ones by
size, then Other), each topic's papers by upvotes then rank. Climbing papers, seen in an earlier
edition's window and risen by at least the configured number of upvotes since, follow by rise.
A subscriber's copy is the edition narrowed to their preferences (:func:`for_subscriber`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache

from bot.digest.ranking import EditionIndex, index_of
from bot.identity import without_accents
from bot.models import Climber, Edition, EditionItem, EditionPaper, Grouping, Periodic, Section
from bot.models.readers import Preferences


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
    if include is None and exclude is None:
        return True
    text = f"{paper.title}\n{paper.abstract}"
    return (include is None or include.search(text) is not None) and (exclude is None or not exclude.search(text))


GATHERED_PAPERS = 40
"""The papers a weekly or monthly copy holds at most: the period's best by upvotes."""
GATHERED_CLIMBING = 10


def gather(editions: Sequence[Edition], since: dt.date, skip: frozenset[dt.date] = frozenset()) -> Edition | None:
    """A weekly or monthly copy's edition: the papers of the daily editions from ``since`` (the
    last one's date is the copy's), less those of the dates in ``skip`` (what the reader got
    already, in copies of their own), each once with its latest counts, by topic; the climbing
    papers of the period, each once at its largest rise. :func:`best_of` cuts it to size once
    the reader's preferences have narrowed it."""
    days = [e for e in sorted(editions, key=lambda e: e.date) if since <= e.date and e.date not in skip]
    if not days:
        return None
    latest: dict[str, tuple[EditionPaper, str, str]] = {}
    for edition in days:
        for section in edition.sections:
            for paper in section.papers:
                latest[paper.key] = (paper, section.slug, section.label)
    order = sorted(latest.values(), key=lambda t: (-(t[0].upvotes if t[0].upvotes is not None else -1), t[0].key))
    grouped: dict[tuple[str, str], list[EditionPaper]] = {}
    for paper, slug, label in order:
        grouped.setdefault((slug, label), []).append(paper)
    sections = tuple(Section(slug, label, tuple(papers)) for (slug, label), papers
                     in sorted(grouped.items(), key=lambda kv: (kv[0][0] == "other", -len(kv[1]))))
    risen: dict[str, EditionPaper] = {}
    for edition in days:
        for paper in edition.climbing:
            if paper.key not in latest and (paper.key not in risen or (paper.rise or 0) > (risen[paper.key].rise or 0)):
                risen[paper.key] = paper
    climbing = tuple(sorted(risen.values(), key=lambda p: (-(p.rise or 0), p.key)))
    last = days[-1]
    return replace(last, sections=sections, climbing=climbing, since=since, note=None)


def best_of(edition: Edition, papers: int = GATHERED_PAPERS, climbing: int = GATHERED_CLIMBING) -> Edition:
    """A gathered copy cut to its ``papers`` most upvoted (the pinned section first, whole)."""
    ranked = sorted(((p.upvotes if p.upvotes is not None else -1, p.key) for s in edition.sections
                     if s.slug != PEOPLE_SLUG for p in s.papers), reverse=True)
    kept = {key for _, key in ranked[:papers]}
    sections = tuple(Section(s.slug, s.label, tuple(p for p in s.papers if s.slug == PEOPLE_SLUG or p.key in kept))
                     for s in edition.sections)
    return replace(edition, sections=tuple(s for s in sections if s.papers), climbing=edition.climbing[:climbing])


WEEKS = 12
"""The weeks the public weekly feed and archive hold."""
MONTHS = 12
"""The months the public monthly feed and archive hold."""


def weeks(editions: Sequence[Edition], count: int = WEEKS) -> list[Edition]:
    """The public weekly digest: for each of the ``count`` latest weeks (Monday to Sunday) that
    have editions, newest first, the best of its daily editions (:func:`gather`, :func:`best_of`)."""
    return _periods(editions, lambda d: d - dt.timedelta(days=d.weekday()), count)


def months(editions: Sequence[Edition], count: int = MONTHS) -> list[Edition]:
    """The public monthly digest: the best of each of the ``count`` latest calendar months."""
    return _periods(editions, lambda d: d.replace(day=1), count)


def periodic(editions: Sequence[Edition]) -> Periodic:
    return Periodic(tuple(weeks(editions)), tuple(months(editions)))


def _periods(editions: Sequence[Edition], first_day: Callable[[dt.date], dt.date], count: int) -> list[Edition]:
    by_period: dict[dt.date, list[Edition]] = {}
    for edition in editions:
        by_period.setdefault(first_day(edition.date), []).append(edition)
    out = []
    for first in sorted(by_period, reverse=True)[:count]:
        gathered = gather(by_period[first], first)
        if gathered is not None:
            out.append(best_of(gathered))
    return out


PEOPLE_SLUG = "from-people-you-follow"
PEOPLE_LABEL = "From people you follow"
SEARCHES_SLUG = "your-searches"
SEARCHES_LABEL = "Your searches"
PICKED_SLUG = "picked-for-you"
PICKED_LABEL = "Picked for you"
PICKED = 5
"""The papers a "Picked for you" section holds at most."""
PICK_SCORE = 0.12
"""The least cosine with a reader's profile that picks a paper (see benchmarks/ranking.py)."""


def for_subscriber(edition: Edition, preferences: Preferences, index: EditionIndex | None = None) -> Edition | None:
    """The edition as one subscriber gets it: followed topics only (all when none), muted topics
    and papers with an excluded keyword removed, and with include keywords only the papers that
    mention one. Papers by people (authors, submitters) or organisations the reader follows
    come first, in a section of their own, whatever their topic; papers by ones they muted
    never appear. A reader who rated papers gets, next, the papers closest to what they liked
    (from any topic they did not mute), then the topics and each topic's papers in the order
    of their profile (the topics by their papers' mean score). Papers that hold every word of
    one of their saved searches come before those, in "Your searches" (from any topic they did
    not mute).
    Each paper says why the reader got it when their choices are the reason. None when
    nothing is left, so that nobody receives an empty digest. ``index``: the edition's
    :class:`EditionIndex` when the caller keeps one for many readers."""
    if preferences.everything:
        return edition
    include, exclude = _keywords(preferences.include), _keywords(preferences.exclude)
    followed, muted = _names(preferences.people), _names(preferences.mute_people)
    profile = preferences.profile
    if (profile or preferences.searches) and index is None:
        index = index_of(edition)
    scores = index.scores(profile) if index is not None and profile else {}

    def topic_ok(slug: str | None) -> bool:
        if preferences.follow and slug not in preferences.follow:
            return False
        return slug not in preferences.mute

    def allowed(paper: EditionPaper) -> bool:
        """Never a paper by someone muted or with an excluded word, whatever brings it forward."""
        return not _by(paper, muted) and _wanted(paper, None, exclude)

    pinned = {p.key: replace(p, reason=f"You follow {who}") for s in edition.sections for p in s.papers
              if (who := _who(p, followed, preferences.people)) and allowed(p)}
    searched: dict[str, EditionPaper] = {}
    if index is not None:
        for search in preferences.searches:
            found = index.matching(search)
            for section in edition.sections:
                for paper in section.papers:
                    if (paper.key in found and paper.key not in pinned and paper.key not in searched
                            and section.slug not in preferences.mute and allowed(paper)):
                        searched[paper.key] = replace(paper, reason=f"Matches your search \u201c{search}\u201d")
    picked: dict[str, EditionPaper] = {}
    if scores and index is not None:
        candidates = sorted(((score, p) for s in edition.sections if s.slug not in preferences.mute
                             for p in s.papers if p.key not in pinned and p.key not in searched
                             and (score := scores.get(p.key, 0.0)) >= PICK_SCORE and allowed(p)),
                            key=lambda sp: -sp[0])
        for _, paper in candidates[:PICKED]:
            liked = index.closest_liked(paper.key, profile)
            picked[paper.key] = replace(paper, reason=f"Like \u201c{liked}\u201d, which you liked" if liked
                                        else "Close to papers you liked")

    def kept(section: Section) -> tuple[EditionPaper, ...]:
        papers = [_because(p, section, preferences, include) for p in section.papers
                  if p.key not in pinned and p.key not in searched and p.key not in picked and not _by(p, muted)
                  and _wanted(p, include, exclude)]
        if scores:
            papers.sort(key=lambda p: -scores.get(p.key, 0.0))
        return tuple(papers)

    sections = tuple(Section(s.slug, s.label, papers)
                     for s in edition.sections if topic_ok(s.slug) for papers in [kept(s)] if papers)
    if scores:  # the topics closest to what the reader liked first, those like what they did not last
        sections = tuple(sorted(sections, key=lambda s: -sum(scores.get(p.key, 0.0) for p in s.papers) / len(s.papers)))
    if picked:
        sections = (Section(PICKED_SLUG, PICKED_LABEL, tuple(picked.values())), *sections)
    if searched:
        sections = (Section(SEARCHES_SLUG, SEARCHES_LABEL, tuple(searched.values())), *sections)
    if pinned:
        sections = (Section(PEOPLE_SLUG, PEOPLE_LABEL, tuple(pinned.values())), *sections)
    climbing = tuple(p for p in edition.climbing
                     if topic_ok(p.topic_slug) and not _by(p, muted) and _wanted(p, include, exclude))
    if not sections and not climbing:
        return None
    return replace(edition, sections=sections, climbing=climbing)


def _because(paper: EditionPaper, section: Section, preferences: Preferences,
             include: re.Pattern[str] | None) -> EditionPaper:
    """The paper with the reader's reason for it: a keyword it mentions, or the topic they follow."""
    if include is not None and (found := include.search(f"{paper.title}\n{paper.abstract}")):
        return replace(paper, reason=f"Mentions \u201c{found.group(0)}\u201d")
    if section.slug in preferences.follow:
        return replace(paper, reason=f"You follow {section.label}")
    return paper


@lru_cache(maxsize=65536)
def _name_key(name: str) -> str:
    """A name as compared: accents, case and punctuation aside ("Zoë Ho" is "zoe ho")."""
    return " ".join(re.findall(r"\w+", without_accents(name).casefold()))


@lru_cache(maxsize=1024)
def _names(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(key for key in map(_name_key, names) if key)


def _who(paper: EditionPaper, names: frozenset[str], given: tuple[str, ...]) -> str | None:
    """Which of the reader's ``given`` names (as they typed it) the paper is by, if any."""
    if not _by(paper, names):
        return None
    for name in given:
        if _by(paper, _names((name,))):
            return name
    return None


def _by(paper: EditionPaper, names: frozenset[str]) -> bool:
    """Whether one of ``names`` is an author of the paper or the one who submitted it to Daily
    Papers (when the source says), or names its organisation (whole words of it: "DeepMind" is
    "Google DeepMind")."""
    if not names:
        return False
    submitter = paper.links.submitted_by
    if any(_name_key(author) in names for author in paper.authors) or (submitter and _name_key(submitter) in names):
        return True
    organisation = f" {_name_key(paper.organization)} " if paper.organization else ""
    return bool(organisation) and any(f" {name} " in organisation for name in names)
