"""The parser for text dumps of the Hugging Face Daily Papers pages.

A dump is a page scrape: a banner (the page's chrome and maybe the dump's date), then one
record per paper: a title, an abstract and, in some layouts, a metadata block ("• 12 authors"
or an organisation, a "·" line, a date with optional year and upvotes). Records are either
blank-line-separated blocks or bare alternating lines. The parser reads that structure rather
than any one file's text, so it recognises the layout itself, and it streams: papers are
yielded as soon as their record is complete.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, count, islice, pairwise
from typing import NamedTuple

from bot.models import DumpHeader, Layout, Paper

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DATE = (r"(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (?P<day>\d{1,2})"
         r"(?:,? (?P<year>\d{4}))?")
_DATE_LINE = re.compile(rf"{_DATE}(?: (?P<upvotes>\d{{1,7}}))?", re.I)
_ISO_DATE = re.compile(r"(?P<year>\d{4})-(?P<mon>\d{2})-(?P<day>\d{2})")
_AUTHORS = re.compile(r"(?:[•*-] ?)?(?P<count>\d{1,5}) authors?", re.I)
_COMMON_META = re.compile(rf"(?:[•*-] ?)?(?P<count>\d{{1,5}}) authors? · {_DATE_LINE.pattern}", re.I)
_NUMBER = re.compile(r"\d{1,7}")
_CHROME = re.compile(
    r"new|subscribe|daily papers|papers|trending|today|previous|next"
    r"|get trending papers in your email inbox(?: once a day)?!?"
    r"|by ?ak(?: and the research community)?",
    re.I,
)
_GLUED = re.compile(
    r"(?:Subscribe|Daily Papers|byAK and the research community"
    r"|Get trending papers in your email inbox(?: once a day)?!)(?=\S)"
)
_PAGE_CHROME = re.compile(
    r"get trending papers in your email inbox(?: once a day)?!?|subscribe|daily papers"
    r"|by ?ak(?: and the research community)?",
    re.I,
)
# Terminal escapes whole (CSI and OSC sequences), then any other control character.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_DOT = "·"
_ENDS_COMPLETE = tuple('.!?)]}"\'”’…')
_SNIFF_LINES = 60
_META_MAX = 160


@dataclass(slots=True)
class _Meta:
    author_count: int | None = None
    organization: str | None = None
    published: dt.date | None = None
    upvotes: int | None = None


_PRINTABLE = bytes(range(32, 127))


class _Unit(NamedTuple):
    """A block of text (title or abstract) or of metadata, with the line it starts on (a
    tuple: three are made per paper, and a frozen dataclass is slow to make)."""

    line: int
    text: str
    meta: list[str] | None


def resolve_date(month: int, day: int, year: int | None, reference: dt.date) -> dt.date:
    """A date whose year may be missing: the reference's year, or the one before if later."""
    if year is not None:
        return dt.date(year, month, day)
    for candidate in (reference.year, reference.year - 1, reference.year - 2, reference.year - 3):
        try:
            date = dt.date(candidate, month, day)
        except ValueError:
            continue
        if date <= reference:
            return date
    raise ValueError(f"no such day: {month}/{day}")


def _is_meta_part(line: str) -> bool:
    if len(line) > _META_MAX:
        return False
    return (
        line == _DOT
        or line.startswith(_DOT + " ")
        or line.endswith(" " + _DOT)
        or f" {_DOT} " in line
        or _AUTHORS.fullmatch(line) is not None
        or _DATE_LINE.fullmatch(line) is not None
    )


