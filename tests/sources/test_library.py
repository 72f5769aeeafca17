"""A reader's library: pasted ids and links, BibTeX, RIS and CSL-JSON (Zotero's three exports);
what cannot be read is one line naming the file."""

from __future__ import annotations

import json

import pytest

from bot.errors import SourceError
from bot.sources.library import MAX_BYTES, MAX_ENTRIES, LibraryEntry, read_library


def test_pasted_ids_and_links_in_the_order_given_each_once() -> None:
    text = b"2401.01234v2, https://arxiv.org/abs/2311.03057 arXiv:hep-th/9901001\n2401.01234 https://arxiv.org/pdf/2402.00001v1"
    assert [e.arxiv_id for e in read_library("pasted", text)] == ["2401.01234", "2311.03057", "hep-th/9901001",
                                                                   "2402.00001"]


def test_bibtex_entries_give_their_ids_wherever_they_are_and_their_text() -> None:
    bib = rb"""@misc{tulu, title={{T\"ULU} 3: Pushing Frontiers}, eprint={2411.15124}, archivePrefix={arXiv},
      abstract={We release a family of post-trained models.}, keywords={post-training, RLVR}}
    @article{doi, title={Over a DOI}, doi={10.48550/arXiv.2401.01235}}
    @inproceedings{journal, title={In a journal field}, journal={arXiv preprint arXiv:2310.06825}}
    @book{none, title={A Book Without Any Id}}
    """
    entries = read_library("refs.bib", bib)
    assert [e.arxiv_id for e in entries] == ["2411.15124", "2401.01235", "2310.06825", None]
    assert entries[0].title.startswith('T\\"ULU 3') and "post-trained" in entries[0].abstract
    assert "RLVR" in entries[0].abstract and entries[3].title == "A Book Without Any Id"


def test_ris_and_csl_json_as_zotero_writes_them() -> None:
    ris = (b"TY  - JOUR\nTI  - Hello world of papers\nAB  - an abstract\nUR  - https://arxiv.org/abs/2401.01234\n"
           b"KW  - retrieval\nER  - \n\nTY  - BOOK\nT1  - Second one\nER  - \n")
    assert read_library("refs.ris", ris) == [LibraryEntry("2401.01234", "Hello world of papers", "an abstract retrieval"),
                                             LibraryEntry(None, "Second one", " ")]
    csl = json.dumps([{"id": "x", "title": "From Zotero", "URL": "https://arxiv.org/abs/2401.01239",
                       "abstract": "text"}, {"title": "No link", "DOI": "10.1000/xyz"}]).encode()
    assert [(e.arxiv_id, e.title) for e in read_library("refs.json", csl)] == [("2401.01239", "From Zotero"),
                                                                               (None, "No link")]


@pytest.mark.parametrize(("data", "problem"), [
    (b"\xff\xfe\x00\x01", "not UTF-8 text"),
    (b"just some words, no ids", "no arXiv id and no titled reference in it"),
    (b"[1, 2, 3]", "not CSL-JSON (a list of references)"),
    (b"[{bad json", "not valid JSON"),
    (b"@misc{unfinished, title={", "no BibTeX entry could be read"),
    (b"@misc{x, author={Nobody}}", "no arXiv id and no titled reference in it"),
    (b"%" * (MAX_BYTES + 1), "larger than 2 MB"),
])
def test_what_cannot_be_read_is_one_line_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(SourceError) as caught:
        read_library("upload.bib", data)
    assert str(caught.value).startswith(f"upload.bib: {problem}") and "\n" not in str(caught.value)


def test_a_huge_library_is_read_up_to_its_bound() -> None:
    ids = " ".join(f"2401.{i:05d}" for i in range(MAX_ENTRIES + 50)).encode()
    assert len(read_library("many", ids)) == MAX_ENTRIES
