"""Commands for the service: ``run`` (the daemon, or one reconcile for cron) and ``status``.

``run`` logs one line per stage at INFO by default (``-v`` adds the rest, ``-vv`` debug,
which alone shows addresses). SIGTERM and Ctrl-C stop it cleanly: the message in flight is
finished and recorded, the other claimed deliveries go back to the queue, exit 0.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
import threading
from typing import Any

import click

from bot.cli import App, main
from bot.services.service import Holder


def _service_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO
    for name in ("paperboy", "bot"):
        logging.getLogger(name).setLevel(level)
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            logging.getLogger("paperboy").info("%s: finishing the message in flight, then stopping",
                                               signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


@main.command()
@click.option("--once", is_flag=True, help="Run one reconcile and exit (for cron, CI, GitHub Actions).")
@click.option("--on-schedule", is_flag=True,
              help="With --once: honour schedule.time, days and max_lateness like the daemon "
                   "(default: today's edition is due now).")
@click.option("--json", "as_json", is_flag=True,
              help='With --once: print {"ingested", "edition", "deliveries", "feeds", "health"}.')
@click.pass_obj
def run(app: App, once: bool, on_schedule: bool, as_json: bool) -> None:
    """The service: ingest the inbox, build the edition that is due, send it, write the feeds.

    Without --once, runs until stopped, reconciling every schedule.interval and when an edition
    is due; only one scheduler acts on a database, others stand by.
    """
    if (on_schedule or as_json) and not once:
        raise click.UsageError("--on-schedule and --json go with --once")
    _service_logging(app.verbose)
    stop = _stop_on_signals()
    running = app.paperboy.running
    if not once:
        running.forever(stop)
        return
    result = running.once(stop, on_schedule=on_schedule)
    if isinstance(result, Holder):
        if as_json:
            click.echo(json.dumps({"standby": {"holder": result.holder, "since": result.since.isoformat()}}, indent=2))
        return
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    if result.stopped:
        return
    if result.mail_error:
        sys.exit(2)
    failed = (result.ingest is not None and not result.ingest.ok) or result.feeds_error or (
        result.deliveries is not None and result.deliveries.failed)
    sys.exit(1 if failed else 0)


def _when(value: str | None) -> str:
    if not value:
        return "never"
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@main.command()
@click.option("--json", "as_json", is_flag=True,
              help='Print {"last_ingest", "last_edition", "deliveries", "feeds_written", "health", ...}.')
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; only the exit status tells (for healthchecks).")
@click.pass_obj
def status(app: App, as_json: bool, quiet: bool) -> None:
    """The last ingest, edition, deliveries and feeds, and the health verdict.

    Exit 0 when the verdict is ok or empty (sources fresh, nothing new), 1 when stale or failing.
    """
    report = app.paperboy.running.status()
    verdict = report["health"]["verdict"]
    if as_json and not quiet:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif not quiet:
        _print_status(report)
    sys.exit(0 if verdict in ("ok", "empty") else 1)


def _print_status(report: dict[str, Any]) -> None:
    health = report["health"]
    click.echo(f"health: {health['verdict']}")
    for reason in health["reasons"]:
        click.echo(f"  - {reason}")
    for warning in health.get("warnings", []):
        click.echo(f"warning: {warning}")
    ingest = report["last_ingest"]
    if ingest is None:
        click.echo("last ingest: never")
    else:
        click.echo(f"last ingest: {_when(ingest['at'])} from {', '.join(ingest['sources']) or '?'}: "
                   f"{ingest['files']} files, {ingest['new_dumps']} new dumps, {ingest['new_papers']} new papers")
        dump = ingest["newest_dump"]
        if dump:
            click.echo(f"newest dump: {dump['path']} at {_when(dump['at'])} "
                       f"({dump['papers']} papers, {dump['new']} new)")
    edition = report["last_edition"]
    if edition is None:
        click.echo("last edition: none")
    else:
        d = edition["deliveries"]
        click.echo(f"last edition: {edition['date']} ({edition['papers']} papers, {edition['climbing']} climbing): "
                   f"{d['sent']} sent, {d['failed']} failed, {d['pending'] + d['sending']} pending, "
                   f"{d['skipped']} skipped" + (f", {d['uncertain']} uncertain" if d["uncertain"] else ""))
    skipped = report["last_skipped"]
    if skipped:
        click.echo(f"last day without an edition: {skipped['date']} ({skipped['kind']}: {skipped['reason']})")
    click.echo(f"next edition: {report['next_edition']['date']}, due {_when(report['next_edition']['due_at'])}")
    d = report["deliveries"]
    click.echo(f"deliveries: {d['pending']} pending, {d['failed']} failed, {d['uncertain']} uncertain "
               "(the server may have them; sent once more at most)")
    if d["waiting_for_hour"]:
        click.echo(f"  of those pending, {d['waiting_for_hour']} wait for their readers' hours "
                   f"(the next at {_when(d['next_hour'])})")
    for channel in report.get("channels", []):
        parts = ", ".join(f"{n} {status}" for status, n in channel["parts"].items()) or "nothing posted yet"
        click.echo(f"channel {channel['name']} ({channel['kind']}): "
                   + (f"edition {channel['edition']}: {parts}" if channel["edition"] else parts)
                   + (f"; next attempt {_when(channel['next_attempt'])}" if channel["next_attempt"] else "")
                   + (f"; last error: {channel['last_error']}" if channel["last_error"] else ""))
    click.echo(f"feeds written: {_when(report['feeds_written'])}")
    scheduler = report["scheduler"]
    click.echo(f"scheduler: {scheduler['holder']} since {_when(scheduler['since'])}" if scheduler
               else "scheduler: not running")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
def serve(app: App, host: str, port: int) -> None:
    """The web front: feeds and archive over HTTP, subscribe, confirm, unsubscribe, choose topics.

    Needs PAPERBOY_SECRET_KEY (links must outlive the process). Serves base_url's paths; put a
    TLS-terminating proxy in front for the public address.
    """
    import uvicorn

    from bot.web import create_app

    _service_logging(app.verbose)
    application = create_app(app.database, app.settings, app.paperboy)
    logging.getLogger("paperboy").info("paperboy serve: http://%s:%d/ (public address %s)", host, port,
                                       app.settings.base_url)
    # The app believes X-Forwarded-For only from web.trusted_proxies, and logs each request itself
    # without the query (tokens) or the client's address; uvicorn's own would do neither.
    # Requests hop between the event loop and worker threads, and the notices worker builds mail
    # beside them: each hop waited up to the GIL's 5 ms switch interval, most of /subscribe's p99.
    sys.setswitchinterval(0.001)
    uvicorn.run(application, host=host, port=port, proxy_headers=False, server_header=False,
                log_level="info" if app.verbose else "warning", access_log=False)
