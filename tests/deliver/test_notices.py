"""The notices outbox over real SMTP (aiosmtpd): queued by a request, sent by a worker, each once,
retried on a 4xx, given up on a 5xx; a subscribe request does not wait for the mail server."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot.app import Paperboy
from bot.deliver.notice import send_due
from bot.schedule.reconcile import reconcile
from bot.settings import Settings
from bot.store import Database
from bot.store import notices as store
from bot.web import create_app
from tests.smtp_server import SmtpServer

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none", smtp_timeout=10,
                   base_url="http://testserver/", mail_from="digest@papers.example.org",
                   secret_key="notices-test-secret")


def queue(db: Database, *addresses: str, at: dt.datetime = NOW) -> None:
    with db.write() as session:
        for address in addresses:
            store.queue(session, address, "Confirm your subscription", f"Hello {address}\n", at)


def statuses(db: Database) -> dict[str, str]:
    with db.read() as session:
        return {r.address: r.status for r in session.execute(store.notices.select())}


def test_two_workers_send_each_notice_once(db: Database, mail_settings: Settings, smtp: SmtpServer) -> None:
    addresses = [f"reader{n}@example.org" for n in range(40)]
    queue(db, *addresses)
    workers = [Paperboy(mail_settings, db, clock=lambda: NOW).notices for _ in range(2)]
    threads = [threading.Thread(target=w.send_due) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert smtp.recorder.per_recipient() == dict.fromkeys(addresses, 1)
    assert set(statuses(db).values()) == {"sent"}


def test_a_4xx_is_retried_later_and_a_5xx_is_given_up(db: Database, mail_settings: Settings,
                                                      smtp: SmtpServer) -> None:
    smtp.recorder.replies = {"later@example.org": ["451 4.7.1 Greylisted"],
                             "gone@example.org": ["550 5.1.1 No such user"]}
    queue(db, "later@example.org", "gone@example.org", "fine@example.org")
    first = send_due(db, mail_settings, Paperboy(mail_settings, db).transport, lambda: NOW)
    assert (first.sent, first.retrying, first.failed) == (1, 1, 1)
    assert statuses(db) == {"later@example.org": "pending", "gone@example.org": "failed", "fine@example.org": "sent"}
    assert send_due(db, mail_settings, Paperboy(mail_settings, db).transport, lambda: NOW).sent == 0, \
        "not before its retry time"
    later = send_due(db, mail_settings, Paperboy(mail_settings, db).transport, lambda: NOW + dt.timedelta(hours=1))
    assert later.sent == 1
    assert smtp.recorder.per_recipient() == {"fine@example.org": 1, "later@example.org": 1}


def test_the_daemon_sends_what_a_web_process_left_queued(db: Database, mail_settings: Settings,
                                                         smtp: SmtpServer) -> None:
    queue(db, "left@example.org")
    reconcile(db, mail_settings, on_schedule=False)
    assert smtp.recorder.per_recipient() == {"left@example.org": 1}
    assert statuses(db) == {"left@example.org": "sent"}


@pytest.fixture
def stalled(smtp: SmtpServer) -> Iterator[SmtpServer]:
    smtp.recorder.stall = {"*"}
    yield smtp
    smtp.recorder.release.set()


def test_a_subscribe_request_does_not_wait_for_the_mail_server(db: Database, mail_settings: Settings,
                                                               stalled: SmtpServer) -> None:
    """The server takes the confirmation and then never answers: the request is answered all
    the same, and the mail is the worker's to finish."""
    with TestClient(create_app(db, mail_settings)) as client:
        page = client.get("/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        first = client.post("/subscribe", data={"email": "ada@example.org", "csrf": csrf})
        assert first.status_code == 200 and "Check your inbox" in first.text
        assert stalled.recorder.arrived.wait(30), "the worker sent the confirmation"
        second = client.post("/subscribe", data={"email": "bob@example.org", "csrf": csrf})
        assert second.status_code == 200, "answered while the worker is still waiting for the server"
        stalled.recorder.release.set()
    assert set(statuses(db)) == {"ada@example.org", "bob@example.org"}, "both queued by their requests"


@pytest.mark.parametrize("to", ["ada@example.org", "zoë@example.org"])
def test_a_notice_written_out_directly_reads_as_the_email_library_writes_it(mail_settings: Settings,
                                                                           to: str) -> None:
    import email
    import email.policy

    from bot.deliver.notice import notice, notice_bytes

    text = "Hello,\n\n  https://papers.example.org/confirm?token=abc.def\n\nBye.\n"
    ours = email.message_from_bytes(notice_bytes(mail_settings, to, "Confirm", text, NOW), policy=email.policy.default)
    made = notice(mail_settings, to, "Confirm", text, NOW)
    theirs = email.message_from_bytes(made.as_bytes(policy=made.policy.clone(linesep="\r\n")),
                                      policy=email.policy.default)
    for name in ("From", "To", "Subject", "Date", "Auto-Submitted", "Content-Type"):
        assert str(ours[name]) == str(theirs[name]), name
    assert ours.get_content() == theirs.get_content()  # type: ignore[attr-defined]
    assert ours.get_content().replace("\r\n", "\n") == text  # type: ignore[attr-defined]
    assert str(ours["Message-ID"]).endswith("@papers.example.org>")
