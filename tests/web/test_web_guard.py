"""The web front's limits as an attacker meets them: forged X-Forwarded-For, one mailbox under many
spellings, counters that survive another process and a restart; security headers, relative
redirects, an access log without secrets; the manage page's states."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from bot.services.limits import Limits
from bot.settings import Settings
from bot.store import Database
from bot.store import limits as limit_store
from bot.store.subscribers import find_subscriber
from bot.subscribers import Signer, mailbox_key
from bot.web import create_app
from tests.web.test_web import KEY, _active, csrf_of, mails, subscribe
from tests.web.test_web import client as client
from tests.web.test_web import edition as edition
from tests.web.test_web import web_settings as web_settings

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def post_from(client: TestClient, address: str, forwarded: str) -> int:
    answer = client.post("/subscribe", data={"email": address, "csrf": csrf_of(client)},
                         headers={"X-Forwarded-For": forwarded})
    return answer.status_code


def test_a_rotating_forwarded_for_from_an_untrusted_client_is_one_client(client: TestClient) -> None:
    answers = [post_from(client, f"r{n}@example.org", f"203.0.113.{n}") for n in range(24)]
    assert answers[:20] == [200] * 20 and answers[20:] == [429] * 4


@pytest.fixture
def proxied(db: Database, web_settings: Settings, edition: dt.date) -> Iterator[TestClient]:
    """Behind a proxy the operator named (the test client connects as "testclient")."""
    with TestClient(create_app(db, replace(web_settings, web_trusted_proxies=("testclient",)))) as test_client:
        yield test_client


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(proxied: TestClient) -> None:
    assert [post_from(proxied, f"a{n}@example.org", "198.51.100.7") for n in range(21)].count(429) == 1
    assert post_from(proxied, "b@example.org", "198.51.100.8") == 200, "another client behind the same proxy"
    spoofed = [post_from(proxied, f"c{n}@example.org", f"10.9.9.{n}, 198.51.100.7") for n in range(3)]
    assert spoofed == [429] * 3, "the proxy's own entry (the rightmost) is what counts, not what the client sent"


def test_ipv6_clients_are_counted_per_64(proxied: TestClient) -> None:
    answers = [post_from(proxied, f"v{n}@example.org", f"2001:db8:1:2::{n:x}") for n in range(21)]
    assert answers.count(429) == 1


def test_one_mailbox_under_many_spellings_gets_three_mails(client: TestClient, web_settings: Settings) -> None:
    spellings = ["victim+1@gmail.com", "victim+2@gmail.com", "v.i.c.t.i.m@googlemail.com", "VICTIM+x@Gmail.com",
                 "vic.tim+7@gmail.com"]
    for address in spellings:
        assert subscribe(client, address).status_code == 200  # type: ignore[attr-defined]
    assert len(mails(web_settings)) == 3


def test_mailbox_keys() -> None:
    assert mailbox_key("Victim+news@Example.org") == "victim@example.org"
    assert mailbox_key("v.i.c.t.i.m+a@googlemail.com") == mailbox_key("victim@gmail.com")
    assert mailbox_key("first.last@example.org") == "first.last@example.org", "dots matter outside Gmail"
    assert mailbox_key("+only@example.org") == "+only@example.org"


def test_limits_hold_across_processes_and_restarts(db: Database, web_settings: Settings,
                                                   edition: dt.date) -> None:
    for _ in range(2):  # two web processes, then a restart: each a new app over the same database
        with TestClient(create_app(db, web_settings)) as first, TestClient(create_app(db, web_settings)) as second:
            for n in range(5):
                subscribe(first if n % 2 else second, f"same+{n}@example.org")
    assert len(mails(web_settings)) == 3


def test_the_window_slides(db: Database) -> None:
    moments = iter([NOW + dt.timedelta(minutes=m) for m in (0, 10, 20, 70, 100, 125)])
    limits = Limits(db, KEY, clock=lambda: next(moments))
    answers = [limits.allow("t", "k", 3, 3600) for _ in range(6)]
    # Three in the first hour. At 70 min five sixths of that hour still count: 1 + 3 * 5/6 > 3. At 100
    # min a third does: 2 + 3 * 1/3 = 3. At 125 min the first hour is gone and 1 + 2 * 11/12 < 3.
    assert answers == [True, True, True, False, True, True]
    with db.read() as session:
        stored = session.execute(limit_store.table.select()).all()
    assert all(row.key != "k" and len(row.key) == 64 for row in stored), "keys are stored hashed"


# Headers, redirects, the access log -------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/editions/", "/feed.xml", "/healthz", "/nowhere", "/confirm?token=x"])
def test_security_headers_on_every_answer(client: TestClient, path: str) -> None:
    answer = client.get(path)
    csp = answer.headers["content-security-policy"]
    # a feed may load its own origin's stylesheet (XSLT is script to CSP), nothing else
    scripts = "script-src 'self';" if path.endswith(".xml") else None
    assert (scripts in csp if scripts else "script-src" not in csp)
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("style-src")[0], "no inline script"
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_pages_carry_no_script_and_no_inline_style_attribute(client: TestClient) -> None:
    for path in ("/", "/editions/"):
        page = client.get(path).text
        assert "<script" not in page and " style=" not in page and "onclick" not in page


@pytest.mark.parametrize(("path", "location"), [("/editions", "editions/"), ("/healthz/", "../healthz"),
                                                ("/editions?x=1", "editions/?x=1")])
def test_trailing_slash_redirects_are_relative(client: TestClient, path: str, location: str) -> None:
    answer = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert answer.status_code == 308 and answer.headers["location"] == location


def test_unknown_paths_are_a_plain_404(client: TestClient) -> None:
    answer = client.get("/wp-admin/", headers={"Host": "evil.example"})
    assert answer.status_code == 404 and "evil.example" not in answer.text


def test_one_access_line_per_request_without_tokens_or_addresses(client: TestClient,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="paperboy.web.access"):
        client.get("/confirm?token=SECRET-TOKEN-VALUE")
        client.get("/editions/")
    lines = [r.getMessage() for r in caplog.records if r.name == "paperboy.web.access"]
    assert len(lines) == 2 and lines[0].startswith("GET /confirm 400") and lines[1].startswith("GET /editions/ 200")
    assert not any("SECRET" in line or "testclient" in line for line in lines)


# The manage page ----------------------------------------------------------------------------

def test_a_topic_cannot_be_followed_and_muted_at_once(client: TestClient, db: Database) -> None:
    signed = Signer(KEY).sign(_active(db, "gil@example.org"), "manage")
    slugs = re.findall(r'name="follow" value="([a-z0-9-]+)"', client.get(f"/manage?token={signed}").text)
    answer = client.post("/manage", data={"token": signed, "follow": slugs[:2], "mute": slugs[1:3]})
    assert answer.status_code == 400 and f"cannot be followed and muted at once: {slugs[1]}" in answer.text
    with db.read() as session:
        assert find_subscriber(session, "gil@example.org").preferences.mute == ()  # type: ignore[union-attr]


def test_after_unsubscribing_the_manage_link_offers_to_subscribe_again(client: TestClient, db: Database) -> None:
    token = _active(db, "hal@example.org")
    manage = Signer(KEY).sign(token, "manage")
    page = client.get(f"/manage?token={manage}").text
    save = re.search(r'<button type="submit">Save</button>', page)
    unsubscribe = re.search(r'<button type="submit" class="danger">Unsubscribe</button>', page)
    assert save and unsubscribe, "Unsubscribe looks different from Save"
    client.post("/unsubscribe", data={"token": Signer(KEY).sign(token, "unsubscribe")})
    page = client.get(f"/manage?token={manage}").text
    assert "You are unsubscribed" in page and "Subscribe again" in page
    assert 'name="follow"' not in page and ">Save<" not in page, "not the full form"
    again = client.post("/manage", data={"token": manage, "action": "resubscribe"})
    assert again.status_code == 200 and "Subscribed again" in again.text and ">Save<" in again.text
    with db.read() as session:
        assert find_subscriber(session, "hal@example.org").status == "active"  # type: ignore[union-attr]


# The one error handler ------------------------------------------------------------------------

def test_a_database_that_is_down_is_a_503_page_not_a_traceback(web_settings: Settings) -> None:
    gone = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(gone, web_settings), raise_server_exceptions=False) as test_client:
        for path in ("/healthz", "/", "/manage?token=x"):
            answer = test_client.get(path)
            assert answer.status_code == 503, path
            assert "try again" in answer.text and "Traceback" not in answer.text and "psycopg" not in answer.text
            assert "default-src 'none'" in answer.headers["content-security-policy"]


def test_feed_polls_are_summed_up_not_logged_one_by_one(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A line per feed poll halved the polls a process answers; they are counted and summed up
    in one line (every minute, and when the server stops), each one at DEBUG only."""
    from bot.web.site import Polls

    etag = client.get("/feed.xml").headers["etag"]
    with caplog.at_level(logging.INFO, logger="paperboy.web.access"):
        for _ in range(3):
            assert client.get("/feed.xml", headers={"If-None-Match": etag}).status_code == 304
        client.get("/atom.xml")
    assert not [r for r in caplog.records if "feed.xml" in r.getMessage() or "atom.xml" in r.getMessage()]
    polls: Polls = client.app.state.web.polls  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="paperboy.web.access"):
        polls.sum_up()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("feeds:")]
    assert line.startswith("feeds: 5 polls in ") and "3 not modified (feed.xml 4, atom.xml 1)" in line
    with caplog.at_level(logging.DEBUG, logger="paperboy.web.access"):
        client.get("/feed.xml", headers={"If-None-Match": etag})
    assert any(r.getMessage().startswith("GET feed.xml 304") for r in caplog.records)
