"""The paperboy command: JSON shapes, exit codes, one-line errors, and large inputs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bot.sources.dumpgen import write_dump
from tests.conftest import ROOT, Cli, run_paperboy

ORDER = ("flat-list.txt", "blocks.txt", "blocks-with-meta.txt")


def test_ingest_json_shape_and_counts(cli: Cli, samples: Path) -> None:
    result = cli("ingest", "--json", *(str(samples / name) for name in ORDER))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["totals"] == {"items": 256, "new": 242, "seen": 14}
    assert [(f["status"], f["new"], f["seen"], f["error"]) for f in document["files"]] == [
        ("ingested", 141, 0, None), ("ingested", 61, 8, None), ("ingested", 40, 6, None)]
    assert set(document["files"][0]) == {"path", "status", "items", "new", "seen", "warnings", "error"}
    again = cli.json("ingest", str(samples / "blocks.txt"))
    assert again["files"][0]["status"] == "unchanged" and again["totals"]["new"] == 0  # type: ignore[index]


def test_ingest_table_and_failure_exit_code(cli: Cli, samples: Path, tmp_path: Path) -> None:
    result = cli("ingest", str(samples / "blocks.txt"), str(tmp_path / "missing.txt"))
    assert result.exit_code == 1
    assert "ingested" in result.stdout and "failed" in result.stdout
    assert f"paperboy: {tmp_path / 'missing.txt'}: no such file" in result.stderr


def test_ingest_defaults_to_the_inbox(cli: Cli, samples: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "today.txt").write_bytes((samples / "blocks.txt").read_bytes())
    assert cli.json("ingest")["totals"]["new"] == 69  # type: ignore[index]


def test_empty_inbox_is_fine(cli: Cli) -> None:
    result = cli("ingest", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["files"] == []


def test_papers_list_json(cli: Cli, samples: Path) -> None:
    cli("ingest", "--dump-date", "2025-12-11", str(samples / "blocks-with-meta.txt"))
    papers = cli.json("papers", "list")
    assert isinstance(papers, list) and len(papers) == 46
    first = papers[0]
    assert set(first) >= {"key", "arxiv_id", "title", "abstract", "authors", "organization", "published",
                          "upvotes", "first_seen"}
    assert first["title"].startswith("Stop Regressing")
    assert (first["published"], first["upvotes"], first["author_count"]) == ("2024-03-06", 1, 12)
    assert dt.datetime.fromisoformat(first["first_seen"]).tzinfo is not None
    assert cli.json("papers", "list", "--new-since", "2999-01-01") == []
    assert len(cli.json("papers", "list", "--limit", "5")) == 5  # type: ignore[arg-type]


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("papers", "list", "--new-since", "yesterday").exit_code == 2
    assert cli("ingest", "--dump-date", "12/03/2026").exit_code == 2
    assert cli("no-such-command").exit_code == 2


def test_bad_setting_exits_2_with_one_line(cli: Cli) -> None:
    result = cli("ingest", env={"PAPERBOY_INGEST_MAX_FILE_MB": "lots"})
    assert result.exit_code == 2
    assert result.stderr.strip() == ("paperboy: configuration error: PAPERBOY_INGEST_MAX_FILE_MB in the "
                                     "environment: expected a whole number, got 'lots'")


@pytest.mark.slow
def test_real_process_bad_inputs_one_line_each_no_traceback(database_url: str, tmp_path: Path) -> None:
    files = {
        "empty.txt": b"",
        "binary.bin": bytes(range(256)) * 4,
        "nothing.txt": b"just some words\n",
        "latin.txt": "Daily Papers\n\nMar 1\n\nCaf\u00e9 Models\n\nAn abstract.\n".encode("cp1252"),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    paths = [str(tmp_path / name) for name in files] + [str(tmp_path / "absent.txt")]
    result = run_paperboy("--database-url", database_url, "ingest", *paths)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line]
    assert len(errors) == 4 and all(line.startswith("paperboy: ") for line in errors)
    assert any("binary file" in e for e in errors) and any("empty file" in e for e in errors)
    assert any("absent.txt: no such file" in e for e in errors) and any("nothing.txt: not a Daily Papers dump" in e for e in errors)


@pytest.mark.slow
def test_real_process_config_and_database_errors(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[smtp]\nport = 0\n")
    result = run_paperboy("--config", str(config), "papers", "list")
    assert result.returncode == 2
    assert result.stderr.strip() == f"paperboy: configuration error: smtp.port in {config}: expected a number from 1 to 65535, got 0"
    result = run_paperboy("--database-url", "postgresql+psycopg://x@127.0.0.1:1/none?connect_timeout=2", "papers", "list")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("paperboy: cannot open the database") and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_fifty_megabyte_dump_and_fifty_megabyte_junk(database_url: str, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    write_dump(big, "blocks-with-meta", 0, 60_000, dump_date=dt.date(2026, 11, 20))
    assert big.stat().st_size > 50 * 2**20 * 0.9
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"a" * (50 * 2**20))
    result = run_paperboy("--database-url", database_url, "ingest", "--json", str(big), str(junk), timeout=600)
    document = json.loads(result.stdout)
    assert result.returncode == 1
    good, bad = document["files"]
    assert (good["status"], good["new"]) == ("ingested", 60_000)
    assert bad["status"] == "failed" and "longer than" in bad["error"]


@pytest.mark.slow
def test_the_quickstart_main_job_runs_offline(tmp_path: Path) -> None:
    """The paperboy commands of README.md's first Quickstart command, as real processes in an
    empty directory on the embedded defaults: ``run --once`` ingests the example inbox, builds
    today's edition, delivers it to the outbox Maildir and writes the feeds and archive."""
    import re
    import shutil

    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```sh\n(.+?)\n```", readme.split("## Quickstart", 1)[1], re.S).group(1)
    commands = []
    for part in first.split("&&"):
        words = part.split()
        env = dict(w.split("=", 1) for w in words if re.fullmatch(r"PAPERBOY_\w+=\S+", w))
        words = [w for w in words if not re.fullmatch(r"PAPERBOY_\w+=\S+", w)]
        if words[0] == ".venv/bin/paperboy":
            commands.append((words[1:], env))
    assert [c[0] for c, _ in commands] == ["subscribers", "run"]
    assert commands[-1][0] == ["run", "--once"]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for command, env in commands:
        result = run_paperboy(*command, cwd=tmp_path, env=env)
        assert result.returncode == 0, (command, result.stderr)
    assert len(list((tmp_path / "data" / "outbox" / "new").iterdir())) == 1
    assert (tmp_path / "data" / "public" / "index.html").is_file()
    for where in ("data/outbox/new/", "data/public/index.html", "paperboy status"):
        assert where in readme.split("## Quickstart", 1)[1].split("##", 1)[0], f"the Quickstart says where: {where}"
    assert (tmp_path / "data" / "public" / "feed.xml").is_file()


