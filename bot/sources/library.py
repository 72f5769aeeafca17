"""A reader's own library, to seed their profile: pasted arXiv ids, or a reference manager's
export (BibTeX, RIS, CSL-JSON; Zotero writes all three). Read here, kept on the server.

Each entry keeps what a profile can read (title, abstract, keywords) and the arXiv id when one
shows anywhere in it (an ``eprint`` field, an arxiv.org link, an arXiv DOI, "arXiv:2401.01234"
in a note), so that a paper paperboy has seen is read from the store, which has its abstract.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rispy
from bibtexparser.entrypoint import parse_string

from bot.errors import SourceError
from bot.identity import normalise_arxiv_id

MAX_BYTES = 2 * 1024 * 1024
MAX_ENTRIES = 1000
"""A library larger than this is read to here: a profile learns little more from the rest."""
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv[:./\s]*|arxiv\.org/(?:abs|pdf)/|10\.48550/arxiv\.)(\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v\d+)?",
    re.IGNORECASE)
_BARE_ID = re.compile(r"(?<![\w.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\w.])")


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    arxiv_id: str | None
    title: str = ""
    abstract: str = ""


def read_library(name: str, data: bytes) -> list[LibraryEntry]:
    """The entries of an uploaded file or pasted text named ``name`` (the kind is read from its
    content: CSL-JSON starts with ``[``, BibTeX with ``@``, RIS with ``TY  -``; anything else is
    a list of arXiv ids or links). SourceError, naming ``name``, when nothing can be read."""
    if len(data) > MAX_BYTES:
        raise SourceError(name, f"larger than {MAX_BYTES // (1024 * 1024)} MB; export fewer references")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(name, "not UTF-8 text (export BibTeX, RIS or CSL-JSON as UTF-8)") from None
    head = text.lstrip()[:200]
    if head.startswith(("[", "{")):
        entries = _csl_json(name, text)
    elif head.startswith("@") or (re.search(r"^\s*@\w+\s*[{(]", text, re.MULTILINE) and not _ids(text)):
        entries = _bibtex(name, text)
    elif re.match(r"TY {2}- ", head):
        entries = _ris(name, text)
    else:
        entries = [LibraryEntry(i) for i in _ids(text)]
    entries = [e for e in entries if e.arxiv_id or e.title.strip()][:MAX_ENTRIES]
    if not entries:
        raise SourceError(name, "no arXiv id and no titled reference in it")
    return entries


def _ids(text: str) -> list[str]:
    """The arXiv ids in ``text``, in the order they come, each once."""
    found = sorted([*_ARXIV_IN_TEXT.finditer(text), *_BARE_ID.finditer(text)], key=lambda m: m.start())
    return list(dict.fromkeys(i for i in (normalise_arxiv_id(m.group(1)) for m in found) if i))


def _arxiv_in(values: Iterable[object]) -> str | None:
    for value in values:
        if isinstance(value, str) and (found := _ids(value)):
            return found[0]
    return None


def _bibtex(name: str, text: str) -> list[LibraryEntry]:
    library = parse_string(text)  # an entry it cannot read is logged by bibtexparser and left out
    if not library.entries:
        raise SourceError(name, "no BibTeX entry could be read")
    out = []
    for entry in library.entries:
        fields = {key.lower(): str(field.value) for key, field in entry.fields_dict.items()}
        eprint = normalise_arxiv_id(fields.get("eprint", "")) if fields.get("eprint") else None
        out.append(LibraryEntry(eprint or _arxiv_in(fields.values()), _unbrace(fields.get("title", "")),
                                " ".join((_unbrace(fields.get("abstract", "")), fields.get("keywords", "")))))
    return out


def _unbrace(value: str) -> str:
    return value.replace("{", "").replace("}", "")


def _ris(name: str, text: str) -> list[LibraryEntry]:
    try:
        records: list[dict[str, Any]] = rispy.loads(text)
    except OSError as exc:  # what rispy raises for a record it cannot read
        raise SourceError(name, f"not a RIS file rispy can read: {exc}") from None
    return [LibraryEntry(_arxiv_in(_flat(r)), str(r.get("title") or r.get("primary_title") or ""),
                         " ".join((str(r.get("abstract") or ""), " ".join(map(str, r.get("keywords") or ())))))
            for r in records]


def _flat(record: Mapping[str, Any]) -> list[object]:
    return [v for value in record.values() for v in (value if isinstance(value, list) else [value])]


def _csl_json(name: str, text: str) -> list[LibraryEntry]:
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise SourceError(name, f"not valid JSON: {exc}") from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SourceError(name, "not CSL-JSON (a list of references)")
    return [LibraryEntry(_arxiv_in([i.get(k) for k in ("number", "URL", "DOI", "note", "id", "container-title")]),
                         str(i.get("title") or ""),
                         " ".join((str(i.get("abstract") or ""), str(i.get("keyword") or ""))))
            for i in items]
