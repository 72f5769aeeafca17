"""Full-text search over every paper, on both databases: what matches, in which order, what is
marked, what a later sighting or an edition changes, and queries that try the index's syntax."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.models.search import START, STOP
from bot.pipeline import build_edition, index_search, ingest_document
from bot.settings import Settings
from bot.sources.samples import Sample, arxiv_rss, hf_api
from bot.store import Database
from bot.store import search as search_store

NOW = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
PAPERS = [
    Sample("2611.00001", "Diffusion policies for robot grasping", "We train a diffusion policy on real robots.",
           authors=("Ada Lovelace", "Zoë Ho")),
    Sample("2611.00002", "Sparse attention for long documents", "Attention that scales; robots are not involved.",
           authors=("Alan Turing",)),
    Sample("2611.00003", "A survey of grasping", "Grasping with diffusion models and robot hands, surveyed.",
           authors=("Grace Hopper",)),
]


def _find(db: Database, query: str, limit: int = 20, offset: int = 0) -> list[str]:
    with db.read() as session:
        return [h.key for h in search_store.search(session, query, limit, offset).hits]


@pytest.fixture
def indexed(db: Database) -> Database:
    assert ingest_document(db, "api", hf_api(PAPERS), "hf-api", NOW).new == 3
    assert index_search(db) == 3
    assert index_search(db) == 0, "a second catch-up finds nothing to do"
    return db


def test_every_word_must_occur_and_the_title_weighs_most(indexed: Database) -> None:
    assert _find(indexed, "diffusion robot grasping")[0] == "arxiv:2611.00001"
    assert _find(indexed, "diffusion") == ["arxiv:2611.00001", "arxiv:2611.00003"], \
        "in the title comes before the newer paper that has it in the abstract"
    assert set(_find(indexed, "diffusion robot")) == {"arxiv:2611.00001", "arxiv:2611.00003"}
    assert _find(indexed, "robots") and _find(indexed, "ROBOT") == _find(indexed, "robots"), "stemmed, any case"
    assert _find(indexed, "zoe ho") == ["arxiv:2611.00001"], "authors are searched, accents folded"
    assert _find(indexed, "quantum") == []


def test_matched_words_are_marked_and_pages_count_the_whole(indexed: Database) -> None:
    with indexed.read() as session:
        found = search_store.search(session, "grasping", limit=1)
    assert found.total == 2 and len(found.hits) == 1
    assert f"{START}grasping{STOP}" in found.hits[0].title.casefold()
    assert _find(indexed, "grasping", limit=1, offset=1) != _find(indexed, "grasping", limit=1)


@pytest.mark.parametrize("query", ['"', "diffusion OR", "NEAR(a b)", "title:robot", "a* AND -b", "'; DROP TABLE papers; --",
                                   "^", "(", "robot\x00", ""])
def test_no_query_reaches_the_index_s_own_syntax(indexed: Database, query: str) -> None:
    _find(indexed, query)  # answers, whatever it finds
    assert _find(indexed, "robot"), "and the store is intact"


def test_what_a_later_sighting_fills_in_is_searched_after_the_next_catch_up(db: Database, settings: Settings) -> None:
    assert ingest_document(db, "rss", arxiv_rss(PAPERS), "feed", NOW).new == 3  # no organisation in a feed
    assert index_search(db) == 3
    assert _find(db, "example lab") == []
    ingest_document(db, "api", hf_api(PAPERS), "hf-api", NOW + dt.timedelta(hours=1))  # the API names it
    assert index_search(db) == 3, "the papers sighted again are indexed again"
    assert _find(db, "example lab") == ["arxiv:2611.00001"]
    assert build_edition(db, settings, NOW.date(), NOW + dt.timedelta(hours=2)) is not None
    index_search(db)
    with db.read() as session:
        hits = search_store.search(session, "diffusion").hits
    assert len(hits) == 2 and {h.edition for h in hits} == {NOW.date()}, "each hit names the edition it was new in"


def test_a_common_word_is_counted_to_a_bound_and_ranked_among_the_newest(
        indexed: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_store, "COUNTED", 1)
    monkeypatch.setattr(search_store, "RANKED", 2)
    with indexed.read() as session:
        found = search_store.search(session, "grasping")
        newest = search_store.search(session, "grasping", newest=True)
    assert (found.total, found.exact) == (1, False), "two match: counted to the bound, said to be more"
    assert [h.key for h in newest.hits] == ["arxiv:2611.00003", "arxiv:2611.00001"], "newest first"
