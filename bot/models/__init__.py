"""The small typed records that flow between stages.

They are frozen so that a stage cannot change what an earlier stage produced; ORM rows never
leave ``bot.store`` and are converted to these records at its edge.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from bot.redact import redact_url

Layout = Literal["flat-list", "blocks", "blocks-with-meta", "rss", "atom", "hf-api"]
FileStatus = Literal["ingested", "unchanged", "failed"]


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as a source saw it, before it meets the database."""

    title: str
    abstract: str
    rank: int
    author_count: int | None = None
    organization: str | None = None
    published: dt.date | None = None
    upvotes: int | None = None
    arxiv_id: str | None = None
    authors: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    announce: str | None = None
    """arXiv's announce type (new, cross, replace); a replace of a known paper only updates it."""
    links: PaperLinks | None = None
    """What the Daily Papers API adds: code, project page, counts, its own summary."""


@dataclass(frozen=True, slots=True)
class PaperLinks:
    """The Daily Papers API's fields beyond the paper itself, each None when it did not say."""

    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    comments: int | None = None
    submitted_by: str | None = None
    ai_summary: str | None = None
    ai_keywords: tuple[str, ...] | None = None
    thumbnail: str | None = None


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One ``[[sources]]`` entry: a dump directory or URL, a feed, or the Daily Papers API."""

    name: str
    kind: Literal["dump", "feed", "hf-api"]
    location: str

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def __repr__(self) -> str:  # settings get logged; a URL's credentials must not be
        return f"SourceSpec(name={self.name!r}, kind={self.kind!r}, location={redact_url(self.location)!r})"


@dataclass(frozen=True, slots=True)
class DumpHeader:
    """What a dump says about itself, known once its banner has been read."""

    layout: Layout
    dump_date: dt.date
    dump_date_in_file: bool


@dataclass(frozen=True, slots=True)
class FileReport:
    """The outcome of ingesting one file; ``error`` is set exactly when it failed."""

    path: str
    status: FileStatus
    items: int = 0
    new: int = 0
    seen: int = 0
    warnings: tuple[str, ...] = ()
    error: str | None = None
    layout: Layout | None = None
    dump_date: dt.date | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class IngestSummary:
    files: tuple[FileReport, ...]
    notes: tuple[str, ...] = ()
    """What is worth saying that is not a file's outcome (a directory with nothing to ingest)."""

    @property
    def items(self) -> int:
        return sum(f.items for f in self.files)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.files)

    @property
    def seen(self) -> int:
        return sum(f.seen for f in self.files)

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" for f in self.files)

    def count(self, status: FileStatus) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def errors(self) -> list[str]:
        return [f.error for f in self.files if f.error]


TldrSource = Literal["source", "extract", "model"]
"""Where a TL;DR came from: the source's own summary (the Daily Papers API's ``ai_summary``),
sentences paperboy picked from the abstract, or the operator's language model."""


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """A paper as the store knows it, with when it was first seen."""

    key: str
    arxiv_id: str | None
    title: str
    abstract: str | None
    authors: tuple[str, ...] | None
    author_count: int | None
    organization: str | None
    published: dt.date | None
    upvotes: int | None
    first_seen: dt.datetime
    first_dump_date: dt.date | None = field(default=None)
    categories: tuple[str, ...] | None = None
    announce: str | None = None
    links: PaperLinks = field(default_factory=lambda: PaperLinks())
    tldr: str | None = None
    tldr_source: TldrSource | None = None


TopicKind = Literal["configured", "discovered", "other", "candidate", "retired", "merged"]


@dataclass(frozen=True, slots=True)
class TopicRule:
    """A configured topic: papers using one of ``include`` and none of ``exclude`` belong to it."""

    name: str
    slug: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    formerly: tuple[str, ...] = ()  # slugs it had before a rename: follows of them move to it


@dataclass(frozen=True, slots=True)
class TopicDoc:
    """What grouping needs to know of a paper."""

    id: str
    title: str
    abstract: str = ""
    upvotes: int | None = None
    rank: int | None = None
    comments: int | None = None
    stars: int | None = None


@dataclass(frozen=True, slots=True)
class KnownTopic:
    """A topic as persisted: its slug and label stay while its term profile keeps matching."""

    slug: str
    label: str
    kind: TopicKind
    profile: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicHistory:
    """A persisted topic over time, for ``paperboy topics list`` and ``topics show``: when it was
    made, when it last had a paper, how many it has had, and how many in each of the last weeks
    of editions (oldest first); ``titles`` are its latest papers (``topics show`` only)."""

    topic: KnownTopic
    created: dt.datetime
    updated: dt.datetime
    papers: int
    weeks: tuple[int, ...]
    titles: tuple[str, ...] = ()
    merged_into: str | None = None
    split_from: str | None = None


