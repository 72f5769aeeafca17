"""Promises under faults, with real servers and real processes: a slow or stalled SMTP server, one
that drops the connection after taking a message, a sender killed with its claims, SIGTERM while
a send hangs, a mail setup error under the daemon, bad items in a source, a full disk."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import select, text

from bot.deliver import send_edition, signer
from bot.deliver.copies import Copies
from bot.deliver.outbox import Run
from bot.deliver.transport import MaildirTransport, SmtpConfig, SmtpTransport, open_transport
from bot.errors import StoreUnavailable, TransientError, UncertainError
from bot.render import environment
from bot.settings import Settings
from bot.store import Database, queue
from bot.store import deliveries as outbox
from bot.store.lookahead import Lookahead
from tests.conftest import ROOT
from tests.deliver.test_delivery import edition as edition  # the fixtures, shared
from tests.deliver.test_delivery import mail_settings as mail_settings
from tests.deliver.test_delivery import readers, statuses, subscribe
from tests.smtp_server import SmtpServer

NOW_UTC = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
MESSAGE = b"Subject: hello\r\nMessage-ID: <one@example.org>\r\n\r\nbody\r\n"


def _deliveries(db: Database) -> dict[str, outbox.Delivery]:  # type: ignore[name-defined]
    with db.read() as session:
        return {d.address: d for d in outbox.iter_deliveries(session)}


# The transport: one deadline for the whole conversation, and an abort from another thread.

@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


def test_a_server_that_never_answers_is_cut_at_the_deadline(silent_server: int) -> None:
    transport = SmtpTransport(SmtpConfig("127.0.0.1", silent_server, "none", "", None, 30))
    with pytest.raises(TransientError, match=r"timed out|cannot connect"):
        transport.send("a@example.org", "b@example.org", MESSAGE, timeout=0.5)


def test_an_abort_after_the_whole_message_went_out_is_uncertain(smtp: SmtpServer) -> None:
    smtp.recorder.stall = {"b@example.org"}
    transport = SmtpTransport(SmtpConfig("127.0.0.1", smtp.port, "none", "", None, 30))
    threading.Thread(target=lambda: (smtp.recorder.arrived.wait(30), transport.abort()), daemon=True).start()
    with pytest.raises(UncertainError, match="may have been delivered"):
        transport.send("a@example.org", "b@example.org", MESSAGE, timeout=60)
    smtp.recorder.release.set()
    assert smtp.recorder.count() == 1


def test_a_connection_dropped_after_data_is_uncertain_not_resent_at_once(smtp: SmtpServer) -> None:
    smtp.recorder.drops = {"b@example.org": 1}
    transport = SmtpTransport(SmtpConfig("127.0.0.1", smtp.port, "none", "", None, 10))
    with pytest.raises(UncertainError):
        transport.send("a@example.org", "b@example.org", MESSAGE)
    assert smtp.recorder.count() == 1, "the transport itself never sends it again"
    transport.send("a@example.org", "b@example.org", MESSAGE)
    transport.close()
    assert smtp.recorder.count() == 2


# The outbox: uncertain messages are resent once, later, with the same Message-ID.

def test_a_message_dropped_after_data_is_resent_once_with_the_same_message_id(
    db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date,
) -> None:
    everyone = readers(6)
    subscribe(db, *everyone)
    smtp.recorder.drops = dict.fromkeys(everyone[:3], 1)
    summary = send_edition(db, replace(mail_settings, delivery_uncertain_retry_seconds=0))
    assert (summary.sent, summary.uncertain, summary.failed) == (6, 3, 0)
    counts = smtp.recorder.per_recipient()
    assert counts == {a: 2 if a in everyone[:3] else 1 for a in everyone}
    for address in everyone[:3]:
        assert len({m.message_id for m in smtp.recorder.received if address in m.recipients}) == 1
    assert set(statuses(db).values()) == {"sent"}


def test_a_relay_that_always_drops_gets_two_copies_at_most(
    db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date,
) -> None:
    everyone = readers(4)
    subscribe(db, *everyone)
    smtp.recorder.drops = {"*": 1}
    summary = send_edition(db, replace(mail_settings, delivery_uncertain_retry_seconds=0))
    assert (summary.sent, summary.uncertain) == (0, 8)
    assert smtp.recorder.per_recipient() == dict.fromkeys(everyone, 2)
    rows = _deliveries(db)
    assert {(d.status, d.uncertain) for d in rows.values()} == {("uncertain", 2)}
    again = send_edition(db, replace(mail_settings, delivery_uncertain_retry_seconds=0))
    assert (again.sent, again.uncertain) == (0, 0), "never a third copy"


def test_uncertain_counts_show_in_send_status_and_deliveries_list(
    cli, db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date,
) -> None:
    subscribe(db, "ada@example.org", "bob@example.org")
    smtp.recorder.drops = {"ada@example.org": 1}
    env = {"PAPERBOY_SMTP_HOST": "127.0.0.1", "PAPERBOY_SMTP_PORT": str(smtp.port), "PAPERBOY_SMTP_TLS": "none",
           "PAPERBOY_DELIVERY_UNCERTAIN_RETRY_SECONDS": "3600", "PAPERBOY_DELIVERY_WAIT_SECONDS": "0"}
    sent = json.loads(cli("send", "--json", env=env).stdout)
    assert (sent["sent"], sent["uncertain"]) == (1, 1)
    listed = json.loads(cli("deliveries", "list", "--status", "uncertain", "--json").stdout)
    assert [(d["email"], d["uncertain"]) for d in listed] == [("ada@example.org", 1)]
    status = json.loads(cli("status", "--json").stdout)
    assert status["deliveries"]["uncertain"] == 1
    assert status["last_edition"]["deliveries"]["uncertain"] == 1
    assert "1 uncertain" in cli("status").stdout


@pytest.mark.parametrize("pipelining", [False, True])
def test_the_gate_runs_before_the_body_and_a_refusal_delivers_nothing(smtp: SmtpServer, pipelining: bool) -> None:
    """The sender's gate (waiting for the previous message's record) runs once the server is
    ready for the body and before any of it goes out; when it raises, the server gets nothing
    (the session in DATA mode is dropped, not ended with a dot), and the next send reconnects."""
    smtp.recorder.pipelining = pipelining
    transport = SmtpTransport(SmtpConfig("127.0.0.1", smtp.port, "none", "", None, 10))
    counted: list[int] = []
    transport.send("a@example.org", "b@example.org", MESSAGE, gate=lambda: counted.append(smtp.recorder.count()))
    assert counted == [0] and smtp.recorder.count() == 1

    def refuse() -> None:
        raise StoreUnavailable("database error: gone")

    with pytest.raises(StoreUnavailable):
        transport.send("a@example.org", "c@example.org", MESSAGE, gate=refuse)
    transport.send("a@example.org", "d@example.org", MESSAGE)
    transport.close()
    assert smtp.recorder.per_recipient() == {"b@example.org": 1, "d@example.org": 1}


def test_the_maildir_s_gate_refusing_writes_nothing(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")

    def refuse() -> None:
        raise StoreUnavailable("database error: gone")

    with pytest.raises(StoreUnavailable):
        transport.send("a@example.org", "b@example.org", MESSAGE, gate=refuse)
    assert not [path for path in (tmp_path / "outbox").rglob("*") if path.is_file()]


@pytest.mark.slow
def test_a_stalled_send_outliving_the_lease_is_never_sent_twice(
    db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date,
) -> None:
    """The server takes one message and never answers. The deadline (half the lease) ends that
    conversation before the lease can run out, so no sender takes the claim over while it lives:
    the message is uncertain, resent once, and the others go out once each."""
    everyone = readers(12)
    subscribe(db, *everyone)
    slow = everyone[0]
    smtp.recorder.stall = {slow}
    settings = replace(mail_settings, delivery_lease_seconds=4, smtp_timeout=30, delivery_uncertain_retry_seconds=0,
                       delivery_concurrency=3)
    runs = [threading.Thread(target=send_edition, args=(db, settings)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    smtp.recorder.release.set()
    counts = smtp.recorder.per_recipient()
    assert counts == {a: 2 if a == slow else 1 for a in everyone}, "the stalled one once more, the rest once"
    rows = _deliveries(db)
    assert (rows[slow].status, rows[slow].uncertain) == ("uncertain", 2)


def _sender_run(db: Database, settings: Settings) -> Run:
    return Run(database=db, settings=settings, transport=lambda: open_transport(settings),
               signer=signer(db, settings), copies=Copies(db, settings, environment(), NOW_UTC), edition=None,
               clock=lambda: dt.datetime.now(dt.UTC))


@pytest.mark.parametrize("stolen", [False, True])
def test_a_claim_taken_up_long_before_its_send_is_taken_up_again_first(
    db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date, stolen: bool,
) -> None:
    """Rendering or the rate limit may hold a message past a quarter lease after its take-up:
    the claim is taken up again just before the send, and a claim another sender took over in
    the meantime is not sent (the other sender sends it)."""
    subscribe(db, "ada@example.org")
    with db.write() as session:
        queue.enqueue(session, outbox.edition_id(session, edition), edition, "papers.example.org",  # type: ignore[arg-type]
                       dt.datetime.now(dt.UTC))
    run = _sender_run(db, mail_settings)
    now = dt.datetime.now(dt.UTC)
    with db.write() as session:
        [claim] = outbox.claim(session.connection(), run.worker, now, run.lease, 10)
        assert outbox.take_up(session.connection(), claim.id, claim.claim, now + run.lease) == "active"
    if stolen:
        with db.write() as session:  # the lease ran out and another sender claimed it
            outbox.expire(session, [run.worker])
            [theirs] = outbox.claim(session.connection(), "elsewhere:1", dt.datetime.now(dt.UTC), run.lease, 10)
        assert theirs.id == claim.id
    transport = open_transport(mail_settings)
    with db.engine.connect() as connection:
        outcome = run._deliver(transport, connection, claim, True, taken_at=0.0)  # taken up "long ago"
    transport.close()
    if stolen:
        assert outcome is None and run.tally.lost == 1 and smtp.recorder.count() == 0
    else:
        assert outcome is not None and outcome.kind == "sent" and smtp.recorder.count() == 1


# Real processes.

def _env(settings: Settings, smtp: SmtpServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    return {**base, "PAPERBOY_DATABASE_URL": settings.database_url, "PAPERBOY_INBOX": str(tmp_path / "inbox"),
            "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public"), "PAPERBOY_SMTP_HOST": "127.0.0.1",
            "PAPERBOY_SMTP_PORT": str(smtp.port), "PAPERBOY_SMTP_TLS": "none",
            "PAPERBOY_MAIL_FROM": "digest@papers.example.org", "PAPERBOY_BASE_URL": "https://papers.example.org/",
            "PAPERBOY_DELIVERY_CONCURRENCY": "2", **extra}


def _paperboy(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_the_claims_of_a_sender_killed_on_this_host_are_taken_back_at_once(
    db: Database, settings: Settings, smtp: SmtpServer, edition: dt.date, tmp_path: Path,
) -> None:
    everyone = readers(30)
    subscribe(db, *everyone)
    smtp.recorder.stall = {"*"}
    sender = _paperboy(_env(settings, smtp, tmp_path), "send", "--json")
    assert smtp.recorder.arrived.wait(60), "the sender never got to DATA"
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait(30)
    assert "sending" in statuses(db).values()
    smtp.recorder.stall = set()
    smtp.recorder.release.set()
    # With no wait for leases, only claims taken back at once can be sent by this run.
    again = subprocess.run([sys.executable, "-m", "bot", "send", "--json"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, env=_env(settings, smtp, tmp_path, PAPERBOY_DELIVERY_WAIT_SECONDS="0"))
    assert again.returncode == 0, again.stderr
    assert "taken back" in again.stderr
    counts = smtp.recorder.per_recipient()
    assert set(counts) == set(everyone)
    duplicated = [a for a, n in counts.items() if n > 1]
    assert len(duplicated) <= 2 and all(counts[a] == 2 for a in duplicated), "only the messages in flight"
    assert set(statuses(db).values()) == {"sent"}


@pytest.mark.slow
def test_sigterm_ends_run_once_within_moments_while_a_send_hangs(
    db: Database, settings: Settings, smtp: SmtpServer, tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "inbox", tmp_path / "inbox")
    subscribe(db, *readers(5))
    smtp.recorder.stall = {"*"}
    process = _paperboy(_env(settings, smtp, tmp_path, PAPERBOY_SMTP_TIMEOUT="600",
                             PAPERBOY_DELIVERY_LEASE_SECONDS="3600"), "run", "--once", "--json")
    assert smtp.recorder.arrived.wait(60)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)  # would take 600 s without the abort
    smtp.recorder.release.set()
    assert process.returncode == 0, err
    assert json.loads(out)["stopped"] is True
    states = statuses(db)
    assert "sending" not in states.values(), "nothing left claimed"
    assert list(states.values()).count("uncertain") == smtp.recorder.count()


@pytest.mark.slow
def test_run_once_with_a_mail_setup_error_exits_2_and_still_writes_the_feeds(
    db: Database, settings: Settings, smtp: SmtpServer, tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "inbox", tmp_path / "inbox")
    subscribe(db, "ada@example.org")
    env = _env(settings, smtp, tmp_path, PAPERBOY_SMTP_TLS="starttls")  # aiosmtpd here offers no STARTTLS
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--once", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert "STARTTLS" in report["deliveries"]["error"] and report["stopped"] is False
    assert report["feeds"]["written"] and (tmp_path / "public" / "feed.xml").is_file()
    assert report["health"]["verdict"] == "failing"
    assert statuses(db) == {"ada@example.org": "pending"}


def _wait_for(process: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    """Read the log until ``needle``; a process that never logs it is killed after a long while
    (a safety net against a hung test, not a timing assertion)."""
    assert process.stderr is not None
    guard = threading.Timer(300, process.kill)
    guard.start()
    try:
        lines = list(_lines_until(process, needle, seen))
    finally:
        guard.cancel()
    if not lines or needle not in lines[-1]:
        raise AssertionError(f"{needle!r} never logged:\n{''.join(seen)}")


def _lines_until(process: subprocess.Popen[str], needle: str, seen: list[str]) -> Iterator[str]:
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        yield line
        if needle in line:
            return


@pytest.mark.slow
def test_the_daemon_keeps_running_through_a_mail_setup_error_and_retries(
    db: Database, settings: Settings, smtp: SmtpServer, tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "inbox", tmp_path / "inbox")
    subscribe(db, "ada@example.org")
    env = _env(settings, smtp, tmp_path, PAPERBOY_SMTP_TLS="starttls", PAPERBOY_SCHEDULE_TIME="00:00",
               PAPERBOY_SCHEDULE_MAX_LATENESS="7d", PAPERBOY_SCHEDULE_INTERVAL="1h")
    daemon = _paperboy(env, "run")
    seen: list[str] = []
    try:
        _wait_for(daemon, "STARTTLS", seen)
        _wait_for(daemon, "trying again in 5s", seen)
        _wait_for(daemon, "trying again in 10s", seen)  # retried with backoff, long before the 1 h interval
        assert daemon.poll() is None, "still running"
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, rest = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, "".join(seen) + rest
    assert "Traceback" not in "".join(seen) + rest


def test_bad_items_and_an_unreadable_source_do_not_stop_the_day(
    cli, db: Database, settings: Settings, tmp_path: Path,
) -> None:
    good = {"paper": {"id": "2611.00001", "title": "A good paper on robot grasping",
                      "summary": "We grasp things.", "upvotes": 12, "authors": [{"name": "Ada"}]}}
    numeric_author = {"paper": {"id": "2611.00002", "title": "An author who is a number",
                                "summary": "x", "authors": [{"name": 42}]}}
    huge = {"paper": {"id": "2611.00003", "title": "Too many upvotes", "summary": "x", "upvotes": 2**63}}
    api = tmp_path / "api.json"
    api.write_text(json.dumps([good, numeric_author, huge]))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    config = tmp_path / "paperboy.toml"
    config.write_text(f'[[sources]]\nname = "api"\nkind = "hf-api"\nlocation = "{api}"\n\n'
                      f'[[sources]]\nname = "deep"\nkind = "hf-api"\nlocation = "{deep}"\n')
    env = {"PAPERBOY_OUTBOX": str(tmp_path / "outbox"), "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public")}
    cli("subscribers", "add", "ada@example.org")
    result = cli("--config", str(config), "run", "--once", "--json", env=env)
    report = json.loads(result.stdout)
    assert result.exit_code == 1, "a failed source is an error for cron"
    assert report["edition"]["status"] == "built" and report["edition"]["papers"] == 1
    assert report["deliveries"]["sent"] == 1 and report["feeds"]["written"]
    assert report["health"]["verdict"] == "failing"
    assert any("deep" in r and "nested too deeply" in r for r in report["health"]["reasons"])
    with db.read() as session:
        from bot.store.schema import DumpRow

        warnings = session.query(DumpRow.warnings).all()
    text = json.dumps([list(w) for w in warnings])
    assert "item 2" in text and "not text" in text and "item 3" in text and "upvotes" in text


@pytest.mark.slow
def test_a_status_piped_into_head_ends_quietly(settings: Settings, tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    result = subprocess.run([sys.executable, "-m", "bot", "--database-url", settings.database_url, "status"],
                            stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, timeout=120)
    os.close(write)
    assert result.stderr == ""


@pytest.mark.slow
def test_a_database_that_is_down_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    port = socket.create_server(("127.0.0.1", 0))
    closed = port.getsockname()[1]
    port.close()
    result = subprocess.run([sys.executable, "-m", "bot", "--database-url",
                             f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test", "status"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "SELECT" not in result.stderr


# A full disk, on a tmpfs of a few KiB (root may mount one; elsewhere these are skipped).

@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("a small tmpfs cannot be mounted here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_outbox_is_a_setup_error_not_a_quiet_success(
    cli, db: Database, tmp_path: Path, tiny_disk: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "inbox", tmp_path / "inbox")
    subscribe(db, *readers(10))
    env = {"PAPERBOY_OUTBOX": str(tiny_disk / "outbox"), "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public")}
    result = cli("run", "--once", "--json", env=env)
    report = json.loads(result.stdout)
    assert result.exit_code == 2
    assert "No space left" in report["deliveries"]["error"]
    assert report["health"]["verdict"] == "failing"
    assert "pending" in statuses(db).values(), "what did not fit waits for the next run"
    status = cli("status")
    assert status.exit_code == 1 and "mail cannot go out" in status.stdout


def test_a_full_disk_for_the_feeds_leaves_no_truncated_file(
    cli, db: Database, tmp_path: Path, tiny_disk: Path,
) -> None:
    shutil.copytree(ROOT / "examples" / "inbox", tmp_path / "inbox")
    env = {"PAPERBOY_OUTBOX": str(tmp_path / "outbox"), "PAPERBOY_PUBLIC_DIR": str(tiny_disk / "public")}
    report = json.loads(cli("run", "--once", "--json", env=env).stdout)
    assert "No space left" in report["feeds"]["error"]
    assert report["health"]["verdict"] == "failing"
    assert not [p for p in tiny_disk.rglob("*") if p.name.endswith(".tmp")]


# PostgreSQL going away under a running daemon: a cluster of the test's own on another port
# (the shared one on 5432 is never stopped).

class Cluster:
    def __init__(self) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")) if Path("/usr/lib/postgresql").is_dir() \
            else []
        if os.geteuid() != 0 or not versions:
            pytest.skip("needs root and Debian's PostgreSQL server binaries")
        self.bin = versions[-1].parent
        self.data = Path(tempfile.mkdtemp(prefix="paperboy-pg-", dir="/tmp"))
        shutil.chown(self.data, "postgres", "postgres")
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        listener.close()
        self._as_postgres("initdb", "-D", str(self.data / "db"), "-A", "trust", "-U", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / tool), *args], check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data / "db"), "-w", "-l", str(self.data / "log"), "-o",
                          f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data / "db"), "-w", "-m", "immediate", "stop")

    def remove(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.data / "db"),
                        "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    own = Cluster()
    own.start()
    yield own
    own.remove()


@pytest.mark.slow
def test_the_daemon_survives_postgresql_going_away_mid_send(smtp: SmtpServer, cluster: Cluster,
                                                           tmp_path: Path) -> None:
    from bot.store import open_database

    everyone = readers(300)
    database = open_database(cluster.url)
    subscribe(database, *everyone)
    database.close()
    shutil.copytree(ROOT / "examples" / "inbox", tmp_path / "inbox")
    smtp.recorder.delay = 0.02
    env = _env(replace(Settings(), database_url=cluster.url), smtp, tmp_path, PAPERBOY_SCHEDULE_TIME="00:00",
               PAPERBOY_SCHEDULE_MAX_LATENESS="7d", PAPERBOY_SCHEDULE_INTERVAL="1h")
    daemon = _paperboy(env, "run")
    seen: list[str] = []
    try:
        smtp.recorder.wait_for(20, sender=daemon)
        cluster.stop()
        _wait_for(daemon, "trying again in", seen)
        assert daemon.poll() is None, "the daemon is still running"
        cluster.start()
        _wait_for(daemon, "deliver: edition", seen)
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, rest = daemon.communicate(timeout=120)
    log = "".join(seen) + rest
    assert daemon.returncode == 0, log
    assert "Traceback" not in log and "SELECT" not in log
    counts = smtp.recorder.per_recipient()
    assert set(counts) == set(everyone), "nothing lost"
    duplicated = [a for a, n in counts.items() if n > 1]
    assert len(duplicated) <= 2, f"at most the message in flight on each connection: {duplicated}"


def _claimed(db: Database, edition: dt.date, now: dt.datetime, *addresses: str) -> list[outbox.Claim]:
    """The edition queued for these new subscribers and claimed at once (a lease of 5 minutes)."""
    subscribe(db, *addresses)
    with db.write() as session:
        queue.enqueue(session, outbox.edition_id(session, edition), edition, "papers.example.org", now)  # type: ignore[arg-type]
        return outbox.claim(session.connection(), "here:1", now, dt.timedelta(minutes=5), 10)


def test_sqlite_s_fast_path_records_takes_up_and_ends_its_transaction(db: Database, edition: dt.date) -> None:
    """SQLite records a message and takes up the next in one transaction straight on the driver:
    the first is sent, the second's lease renewed and its subscriber's status read; a claim
    another sender holds reads None; and no transaction is left open either way."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's path; PostgreSQL's is the lookahead (the tests below)")
    now = dt.datetime.now(dt.UTC)
    first, second = _claimed(db, edition, now, "ada@example.org", "bob@example.org")
    later = now + dt.timedelta(minutes=9)
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        status = outbox.record_then_take_up_sqlite(db, connection, (first.id, first.claim), now, second.id,
                                                   second.claim, later)
        assert status == "active" and not driver.in_transaction  # type: ignore[union-attr]
        assert outbox.record_then_take_up_sqlite(db, connection, None, now, second.id, "not-ours", later) is None
        assert not driver.in_transaction  # type: ignore[union-attr]
    with db.read() as session:
        rows = {d.id: d for d in outbox.iter_deliveries(session)}
    assert rows[first.id].status == "sent" and rows[first.id].sent_at is not None
    assert rows[second.id].status == "sending"


