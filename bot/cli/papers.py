"""Commands over papers: ingest, papers, topics, search."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bot.cli import DATE, App, _date, main, shown
from bot.models import Grouping, IngestSummary, StoredPaper, TopicHistory
from bot.models.search import START, STOP, Hit, pieces, unmarked
from bot.redact import printable

PROGRESS_MIN_BYTES = 8 * 2**20


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dump-date", type=DATE, help="The dumps' date (YYYY-MM-DD) when they do not carry a year.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.pass_obj
def ingest(app: App, paths: tuple[Path, ...], dump_date: dt.datetime | None, as_json: bool) -> None:
    """Ingest Daily Papers dumps (files or directories) and report what is new; without paths,
    read every source: the inbox and each [[sources]] entry (dumps, feeds, the Daily Papers API)."""
    service = app.paperboy.papers
    with _progress() as bar:
        tasks: dict[Path, Any] = {}

        def progress(path: Path, done: int, total: int) -> None:
            if total < PROGRESS_MIN_BYTES:
                return
            if path not in tasks:
                tasks[path] = bar.add_task(path.name, total=total)
            bar.update(tasks[path], completed=done)

        if paths or dump_date:
            summary = service.ingest(list(paths) or [app.settings.inbox], dump_date=_date(dump_date),
                                     progress=progress)
        else:
            summary = service.ingest_sources(progress=progress)
    if as_json:
        click.echo(json.dumps(_summary_json(summary), indent=2))
    else:
        _print_summary(summary)
    for report in summary.files:
        if report.error and not as_json:
            click.echo(f"paperboy: {report.error}", err=True)
    sys.exit(0 if summary.ok else 1)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


def _summary_json(summary: IngestSummary) -> dict[str, Any]:
    return {
        "files": [
            {"path": f.path, "status": f.status, "items": f.items, "new": f.new, "seen": f.seen,
             "warnings": list(f.warnings), "error": f.error}
            for f in summary.files
        ],
        "totals": {"items": summary.items, "new": summary.new, "seen": summary.seen},
        "notes": list(summary.notes),
    }


def _print_summary(summary: IngestSummary) -> None:
    console = Console()
    table = Table(title="Ingest", title_justify="left")
    for name, justify in (("file", "left"), ("status", "left"), ("papers", "right"), ("new", "right"),
                          ("seen", "right"), ("warnings", "right"), ("time", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    styles = {"ingested": "green", "unchanged": "dim", "failed": "red"}
    for f in summary.files:
        table.add_row(escape(f.path), f"[{styles[f.status]}]{f.status}[/]", str(f.items), str(f.new), str(f.seen),
                      str(len(f.warnings)), f"{f.seconds:.2f}s")
    table.add_section()
    table.add_row("total", "", str(summary.items), str(summary.new), str(summary.seen),
                  str(sum(len(f.warnings) for f in summary.files)), "")
    console.print(table)
    for note in summary.notes:
        console.print(escape(note), highlight=False, soft_wrap=True)
    if not summary.files and not summary.notes:
        console.print("nothing to ingest")
    for f in summary.files:
        for warning in f.warnings:
            console.print(f"[yellow]warning[/] {escape(f.path)}: {escape(printable(warning))}", markup=True,
                          highlight=False, soft_wrap=True)


@main.group()
def papers() -> None:
    """Look at the papers paperboy has seen."""


@papers.command("list")
@click.option("--new-since", type=DATE, help="Only papers first seen on or after this date (YYYY-MM-DD, UTC).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many papers.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
def list_papers(app: App, new_since: dt.datetime | None, limit: int | None, as_json: bool) -> None:
    """List papers, newest first."""
    found = app.paperboy.papers.seen(new_since=_date(new_since), limit=limit)
    if as_json:
        click.echo(json.dumps([_paper_json(p) for p in found], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(found)} papers", title_justify="left")
    table.add_column("first seen", no_wrap=True)
    table.add_column("title", ratio=1, overflow="fold")
    for name in ("published", "upvotes", "authors"):
        table.add_column(name, no_wrap=True)
    for p in found:
        table.add_row(f"{p.first_seen:%Y-%m-%d}", shown(p.title), str(p.published or ""),
                      "" if p.upvotes is None else str(p.upvotes),
                      str(p.author_count) if p.author_count is not None else (p.organization or ""))
    Console().print(table)


def _paper_json(p: StoredPaper) -> dict[str, Any]:
    return {
        "key": p.key, "arxiv_id": p.arxiv_id, "title": p.title, "abstract": p.abstract,
        "authors": list(p.authors) if p.authors is not None else None, "author_count": p.author_count,
        "organization": p.organization, "published": p.published.isoformat() if p.published else None,
        "upvotes": p.upvotes, "first_seen": p.first_seen.isoformat(),
        "categories": list(p.categories) if p.categories else None, "announce": p.announce,
        "github_repo": p.links.github_repo, "github_stars": p.links.github_stars,
        "project_page": p.links.project_page, "comments": p.links.comments,
        "submitted_by": p.links.submitted_by, "ai_summary": p.links.ai_summary,
        "ai_keywords": list(p.links.ai_keywords) if p.links.ai_keywords else None,
        "thumbnail": p.links.thumbnail, "tldr": p.tldr, "tldr_source": p.tldr_source,
    }




@main.group()
def topics() -> None:
    """Group papers into topics, and look at the persisted topics."""


@topics.command("group")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help='Print {"topics": [{"slug", "label", "ids"}]}.')
@click.pass_obj
def topics_group(app: App, file: Path, as_json: bool) -> None:
    """Group the papers of a JSON Lines FILE (objects with id, title and abstract)."""
    grouping, docs = app.paperboy.papers.group_listing(file)
    _print_grouping(grouping, {d.id: d.title for d in docs}, as_json)


@topics.command("show")
@click.argument("slug", required=False)
@click.option("--new/--all", "new_only", default=True, show_default=True,
              help="Only papers no edition has carried yet, or every stored paper.")
@click.option("--save", is_flag=True, help="Persist the topics, so that later days keep their names.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"topics": [{"slug", "label", "ids"}]}, or with SLUG the topic as `topics list` does.')
@click.pass_obj
def topics_show(app: App, slug: str | None, new_only: bool, save: bool, as_json: bool) -> None:
    """Group the stored papers into topics (ids are paper keys); with SLUG, that persisted topic:
    its label, kind, age, papers by week over the last twelve weeks, and latest papers."""
    if slug is not None:
        topic = app.paperboy.papers.topic(slug)
        if topic is None:
            raise click.ClickException(f"no topic {slug!r}; `paperboy topics list` shows them")
        if as_json:
            click.echo(json.dumps({**_topic_json(topic), "latest": list(topic.titles)}, indent=2, ensure_ascii=False))
            return
        console = Console()
        console.print(f"[bold]{shown(topic.topic.label)}[/bold] ({shown(topic.topic.slug)}), {_kind(topic)}")
        console.print(f"made {topic.created:%Y-%m-%d}, last paper {topic.updated:%Y-%m-%d}, {topic.papers} papers")
        console.print(f"papers by week, oldest first: {' '.join(str(n) for n in topic.weeks)}")
        for title in topic.titles:
            console.print(f"  - {shown(title)}")
        return
    grouping, docs = app.paperboy.papers.group_stored(new_only=new_only, save=save)
    _print_grouping(grouping, {d.id: d.title for d in docs}, as_json)


@topics.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
def topics_list(app: App, as_json: bool) -> None:
    """List the persisted topics: shown ones, candidates (too small to show yet), retired ones and
    merged ones (their slug now an alias), with their papers in each of the last eight weeks."""
    rows = app.paperboy.papers.topics()
    if as_json:
        click.echo(json.dumps([_topic_json(t) for t in rows], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} topics", title_justify="left")
    for name in ("slug", "label", "kind", "papers", "made", "last paper", "by week (8)"):
        table.add_column(name, overflow="fold")
    for t in rows:
        table.add_row(t.topic.slug, shown(t.topic.label), _kind(t), str(t.papers), f"{t.created:%Y-%m-%d}",
                      f"{t.updated:%Y-%m-%d}", " ".join(str(n) for n in t.weeks))
    Console().print(table)


def _kind(t: TopicHistory) -> str:
    kind = f"merged into {t.merged_into}" if t.merged_into else t.topic.kind
    return f"{kind}, split off {t.split_from}" if t.split_from else kind


def _topic_json(t: TopicHistory) -> dict[str, object]:
    return {"slug": t.topic.slug, "label": t.topic.label, "kind": t.topic.kind, "papers": t.papers,
            "created": t.created.isoformat(), "updated": t.updated.isoformat(), "weeks": list(t.weeks),
            "merged_into": t.merged_into, "split_from": t.split_from, "terms": list(t.topic.profile)[:10]}


def _print_grouping(grouping: Grouping, titles: dict[str, str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(grouping.as_json(), indent=2, ensure_ascii=False))
        return
    total = sum(len(g.ids) for g in grouping.groups)
    table = Table(title=f"{total} papers in {len(grouping.groups)} topics ({grouping.seconds:.2f} s)",
                  title_justify="left")
    table.add_column("topic", overflow="fold")
    table.add_column("slug", overflow="fold")
    table.add_column("papers", justify="right")
    table.add_column("top paper", ratio=1, overflow="fold")
    for g in grouping.groups:
        table.add_row(shown(g.label) + (" (new)" if g.is_new else ""), g.slug, str(len(g.ids)),
                      titles.get(g.ids[0], g.ids[0]) if g.ids else "")
    Console().print(table)


@main.command()
@click.argument("query")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Which page of results.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.pass_obj
def search(app: App, query: str, page: int, as_json: bool) -> None:
    """Papers that hold every word of QUERY (title, abstract, authors, organisation, TL;DR), best
    first, then newest. The index catches up with the store first."""
    app.paperboy.search.catch_up()
    found = app.paperboy.search.find(query, page)
    if as_json:
        click.echo(json.dumps({"query": query, "page": page, "total": found.total, "total_exact": found.exact,
                               "hits": [_hit_json(h) for h in found.hits]}, indent=2, ensure_ascii=False))
        return
    count = f"{found.total:,}{'' if found.exact else '+'}"
    table = Table(title=f"{count} papers match {shown(query)!r}" + (f", page {page}" if page > 1 else ""),
                  title_justify="left")
    table.add_column("edition", no_wrap=True)
    table.add_column("paper", ratio=1, overflow="fold")
    for hit in found.hits:
        byline = ", ".join(hit.authors[:3]) + (" et al." if len(hit.authors) > 3 else "") or (hit.organization or "")
        table.add_row(str(hit.edition or f"{hit.first_seen:%Y-%m-%d}"),
                      f"{_marked(hit.title)}\n[dim]{shown(byline)}[/dim]\n{_marked(hit.snippet)}")
    Console().print(table)


def _marked(text: str) -> str:
    """A hit's text for the terminal: each piece made safe, the matched words in bold."""
    tags = {START: "[bold]", STOP: "[/bold]"}
    return "".join(tags.get(piece) or shown(piece) for piece in pieces(text))


def _hit_json(hit: Hit) -> dict[str, Any]:
    matched = re.findall(f"{START}(.*?){STOP}", hit.title + hit.snippet)
    return {"key": hit.key, "arxiv_id": hit.arxiv_id, "title": unmarked(hit.title), "snippet": unmarked(hit.snippet),
            "matched": sorted({m.casefold() for m in matched}), "authors": list(hit.authors),
            "organization": hit.organization, "first_seen": hit.first_seen.isoformat(),
            "edition": hit.edition.isoformat() if hit.edition else None, "score": round(hit.score, 4)}
