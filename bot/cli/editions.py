"""Commands over editions: digest build and preview, feed build."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bot.cli import DATE, App, _date, main, shown
from bot.errors import PaperboyError


@main.group()
def digest() -> None:
    """Build the daily edition (later: preview it as a subscriber gets it)."""


@digest.command("build")
@click.option("--date", "date", type=DATE, help="The edition's date (default: today in schedule.timezone).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"date", "papers", "climbing", "topics": [{"slug", "label", "count"}], "created"}.')
@click.pass_obj
def digest_build(app: App, date: dt.datetime | None, as_json: bool) -> None:
    """Build the edition of a date from the papers new since the previous one (once per date)."""
    day, edition = app.paperboy.editions.build(_date(date))
    topics = [{"slug": s.slug, "label": s.label, "count": len(s.papers)} for s in edition.sections] if edition else []
    summary = {"date": day.isoformat(), "papers": edition.papers if edition else 0,
               "climbing": len(edition.climbing) if edition else 0, "topics": topics,
               "created": bool(edition and edition.created)}
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    if edition is None:
        click.echo(f"{day}: nothing new since the last edition, so no edition (digest.empty_editions is off)")
        return
    verb = "built" if edition.created else "already built"
    table = Table(title=f"Edition {day} ({verb}): {edition.papers} new in {len(topics)} topics, "
                        f"{len(edition.climbing)} climbing", title_justify="left")
    table.add_column("topic", overflow="fold")
    table.add_column("slug", overflow="fold")
    table.add_column("papers", justify="right")
    for t in topics:
        table.add_row(shown(str(t["label"])), str(t["slug"]), str(t["count"]))
    Console().print(table)


@digest.command("preview")
@click.option("--date", "date", type=DATE, help="The edition's date (default: the latest edition).")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html", show_default=True,
              help="The HTML part, the text part, or the complete MIME message.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE instead of stdout.")
@click.pass_obj
def digest_preview(app: App, date: dt.datetime | None, fmt: str, out: Path | None) -> None:
    """Write exactly what a subscriber would receive for an edition."""
    data = app.paperboy.editions.preview(_date(date), fmt)
    if out is None:
        click.echo(data.decode(), nl=False)
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise PaperboyError(f"{out}: cannot be written ({exc.strerror or exc})") from None
    click.echo(f"wrote {out} ({len(data):,} bytes)")


@main.group()
def feed() -> None:
    """The RSS/Atom/JSON feeds and the static archive."""


@feed.command("build")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Directory to write to (default: public_dir).")
@click.pass_obj
def feed_build(app: App, out: Path | None) -> None:
    """Write feed.xml, atom.xml, digest.xml, topics/*.xml, feed.json and the archive pages."""
    written = app.paperboy.editions.publish(out)
    target = out or app.settings.public_dir
    click.echo(f"wrote {len(written)} files to {target}")
