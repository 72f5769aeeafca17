"""What makes two sightings the same paper.

A paper's key is its arXiv id when a source gives one, otherwise its normalised title. The
normalisation is deliberately blunt (Unicode NFKC, case-folded, every run of punctuation and
whitespace folded to one space) so that scrapes which differ in quoting, dashes or spacing still
meet; the store's unique index on the key is what actually guards identity.

Two refinements keep that honest at the edges. A title longer than :data:`MAX_KEY_CHARS` is
keyed by its start and a hash of the whole, so the index holds a bounded value on both databases
(PostgreSQL's btree refuses a row over about 2.7 KB). A title of fewer than
:data:`MIN_TITLE_WORDS` words ("Scaling Laws") is too generic to be an identity alone: without an
arXiv id its key carries a hash of the abstract too, and it meets a record from another source
only when their abstracts agree (:func:`abstracts_agree`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

MAX_KEY_CHARS = 200
MIN_TITLE_WORDS = 4
SAME_ABSTRACT = 0.3
"""Word-pair overlap from which two abstracts are one paper's. Measured by
benchmarks/identity.py over 1,492 real arXiv abstracts: one abstract as another source gives it
(LaTeX markup, rewrapped, entities, the last sentence cut) scores at least 0.47; two different
papers at most 0.08. The threshold sits between, nearer the different papers' side."""

_NON_WORD = re.compile(r"[\W_]+")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+\*?")
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.-]*/\d{7})(?:v\d+)?$")


def normalise_title(title: str) -> str:
    """Fold a title to the form used for identity: ``"GUI-G1: R1-Zero"`` -> ``"gui g1 r1 zero"``.
    LaTeX commands go (``\\textbf{BERT}`` is ``bert``); braces, ``$`` and a trailing period are
    punctuation like any other."""
    if "\\" in title:
        title = _LATEX_COMMAND.sub(" ", title)
    folded = title.lower() if title.isascii() else unicodedata.normalize("NFKC", title).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def normalise_arxiv_id(raw: str) -> str | None:
    """The canonical arXiv id without version (``2401.01234v2`` -> ``2401.01234``), or None."""
    text = raw.strip().lower().removeprefix("arxiv:")
    match = _ARXIV_NEW.match(text) or _ARXIV_OLD.match(text)
    return match.group(1) if match else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=16_384)
def title_key(title: str) -> str:
    """The normalised title, or for a long one its start and a hash of the whole. Ingest asks
    for each paper's up to three times (its key, the lookup by title, its row): remembered for
    a batch or two."""
    folded = normalise_title(title)
    if len(folded) <= MAX_KEY_CHARS:
        return folded
    return f"{folded[:MAX_KEY_CHARS].rstrip()} #{_digest(folded)}"


def is_short(key_of_title: str) -> bool:
    return len(key_of_title.split()) < MIN_TITLE_WORDS


def paper_key(title: str, arxiv_id: str | None = None, abstract: str = "") -> str:
    """The identity of a paper: ``arxiv:<id>`` when known, else ``title:<normalised title>``,
    with ``#<hash of the abstract>`` after a short title."""
    if arxiv_id:
        return "arxiv:" + arxiv_id
    key = title_key(title)
    if is_short(key) and (words := normalise_title(abstract)):  # only short titles pay for the abstract
        return f"title:{key} #{_digest(words)}"
    return "title:" + key


def _pairs(text: str) -> set[str]:
    words = normalise_title(text).split()
    return {f"{a} {b}" for a, b in pairwise(words)} or set(words)


def abstract_similarity(first: str, second: str) -> float:
    """Jaccard overlap of the two abstracts' word pairs, after the title's normalisation."""
    a, b = _pairs(first), _pairs(second)
    return len(a & b) / len(a | b) if a and b else 0.0


def abstracts_agree(first: str | None, second: str | None) -> bool:
    """Whether two records with one short title are one paper: their abstracts are the same
    text once normalised, or overlap above :data:`SAME_ABSTRACT`. Without both, never."""
    if not first or not second:
        return False
    return normalise_title(first) == normalise_title(second) or abstract_similarity(first, second) >= SAME_ABSTRACT


def address_key(address: str) -> str:
    """What makes two addresses the same subscriber (mail systems ignore case in practice)."""
    return address.casefold()


def without_accents(text: str) -> str:
    """``text`` with its accents aside ("Zoë" is "Zoe"): how names are compared and searched."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def slugify(text: str) -> str:
    """A topic's identity in URLs, feeds and preferences: ASCII, lower case, hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-") or "topic"


def paper_anchor(key: str) -> str:
    """A paper's short stable name (ten hex digits of its key's hash): its cards' anchor
    (``#p-…``) and the reference in their feedback links, short where a long key would not be."""
    return hashlib.sha1(key.encode()).hexdigest()[:10]