def test_papers_list_json_carries_the_card_fields(cli: Cli, database_url: str) -> None:
    import datetime as dt

    from bot.pipeline import ingest_document
    from bot.sources.samples import hf_api, synthetic
    from bot.store import open_database

    database = open_database(database_url)
    try:
        assert ingest_document(database, "api", hf_api(synthetic(2)), "hf-api",
                               dt.datetime(2026, 11, 20, tzinfo=dt.UTC)).new == 2
    finally:
        database.close()
    papers = cli.json("papers", "list")
    first = next(p for p in papers if p["arxiv_id"] == "2411.00001")  # type: ignore[union-attr]
    assert first["github_repo"] == "https://github.com/example/kernels-0" and first["github_stars"] == 40
    assert first["project_page"] == "https://example.org/kernels/0" and first["comments"] == 0
    assert first["submitted_by"] == "Ada Example" and first["ai_keywords"] == ["sparse attention"]
    assert first["ai_summary"].startswith("Sparse attention kernel 1") and first["thumbnail"].endswith(".png")
    assert first["tldr"] is None  # made when an edition carries the paper


def test_search_catches_up_and_answers_as_json_or_a_table(cli: Cli) -> None:
    cli("ingest", "--dump-date", "2026-11-20", str(ROOT / "examples" / "inbox" / "2026-11-20.txt"))
    answer = cli.json("search", "reward models")
    assert isinstance(answer, dict) and answer["total"] >= 1 and answer["page"] == 1
    first = answer["hits"][0]
    assert {"reward", "models"} <= set(first["matched"]) or {"reward", "model"} <= set(first["matched"])
    assert "\x02" not in first["title"] and "reward" in first["title"].casefold()
    assert cli.json("search", "zzzz nothing")["total"] == 0  # type: ignore[index]
    table = cli("search", "reward models")
    assert table.exit_code == 0 and "papers match 'reward models'" in table.output
    assert cli("search", "x", "--page", "0").exit_code == 2
