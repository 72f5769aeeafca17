"""Delivery over real SMTP (aiosmtpd on loopback): exactly once, retries, bounces, crashes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.deliver import retry, send_edition, signer
from bot.deliver.message import message_bytes, prepare
from bot.deliver.transport import SmtpConfig, SmtpTransport
from bot.errors import HeaderError
from bot.pipeline import build_edition, ingest
from bot.render.email import render_email
from bot.settings import Settings
from bot.store import Database, queue
from bot.store import deliveries as outbox
from bot.store.subscribers import find_subscriber, set_status, upsert_subscriber
from bot.subscribers import normalise_address, preferences
from tests.conftest import ROOT
from tests.smtp_server import Received, Recorder, SmtpServer

DATE = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none", smtp_timeout=5,
                   base_url="https://papers.example.org/", mail_from="digest@papers.example.org",
                   delivery_retry_seconds=0.1, delivery_wait_seconds=15, delivery_lease_seconds=60,
                   delivery_concurrency=2)


@pytest.fixture
def edition(db: Database, settings: Settings) -> dt.date:
    for day in ("18", "19", "20"):
        assert ingest(db, settings, [ROOT / "examples" / "inbox" / f"2026-11-{day}.txt"], now=lambda: NOW).ok
    assert build_edition(db, settings, DATE, NOW) is not None
    return DATE


def subscribe(db: Database, *addresses: str, **prefs: str) -> list[str]:
    with db.write() as session:
        return [upsert_subscriber(session, normalise_address(a), preferences(**prefs), NOW).subscriber.address
                for a in addresses]


def readers(n: int) -> list[str]:
    return [f"reader{i:04d}@example.org" for i in range(n)]


def statuses(db: Database) -> dict[str, str]:
    with db.read() as session:
        return {d.address: d.status for d in outbox.iter_deliveries(session)}


def test_each_subscriber_gets_one_complete_message(db: Database, mail_settings: Settings, smtp: SmtpServer,
                                                   edition: dt.date) -> None:
    subscribe(db, "alice@example.org", "Bob@Example.ORG", "名前@example.org")
    summary = send_edition(db, mail_settings)
    assert (summary.queued, summary.sent, summary.failed, summary.skipped) == (3, 3, 0, 0)
    received = smtp.recorder.received
    assert sorted(r for m in received for r in m.recipients) == ["Bob@example.org", "alice@example.org",
                                                                 "名前@example.org"]
    with db.read() as session:
        stored = {d.address: d.message_id for d in outbox.iter_deliveries(session)}
    links = signer(db, mail_settings)
    for item in received:
        message = item.message
        to = item.recipients[0]
        assert message["To"] == to and message["From"] == "digest@papers.example.org"
        assert message["Message-ID"] == stored[to] and message["Message-ID"].endswith("@papers.example.org>")
        assert message["Subject"] == "Trending papers, 20 Nov: 26 new in 4 topics"
        assert message["Date"] and message["List-Id"] == "paperboy digest <paperboy.papers.example.org>"
        assert message["Auto-Submitted"] == "auto-generated" and message["Precedence"] == "bulk"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = (u.strip(" <>") for u in str(message["List-Unsubscribe"]).split(","))
        assert https.startswith("https://papers.example.org/unsubscribe?token=")
        assert mailto.startswith("mailto:digest@papers.example.org?subject=unsubscribe")
        with db.read() as session:
            token = find_subscriber(session, to).token  # type: ignore[union-attr]
        assert links.verify(https.partition("token=")[2], "unsubscribe") == token
        assert message.get_content_type() == "multipart/alternative"
        text, html = message.iter_parts()
        assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        assert text.get_content_charset() == html.get_content_charset() == "utf-8"
        assert https in text.get_content() and https.replace("&", "&amp;") in html.get_content()
    again = send_edition(db, mail_settings)
    assert (again.queued, again.sent) == (0, 0) and smtp.recorder.count() == 3


def test_preferences_narrow_each_copy_and_an_empty_one_is_skipped(db: Database, mail_settings: Settings,
                                                                   smtp: SmtpServer, edition: dt.date) -> None:
    subscribe(db, "follower@example.org", follow="long-context-agents")
    subscribe(db, "muter@example.org", mute="long-context-agents")
    subscribe(db, "picky@example.org", include="no-such-keyword-anywhere")
    summary = send_edition(db, mail_settings)
    assert (summary.sent, summary.skipped) == (2, 1)
    subjects = {m.recipients[0]: m.message["Subject"] for m in smtp.recorder.received}
    assert subjects == {"follower@example.org": "Trending papers, 20 Nov: 9 new in 1 topic",
                        "muter@example.org": "Trending papers, 20 Nov: 17 new in 3 topics"}
    assert statuses(db)["picky@example.org"] == "skipped"


def test_a_451_is_retried_and_then_delivered_once(db: Database, mail_settings: Settings, smtp: SmtpServer,
                                                  edition: dt.date) -> None:
    subscribe(db, "later@example.org", "now@example.org")
    smtp.recorder.replies["later@example.org"] = ["451 4.7.1 Greylisted, try again later"]
    summary = send_edition(db, mail_settings)
    assert (summary.sent, summary.failed) == (2, 0)
    assert smtp.recorder.per_recipient() == {"later@example.org": 1, "now@example.org": 1}
    with db.read() as session:
        attempts = {d.address: d.attempts for d in outbox.iter_deliveries(session)}
    assert attempts == {"later@example.org": 2, "now@example.org": 1}


@pytest.mark.parametrize("pipelining", [False, True])
def test_a_message_is_accepted_only_once_the_one_before_it_is_recorded(
    db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date, pipelining: bool,
) -> None:
    """On one connection the server never holds two messages whose sending is not recorded: the
    record of one (on PostgreSQL sent while the next is on its way) ends before the next one's
    body goes out. So a crash at any moment can resend at most one message per connection.
    Checked as the server takes each whole message, across claim batches and with retries
    (which take the slow path) among the plain successes. On PostgreSQL every fifth record is
    held up a moment by a lock on its row, so that a next message not waiting for it would
    arrive first."""
    everyone = subscribe(db, *readers(40))
    smtp.recorder.pipelining = pipelining
    for address in everyone[3:40:9]:
        smtp.recorder.replies[address] = ["451 4.7.1 Greylisted, try again later"]
    seen: list[tuple[int, int]] = []
    holding = db.engine.dialect.name == "postgresql"

    def accepting(message: Received) -> None:
        seen.append((smtp.recorder.count(), list(statuses(db).values()).count("sent")))
        if holding and len(seen) % 5 == 0:
            connection = db.engine.connect()
            connection.begin()
            connection.execute(select(outbox.deliveries.c.id).where(
                outbox.deliveries.c.message_id == message.message_id).with_for_update())
            threading.Timer(0.3, connection.close).start()

    smtp.recorder.accepting = accepting
    summary = send_edition(db, replace(mail_settings, delivery_concurrency=1))
    assert (summary.sent, summary.failed) == (40, 0)
    assert len(seen) == 40 and seen[-1][0] == 39
    assert all(recorded >= accepted for accepted, recorded in seen), seen
    assert smtp.recorder.per_recipient() == dict.fromkeys(everyone, 1)


def test_a_550_fails_and_repeated_hard_failures_bounce(db: Database, mail_settings: Settings, smtp: SmtpServer,
                                                       edition: dt.date) -> None:
    subscribe(db, "gone@example.org", "fine@example.org")
    smtp.recorder.replies["gone@example.org"] = ["550 5.1.1 No such user"] * 2
    summary = send_edition(db, replace(mail_settings, delivery_bounce_after=2))
    assert (summary.sent, summary.failed) == (1, 1)
    with db.read() as session:
        failed = next(outbox.iter_deliveries(session, status="failed"))
        assert failed.address == "gone@example.org" and failed.attempts == 1
        assert failed.last_error == "550 5.1.1 No such user"
        assert find_subscriber(session, "gone@example.org").status == "active"  # type: ignore[union-attr]
    again = retry(db, replace(mail_settings, delivery_bounce_after=2))
    assert again.failed == 1
    with db.read() as session:
        assert find_subscriber(session, "gone@example.org").status == "bounced"  # type: ignore[union-attr]
    assert smtp.recorder.per_recipient() == {"fine@example.org": 1}


def test_the_server_down_then_up(db: Database, mail_settings: Settings, smtp: SmtpServer, edition: dt.date) -> None:
    """The server comes back once every first attempt has failed (counted, not timed)."""
    subscribe(db, *readers(6))
    smtp.stop()
    failures: list[str] = []
    all_failed = threading.Event()

    def count(outcome: str) -> None:
        failures.append(outcome)
        if failures.count("retrying") == 6:
            all_failed.set()

    results = []
    sender = threading.Thread(target=lambda: results.append(
        send_edition(db, replace(mail_settings, delivery_retry_seconds=0.3), progress=count)))
    sender.start()
    assert all_failed.wait(120)
    smtp.start()
    sender.join(120)
    summary = results[0]
    assert (summary.sent, summary.failed) == (6, 0)
    assert smtp.recorder.per_recipient() == dict.fromkeys(readers(6), 1)
    with db.read() as session:
        assert all(d.attempts > 1 for d in outbox.iter_deliveries(session))


def test_a_connection_the_server_closed_while_idle_is_reopened(smtp: SmtpServer) -> None:
    smtp.stop()
    idle = SmtpServer(smtp.recorder, port=smtp.port, idle_timeout=0.3).start()
    try:
        transport = SmtpTransport(SmtpConfig("127.0.0.1", idle.port, "none", "", None, 5))
        transport.send("a@example.org", "b@example.org", b"Subject: one\r\n\r\nfirst\r\n")
        time.sleep(0.8)
        transport.send("a@example.org", "b@example.org", b"Subject: two\r\n\r\nsecond\r\n")
        transport.close()
    finally:
        idle.stop()
    assert smtp.recorder.count() == 2


def test_an_unsubscribe_after_queuing_is_honoured(db: Database, mail_settings: Settings, smtp: SmtpServer,
                                                  edition: dt.date) -> None:
    subscribe(db, "stays@example.org", "leaves@example.org")
    with db.write() as session:
        number = outbox.edition_id(session, edition)
        assert queue.enqueue(session, number, edition, "papers.example.org", NOW) == 2  # type: ignore[arg-type]
        set_status(session, "leaves@example.org", "unsubscribed", NOW)
    summary = send_edition(db, mail_settings)
    assert (summary.queued, summary.sent, summary.skipped) == (0, 1, 1)
    assert smtp.recorder.per_recipient() == {"stays@example.org": 1}
    assert statuses(db) == {"stays@example.org": "sent", "leaves@example.org": "skipped"}


def test_a_setup_error_stops_the_run_and_gives_the_claims_back(db: Database, mail_settings: Settings,
                                                               smtp: SmtpServer, edition: dt.date) -> None:
    from bot.errors import MailSetupError

    subscribe(db, *readers(3))
    with pytest.raises(MailSetupError, match="PAPERBOY_SMTP_PASSWORD"):
        send_edition(db, replace(mail_settings, smtp_user="someone"))
    with db.read() as session:
        assert {(d.status, d.attempts) for d in outbox.iter_deliveries(session)} == {("pending", 0)}
    assert send_edition(db, mail_settings).sent == 3


def test_without_an_smtp_host_mail_goes_to_the_maildir(db: Database, settings: Settings, tmp_path: Path,
                                                       edition: dt.date) -> None:
    subscribe(db, "offline@example.org")
    summary = send_edition(db, replace(settings, outbox=tmp_path / "outbox"))
    assert summary.sent == 1
    files = list((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 1 and b"To: offline@example.org" in files[0].read_bytes()


def test_the_rate_limit_spaces_messages(db: Database, mail_settings: Settings, smtp: SmtpServer,
                                        edition: dt.date) -> None:
    subscribe(db, *readers(6))
    started = time.monotonic()
    assert send_edition(db, replace(mail_settings, delivery_rate_limit=10)).sent == 6
    assert time.monotonic() - started >= 0.5  # six messages at ten a second: at least five intervals


def test_header_values_with_line_breaks_are_refused(db: Database, settings: Settings, edition: dt.date) -> None:
    from bot.render import environment
    from bot.render.email import links_for

    with db.read() as session:
        from bot.store.editions import find_edition

        found = find_edition(session, edition)
    assert found is not None
    parts = render_email(environment(), found, links_for(settings.base_url, found), 5)
    prepared = prepare(parts, edition=found, sender="digest@example.org", date=NOW)
    for bad in ({"to": "a@example.org\r\nBcc: victim@example.org"},
                {"unsubscribe_url": "https://x.example/u\r\nBcc: v@example.org"},
                {"message_id": "<x@y>\nBcc: v@example.org"}):
        kwargs = {"to": "a@example.org", "unsubscribe_url": "https://x.example/u", **bad}
        with pytest.raises(HeaderError):
            message_bytes(prepared, **kwargs)  # type: ignore[arg-type]


# Real processes: kill -9 mid-run, and two senders at once.

def _env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    return {**base, "PAPERBOY_DATABASE_URL": settings.database_url, "PAPERBOY_SMTP_HOST": "127.0.0.1",
            "PAPERBOY_SMTP_PORT": str(port), "PAPERBOY_SMTP_TLS": "none",
            "PAPERBOY_MAIL_FROM": "digest@papers.example.org", "PAPERBOY_BASE_URL": "https://papers.example.org/",
            "PAPERBOY_DELIVERY_CONCURRENCY": "2", "PAPERBOY_DELIVERY_LEASE_SECONDS": "60",
            "PAPERBOY_DELIVERY_RETRY_SECONDS": "0.2", "PAPERBOY_DELIVERY_WAIT_SECONDS": "30", **extra}


def _sender(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", "send", "--json"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 25, 70])
def test_a_sender_killed_mid_run_then_restarted_sends_each_message_once(
    db: Database, settings: Settings, smtp: SmtpServer, edition: dt.date, kill_after: int,
) -> None:
    everyone = readers(90)
    subscribe(db, *everyone)
    smtp.recorder.delay = 0.01
    env = _env(settings, smtp.port)
    sender = _sender(env)
    smtp.recorder.wait_for(kill_after, sender=sender)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait(30)
    assert sender.returncode == -signal.SIGKILL
    before = smtp.recorder.count()
    assert before < len(everyone), "the run finished before the kill; make it slower"
    restarted = subprocess.run([sys.executable, "-m", "bot", "send", "--json"], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["queued"] == 0
    counts = smtp.recorder.per_recipient()
    assert set(counts) == set(everyone)
    duplicated = [a for a, n in counts.items() if n > 1]
    assert all(counts[a] == 2 for a in duplicated)
    assert len(duplicated) <= 2, f"only messages in flight (one per connection) may arrive twice: {duplicated}"
    for address in duplicated:
        ids = {m.message_id for m in smtp.recorder.received if address in m.recipients}
        assert len(ids) == 1, "a resent message keeps its Message-ID"
    assert set(statuses(db).values()) == {"sent"}


@pytest.mark.slow
def test_two_senders_at_once_send_each_message_once(db: Database, settings: Settings, smtp: SmtpServer,
                                                    edition: dt.date) -> None:
    everyone = readers(120)
    subscribe(db, *everyone)
    smtp.recorder.delay = 0.005
    env = _env(settings, smtp.port, PAPERBOY_DELIVERY_LEASE_SECONDS="60")
    first, second = _sender(env), _sender(env)
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in (first, second)]
    assert first.returncode == second.returncode == 0
    assert sum(o["queued"] for o in outputs) == 120
    assert sum(o["sent"] for o in outputs) == 120
    assert all(o["sent"] > 0 for o in outputs), f"both senders should have worked: {outputs}"
    assert smtp.recorder.per_recipient() == dict.fromkeys(everyone, 1)


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """aiosmtpd with STARTTLS required and a login, its certificate made here and trusted through
    SSL_CERT_FILE (which the client's default TLS context reads)."""
    import ssl

    from aiosmtpd.smtp import AuthResult

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"paperboy" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    class TlsServer(SmtpServer):
        def start(self) -> SmtpServer:
            from aiosmtpd.controller import Controller

            self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, tls_context=context,
                                          require_starttls=True, authenticator=authenticate, auth_required=True,
                                          ready_timeout=10)
            self._controller.start()
            return self

    server = TlsServer(Recorder()).start()
    yield server
    server.stop()


