"""Files that are not dumps, hostile text inside dumps, hostile file names, paths that cannot be
read: each is refused or cleaned with one clear line, and what can be read still goes in."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.errors import PaperboyError
from bot.pipeline import ingest
from bot.settings import Settings
from bot.sources.dump import DumpParser
from bot.store import Database
from bot.store.papers import list_papers
from tests.conftest import ROOT, SAMPLES, Cli

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
TODAY = NOW.date()
EXAMPLE = ROOT / "examples" / "inbox" / "2026-11-18.txt"

NOT_DUMPS = {
    "passwd": "root:x:0:0:root:/root:/bin/bash\n\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\n"
              "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\nsys:x:3:3:sys:/dev:/usr/sbin/nologin\n",
    "diary": "Dear diary,\n\nToday nothing happened.\n\n" * 3,
    "csv": "title,abstract,upvotes\n\"Attention Is All You Need\",\"We propose the Transformer.\",42\n"
           "\"BERT\",\"We introduce a new language representation model.\",17\n",
    "html": "<!doctype html>\n<html>\n<head><title>Daily Papers - Hugging Face</title></head>\n<body>\n"
            "<h1>Daily Papers</h1>\n<article><h3>Attention Is All You Need</h3>\n<p>We propose the "
            "Transformer.</p></article>\n</body>\n</html>\n",
    "source": 'def main():\n    """Entry point."""\n\n    print("Subscribe to our newsletter")\n\n'
              'if __name__ == "__main__":\n    main()\n',
    "json": '[\n  {"paper": {"id": "2401.00001", "title": "A Title", "summary": "An abstract."}}\n]\n',
}


@pytest.mark.parametrize("kind", sorted(NOT_DUMPS))
def test_text_that_is_not_a_dump_fails_clearly(cli: Cli, db: Database, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.txt"
    path.write_text(NOT_DUMPS[kind])
    result = cli("ingest", str(path))
    assert result.exit_code == 1
    assert f"{path}: not a Daily Papers dump" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    with db.read() as session:
        assert list_papers(session) == []


def test_every_real_layout_is_still_recognised(samples: Path) -> None:
    for path in sorted(samples.iterdir()):
        parser = DumpParser(path.read_text().splitlines(), today=TODAY)
        assert parser.recognised, path.name
        assert len(list(parser.papers())) > 40


def test_a_dump_without_its_banner_but_with_metadata_is_recognised() -> None:
    text = "Gemini Robotics\n\nWe study a problem. Our method works.\n\n  • 3 authors\n·\nSep 19 7\n"
    assert DumpParser(text.splitlines(), today=TODAY).recognised


# Hostile text inside a dump ----------------------------------------------------------------

def test_nul_and_terminal_escapes_in_a_paper_are_removed_with_a_warning(db: Database, settings: Settings,
                                                                        tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"\n", b"\x00\n", 1)
                     + b"\x1b[31mRed\x1b[0m Title \x1b]0;owned\x07Now\n"
                       b"An abstract with a bell\x07 and a NUL\x00 inside it.\n")
    report = ingest(db, settings, [path], now=lambda: NOW).files[0]
    assert report.status == "ingested", report.error
    assert any("removed control characters" in w for w in report.warnings)
    with db.read() as session:
        titles = {p.title: p for p in list_papers(session)}
    assert "Red Title Now" in titles
    assert not any(c in p.title + (p.abstract or "") for p in titles.values() for c in "\x00\x07\x1b")


def test_file_names_with_newlines_and_escapes_are_printed_escaped(cli: Cli, tmp_path: Path) -> None:
    hostile = tmp_path / "fake\nline \x1b[2J[red]x[bold].txt"
    hostile.write_text(NOT_DUMPS["diary"])
    result = cli("ingest", str(hostile))
    assert result.exit_code == 1
    assert "\x1b" not in result.output + result.stderr
    assert "fake\\nline \\x1b[2J[red]x[bold].txt: not a Daily Papers dump" in result.stderr
    assert "fake\\nline" in result.stdout and "\nline" not in result.stdout


# Paths that cannot be read -------------------------------------------------------------------

def test_an_unreadable_path_among_readable_ones_is_a_failed_row(cli: Cli, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(EXAMPLE.read_bytes())
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    through_file = good / "inside.txt"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("ingest", "--json", str(loop), str(good), str(through_file), str(empty))
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    rows = {Path(f["path"]).name: f for f in report["files"]}
    assert rows["good.txt"]["status"] == "ingested" and rows["good.txt"]["new"] == 12
    assert rows["loop.txt"]["status"] == "failed" and "cannot be read" in rows["loop.txt"]["error"]
    assert rows["inside.txt"]["status"] == "failed" and "inside.txt" in rows["inside.txt"]["error"]
    assert report["notes"] == [f"{empty}: nothing to ingest (no visible files)"]
    assert "nothing to ingest" in cli("ingest", str(empty)).stdout


_AS_NOBODY = """
import encodings.utf_8_sig, encodings.cp1252, json, os, sys
from pathlib import Path
from bot.settings import load_settings
from bot.store import open_database
from bot.pipeline import ingest
settings = load_settings(env={}, database_url=sys.argv[1])
database = open_database(settings.database_url)
for name in os.listdir(sys.argv[2]):
    if name.startswith("paperboy.db"):
        os.chmod(os.path.join(sys.argv[2], name), 0o666)
