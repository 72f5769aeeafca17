"""Commands over readers and mail: subscribers, send, deliveries, mail check.

``send`` and ``deliveries retry`` exit 1 when a delivery failed in this run (so a cron job
notices), 2 when mail cannot go out as configured (login, TLS, sender refused).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.cli import DATE, App, _date, _fail, main, shown
from bot.errors import AddressError, PaperboyError
from bot.models.readers import SendSummary, Subscriber
from bot.subscribers import WEEKDAYS, preferences


def _subscriber_json(s: Subscriber) -> dict[str, Any]:
    return {"email": s.address, "status": s.status, "follow": list(s.preferences.follow),
            "mute": list(s.preferences.mute), "include": list(s.preferences.include),
            "exclude": list(s.preferences.exclude), "people": list(s.preferences.people),
            "mute_people": list(s.preferences.mute_people), "searches": list(s.preferences.searches),
            "cadence": s.preferences.cadence,
            "weekday": WEEKDAYS[s.preferences.weekday] if s.preferences.cadence == "weekly" else None,
            "send_at": s.preferences.send_at,
            "time_zone": s.preferences.time_zone, "created": s.created_at.isoformat(),
            "confirmed": s.confirmed_at.isoformat() if s.confirmed_at else None}


def _checked(func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except AddressError as exc:
        _fail(str(exc), 2)


@main.group()
def subscribers() -> None:
    """Who gets the digest: add, remove, list, import and export subscribers."""


PREFERENCE_OPTIONS = [
    click.option("--follow", metavar="SLUG,...", help="Only these topics (default: every topic)."),
    click.option("--mute", metavar="SLUG,...", help="Never these topics."),
    click.option("--include", metavar="WORD,...", help="Only papers that mention one of these keywords."),
    click.option("--exclude", metavar="WORD,...", help="Never papers that mention one of these keywords."),
    click.option("--people", metavar="NAME,...", help="Authors and organisations whose papers come first."),
    click.option("--mute-people", metavar="NAME,...", help="Authors and organisations whose papers never appear."),
    click.option("--searches", metavar="WORDS,...", help="Saved searches: papers holding every word of one come "
                                                          "first, in a section of their own."),
    click.option("--cadence", type=click.Choice(["daily", "weekdays", "weekly", "monthly"]),
                 help="How often: every edition (default), Monday to Friday, the best of the week on --weekday, or "
                      "the best of the month on its first edition."),
    click.option("--weekday", metavar="DAY", help="A weekly reader's day, monday to sunday (default: monday)."),
    click.option("--send-at", metavar="HH:MM", help="The reader's hour for the digest (default: schedule.time)."),
    click.option("--time-zone", metavar="ZONE", help="The time zone of --send-at, such as Europe/Berlin "
                                                     "(default: schedule.timezone)."),
]


def _preference_options(func: Any) -> Any:
    for option in reversed(PREFERENCE_OPTIONS):
        func = option(func)
    return func


@subscribers.command("add")
@click.argument("email")
@_preference_options
@click.option("--json", "as_json", is_flag=True, help="Print the subscriber as JSON.")
@click.pass_obj
def subscribers_add(app: App, email: str, follow: str | None, mute: str | None, include: str | None,
                    exclude: str | None, people: str | None, mute_people: str | None, searches: str | None,
                    cadence: str | None, weekday: str | None, send_at: str | None, time_zone: str | None,
                    as_json: bool) -> None:
    """Add EMAIL as an active subscriber (the operator vouches for it), or update its preferences."""
    prefs = _checked(preferences, follow, mute, include, exclude, send_at, time_zone, people, mute_people, cadence,
                     weekday, searches)
    result = _checked(app.paperboy.subscriptions.add, email, prefs)
    if as_json:
        click.echo(json.dumps({**_subscriber_json(result.subscriber), "outcome": result.outcome}, indent=2,
                              ensure_ascii=False))
        return
    click.echo(f"{result.subscriber.address}: {result.outcome} ({result.subscriber.status})")


@subscribers.command("remove")
@click.argument("email")
@click.option("--purge", is_flag=True, help="Delete the subscriber and their delivery history instead of "
                                            "marking them unsubscribed.")
@click.pass_obj
def subscribers_remove(app: App, email: str, purge: bool) -> None:
    """Stop sending to EMAIL (kept as unsubscribed, so an import cannot add it back)."""
    address = _checked(lambda: app.paperboy.subscriptions.remove(email, purge=purge))
    click.echo(f"{address}: {'deleted' if purge else 'unsubscribed'}")


STATUSES = click.Choice(["pending", "active", "unsubscribed", "bounced"])


@subscribers.command("list")
@click.option("--status", type=STATUSES, help="Only subscribers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
def subscribers_list(app: App, status: str | None, as_json: bool) -> None:
    """List subscribers by address."""
    every = app.paperboy.subscriptions.each(status)
    if as_json:
        click.echo("[", nl=False)
        for n, s in enumerate(every):
            click.echo(("," if n else "") + "\n  " + json.dumps(_subscriber_json(s), ensure_ascii=False), nl=False)
        click.echo("\n]")
        return
    table = Table(title_justify="left")
    for name in ("email", "status", "follow", "mute", "keywords", "since"):
        table.add_column(name, overflow="fold")
    count = 0
    for s in every:
        p = s.preferences
        words = ", ".join([*p.include, *(f"-{w}" for w in p.exclude)])
        table.add_row(shown(s.address), s.status, ", ".join(p.follow) or "all", ", ".join(p.mute), words,
                      f"{s.created_at:%Y-%m-%d}")
        count += 1
    table.title = f"{count} subscribers"
    Console().print(table)


@subscribers.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the counts and problems as JSON.")
@click.pass_obj
def subscribers_import(app: App, file: Path, as_json: bool) -> None:
    """Import a CSV (header: email, and optionally follow, mute, include, exclude).

    Idempotent: a known address gets the file's preferences, and one that unsubscribed or
    bounced stays so. Bad rows are reported by line; the good ones are imported. Exits 1 when
    a row was bad.
    """
    report = app.paperboy.subscriptions.import_csv(file)
    counts, problems = report.counts, report.problems
    if as_json:
        click.echo(json.dumps({**counts, "problems": [{"line": p.line, "problem": p.problem} for p in problems]},
                              indent=2, ensure_ascii=False))
    else:
        click.echo(f"{file}: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged, "
                   f"{counts['kept']} left unsubscribed or bounced, {len(problems)} bad rows")
        for p in problems:
            click.echo(f"paperboy: {file}, line {p.line}: {p.problem}", err=True)
    sys.exit(1 if problems else 0)


@subscribers.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--status", type=STATUSES, help="Only subscribers with this status.")
@click.pass_obj
def subscribers_export(app: App, out: Path | None, status: str | None) -> None:
    """Write every subscriber as CSV (email, status, follow, mute, include, exclude, created, confirmed);
    the file imports back as it is."""
    try:
        target = out.open("w", newline="", encoding="utf-8") if out else nullcontext(sys.stdout)
    except OSError as exc:
        raise PaperboyError(f"{out}: cannot be written ({exc.strerror or exc})") from None
    with target as handle:
        app.paperboy.subscriptions.export_csv(handle, status)


def _report(summary: SendSummary, as_json: bool, dry_run: bool = False) -> None:
    if as_json:
        click.echo(json.dumps({**summary.as_json(), **({"dry_run": True} if dry_run else {})}, indent=2))
    else:
        verb = "would send" if dry_run else "sent"
        click.echo(f"edition {summary.edition}: {summary.queued} queued, {summary.sent} {verb}, "
                   f"{summary.failed} failed, {summary.skipped} skipped"
                   + (f", {summary.retrying} to retry later" if summary.retrying else "")
                   + (f", {summary.uncertain} uncertain (the server may have them)" if summary.uncertain else "")
                   + ("" if dry_run else f" in {summary.seconds:.1f} s"))
        posts = summary.posts
        if posts is not None:
            click.echo(f"channels: {posts.queued} parts queued, {posts.sent} {'would post' if dry_run else 'posted'}, "
                       f"{posts.failed} failed" + (f", {posts.retrying} to retry later" if posts.retrying else ""))
            for channel, error in posts.errors:
                click.echo(f"  {channel}: {error}")
    sys.exit(1 if summary.failed or (summary.posts and summary.posts.failed) else 0)


def _progress_bar(as_json: bool) -> Any:
    if as_json or not sys.stderr.isatty():
        return nullcontext(None)
    return Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


@main.command()
@click.option("--date", "date", type=DATE, help="The edition to send (default: the latest).")
@click.option("--dry-run", is_flag=True, help="Count who would get it; queue and send nothing.")
@click.option("--json", "as_json", is_flag=True, help='Print {"edition", "queued", "sent", "failed", "skipped"}.')
@click.pass_obj
def send(app: App, date: dt.datetime | None, dry_run: bool, as_json: bool) -> None:
    """Queue an edition for every active subscriber and deliver it, each exactly once."""
    with _progress_bar(as_json or dry_run) as bar:
        task = bar.add_task("send", total=None) if bar else None
        summary = app.paperboy.delivery.send(_date(date), dry_run=dry_run,
                                             progress=(lambda _outcome: bar.advance(task)) if bar else None)
    _report(summary, as_json, dry_run)


@main.group()
def deliveries() -> None:
    """The outbox: what was sent to whom, and retries."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "skipped", "uncertain",
                                             "retrying"]))
