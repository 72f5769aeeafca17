"""What makes two sightings the same paper.

A paper's key is its arXiv id when a source gives one, otherwise its normalised title. The
normalisation is deliberately blunt (Unicode NFKC, case-folded, every run of punctuation and
whitespace folded to one space) so that scrapes which differ in quoting, dashes or spacing still
meet; the store's unique index on the key is what actually guards identity.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+\*?")
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.-]*/\d{7})(?:v\d+)?$")


def normalise_title(title: str) -> str:
    """Fold a title to the form used for identity: ``"GUI-G1: R1-Zero"`` -> ``"gui g1 r1 zero"``.
    LaTeX commands go (``\\textbf{BERT}`` is ``bert``); braces, ``$`` and a trailing period are
    punctuation like any other."""
    folded = unicodedata.normalize("NFKC", _LATEX_COMMAND.sub(" ", title)).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def normalise_arxiv_id(raw: str) -> str | None:
    """The canonical arXiv id without version (``2401.01234v2`` -> ``2401.01234``), or None."""
    text = raw.strip().lower().removeprefix("arxiv:")
    match = _ARXIV_NEW.match(text) or _ARXIV_OLD.match(text)
    return match.group(1) if match else None


def paper_key(title: str, arxiv_id: str | None = None) -> str:
    """The identity of a paper: ``arxiv:<id>`` when known, else ``title:<normalised title>``."""
    if arxiv_id:
        return "arxiv:" + arxiv_id
    return "title:" + normalise_title(title)