os.setgid(65534); os.setuid(65534)
summary = ingest(database, settings, [Path(p) for p in sys.argv[3:]])
print(json.dumps([[f.path, f.status, f.error, f.new] for f in summary.files]))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to drop to nobody")
def test_permission_denied_is_one_line_and_the_rest_goes_in(database_url: str) -> None:
    """Root reads everything, so the process drops to nobody after opening the database."""
    folder = Path(tempfile.mkdtemp(prefix="paperboy-perm-"))
    try:
        folder.chmod(0o777)
        (folder / "ok.txt").write_bytes(EXAMPLE.read_bytes())
        locked = folder / "locked"
        locked.mkdir(mode=0o700)
        (locked / "a.txt").write_bytes(EXAMPLE.read_bytes())
        url = database_url if "postgresql" in database_url else f"sqlite:///{folder / 'paperboy.db'}"
        done = subprocess.run([sys.executable, "-c", _AS_NOBODY, url, str(folder), str(folder / "ok.txt"),
                               str(locked / "a.txt"), str(locked)], capture_output=True, text=True, cwd=ROOT,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert rows[0][1:] == ["ingested", None, 12]
        assert rows[1][1:] == ["failed", f"{locked / 'a.txt'}: cannot be read (Permission denied)", 0]
        assert rows[2][1:] == ["failed", f"{locked}: cannot be read (Permission denied)", 0]
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


# Property: random text and mutated samples ---------------------------------------------------

_MARKERS = ("subscribe", "daily papers", "byak", "by ak", "get trending papers", "author", "·")


def _parse(text: str) -> tuple[DumpParser, list[object]]:
    parser = DumpParser(iter(text.splitlines()), today=TODAY, ends_cleanly=text.endswith("\n"))
    return parser, list(parser.papers())


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
def test_random_text_is_never_a_dump(text: str) -> None:
    try:
        parser, _ = _parse(text)
    except PaperboyError:
        return
    if not any(marker in text.casefold() for marker in _MARKERS):
        assert not parser.recognised


def _sample_lines() -> list[list[str]]:
    if not SAMPLES.is_dir():
        return [EXAMPLE.read_text().splitlines()]
    return [p.read_text().splitlines() for p in sorted(SAMPLES.iterdir())]


_SAMPLES = _sample_lines()


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_SAMPLES) - 1), st.randoms(use_true_random=False), st.integers(1, 40))
def test_mutated_samples_never_break_the_parser(which: int, rng: random.Random, edits: int) -> None:
    lines = list(_SAMPLES[which])
    pieces = ["", "·", "  • 3 authors", "Mar 32", "Feb 30, 2024 5", "9999-12-31", "\x00", "\x1b[31m", "Subscribe",
              "x" * 5000, "• 99999 authors · Dec 1 9999999"]
    for _ in range(edits):
        at = rng.randrange(len(lines) + 1)
        action = rng.choice(("delete", "insert", "duplicate", "cut"))
        if action == "delete" and lines:
            del lines[min(at, len(lines) - 1)]
        elif action == "insert":
            lines.insert(at, rng.choice(pieces))
        elif action == "duplicate" and lines:
            lines.insert(at, lines[rng.randrange(len(lines))])
        elif lines:
            index = min(at, len(lines) - 1)
            lines[index] = lines[index][: rng.randrange(len(lines[index]) + 1)]
    text = "\n".join(lines)
    try:
        _parser, papers = _parse(text)
    except PaperboyError:
        return
    for paper in papers:
        assert paper.title.strip() and paper.abstract.strip()  # type: ignore[attr-defined]
        assert not any(c in paper.title for c in "\x00\x1b")  # type: ignore[attr-defined]


# Lengths and dates ------------------------------------------------------------------------------

BANNER = "Get trending papers in your email inbox!\n\nDaily Papers\n\n"


