"""Each source format's parsed records, held to golden files: a change to a parser that alters
what a dump, an RSS or Atom feed or a Daily Papers API answer yields shows as a diff here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from bot.models import Paper
from bot.sources.dump import DumpParser
from bot.sources.feed import parse_feed
from bot.sources.hfapi import parse_hf_api
from bot.sources.samples import arxiv_atom, arxiv_rss, hf_api, synthetic
from tests.conftest import ROOT
from tests.golden import check_golden

TODAY = dt.date(2026, 11, 21)


def as_json(papers: list[Paper], warnings: list[str]) -> str:
    records = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(p).items()}
               for p in papers]
    return json.dumps({"papers": records, "warnings": warnings}, indent=1, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("day", ["2026-11-18", "2026-11-19", "2026-11-20"])
def test_example_dumps_parse_to_their_golden_records(day: str) -> None:
    parser = DumpParser((ROOT / "examples" / "inbox" / f"{day}.txt").read_text().splitlines(), today=TODAY)
    papers = list(parser.papers())
    check_golden(f"sources/dump-{day}-{parser.header.layout}.json", as_json(papers, parser.warnings))


@pytest.mark.parametrize(("name", "make"), [("arxiv-rss", arxiv_rss), ("arxiv-atom", arxiv_atom)])
def test_feeds_parse_to_their_golden_records(name: str, make: object) -> None:
    parsed = parse_feed(make(synthetic(6)), name)  # type: ignore[operator]
    check_golden(f"sources/{name}.json", as_json(list(parsed.papers), list(parsed.warnings)))


def test_the_daily_papers_api_parses_to_its_golden_records() -> None:
    papers, warnings = parse_hf_api(hf_api(synthetic(6, start=40)), "hf-api")
    check_golden("sources/hf-api.json", as_json(list(papers), list(warnings)))
