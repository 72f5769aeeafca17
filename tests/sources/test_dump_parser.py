"""The Daily Papers dump parser: the three real layouts, and the variations real dumps bring."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.models import Paper
from bot.sources.dump import DumpParser, resolve_date
from bot.sources.text import read_lines, sniff

TODAY = dt.date(2026, 11, 21)
ABSTRACT = "We study a problem. Our method works well on many benchmarks."


def parse(tmp_path: Path, data: str | bytes, **options: object) -> tuple[DumpParser, list[Paper]]:
    path = tmp_path / "dump.txt"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    how = sniff(path, 2**30)
    parser = DumpParser(read_lines(path, drop_cut_tail=how.cut_mid_character), today=TODAY,
                        ends_cleanly=how.ends_with_newline, surely_cut=how.cut_mid_character,
                        **options)  # type: ignore[arg-type]
    return parser, list(parser.papers())


BLOCKS_BANNER = ("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
                 "byAK and the research community\n\nMar 12\n\n")


def blocks(*records: str, banner: str = BLOCKS_BANNER) -> str:
    return banner + "\n\n".join(records) + "\n"


@pytest.mark.parametrize(("name", "layout", "count", "with_meta"), [
    ("flat-list.txt", "flat-list", 141, 0),
    ("blocks.txt", "blocks", 69, 0),
    ("blocks-with-meta.txt", "blocks-with-meta", 46, 45),
])
def test_real_samples(samples: Path, name: str, layout: str, count: int, with_meta: int) -> None:
    path = samples / name
    parser = DumpParser(read_lines(path), today=TODAY)
    papers = list(parser.papers())
    assert parser.header.layout == layout
    assert len(papers) == count
    assert all(p.title and len(p.abstract) > 100 for p in papers)
    assert sum(p.published is not None for p in papers) == with_meta
    assert [p.rank for p in papers] == list(range(1, count + 1))
    assert parser.warnings == []
    assert len({p.title for p in papers}) == count


def test_flat_list_unglues_subscribe_from_the_first_title(samples: Path) -> None:
    parser = DumpParser(read_lines(samples / "flat-list.txt"), today=TODAY)
    first = next(parser.papers())
    assert first.title.startswith("Empirical Study of Mutual Reinforcement Effect")
    assert parser.header.dump_date == TODAY and not parser.header.dump_date_in_file


def test_blocks_with_meta_sample_fields(samples: Path) -> None:
    parser = DumpParser(read_lines(samples / "blocks-with-meta.txt"), today=TODAY)
    papers = list(parser.papers())
    assert parser.header.dump_date == dt.date(2025, 12, 11)  # Dec 11 this year would be in the future
    first, second = papers[0], papers[1]
    assert (first.author_count, first.published, first.upvotes) == (12, dt.date(2024, 3, 6), 1)
    assert (second.author_count, second.published, second.upvotes) == (5, dt.date(2025, 9, 19), None)
    missing = [p for p in papers if p.published is None]
    assert len(missing) == 1 and missing[0].author_count is None


def test_dump_date_option_sets_the_year(samples: Path) -> None:
    parser = DumpParser(read_lines(samples / "blocks-with-meta.txt"), today=TODAY,
                        dump_date=dt.date(2025, 12, 11))
    papers = list(parser.papers())
    assert parser.header.dump_date == dt.date(2025, 12, 11)
    assert papers[1].published == dt.date(2025, 9, 19)
    assert parser.warnings == []


def test_resolve_date_without_year() -> None:
    assert resolve_date(9, 19, None, dt.date(2025, 12, 11)) == dt.date(2025, 9, 19)
    assert resolve_date(12, 14, None, dt.date(2025, 12, 11)) == dt.date(2024, 12, 14)
    assert resolve_date(2, 29, None, dt.date(2026, 3, 1)) == dt.date(2024, 2, 29)
    assert resolve_date(5, 1, 2020, dt.date(2025, 1, 1)) == dt.date(2020, 5, 1)


def test_crlf_bom_trailing_whitespace_and_blank_runs(tmp_path: Path) -> None:
    text = blocks(
        "Attention Is   All You Need \t", ABSTRACT + "  ",
        "  • 8 authors\t", "·", "Jun 12, 2017 42",
        "\n\n\nSecond Paper", "\t" + ABSTRACT,
    ).replace("·\n\nJun", "·\nJun").replace("authors\t\n\n·", "authors\t\n·")
    data = "\ufeff" + text.replace("\n", "\r\n")
    parser, papers = parse(tmp_path, data)
    assert parser.header.layout == "blocks-with-meta"
    assert [p.title for p in papers] == ["Attention Is All You Need", "Second Paper"]
    assert papers[0].abstract == ABSTRACT
    assert (papers[0].author_count, papers[0].published, papers[0].upvotes) == (8, dt.date(2017, 6, 12), 42)
    assert papers[1].published is None


def test_old_mac_line_endings(tmp_path: Path) -> None:
    _, papers = parse(tmp_path, blocks("A Title", ABSTRACT, "B Title", ABSTRACT).replace("\n", "\r"))
    assert [p.title for p in papers] == ["A Title", "B Title"]


def test_organisation_instead_of_author_count(tmp_path: Path) -> None:
    meta = "Google DeepMind\n·\nSep 19 7"
    parser, papers = parse(tmp_path, blocks("Gemini Robotics", ABSTRACT, meta, "Next One", ABSTRACT, "  • 3 authors\n·\nJan 2"))
    assert papers[0].organization == "Google DeepMind" and papers[0].author_count is None
    assert (papers[0].published, papers[0].upvotes) == (dt.date(2025, 9, 19), 7)
    assert papers[1].author_count == 3 and papers[1].organization is None
    assert parser.warnings == []


def test_missing_metadata_block_between_others(tmp_path: Path) -> None:
    meta = "  • 2 authors\n·\nFeb 1, 2024"
    _, papers = parse(tmp_path, blocks("One", ABSTRACT, meta, "Two", ABSTRACT, "Three", ABSTRACT, meta))
    assert [(p.title, p.author_count) for p in papers] == [("One", 2), ("Two", None), ("Three", 2)]


def test_metadata_on_one_line_and_in_a_flat_list(tmp_path: Path) -> None:
    flat = ("Get trending papers in your email inbox!\nSubscribe\nFirst Paper\n" + ABSTRACT +
            "\nMeta AI\n·\nOct 3, 2024 5\nSecond Paper\n" + ABSTRACT + "\n• 4 authors · Oct 4\nThird Paper\n" + ABSTRACT + "\n")
    parser, papers = parse(tmp_path, flat)
    assert parser.header.layout == "flat-list"
    assert [(p.title, p.organization, p.author_count, p.upvotes) for p in papers] == [
        ("First Paper", "Meta AI", None, 5), ("Second Paper", None, 4, None), ("Third Paper", None, None, None)]
    assert papers[1].published == dt.date(2026, 10, 4)


def test_unicode_titles_are_kept(tmp_path: Path) -> None:
    titles = ["Ünïcödé Tïtlé: Überraschung", "模型的对齐研究", "Λ-Calculus → Transformers ✓", "Émoji 🚀 Agents"]
    records = [part for title in titles for part in (title, ABSTRACT)]
    _, papers = parse(tmp_path, blocks(*records))
    assert [p.title for p in papers] == titles


def test_whitespace_normalised_and_nothing_else(tmp_path: Path) -> None:
    title = 'GUI-G1: "Quoted" — (R1-Zero) & <Agents>'
    _, papers = parse(tmp_path, blocks(title + "  ", "  Text\u00a0with  odd\u2009spaces. "))
    assert papers[0].title == title
    assert papers[0].abstract == "Text with odd spaces."


def test_truncated_file_keeps_complete_papers_and_warns(tmp_path: Path, samples: Path) -> None:
    data = (samples / "blocks.txt").read_bytes()
    title = data.index(b"Scaling Autonomous Agents")
    cut = data.index(b"\n\n", title) + 200  # 200 bytes into that paper's abstract
    parser, papers = parse(tmp_path, data[:cut])
    complete = list(DumpParser(read_lines(samples / "blocks.txt"), today=TODAY).papers())
    assert [p.title for p in papers] == [p.title for p in complete[: len(papers)]]
    assert papers[-1].title != "Scaling Autonomous Agents via Automatic Reward Modeling And Planning"
    assert len(papers) == 66
    assert any("cut off" in w and "Scaling Autonomous" in w for w in parser.warnings)


def test_truncated_after_a_title(tmp_path: Path) -> None:
    parser, papers = parse(tmp_path, blocks("One", ABSTRACT, "Two, cut"))
    assert [p.title for p in papers] == ["One"]
    assert any("Two, cut" in w and "no abstract" in w for w in parser.warnings)


def test_truncated_mid_character(tmp_path: Path) -> None:
    data = blocks("One", ABSTRACT, "Twö", "Abstract with ünïcode").encode()
    parser, papers = parse(tmp_path, data[:-3])  # cuts "é" of "ünïcode\n" in half
    assert [p.title for p in papers] == ["One"]
    assert any("cut off" in w for w in parser.warnings)


def test_truncated_inside_metadata(tmp_path: Path) -> None:
    parser, papers = parse(tmp_path, blocks("One", ABSTRACT, "  • 5 authors\n·"))
    assert papers[0].author_count == 5 and papers[0].published is None
    assert any("without a date" in w for w in parser.warnings)


def test_text_without_papers(tmp_path: Path) -> None:
    _, papers = parse(tmp_path, "Get trending papers in your email inbox!\n\nSubscribe\n")
    assert papers == []


def test_control_characters_are_removed_with_a_warning(tmp_path: Path) -> None:
    parser, papers = parse(tmp_path, blocks("Bell\x07 Title", ABSTRACT))
    assert papers[0].title == "Bell Title"
    assert any("control characters" in w for w in parser.warnings)


def test_a_paper_without_abstract_before_metadata_is_skipped(tmp_path: Path) -> None:
    parser, papers = parse(tmp_path, blocks("Lonely Title", "  • 2 authors\n·\nMar 1", "Fine", ABSTRACT))
    assert [p.title for p in papers] == ["Fine"]
    assert any("no abstract" in w for w in parser.warnings)


def test_wrapped_abstract_in_a_block_is_joined(tmp_path: Path) -> None:
    _, papers = parse(tmp_path, blocks("Wrapped", "First half of the abstract\nsecond half."))
    assert papers[0].abstract == "First half of the abstract second half."