def test_a_title_over_the_btree_limit_goes_in_on_both_databases(db: Database, settings: Settings,
                                                                tmp_path: Path) -> None:
    """PostgreSQL's btree refused a row over about 2.7 KB, which failed the whole dump."""
    long_a = "Long " + " ".join(f"word{i}" for i in range(600))
    long_b = long_a + " but a different ending"
    path = tmp_path / "long.txt"
    path.write_text(BANNER + f"{long_a}\n\nAn abstract.\n\n{long_b}\n\nAnother abstract.\n\nShort Title Paper Here\n\n"
                    + "x " * 15000 + "\n")
    report = ingest(db, settings, [path], now=lambda: NOW).files[0]
    assert report.status == "ingested", report.error
    assert report.new == 3, "two long titles that share their start stay two papers"
    assert sum("is cut to 500" in w for w in report.warnings) == 2
    assert any("the abstract of 29,999 characters is cut to 20,000" in w for w in report.warnings)
    with db.read() as session:
        stored = list_papers(session)
    assert all(len(p.title) <= 500 and len(p.abstract or "") <= 20_000 for p in stored)
    assert sum(p.title.endswith("…") for p in stored) == 2
    again = tmp_path / "again.txt"
    again.write_text(BANNER + "Daily Papers\n\n" + path.read_text().removeprefix(BANNER))
    assert ingest(db, settings, [again], now=lambda: NOW).files[0].new == 0, "the same long titles meet again"


def test_future_and_impossible_dates_are_warnings_and_dropped(db: Database, settings: Settings,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "dates.txt"
    path.write_text(BANNER + "9999-12-31\n\n"
                    "Far Future Paper Title Here\n\nAn abstract.\n\n  • 3 authors\n·\nDec 1, 2099 5\n\n"
                    "Impossible Day Paper Title\n\nAn abstract too.\n\n  • 2 authors\n·\nFeb 30, 2024 3\n\n"
                    "Fine Paper With Its Date\n\nThe last abstract.\n\n  • 1 authors\n·\nNov 19, 2026 1\n")
    report = ingest(db, settings, [path], now=lambda: NOW).files[0]
    assert report.status == "ingested" and report.dump_date == NOW.date(), report
    assert any("9999-12-31 is in the future; ignored" in w for w in report.warnings)
    assert any("2099-12-01 is in the future; dropped" in w for w in report.warnings)
    assert any("cannot read the date 'Feb 30, 2024 3'" in w for w in report.warnings)
    with db.read() as session:
        dates = {p.title: (p.published, p.upvotes) for p in list_papers(session)}
    assert dates == {"Far Future Paper Title Here": (None, 5), "Impossible Day Paper Title": (None, 3),
                     "Fine Paper With Its Date": (dt.date(2026, 11, 19), 1)}


# Short titles across sources ---------------------------------------------------------------------

def test_a_short_title_merges_only_when_the_abstracts_agree(db: Database, settings: Settings,
                                                            tmp_path: Path) -> None:
    from bot.sources.hfapi import parse_hf_api

    abstract = ("We introduce policy-guided diffusion, a method that generates synthetic trajectories "
                "under the target policy while staying close to the behaviour distribution.")
    dump = tmp_path / "dump.txt"
    dump.write_text(BANNER + f"Policy-Guided Diffusion\n\n{abstract}\n\n"
                    "Scaling Laws\n\nWe study empirical scaling laws for language model performance on the "
                    "cross-entropy loss.\n\n  • 4 authors\n·\nNov 19 3\n")
    assert ingest(db, settings, [dump], now=lambda: NOW).files[0].new == 2
    api = json.dumps([
        {"paper": {"id": "2404.06356", "title": "Policy Guided Diffusion", "summary": "\\textbf{We} introduce "
                   + abstract.removeprefix("We introduce "), "upvotes": 7}},
        {"paper": {"id": "2203.15556", "title": "Scaling Laws", "summary": "We investigate the optimal model "
                   "size and number of tokens for training a transformer language model under a given budget."}},
    ]).encode()
    from bot.pipeline import ingest_document

    report = ingest_document(db, "api", api, "hf-api", NOW)
    assert report.status == "ingested" and report.new == 1, report
    with db.read() as session:
        stored = {(p.title, p.arxiv_id) for p in list_papers(session)}
    assert stored == {("Policy-Guided Diffusion", "2404.06356"), ("Scaling Laws", None),
                      ("Scaling Laws", "2203.15556")}
    assert parse_hf_api(api, "api")[0][0].title == "Policy Guided Diffusion"