def test_starttls_and_login_against_a_real_server(db: Database, mail_settings: Settings, tls_server: SmtpServer,
                                                  edition: dt.date) -> None:
    from bot.deliver.check import check_mail
    from bot.errors import MailSetupError

    secure = replace(mail_settings, smtp_port=tls_server.port, smtp_tls="starttls", smtp_user="paperboy",
                     smtp_password="s3cret")
    subscribe(db, "secure@example.org")
    assert send_edition(db, secure).sent == 1
    assert tls_server.recorder.per_recipient() == {"secure@example.org": 1}
    steps = {s.name: s for s in check_mail(secure)}
    assert steps["connect"].ok and "STARTTLS" in steps["connect"].detail and steps["login"].ok
    wrong = replace(secure, smtp_password="wrong")
    failed = {s.name: s for s in check_mail(wrong)}
    assert not failed["connect"].ok and "refused the login" in failed["connect"].detail
    subscribe(db, "second@example.org")
    with pytest.raises(MailSetupError, match="refused the login"):
        send_edition(db, wrong)
    assert statuses(db)["second@example.org"] == "pending"
    plain = {s.name: s for s in check_mail(replace(secure, smtp_tls="none"))}
    assert not plain["connect"].ok


def test_requeuing_looks_only_at_subscribers_changed_since(db: Database, mail_settings: Settings,
                                                          edition: dt.date) -> None:
    """The daemon re-queues the edition on every tick: a reader who confirms later is queued
    once, and a tick with nobody new queues nobody."""
    subscribe(db, "first@example.org")
    assert send_edition(db, mail_settings).queued == 1
    subscribe(db, "later@example.org")
    again = send_edition(db, mail_settings)
    assert (again.queued, again.sent) == (1, 1)
    assert send_edition(db, mail_settings).queued == 0
    assert statuses(db) == {"first@example.org": "sent", "later@example.org": "sent"}
