"""Editions: built once per date, every new paper in exactly one, Climbing, races between processes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.errors import EditionError
from bot.models import TopicRule
from bot.pipeline import build_edition, ingest
from bot.settings import Settings
from bot.sources.dumpgen import write_dump
from bot.store import Database
from bot.store.schema import EditionItemRow, EditionRow
from tests.conftest import ROOT, Cli

DAY = dt.datetime(2026, 11, 18, 9, tzinfo=dt.UTC)


def _dump(path: Path, start: int, count: int, day: dt.date) -> Path:
    write_dump(path, "blocks-with-meta", start, count, dump_date=day)
    return path


def _ingest(db: Database, settings: Settings, path: Path, now: dt.datetime) -> None:
    summary = ingest(db, settings, [path], now=lambda: now)
    assert summary.ok, summary


def _meta_dump(path: Path, papers: list[tuple[str, int]], day: str = "Nov 19") -> Path:
    """A blocks-with-meta dump of (title, upvotes)."""
    blocks = [f"{title}\n\nAn abstract about {title.lower()}.\n\n  • 3 authors\n·\n{day} {up}" for title, up in papers]
    path.write_text("Daily Papers\n\n" + f"{day}\n\n" + "\n\n".join(blocks) + "\n")
    return path


def _keys(edition) -> list[str]:
    return [p.key for s in edition.sections for p in s.papers]


def test_an_edition_is_built_once_and_papers_are_new_once(db: Database, settings: Settings, tmp_path: Path) -> None:
    _ingest(db, settings, _dump(tmp_path / "a.txt", 0, 30, DAY.date()), DAY)
    first = build_edition(db, settings, DAY.date(), DAY + dt.timedelta(hours=1))
    assert first is not None and first.created and first.papers == 30
    assert len(set(_keys(first))) == 30
    again = build_edition(db, settings, DAY.date(), DAY + dt.timedelta(hours=2))
    assert again is not None and not again.created
    assert _keys(again) == _keys(first) and [s.label for s in again.sections] == [s.label for s in first.sections]

    later = DAY + dt.timedelta(days=1)
    _ingest(db, settings, _dump(tmp_path / "b.txt", 20, 30, later.date()), later)  # 10 seen, 20 new
    second = build_edition(db, settings, later.date(), later + dt.timedelta(hours=1))
    assert second is not None and second.papers == 20
    assert not set(_keys(second)) & set(_keys(first))

    assert build_edition(db, settings, (later + dt.timedelta(days=1)).date(), later + dt.timedelta(days=1)) is None
    with pytest.raises(EditionError, match="a later edition"):
        build_edition(db, settings, (DAY - dt.timedelta(days=1)).date(), later + dt.timedelta(days=1))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EditionRow)) == 2
        new_items = select(func.count()).select_from(EditionItemRow).where(EditionItemRow.section == "new")
        assert session.scalar(new_items) == 50


def test_empty_editions_when_configured(db: Database, settings: Settings) -> None:
    from dataclasses import replace

    assert build_edition(db, settings, DAY.date(), DAY) is None
    edition = build_edition(db, replace(settings, digest_empty_editions=True), DAY.date(), DAY)
    assert edition is not None and edition.created and edition.papers == 0 and edition.sections == ()


def test_climbing_lists_papers_whose_upvotes_rose_enough(db: Database, settings: Settings, tmp_path: Path) -> None:
    _ingest(db, settings, _meta_dump(tmp_path / "a.txt", [("Slow riser", 3), ("Rocket", 5), ("Flat", 40)], "Nov 18"), DAY)
    first = build_edition(db, settings, DAY.date(), DAY + dt.timedelta(hours=1))
    assert first is not None and first.climbing == ()
    later = DAY + dt.timedelta(days=1)
    _ingest(db, settings, _meta_dump(tmp_path / "b.txt", [("Slow riser", 9), ("Rocket", 85), ("Flat", 41),
                                                          ("Fresh one", 2)]), later)
    second = build_edition(db, settings, later.date(), later + dt.timedelta(hours=1))
    assert second is not None
    assert [p.title for p in second.climbing] == ["Rocket"]
    assert second.climbing[0].rise == 80 and second.climbing[0].upvotes == 85
    assert [p.title for s in second.sections for p in s.papers] == ["Fresh one"]


def test_papers_in_a_section_are_ordered_by_upvotes(db: Database, settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    configured = replace(settings, topics=(TopicRule("Robots", "robots", ("robot",)),))
    _ingest(db, configured, _meta_dump(tmp_path / "a.txt", [("Robot one", 3), ("Robot two", 50), ("Robot three", 9)]), DAY)
    edition = build_edition(db, configured, DAY.date(), DAY + dt.timedelta(hours=1))
    assert edition is not None
    assert [(s.slug, [p.title for p in s.papers]) for s in edition.sections] == [
        ("robots", ["Robot two", "Robot three", "Robot one"])]


def test_digest_build_command(cli: Cli, tmp_path: Path) -> None:
    assert cli("ingest", str(ROOT / "examples" / "inbox")).exit_code == 0
    built = cli.json("digest", "build", "--date", "2026-11-20")
    assert built["created"] is True and built["date"] == "2026-11-20" and built["papers"] == 26
    assert sum(t["count"] for t in built["topics"]) == 26 and built["climbing"] == 0
    again = cli.json("digest", "build", "--date", "2026-11-20")
    assert again == {**built, "created": False}
    nothing = cli("digest", "build", "--date", "2026-11-21")
    assert nothing.exit_code == 0 and "nothing new" in nothing.output
    earlier = cli("digest", "build", "--date", "2026-11-19")
    assert earlier.exit_code == 1 and "a later edition (2026-11-20) exists" in earlier.output
    assert cli.json("topics", "show") == {"topics": []}


@pytest.mark.slow
def test_two_processes_building_the_same_date_make_one_edition(database_url: str, tmp_path: Path) -> None:
    env = {"PAPERBOY_DATABASE_URL": database_url, "PAPERBOY_INBOX": str(tmp_path / "inbox")}
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    run = [sys.executable, "-m", "bot"]
    subprocess.run([*run, "ingest", str(ROOT / "examples" / "inbox")], env={**base, **env}, check=True,
                   capture_output=True)
    builders = [subprocess.Popen([*run, "digest", "build", "--date", "2026-11-20", "--json"], env={**base, **env},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [b.communicate(timeout=120) for b in builders]
    assert all(b.returncode == 0 for b in builders), results
    outputs = [json.loads(out) for out, _ in results]
    assert sorted(o["created"] for o in outputs) == [False, True]
    assert outputs[0]["topics"] == outputs[1]["topics"] and outputs[0]["papers"] == 26
