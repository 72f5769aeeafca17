"""A paper as every channel shows it: the card's texts and links, made once per edition and
shared by the email, the feeds and the archive, so that each says the same thing the same way.

A card says what is known and where it came from: authors (the first three and "et al." where
space is short), the arXiv, PDF and Daily Papers links when the arXiv id is known and a plain
"no arXiv id yet" with a search link when it is not, code with its stars, the project page,
the counts (upvotes, comments), the paper's own dates, and a TL;DR labelled by its origin.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from bot.identity import paper_anchor
from bot.models import EditionPaper

SHORT_AUTHORS = 3

TLDR_LABELS = {
    "source": "TL;DR (Hugging Face)",
    "extract": "TL;DR (from the abstract)",
    "model": "TL;DR (language model)",
}


def day(date: dt.date | dt.datetime | None) -> str:
    """The one date format of every human-readable text: 20 Nov 2026."""
    return "" if date is None else f"{date.day} {date:%b %Y}"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def compact(count: int) -> str:
    """Stars as a badge shows them: 980, 1.2k, 12k."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return f"{count // 1000}k"


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Card:
    paper: EditionPaper
    title: str
    abstract: str
    byline: str
    """The first three authors and "et al.", then the organisation; or what a dump says."""
    authors: str
    """Every author, for the feeds and the archive."""
    names: tuple[str, ...]
    tldr: str | None
    tldr_label: str
    links: tuple[Link, ...]
    counts: tuple[str, ...]
    dates: str
    """When the paper was published, as its source says."""
    seen: str
    """When paperboy first saw it (the feeds say it; a card in an edition need not)."""
    note: str | None
    """Said plainly when the paper is known only from the Daily Papers listing."""
    anchor: str
    """The paper's place on its edition's archive page (stable: derived from its identity)."""

    @property
    def bibtex(self) -> str:
        """Made when asked (the archive page and the edition's .bib file ask; feeds do not)."""
        return bibtex(self.paper, list(self.names), self.title)

    @property
    def more(self) -> tuple[Link, ...]:
        """The links besides the title's own (the Daily Papers page or its search)."""
        return self.links[1:]


Clean = Callable[[str | None], str]


def make_card(paper: EditionPaper, clean: Clean) -> Card:
    """The card of ``paper``; ``clean`` makes untrusted text one readable line."""
    names = [name for name in map(clean, paper.authors) if name]
    org = clean(paper.organization)
    if names:
        shown = ", ".join(names[:SHORT_AUTHORS]) + (" et al." if len(names) > SHORT_AUTHORS else "")
        byline = f"{shown} · {org}" if org else shown
    elif paper.author_count:
        byline = plural(paper.author_count, "author") + (f" · {org}" if org else "")
    else:
        byline = org
    links: list[Link] = []
    if paper.arxiv_id:
        ident = quote(paper.arxiv_id)
        links += [Link("Daily Papers", f"https://huggingface.co/papers/{ident}"),
                  Link("arXiv", f"https://arxiv.org/abs/{ident}"), Link("PDF", f"https://arxiv.org/pdf/{ident}")]
    else:
        links.append(Link("Search Daily Papers", f"https://huggingface.co/papers?q={quote(clean(paper.title))}"))
    extra = paper.links
    if extra.github_repo:
        stars = f" ★ {compact(extra.github_stars)}" if extra.github_stars else ""
        links.append(Link(f"Code{stars}", extra.github_repo))
    if extra.project_page:
        links.append(Link("Project page", extra.project_page))
    counts = []
    if paper.upvotes is not None:
        counts.append(plural(paper.upvotes, "upvote"))
    if paper.rise:
        counts.append(f"+{paper.rise:,} since the last edition")
    if extra.comments:
        counts.append(plural(extra.comments, "comment"))
    dates = f"published {day(paper.published)}" if paper.published else ""
    seen = f"first seen {day(paper.first_seen)}" if paper.first_seen else ""
    note = None
    if paper.listing_only:
        note = "From the Daily Papers listing, no arXiv id yet"
    elif not paper.arxiv_id:
        note = "No arXiv id known yet"
    tldr = clean(paper.tldr) or None
    return Card(
        paper=paper, title=clean(paper.title), abstract=clean(paper.abstract), byline=byline,
        authors=", ".join(names), names=tuple(names), tldr=tldr,
        tldr_label=TLDR_LABELS.get(paper.tldr_source or "", "TL;DR") if tldr else "",
        links=tuple(links), counts=tuple(counts), dates=_sentence(dates), seen=seen, note=note,
        anchor="p-" + paper_anchor(paper.key),
    )


_BIB_SPECIAL = re.compile(r"([&%$#_])")
_BIB_DROP = str.maketrans("", "", "\\{}")


def _bib(text: str) -> str:
    """Text inside a BibTeX field: its special characters escaped, braces balanced away."""
    if "\\" in text or "{" in text or "}" in text:
        text = text.translate(_BIB_DROP)
    return _BIB_SPECIAL.sub(r"\\\1", text)


def bibtex(paper: EditionPaper, names: list[str], title: str) -> str:
    """A ``@misc`` entry as arXiv's own export writes it (eprint, archivePrefix, primaryClass);
    without an arXiv id, the Daily Papers search link stands in for the URL."""
    year = (paper.published or (paper.first_seen.date() if paper.first_seen else None))
    surname = _ascii(names[0].split()[-1]) if names else "anon"
    word = next((w for w in (_ascii(w) for w in title.split()) if len(w) > 3), "paper")
    key = f"{surname}{year.year if year else ''}{word}".lower()
    fields = [("title", "{" + _bib(title) + "}")]
    if names:
        fields.append(("author", _bib(" and ".join(names))))
    if year:
        fields.append(("year", str(year.year)))
    if paper.arxiv_id:
        fields += [("eprint", paper.arxiv_id), ("archivePrefix", "arXiv")]
        if paper.categories:
            fields.append(("primaryClass", _bib(paper.categories[0])))
        fields.append(("url", f"https://arxiv.org/abs/{paper.arxiv_id}"))
    else:
        fields += [("url", f"https://huggingface.co/papers?q={quote(title)}"),
                   ("note", "Hugging Face Daily Papers")]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ascii(word: str) -> str:
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", folded)