@click.option("--date", "date", type=DATE, help="Only this edition.")
@click.option("--channel", help="Only this channel's posts (a [[channels]] name), no email.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
def deliveries_list(app: App, status: str | None, date: dt.datetime | None, channel: str | None, limit: int,
                    as_json: bool) -> None:
    """List deliveries (email, then the channels' posts), newest edition first."""
    service = app.paperboy.delivery
    rows = [] if channel else service.outbox(status=status, date=_date(date), limit=limit)
    posts = service.posts(status=status, date=_date(date), channel=channel, limit=limit)
    if as_json:
        click.echo(json.dumps([
            {"edition": d.edition_date.isoformat(), "email": d.address, "status": d.status,
             "message_id": d.message_id, "attempts": d.attempts, "next_attempt": d.next_attempt_at.isoformat(),
             "sent": d.sent_at.isoformat() if d.sent_at else None, "uncertain": d.uncertain, "error": d.last_error}
            for d in rows] + [
            {"edition": p.edition_date.isoformat(), "channel": p.channel, "part": p.part, "parts": p.parts,
             "status": p.status, "key": p.key, "attempts": p.attempts, "next_attempt": p.next_attempt_at.isoformat(),
             "sent": p.sent_at.isoformat() if p.sent_at else None, "resent": p.resent, "error": p.last_error}
            for p in posts], indent=2, ensure_ascii=False))
        return
    if not channel:
        uncertain = sum(1 for d in rows if d.status == "uncertain")
        table = Table(title=f"{len(rows)} deliveries" + (f", {uncertain} uncertain" if uncertain else ""),
                      title_justify="left")
        for name in ("edition", "email", "status", "attempts", "error"):
            table.add_column(name, overflow="fold")
        for d in rows:
            table.add_row(str(d.edition_date), shown(d.address), d.status, str(d.attempts), shown(d.last_error or ""))
        Console().print(table)
    if posts or channel:
        table = Table(title=f"{len(posts)} channel posts", title_justify="left")
        for name in ("edition", "channel", "part", "status", "attempts", "error"):
            table.add_column(name, overflow="fold")
        for p in posts:
            table.add_row(str(p.edition_date), p.channel, f"{p.part}/{p.parts}", p.status,
                          str(p.attempts) + (f" ({p.resent} resent)" if p.resent else ""), shown(p.last_error or ""))
        Console().print(table)


@deliveries.command("retry")
@click.option("--date", "date", type=DATE, help="Only this edition (default: every edition).")
@click.option("--json", "as_json", is_flag=True, help='Print {"edition", "queued", "sent", "failed", "skipped"}.')
@click.pass_obj
def deliveries_retry(app: App, date: dt.datetime | None, as_json: bool) -> None:
    """Try failed deliveries and channel posts again (to subscribers still active), and those
    waiting for a retry, now."""
    with _progress_bar(as_json) as bar:
        task = bar.add_task("retry", total=None) if bar else None
        summary = app.paperboy.delivery.retry(_date(date),
                                              progress=(lambda _outcome: bar.advance(task)) if bar else None)
    _report(summary, as_json)


@main.group()
def mail() -> None:
    """Check the mail setup."""


@mail.command("check")
@click.option("--to", metavar="EMAIL", help="Also send a test message to EMAIL.")
@click.pass_obj
def mail_check(app: App, to: str | None) -> None:
    """Connect to the SMTP server, check TLS and login, and optionally send a test message."""
    steps = _checked(app.paperboy.delivery.check, to)
    for step in steps:
        click.echo(f"{'ok  ' if step.ok else 'FAIL'} {step.name}: {step.detail}")
    sys.exit(0 if all(step.ok for step in steps) else 1)
