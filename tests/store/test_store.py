"""The schema: migrations match the models, and the constraints guard identity."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect

from bot.errors import StoreConflict
from bot.identity import normalise_arxiv_id, normalise_title, paper_key
from bot.store import Database, open_database
from bot.store.schema import Base, PaperRow

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={
            "compare_type": True,
            # the search index is each database's own kind of table (bot/store/search.py)
            "include_name": lambda name, kind, _: not (kind == "table" and name and name.startswith("paper_search"))}),
            Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(database_url: str) -> None:
    for _ in range(2):
        database = open_database(database_url)
        tables = set(inspect(database.engine).get_table_names())
        database.close()
    assert {"dumps", "papers", "sightings", "alembic_version"} <= tables


def test_opening_an_upgraded_database_does_not_wait_for_a_writer(db: Database, database_url: str) -> None:
    """A second process starting while another holds a long write (an ingest) gets in at once;
    before, its upgrade waited for the write lock and failed with "database is locked"."""
    with db.write() as session:
        session.execute(insert(PaperRow), [_paper("title:held")])
        second = open_database(database_url)
        with second.read() as reader:
            assert reader.query(PaperRow).count() == 0
        second.close()


def _paper(key: str, arxiv_id: str | None = None) -> dict[str, object]:
    return {"key": key, "arxiv_id": arxiv_id, "title_key": key, "title": key, "first_seen_at": NOW}


def test_a_key_exists_once(db: Database) -> None:
    with pytest.raises(StoreConflict), db.write() as session:
        session.execute(insert(PaperRow), [_paper("title:a"), _paper("title:a")])
    with pytest.raises(StoreConflict), db.write() as session:
        session.execute(insert(PaperRow), [_paper("arxiv:1", "2401.00001"), _paper("arxiv:2", "2401.00001")])


def test_datetimes_come_back_aware_utc(db: Database) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    with db.write() as session:
        session.execute(insert(PaperRow), [{**_paper("title:t"), "first_seen_at": NOW.astimezone(berlin)}])
    with db.read() as session:
        stored = session.query(PaperRow).one().first_seen_at
    assert stored == NOW and stored.tzinfo is not None and stored.utcoffset() == dt.timedelta(0)


def test_bad_database_url_is_one_line() -> None:
    from bot.errors import StoreError
    with pytest.raises(StoreError, match="cannot open the database"):
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_title_identity() -> None:
    assert normalise_title("GUI-G1: Understanding R1-Zero") == "gui g1 understanding r1 zero"
    assert normalise_title("  Ｆｕｌｌｗｉｄｔｈ  “Quotes” ") == normalise_title('Fullwidth "quotes"')
    assert normalise_title("Straße") == normalise_title("STRASSE")
    assert paper_key("A Title.") == paper_key("a title") == "title:a title"
    assert paper_key("Anything", "2401.01234") == "arxiv:2401.01234"
    assert normalise_title("LLMs for X") != normalise_title("LLM for X")


def test_arxiv_ids() -> None:
    assert normalise_arxiv_id("2401.01234v3") == "2401.01234"
    assert normalise_arxiv_id("arXiv:2401.01234") == "2401.01234"
    assert normalise_arxiv_id("hep-th/9901001v1") == "hep-th/9901001"
    assert normalise_arxiv_id("not an id") is None


def test_migration_0008_bounds_long_keys_and_keys_short_titles_by_abstract(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from bot.identity import paper_key, title_key
    from bot.store.database import alembic_config

    database = Database(database_url)
    with database.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0007")
        long_title = "Long " + " ".join(f"w{i}" for i in range(100))  # 400 characters, under the btree limit
        rows = [("title:" + long_title.lower(), long_title, "An abstract."),
                ("title:scaling laws", "Scaling Laws", "We study scaling."),
                ("title:a title of many words", "A Title of Many Words", "Another.")]
        for key, title, abstract in rows:
            connection.execute(text("INSERT INTO papers (key, title_key, title, abstract, first_seen_at) "
                                    "VALUES (:k, :tk, :t, :a, :at)"),
                               {"k": key, "tk": key.removeprefix("title:"), "t": title, "a": abstract, "at": NOW})
    database.upgrade()
    with database.engine.connect() as connection:
        stored = {row.title: (row.key, row.title_key) for row in connection.execute(text("SELECT * FROM papers"))}
    for _, title, abstract in rows:
        assert stored[title] == (paper_key(title, None, abstract), title_key(title)), title
    assert stored["A Title of Many Words"][0] == "title:a title of many words", "ordinary keys stay"
    assert len(stored[long_title][0]) < 240 and stored["Scaling Laws"][0].startswith("title:scaling laws #")
    database.close()
