"""The service as operators run it: ``run --once`` and ``status`` through the CLI, health verdicts,
and real processes: two ``run --once`` at the same moment, SIGTERM while sending, a daemon that
stands by while another holds the lock."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import time_machine

from bot.deliver.preview import preview
from bot.pipeline import build_edition, ingest
from bot.settings import Settings
from bot.status import health
from bot.store import Database
from bot.store import deliveries as outbox
from bot.store.subscribers import upsert_subscriber
from bot.subscribers import preferences
from tests.conftest import ROOT, Cli
from tests.smtp_server import SmtpServer

UTC = dt.UTC
EXAMPLES = ROOT / "examples" / "inbox"
RUN_KEYS = {"ingested", "edition", "deliveries", "feeds", "health"}
STATUS_KEYS = {"last_ingest", "last_edition", "deliveries", "feeds_written", "health"}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    target = tmp_path / "inbox"
    shutil.copytree(EXAMPLES, target)
    return target


def _subscribe(db: Database, addresses: list[str]) -> None:
    with db.write() as session:
        for address in addresses:
            upsert_subscriber(session, address, preferences(), dt.datetime(2026, 1, 1, tzinfo=UTC))


def readers(n: int) -> list[str]:
    return [f"reader{i:03d}@example.org" for i in range(n)]


def test_run_once_ingests_builds_sends_and_writes_the_feeds(cli: Cli, db: Database, inbox: Path,
                                                           tmp_path: Path) -> None:
    _subscribe(db, ["ada@example.org"])
    env = {"PAPERBOY_OUTBOX": str(tmp_path / "outbox"), "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public")}
    result = cli("run", "--once", "--json", env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= RUN_KEYS
    assert report["ingested"]["new_dumps"] == 3 and report["ingested"]["new_papers"] == 26
    assert report["edition"]["status"] == "built" and report["edition"]["papers"] == 26
    assert report["deliveries"]["sent"] == 1 and report["deliveries"]["failed"] == 0
    assert report["feeds"]["written"] and (tmp_path / "public" / "feed.xml").is_file()
    assert report["health"] == {"verdict": "ok", "reasons": [], "warnings": []}
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1

    again = json.loads(cli("run", "--once", "--json", env=env).stdout)
    assert again["edition"]["status"] == "found", "one edition per date"
    assert (again["deliveries"]["queued"], again["deliveries"]["sent"]) == (0, 0), "never sent twice"
    assert not again["feeds"]["written"], "the feeds are current"
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1


def test_run_options_that_need_once_are_refused(cli: Cli) -> None:
    result = cli("run", "--json")
    assert result.exit_code == 2 and "--once" in result.output


def test_status_tells_an_empty_day_from_a_stale_and_a_broken_one(cli: Cli, db: Database, settings: Settings,
                                                                inbox: Path) -> None:
    fresh = cli("status", "--json")
    assert fresh.exit_code == 1
    report = json.loads(fresh.stdout)
    assert set(report) >= STATUS_KEYS and set(report["deliveries"]) == {"pending", "failed", "uncertain",
                                                                         "waiting_for_hour", "next_hour"}
    assert report["health"]["verdict"] == "stale" and report["last_edition"] is None

    start = dt.datetime.now(UTC)
    assert ingest(db, settings, [inbox / "2026-11-18.txt"], now=lambda: start).ok
    assert health(db, settings, start + dt.timedelta(hours=1)).verdict == "ok"
    assert build_edition(db, settings, dt.date(2026, 11, 18), start) is not None
    # The same papers again in a new dump: sources are fresh, nothing is new.
    copy = inbox / "again.txt"
    copy.write_text((inbox / "2026-11-18.txt").read_text() + "\n\n")
    later = start + dt.timedelta(hours=2)
    assert ingest(db, settings, [copy], now=lambda: later).ok
    empty = health(db, settings, later)
    assert empty.verdict == "empty" and "brought no new paper" in empty.reasons[0]
    assert cli("status").exit_code == 0, "an empty day is not an error"

    stale = health(db, settings, later + settings.health_stale_after + dt.timedelta(minutes=1))
    assert stale.verdict == "stale" and "no new dump for" in stale.reasons[0]
    with time_machine.travel(later + dt.timedelta(hours=40), tick=False):
        result = cli("status", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["health"]["verdict"] == "stale"

    nothing = inbox / "nothing.txt"
    nothing.write_text("Daily Papers\nby AK and the research community\n")
    assert not ingest(db, settings, [nothing], now=lambda: later).ok
    broken = health(db, settings, later)
    assert broken.verdict == "failing" and "nothing.txt" in broken.reasons[0]
    text = cli("status").stdout
    assert "health: failing" in text and "nothing.txt" in text


def test_failed_deliveries_over_the_threshold_make_the_verdict_failing(db: Database, settings: Settings,
                                                                       smtp: SmtpServer, inbox: Path) -> None:
    from bot.deliver import send_edition

    now = dt.datetime.now(UTC)
    assert ingest(db, settings, [inbox], now=lambda: now).ok
    build_edition(db, settings, None, now)
    everyone = readers(10)
    _subscribe(db, everyone)
    smtp.recorder.replies = {everyone[0]: ["550 5.1.1 no such user"], everyone[1]: ["550 5.1.1 no such user"]}
    mail = replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none", delivery_concurrency=1)
    assert send_edition(db, mail).failed == 2
    verdict = health(db, replace(settings, health_max_failed_percent=10), now)
    assert verdict.verdict == "failing" and "2 of 10 deliveries" in verdict.reasons[0]
    assert health(db, replace(settings, health_max_failed_percent=25), now).verdict == "ok"


def test_an_unhealthy_service_is_noted_in_one_line_in_the_next_edition(cli: Cli, db: Database,
                                                                       settings: Settings, inbox: Path,
                                                                       tmp_path: Path) -> None:
    old = dt.datetime.now(UTC) - dt.timedelta(days=3)
    assert ingest(db, settings, [inbox], now=lambda: old).ok
    env = {"PAPERBOY_OUTBOX": str(tmp_path / "outbox"), "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public"),
           "PAPERBOY_INBOX": str(tmp_path / "empty-inbox")}
    report = json.loads(cli("run", "--once", "--json", env=env).stdout)
    assert report["health"]["verdict"] == "stale"
    note = report["edition"]["note"]
    assert note and note.startswith("Service note (stale): no new dump for 72 h") and "\n" not in note
    assert "no new dump for 72 h" in preview(db, settings).decode()
    assert "no new dump for 72 h" in preview(db, settings, fmt="text").decode()
    assert "no new dump for 72 h" in (tmp_path / "public" / "editions").joinpath(
        f"{report['edition']['date']}.html").read_text()


# Real processes.

def _env(settings: Settings, smtp: SmtpServer, inbox: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    return {**base, "PAPERBOY_DATABASE_URL": settings.database_url, "PAPERBOY_INBOX": str(inbox),
            "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public"), "PAPERBOY_SMTP_HOST": "127.0.0.1",
            "PAPERBOY_SMTP_PORT": str(smtp.port), "PAPERBOY_SMTP_TLS": "none",
            "PAPERBOY_MAIL_FROM": "digest@papers.example.org", "PAPERBOY_BASE_URL": "https://papers.example.org/",
            "PAPERBOY_DELIVERY_CONCURRENCY": "2", "PAPERBOY_DELIVERY_LEASE_SECONDS": "60", **extra}


def _paperboy(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _editions(db: Database) -> list[dt.date]:
    with db.read() as session:
        from bot.store.editions import list_editions

        return [date for date, _papers, _climbing in list_editions(session)]


@pytest.mark.slow
def test_two_run_once_at_the_same_moment_give_one_edition_and_one_copy_each(
    db: Database, settings: Settings, smtp: SmtpServer, inbox: Path, tmp_path: Path,
) -> None:
    everyone = readers(40)
    _subscribe(db, everyone)
    smtp.recorder.delay = 0.005
    env = _env(settings, smtp, inbox, tmp_path)
    runs = [_paperboy(env, "run", "--once", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in runs]
    for process, (_out, err) in zip(runs, outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err
    reports = [json.loads(out) for out, _ in outputs]
    assert len(_editions(db)) == 1
    assert smtp.recorder.per_recipient() == dict.fromkeys(everyone, 1)
    worked = [r for r in reports if "edition" in r]
    assert sum(r["deliveries"]["sent"] for r in worked) == 40
    standby = [r for r in reports if "standby" in r]
    assert len(worked) + len(standby) == 2


@pytest.mark.slow
def test_sigterm_while_sending_loses_nothing_and_duplicates_nothing(
    db: Database, settings: Settings, smtp: SmtpServer, inbox: Path, tmp_path: Path,
) -> None:
    everyone = readers(80)
    _subscribe(db, everyone)
    smtp.recorder.delay = 0.03
    env = _env(settings, smtp, inbox, tmp_path)
    first = _paperboy(env, "run", "--once", "--json")
    smtp.recorder.wait_for(10, sender=first)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert json.loads(out)["stopped"] is True
    received = smtp.recorder.count()
    assert received < len(everyone), "the run finished before SIGTERM; make it slower"
    with db.read() as session:
        states = [d.status for d in outbox.iter_deliveries(session)]
    assert states.count("sent") == received, "every message the server took is recorded as sent"
    assert "sending" not in states, "claims were given back"

    second = _paperboy(env, "run", "--once", "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert json.loads(out)["deliveries"]["sent"] == len(everyone) - received
    assert smtp.recorder.per_recipient() == dict.fromkeys(everyone, 1), "nothing lost, nothing twice"


def _wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not logged; got:\n{''.join(seen)}")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"did not stop on SIGTERM; it logged:\n{err}") from None
    assert code == 0


@pytest.mark.slow
def test_a_second_daemon_stands_by_and_takes_over_when_the_first_stops(
    db: Database, settings: Settings, smtp: SmtpServer, inbox: Path, tmp_path: Path,
) -> None:
    _subscribe(db, ["ada@example.org"])
    env = _env(settings, smtp, inbox, tmp_path, PAPERBOY_SCHEDULE_INTERVAL="10s",
               PAPERBOY_SCHEDULE_TIME="00:00", PAPERBOY_SCHEDULE_MAX_LATENESS="1d")
    first = _paperboy(env, "run")
    try:
        _wait_for_line(first, "reconcile: done")
        second = _paperboy(env, "run")
        try:
            _wait_for_line(second, "standing by")
            _stop(first)
            _wait_for_line(second, "runs the schedule now", timeout=30)
            _wait_for_line(second, "reconcile: done", timeout=30)
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            first.kill()
    assert len(_editions(db)) == 1
    assert smtp.recorder.per_recipient() == {"ada@example.org": 1}


@pytest.mark.slow
def test_logs_name_no_address_unless_asked_for_debug(db: Database, settings: Settings, smtp: SmtpServer,
                                                     inbox: Path, tmp_path: Path) -> None:
    _subscribe(db, ["ada@example.org", "bob@example.org"])
    smtp.recorder.replies = {"bob@example.org": ["550 5.1.1 no such user"]}
    env = _env(settings, smtp, inbox, tmp_path, PAPERBOY_SMTP_PASSWORD="hunter2-secret",
               PAPERBOY_SECRET_KEY="very-secret-key")
    quiet = subprocess.run([sys.executable, "-m", "bot", "run", "--once"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120, check=False)
    assert quiet.returncode == 1, "a failed delivery is an error for cron"
    for stage in ("ingest:", "edition", "deliver:", "feeds:", "health:"):
        assert stage in quiet.stderr
    assert "1 sent, 1 failed" in quiet.stderr
    assert "@example.org" not in quiet.stderr
    assert "hunter2" not in quiet.stderr and "very-secret" not in quiet.stderr
    _subscribe(db, ["cy@example.org"])
    smtp.recorder.replies = {"cy@example.org": ["550 5.1.1 no such user"]}
    debug = subprocess.run([sys.executable, "-m", "bot", "-vv", "run", "--once"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120, check=False)
    assert "cy@example.org" in debug.stderr
    assert "hunter2" not in debug.stderr and "very-secret" not in debug.stderr