def test_postgresql_s_lookahead_records_takes_up_and_reads_the_answer_later(db: Database, edition: dt.date) -> None:
    """PostgreSQL records a message and takes up the next in one autocommit statement sent
    without waiting; the answer is read later. Either half may be missing; a claim another
    sender holds reads None; nothing is left open on the connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's path; SQLite's is the test above")
    now = dt.datetime.now(dt.UTC)
    first, second, third = _claimed(db, edition, now, "ada@example.org", "bob@example.org", "cy@example.org")
    later = now + dt.timedelta(minutes=9)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        ahead = Lookahead(connection)
        idle = connection.connection.driver_connection.info.transaction_status  # type: ignore[union-attr]
        ahead.send((first.id, first.claim), now, (second.id, second.claim), later)
        with db.read() as session:  # another connection sees the statement's effect once it ends
            assert ahead.result() == "active"
            assert {d.id: d.status for d in outbox.iter_deliveries(session)}[first.id] == "sent"
        ahead.send(None, now, (third.id, "not-ours"), later)
        assert ahead.result() is None
        ahead.send(None, now, (third.id, third.claim), later)
        assert ahead.result() == "active"
        ahead.send((second.id, second.claim), now, None, later)
        assert ahead.result() is None
        assert ahead.result() is None, "nothing in flight reads None"
        assert connection.connection.driver_connection.info.transaction_status == idle  # type: ignore[union-attr]
    with db.read() as session:
        rows = {d.id: d for d in outbox.iter_deliveries(session)}
    assert (rows[first.id].status, rows[second.id].status, rows[third.id].status) == ("sent", "sent", "sending")
    with db.engine.connect() as connection:
        lease = connection.execute(select(outbox.deliveries.c.lease_until)
                                   .where(outbox.deliveries.c.id == third.id)).scalar_one()
    assert abs((lease - later).total_seconds()) < 1e-3, "the take-up renewed the lease"


def test_postgresql_s_lookahead_is_not_done_before_its_commit(db: Database, edition: dt.date) -> None:
    """The statement's rows come back before its implicit transaction commits: a commit that
    fails then (here a deferred trigger; in CI's run it was the server going away) must fail the
    read, or the next body goes out with the last message unrecorded, two on one connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's path")
    now = dt.datetime.now(dt.UTC)
    first, second = _claimed(db, edition, now, "ada@example.org", "bob@example.org")
    with db.engine.begin() as connection:
        connection.execute(text(
            "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"))
        connection.execute(text(
            "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER UPDATE ON deliveries DEFERRABLE INITIALLY DEFERRED "
            f"FOR EACH ROW WHEN (NEW.id = {first.id} AND NEW.status = 'sent') EXECUTE FUNCTION refuse_at_commit()"))
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            ahead = Lookahead(connection)
            ahead.send((first.id, first.claim), now, (second.id, second.claim), now + dt.timedelta(minutes=9))
            with pytest.raises(StoreUnavailable, match="refused at commit"):
                ahead.result()
            driver = connection.connection.driver_connection
            assert driver.info.transaction_status == TransactionStatus.IDLE  # type: ignore[union-attr]
        with db.read() as session:
            assert {d.id: d.status for d in outbox.iter_deliveries(session)}[first.id] == "sending"
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse_at_commit ON deliveries"))
            connection.execute(text("DROP FUNCTION refuse_at_commit()"))


def test_postgresql_s_lookahead_on_a_lost_connection_is_one_line(db: Database, edition: dt.date) -> None:
    """The server ends the connection while a statement is in flight: one line, and the
    connection is invalidated (so the pool does not try to reset it and log a traceback)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's path")
    now = dt.datetime.now(dt.UTC)
    [first] = _claimed(db, edition, now, "ada@example.org")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        ahead = Lookahead(connection)
        pid = connection.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(StoreUnavailable) as raised:
            ahead.send((first.id, first.claim), now, None, now)
            ahead.result()
        assert "\n" not in str(raised.value) and str(raised.value).startswith("database error:")
        assert connection.invalidated


def test_the_heartbeat_skips_rows_a_sender_holds_instead_of_waiting(db: Database, edition: dt.date) -> None:
    """A sender's one statement locks two rows (the message it records, the next it takes up);
    a heartbeat that waited for one of them while holding the other was a deadlock, which
    PostgreSQL broke by failing the sender's run. The heartbeat now skips a locked row."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite's writers take turns")
    from sqlalchemy import text

    now = dt.datetime.now(dt.UTC)
    first, second = _claimed(db, edition, now, "ada@example.org", "bob@example.org")
    with db.engine.connect() as sender, db.engine.connect() as heartbeat, sender.begin():
        sender.execute(text("SELECT id FROM deliveries WHERE id = :id FOR UPDATE"), {"id": second.id})
        with heartbeat.begin():
            heartbeat.execute(text("SET LOCAL lock_timeout = '20s'"))  # the old heartbeat waited here
            renewed = outbox.renew(heartbeat, [first.id, second.id], [first.claim],
                                   now + dt.timedelta(minutes=9))
    assert renewed == 1