@dataclass(frozen=True, slots=True)
class TopicGroup:
    """One section of a digest: papers by upvotes, then rank; ``terms`` are the label's terms."""

    slug: str
    label: str
    kind: TopicKind
    ids: tuple[str, ...]
    terms: tuple[str, ...] = ()
    profile: dict[str, float] = field(default_factory=dict)
    is_new: bool = False
    split_from: str | None = None
    """The known topic this new one split off (its readers follow both)."""


@dataclass(frozen=True, slots=True)
class Grouping:
    """The day's sections; ``candidates`` are new groups too small to be a topic yet (their
    papers are in "Other"), kept so that one that recurs on a later day becomes a topic."""

    groups: tuple[TopicGroup, ...]
    seconds: float = 0.0
    candidates: tuple[TopicGroup, ...] = ()

    def as_json(self) -> dict[str, list[dict[str, object]]]:
        return {"topics": [{"slug": g.slug, "label": g.label, "ids": list(g.ids)} for g in self.groups]}


@dataclass(frozen=True, slots=True)
class EditionPaper:
    """A paper as an edition shows it; ``rise`` is set in the Climbing section."""

    key: str
    arxiv_id: str | None
    title: str
    abstract: str
    author_count: int | None
    organization: str | None
    published: dt.date | None
    upvotes: int | None
    topic_slug: str | None = None
    topic_label: str | None = None
    rise: int | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    first_seen: dt.datetime | None = None
    links: PaperLinks = field(default_factory=lambda: PaperLinks())
    tldr: str | None = None
    tldr_source: TldrSource | None = None
    listing_only: bool = False
    """Known only from dumps of the Daily Papers page (no arXiv id, no author names yet)."""
    reason: str | None = None
    """In a reader's copy, why they got this paper ("You follow Robotics")."""


@dataclass(frozen=True, slots=True)
class Periodic:
    """The public weekly and monthly digests, each the best of its period's daily editions
    (``since``: the period's first day), newest first."""

    weeks: tuple[Edition, ...] = ()
    months: tuple[Edition, ...] = ()

    def find(self, kind: str, first: dt.date) -> Edition | None:
        for copy in self.weeks if kind == "weekly" else self.months:
            if copy.since == first:
                return copy
        return None


@dataclass(frozen=True, slots=True)
class Section:
    slug: str
    label: str
    papers: tuple[EditionPaper, ...]


@dataclass(frozen=True, slots=True)
class Edition:
    """The digest of one date, as stored: every channel renders exactly this."""

    date: dt.date
    created_at: dt.datetime
    sections: tuple[Section, ...]
    climbing: tuple[EditionPaper, ...] = ()
    created: bool = False
    note: str | None = None
    """One line about the service's health when it was not ok as the edition was built."""
    since: dt.date | None = None
    """Set on a weekly or monthly reader's copy: the first date of the period it gathers."""

    @property
    def papers(self) -> int:
        return sum(len(s.papers) for s in self.sections)


@dataclass(frozen=True, slots=True)
class Climber:
    """A paper seen before whose upvotes rose since the last edition (stored, then planned)."""

    key: str
    upvotes: int
    rise: int


@dataclass(frozen=True, slots=True)
class EditionItem:
    """One row of an edition as the digest stage plans it, before the store numbers it."""

    key: str
    section: Literal["new", "climbing"]
    position: int
    topic_slug: str | None = None
    topic_label: str | None = None
    rise: int | None = None


SkipKind = Literal["missed", "empty"]
StepStatus = Literal["built", "found", "waiting", "empty", "missed", "not-due"]
Verdict = Literal["ok", "empty", "stale", "failing"]


@dataclass(frozen=True, slots=True)
class IngestCheck:
    """What the last read of every source found; status and health judge it."""

    at: dt.datetime
    sources: tuple[str, ...] = ()
    files: int = 0
    ingested: int = 0
    unchanged: int = 0
    failed: int = 0
    new: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedsWrite:
    """The public directory's last write: when it last worked, and why the latest try failed."""

    at: dt.datetime
    directory: str = ""
    files: int = 0
    error: str | None = None
    written_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class MailCheck:
    """Whether mail could go out at the last send (a setup error makes the verdict failing)."""

    at: dt.datetime
    error: str | None = None