class DumpParser:
    """Parse one dump from its lines; read :attr:`header` first, then iterate :meth:`papers`.

    ``today`` anchors dates without a year when the dump has no date of its own and
    ``dump_date`` does not give one. ``ends_cleanly`` is False when the file did not end with
    a newline or ended mid-character, which together with an abstract that stops mid-sentence
    marks the last record as cut off.
    """

    def __init__(
        self,
        lines: Iterable[str],
        *,
        today: dt.date,
        dump_date: dt.date | None = None,
        ends_cleanly: bool = True,
        surely_cut: bool = False,
    ) -> None:
        self.warnings: list[str] = []
        self._lines = self._numbered(lines)
        self._today = today
        self._given_date = dump_date
        self._ends_cleanly = ends_cleanly
        self._surely_cut = surely_cut
        self._head: list[tuple[int, str]] = []
        self._page_chrome = False
        self.header = self._read_banner()
        self.has_text = bool(self._head)
        self.recognised = self._page_chrome or any(
            _is_meta_part(line) and (line == _DOT or _AUTHORS.match(line) or _DOT in line)
            for _, line in self._head)
        """Whether the text shows the page's own structure: its banner lines (the subscribe
        call, "Daily Papers", "byAK"), or the metadata lines of its records ("• 12 authors",
        "·"). Text without either (a password file, a diary, a CSV) is not a dump, however
        much of it pairs into titles and abstracts."""

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append(f"line {line}: {message}")

    def _numbered(self, lines: Iterable[str]) -> Iterator[tuple[int, str]]:
        """Number the lines and fold their whitespace; control characters are dropped. Mapped,
        not a generator: this runs once per line."""
        return zip(count(1), map(self._folded, count(1), lines))

    def _folded(self, number: int, raw: str) -> str:
        # An ASCII line's printability by deleting its printable bytes: four times faster than
        # str.isprintable, which was the parse's largest cost (abstracts are long and ASCII).
        printable = not raw.encode("ascii").translate(None, _PRINTABLE) if raw.isascii() else raw.isprintable()
        if printable and "  " not in raw and raw[:1] != " " and raw[-1:] != " ":
            return raw
        if _CONTROL.search(raw):
            raw = _CONTROL.sub("", raw)
            self._warn(number, "removed control characters")
        return " ".join(raw.split())

    def _read_banner(self) -> DumpHeader:
        found: dt.date | None = None
        first: tuple[int, str] | None = None
        for number, line in self._lines:
            if not line or _CHROME.fullmatch(line):
                self._page_chrome = self._page_chrome or bool(line and _PAGE_CHROME.fullmatch(line))
                continue
            match = _DATE_LINE.fullmatch(line) or _ISO_DATE.fullmatch(line)
            if match is not None and not match.groupdict().get("upvotes"):
                found = found or self._banner_date(number, line, match)
                continue
            glued = _GLUED.match(line)
            self._page_chrome = self._page_chrome or glued is not None
            first = (number, line[glued.end():] if glued else line)
            break
        self._head = [first] if first else []
        self._head.extend(islice(self._lines, _SNIFF_LINES))
        layout = self._guess_layout(self._head)
        dump_date = self._given_date or found or self._today
        if self._given_date and found and found != self._given_date:
            self._warn(0, f"the dump says {found:%b %d} but --dump-date is {self._given_date}; "
                          "using --dump-date")
        return DumpHeader(layout=layout, dump_date=dump_date, dump_date_in_file=found is not None)

    def _banner_date(self, number: int, line: str, match: re.Match[str]) -> dt.date | None:
        """The date of a banner's date line; None (and a warning) for an impossible or future one."""
        reference = self._given_date or self._today
        try:
            date = _resolve(match, reference)
        except ValueError:
            self._warn(number, f"cannot read the dump's date {line!r}")
            return None
        if date > self._today + dt.timedelta(days=2):
            self._warn(number, f"the dump's date {date} is in the future; ignored")
            return None
        return date

    @staticmethod
    def _guess_layout(head: list[tuple[int, str]]) -> Layout:
        before_blank = before_text = 0
        with_meta = False
        for (_, line), (_, following) in pairwise(head):
            if not line:
                continue
            if _is_meta_part(line):
                with_meta = True
            elif following:
                before_text += 1
            else:
                before_blank += 1
        if head and _is_meta_part(head[-1][1]):
            with_meta = True
        if before_blank >= before_text:
            return "blocks-with-meta" if with_meta else "blocks"
        return "flat-list"

    def _blocks(self) -> Iterator[_Unit]:
        """Blank-line-separated blocks, or single lines in the flat layout.

        A unit's ``meta`` holds its lines when it is (part of) a metadata block.
        """
        lines = chain(self._head, self._lines)
        if self.header.layout == "flat-list":
            for number, line in lines:
                if line:
                    yield _Unit(number, line, [line] if _is_meta_part(line) else None)
            return
        block: list[str] = []
        start = 0
        for number, line in chain(lines, [(0, "")]):
            if line:
                start = start if block else number
                block.append(line)
            elif len(block) == 1:
                yield _Unit(start, line := block[0], block if _is_meta_part(line) else None)
                block = []
            elif block:
                is_meta = _DOT in block or all(map(_is_meta_part, block))
                yield _Unit(start, " ".join(block), block if is_meta else None)
                block = []

    def papers(self) -> Iterator[Paper]:
        """Yield each complete record as a :class:`Paper`, in the dump's order.

        A record is held back until the next one has its abstract, because the line after an
        abstract may be an organisation that only the following "·" reveals as metadata.
        """
        held: tuple[_Unit, _Unit, list[str]] | None = None
        title: _Unit | None = None
        abstract: _Unit | None = None
        rank = 0

        def emit(record: tuple[_Unit, _Unit, list[str]]) -> Paper:
            nonlocal rank
            rank += 1
            head, body, parts = record
            meta = self._meta(head.line, parts) if parts else _Meta()
            return Paper(title=head.text, abstract=body.text, rank=rank,
                         author_count=meta.author_count, organization=meta.organization,
                         published=meta.published, upvotes=meta.upvotes)

        for unit in self._blocks():
            if unit.meta is not None:
                if held is not None and title is None:
                    held[2].extend(unit.meta)
                elif (held is not None and not held[2] and title is not None and abstract is None
                      and unit.meta[0].startswith(_DOT)):
                    held[2].extend([title.text, *unit.meta])
                    title = None
                elif title is not None and abstract is not None:
                    if held is not None:
                        yield emit(held)
                    held, title, abstract = (title, abstract, list(unit.meta)), None, None
                elif title is not None:
                    self._warn(title.line, f"paper {title.text[:60]!r} has no abstract; skipped")
                    title = None
                else:
                    self._warn(unit.line, "metadata block without a paper; ignored")
            elif title is None:
                title = unit
            elif abstract is None:
                abstract = unit
                if held is not None:
                    yield emit(held)
                    held = None
            else:
                if held is not None:
                    yield emit(held)
                held, title, abstract = (title, abstract, []), unit, None
        if title is not None and abstract is not None:
            if held is not None:
                yield emit(held)
            held = (title, abstract, [])
        elif title is not None:
            self._warn(title.line, f"the dump ends with the title {title.text[:60]!r} "
                                   "and no abstract (cut off?); skipped")
        if held is not None:
            head, body, parts = held
            cut = not parts and (self._surely_cut or (
                not self._ends_cleanly and not body.text.endswith(_ENDS_COMPLETE)))
            if cut:
                self._warn(body.line, f"the last paper {head.text[:60]!r} is cut off "
                                      "mid-abstract; skipped")
            else:
                yield emit(held)

    def _meta(self, line: int, parts: list[str]) -> _Meta:
        common = _COMMON_META.fullmatch(" ".join(parts))
        if common is not None:
            try:
                published = _resolve(common, self.header.dump_date)
            except ValueError:
                pass
            else:
                upvotes = common["upvotes"]
                return _Meta(int(common["count"]), None, published, int(upvotes) if upvotes else None)
        tokens = [t.strip() for part in parts for t in part.split(_DOT)]
        meta = _Meta()
        for token in filter(None, tokens):
            authors = _AUTHORS.fullmatch(token)
            date = _DATE_LINE.fullmatch(token)
            if authors and meta.author_count is None and meta.organization is None:
                meta.author_count = int(authors["count"])
            elif date and meta.published is None:
                try:
                    meta.published = _resolve(date, self.header.dump_date)
                except ValueError:
                    self._warn(line, f"cannot read the date {token!r}")
                if date["upvotes"]:
                    meta.upvotes = int(date["upvotes"])
            elif _NUMBER.fullmatch(token) and meta.published is not None and meta.upvotes is None:
                meta.upvotes = int(token)
            elif meta.organization is None and meta.author_count is None and meta.published is None:
                meta.organization = token.lstrip("•*- ")
            else:
                self._warn(line, f"unexpected text in a metadata block: {token[:60]!r}")
        if meta.published is None:
            self._warn(line, "metadata block without a date (cut off?)")
        return meta


def _resolve(match: re.Match[str], reference: dt.date) -> dt.date:
    mon = match["mon"]
    month = int(mon) if mon.isdigit() else _MONTHS[mon[:3].lower()]
    year = int(match["year"]) if match["year"] else None
    return resolve_date(month, int(match["day"]), year, reference)
