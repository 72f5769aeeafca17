"""The web front over HTTP, in-process (Starlette's test client): every route, conditional GETs,
the token cases, CSRF, rate limits and enumeration resistance. Mail goes to the Maildir outbox,
read back as files."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import gzip
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.app import Paperboy
from bot.errors import ConfigError
from bot.pipeline import build_edition, ingest
from bot.settings import Settings
from bot.store import Database
from bot.store import notices as notice_store
from bot.store.subscribers import find_subscriber, upsert_subscriber
from bot.subscribers import Signer, preferences
from bot.web import create_app
from bot.web.guard import ConfirmLinks
from tests.conftest import ROOT
from tests.tokens import tampered

BASE = "http://testserver/"
KEY = "test-secret-key-0123456789abcdef"
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


@pytest.fixture
def web_settings(settings: Settings, tmp_path: Path) -> Settings:
    return replace(settings, secret_key=KEY, base_url=BASE, outbox=tmp_path / "outbox",
                   mail_from="digest@papers.example.org")


@pytest.fixture
def edition(db: Database, web_settings: Settings) -> dt.date:
    for day in ("18", "19", "20"):
        assert ingest(db, web_settings, [ROOT / "examples" / "inbox" / f"2026-11-{day}.txt"], now=lambda: NOW).ok
    built = build_edition(db, web_settings, dt.date(2026, 11, 20), NOW)
    assert built is not None
    return built.date


@pytest.fixture
def client(db: Database, web_settings: Settings, edition: dt.date) -> Iterator[TestClient]:
    with TestClient(create_app(db, web_settings)) as test_client:
        yield test_client


def mails(settings: Settings) -> list[email.message.EmailMessage]:
    """The mails sent so far, once every queued notice is sent: what is due is sent here, and
    what a web process's worker is sending at that moment is waited for."""
    paperboy = Paperboy(settings)
    paperboy.notices.send_due()
    deadline = time.monotonic() + 30
    while True:
        with paperboy.database.read() as session:
            if not notice_store.waiting(session, dt.datetime.now(dt.UTC)):
                break
        assert time.monotonic() < deadline, "a notice was never sent"
        time.sleep(0.01)
    paperboy.database.close()
    folder = settings.outbox / "new"
    if not folder.is_dir():
        return []
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]  # type: ignore[misc]


def body(message: email.message.EmailMessage) -> str:
    return message.get_content()  # type: ignore[no-any-return]


def csrf_of(client: TestClient) -> str:
    page = client.get("/")
    return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]


def subscribe(client: TestClient, address: str, **extra: object) -> object:
    return client.post("/subscribe", data={"email": address, "csrf": csrf_of(client), **extra})


def link_in(message: email.message.EmailMessage, path: str) -> str:
    return re.search(rf"{re.escape(BASE)}{path}\?token=\S+", body(message))[0]  # type: ignore[index]


def test_the_web_refuses_to_start_without_a_secret_key(db: Database, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="PAPERBOY_SECRET_KEY must be set"):
        create_app(db, replace(settings, secret_key=None))


def test_pages_link_every_feed_and_carry_the_subscribe_form(client: TestClient, edition: dt.date) -> None:
    home = client.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    for feed in ("feed.xml", "atom.xml", "digest.xml", "feed.json"):
        assert f'href="{BASE}{feed}"' in home.text
    assert re.search(r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" href="http://testserver/topics/', home.text)
    assert '<form class="subscribe" method="post" action="http://testserver/subscribe">' in home.text
    assert re.search(r'name="follow" value="[a-z0-9-]+"> [^<]+ <span class="muted">\(\d+\)</span>', home.text), \
        "the form's topics carry their papers of the last weeks"
    assert 'name="viewport"' in home.text
    assert not re.search(r'(src|href)="https?://(?!testserver/|arxiv\.org|huggingface\.co)', home.text), \
        "no third-party assets"
    page = client.get(f"/editions/{edition}.html")
    assert page.status_code == 200 and "Trending papers" in page.text and 'name="csrf"' in page.text
    assert client.get("/editions/").status_code == 200
    assert client.get("/index.html").text == client.get("/editions/").text, "the static archive's index path"
    assert client.get("/editions/2001-01-01.html").status_code == 404
    assert client.get("/editions/not-a-date").status_code == 404


@pytest.mark.parametrize(("path", "kind"), [
    ("/feed.xml", "application/rss+xml"), ("/atom.xml", "application/atom+xml"),
    ("/digest.xml", "application/atom+xml"), ("/feed.json", "application/feed+json"),
])
def test_feeds_have_their_types_and_validators_and_answer_304(client: TestClient, path: str, kind: str) -> None:
    first = client.get(path, headers={"Accept-Encoding": "identity"})
    assert first.status_code == 200 and first.headers["content-type"] == f"{kind}; charset=utf-8"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and "GMT" in modified
    assert client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "identity"}).status_code == 304
    assert client.get(path, headers={"If-None-Match": f'"other", W/{etag}',
                                     "Accept-Encoding": "identity"}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified, "Accept-Encoding": "identity"}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"stale"', "If-Modified-Since": modified,
                                     "Accept-Encoding": "identity"}).status_code == 200, "If-None-Match wins"
    earlier = format_datetime(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True)
    assert client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == first.content
    assert zipped.headers["etag"] != etag, "each encoding has its own validator"
    assert client.get(path, headers={"If-None-Match": zipped.headers["etag"],
                                     "Accept-Encoding": "gzip"}).status_code == 304


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("headers", [
    {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip"}, {"If-None-Match": "*"},
    {"If-Modified-Since": format_datetime(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), usegmt=True)},
], ids=["identity", "gzip", "if-none-match", "if-modified-since"])
def test_the_feeds_fast_path_answers_as_the_route_does(client: TestClient, method: str,
                                                       headers: dict[str, str]) -> None:
    """Feeds are answered by FeedFront before the app; a query string sends the same request on
    to the app's own route: status, headers and body must not differ."""
    for path in ("/feed.xml", "/atom.xml", "/feed.json", "/topics/long-context-agents.xml"):
        fast = client.request(method, path, headers=headers)
        routed = client.request(method, path + "?via=route", headers=headers)
        assert fast.status_code == routed.status_code and fast.content == routed.content
        vary = {v.strip() for v in routed.headers.get("vary", "").split(",") if v.strip()}  # GZip adds its own
        assert {**dict(fast.headers), "vary": vary} == {**dict(routed.headers), "vary": vary}, path
        assert fast.headers.get("vary", "") == ", ".join(sorted(vary)), path


def test_head_gives_the_headers_without_the_body(client: TestClient) -> None:
    full = client.get("/atom.xml", headers={"Accept-Encoding": "identity"})
    head = client.head("/atom.xml", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-length"] == str(len(full.content))


def test_topic_feeds_and_unknown_ones(client: TestClient) -> None:
    home = client.get("/").text
    slug = re.search(r"topics/([a-z0-9-]+)\.xml", home)[1]  # type: ignore[index]
    feed = client.get(f"/topics/{slug}.xml")
    assert feed.status_code == 200 and feed.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert client.get("/topics/no-such-topic.xml").status_code == 404


def test_a_merged_topic_s_feed_redirects_and_the_static_site_keeps_its_path(
    db: Database, web_settings: Settings, edition: dt.date, tmp_path: Path,
) -> None:
    """A reader of a merged topic's feed is sent, permanently, to the feed of the topic it went
    into, which now holds its papers too; the static site writes that feed at both paths."""
    from bot.pipeline import build_feeds
    from bot.store.editions import find_edition
    from bot.store.topics import known_topics, merge_topics

    with db.read() as session:
        old, new = sorted(k.slug for k in known_topics(session) if k.kind == "discovered")[:2]
        built = find_edition(session, edition)
    assert built is not None
    sizes = {s.slug: len(s.papers) for s in built.sections}
    with db.write() as session:
        merge_topics(session, [(old, new)], NOW)
    with TestClient(create_app(db, web_settings)) as client:
        moved = client.get(f"/topics/{old}.xml", follow_redirects=False)
        assert moved.status_code == 301 and moved.headers["location"] == f"{BASE}topics/{new}.xml"
        merged = client.get(f"/topics/{new}.xml").text
        assert client.get("/topics/no-such-topic.xml").status_code == 404
    out = tmp_path / "site"
    build_feeds(db, web_settings, out)
    assert (out / "topics" / f"{old}.xml").read_bytes() == (out / "topics" / f"{new}.xml").read_bytes()
    assert merged.encode() == (out / "topics" / f"{new}.xml").read_bytes()
    assert merged.count("<entry>") == sizes[old] + sizes[new], "the merged topic's papers are in the feed too"


def test_a_new_edition_invalidates_the_cache(client: TestClient, db: Database, web_settings: Settings) -> None:
    before = client.get("/feed.xml")
    later = NOW + dt.timedelta(days=1)
    assert ingest(db, web_settings, [ROOT / "examples" / "inbox" / "2026-11-20.txt"], now=lambda: later).ok
    copy = web_settings.inbox.parent / "more.txt"
    copy.write_text((ROOT / "examples" / "inbox" / "2026-11-20.txt").read_text().replace("a", "e", 40))
    ingest(db, web_settings, [copy], now=lambda: later)
    assert build_edition(db, web_settings, dt.date(2026, 11, 21), later) is not None
    time.sleep(1.1)  # the cache asks the database at most once a second
    after = client.get("/feed.xml", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert "21 Nov 2026" in client.get("/").text


def test_subscribe_confirm_and_the_links_in_the_mail(client: TestClient, db: Database,
                                                      web_settings: Settings) -> None:
    answer = subscribe(client, "Ada@Example.org", follow=[])
    assert answer.status_code == 200 and "Check your inbox" in answer.text  # type: ignore[attr-defined]
    with db.read() as session:
        assert find_subscriber(session, "ada@example.org").status == "pending"  # type: ignore[union-attr]
    [mail] = mails(web_settings)
    assert mail["To"] == "Ada@example.org" and "Confirm" in mail["Subject"]
    link = link_in(mail, "confirm")
    page = client.get(link)
    assert page.status_code == 200 and "<button" in page.text
    with db.read() as session:
        assert find_subscriber(session, "ada@example.org").status == "pending", "a GET changes nothing"  # type: ignore[union-attr]
    token = re.search(r'name="token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    done = client.post("/confirm", data={"token": token})
    assert done.status_code == 200 and "You are subscribed" in done.text
    with db.read() as session:
        assert find_subscriber(session, "ada@example.org").status == "active"  # type: ignore[union-attr]
    assert client.post("/confirm", data={"token": token}).status_code == 200, "confirming twice is harmless"


def test_the_answer_is_the_same_whatever_the_address_state(client: TestClient, db: Database,
                                                          web_settings: Settings) -> None:
    with db.write() as session:
        upsert_subscriber(session, "active@example.org", preferences(follow="kept-topic"), NOW)
        upsert_subscriber(session, "pending@example.org", preferences(), NOW, status="pending")
    answers = [subscribe(client, a) for a in ("new@example.org", "pending@example.org", "active@example.org")]
    assert len({(a.status_code, a.text) for a in answers}) == 1  # type: ignore[attr-defined]
    sent = {m["To"]: m["Subject"] for m in mails(web_settings)}
    assert "Confirm" in sent["new@example.org"] and "Confirm" in sent["pending@example.org"]
    assert "already" in sent["active@example.org"], "the owner learns it, the form's user does not"
    with db.read() as session:
        active = find_subscriber(session, "active@example.org")
    assert active.status == "active" and active.preferences.follow == ("kept-topic",), \
        "a stranger cannot change someone's topics"  # type: ignore[union-attr]


def test_the_form_needs_its_csrf_token(client: TestClient, web_settings: Settings) -> None:
    assert client.post("/subscribe", data={"email": "x@example.org"}).status_code == 403
    assert client.post("/subscribe", data={"email": "x@example.org", "csrf": "forged"}).status_code == 403
    csrf_of(client)
    other = TestClient(client.app)
    stolen = client.cookies.get("paperboy_csrf")
    assert other.post("/subscribe", data={"email": "x@example.org", "csrf": stolen}).status_code == 403
    assert not mails(web_settings)


def test_subscribing_is_rate_limited_per_address_and_per_client(client: TestClient, web_settings: Settings) -> None:
    for _ in range(5):
        assert subscribe(client, "eager@example.org").status_code == 200  # type: ignore[attr-defined]
    assert len(mails(web_settings)) == 3, "at most three confirmation mails an hour to one address"
    answers = [subscribe(client, f"reader{n}@example.org").status_code for n in range(20)]  # type: ignore[attr-defined]
    assert answers.count(429) >= 4, "one client gets twenty tries an hour"


def test_a_bad_address_is_refused_plainly(client: TestClient) -> None:
    answer = subscribe(client, "not an address")
    assert answer.status_code == 400 and "not a valid" in answer.text.lower()  # type: ignore[attr-defined]
    injected = subscribe(client, "a@example.org\r\nBcc: victim@example.org")
    assert injected.status_code == 400  # type: ignore[attr-defined]


def test_confirmation_tokens_forged_altered_or_expired_change_nothing(client: TestClient, db: Database,
                                                                      web_settings: Settings) -> None:
    subscribe(client, "bob@example.org")
    link = link_in(mails(web_settings)[0], "confirm")
    signed = link.split("token=", 1)[1]
    altered = tampered(signed)
    forged = ConfirmLinks("some other key").make("whatever")
    expired = ConfirmLinks(KEY, max_age=-1)
    for token, words in ((altered, "not valid"), (forged, "not valid")):
        page = client.get(f"/confirm?token={token}")
        assert page.status_code == 400 and words in page.text
        assert client.post("/confirm", data={"token": token}).status_code == 400
    client.app.state.web.confirm_links = expired
    assert "expired" in client.get(link).text and client.post("/confirm", data={"token": signed}).status_code == 400
    with db.read() as session:
        assert find_subscriber(session, "bob@example.org").status == "pending"  # type: ignore[union-attr]


def _active(db: Database, address: str) -> str:
    with db.write() as session:
        return upsert_subscriber(session, address, preferences(), NOW).subscriber.token


def test_one_click_unsubscribe_per_rfc_8058(client: TestClient, db: Database) -> None:
    token = _active(db, "carol@example.org")
    signed = Signer(KEY).sign(token, "unsubscribe")
    page = client.get(f"/unsubscribe?token={signed}")
    assert page.status_code == 200 and "<button" in page.text
    with db.read() as session:
        assert find_subscriber(session, "carol@example.org").status == "active", "a GET changes nothing"  # type: ignore[union-attr]
    fresh = TestClient(client.app)  # a mail client: no cookie, no CSRF token
    for _ in range(2):
        answer = fresh.post(f"/unsubscribe?token={signed}", content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
        assert answer.status_code == 200 and "unsubscribed" in answer.text
    with db.read() as session:
        assert find_subscriber(session, "carol@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_forged_or_altered_unsubscribe_and_manage_tokens_change_nothing(client: TestClient, db: Database) -> None:
    token = _active(db, "dan@example.org")
    good = Signer(KEY).sign(token, "unsubscribe")
    manage = Signer(KEY).sign(token, "manage")
    for bad in (tampered(good), Signer("another key").sign(token, "unsubscribe"), manage, "", "%00"):
        answer = client.post(f"/unsubscribe?token={bad}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 400 and "not valid" in answer.text
    for bad in (tampered(manage), Signer("another key").sign(token, "manage"), good, ""):
        assert client.get(f"/manage?token={bad}").status_code == 400
        assert client.post("/manage", data={"token": bad, "include": "x"}).status_code == 400
    with db.read() as session:
        assert find_subscriber(session, "dan@example.org").status == "active"  # type: ignore[union-attr]


def test_the_manage_page_follows_and_mutes_topics_without_a_login(client: TestClient, db: Database) -> None:
    token = _active(db, "erin@example.org")
    signed = Signer(KEY).sign(token, "manage")
    page = client.get(f"/manage?token={signed}")
    assert page.status_code == 200 and "erin@example.org" in page.text
    slugs = re.findall(r'name="follow" value="([a-z0-9-]+)"', page.text)
    assert slugs
    saved = client.post("/manage", data={"token": signed, "follow": slugs[:1], "mute": slugs[1:2],
                                         "include": "diffusion, agents", "exclude": "survey"})
    assert saved.status_code == 200 and "Saved" in saved.text
    with db.read() as session:
        prefs = find_subscriber(session, "erin@example.org").preferences  # type: ignore[union-attr]
    assert prefs.follow == tuple(slugs[:1]) and prefs.mute == tuple(slugs[1:2])
    assert prefs.include == ("diffusion", "agents") and prefs.exclude == ("survey",)
    assert client.post("/manage", data={"token": signed, "follow": "Not A Slug!"}).status_code == 400


def test_every_email_links_to_its_manage_page(client: TestClient, db: Database, web_settings: Settings) -> None:
    from bot.deliver import send_edition

    _active(db, "fay@example.org")
    assert send_edition(db, web_settings).sent == 1
    [mail] = mails(web_settings)
    manage = link_in(mail.get_body(("plain",)), "manage")  # type: ignore[arg-type]
    assert client.get(manage).status_code == 200
    unsubscribe = str(mail["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_healthz_reports_the_verdict(client: TestClient, db: Database) -> None:
    answer = client.get("/healthz")
    assert answer.json()["verdict"] in ("ok", "empty", "stale", "failing")
    assert answer.status_code == (200 if answer.json()["verdict"] in ("ok", "empty") else 503)
    assert answer.headers["cache-control"] == "no-store"


def test_pages_are_gzipped_when_asked(client: TestClient) -> None:
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"
    with client.stream("GET", "/feed.xml", headers={"Accept-Encoding": "gzip"}) as raw:
        compressed = b"".join(raw.iter_raw())
    assert raw.headers["content-encoding"] == "gzip" and gzip.decompress(compressed).startswith(b"<?xml")


def test_markup_in_input_is_escaped_on_every_page(client: TestClient, db: Database) -> None:
    token = _active(db, "gil@example.org")
    signed = Signer(KEY).sign(token, "manage")
    client.post("/manage", data={"token": signed, "include": '<script>alert(1)</script>'})
    page = client.get(f"/manage?token={signed}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_malformed_or_oversized_forms_get_a_plain_400(client: TestClient) -> None:
    csrf_of(client)
    broken = client.post("/subscribe", content=b"--x\r\ngarbage", headers={
        "Content-Type": "multipart/form-data; boundary=x"})
    assert broken.status_code in (400, 403) and "Traceback" not in broken.text, "refused, plainly"
    huge = client.post("/subscribe", data={"email": "a@example.org", "pad": "x" * 20_000})
    assert huge.status_code == 400
    assert client.post("/manage", content=b"\xff\xfe", headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status_code == 400


def test_serve_refuses_to_start_without_a_secret_key(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("serve", "--port", "1")
    assert result.exit_code == 2
    assert "PAPERBOY_SECRET_KEY must be set" in result.output and "Traceback" not in result.output


def test_the_edition_s_bibtex_and_the_feed_stylesheet_are_served(client: TestClient) -> None:
    bib = client.get("/editions/2026-11-20.bib")
    assert bib.status_code == 200 and bib.headers["content-type"].startswith("application/x-bibtex")
    assert bib.text.startswith("@misc{") and bib.text.count("@misc{") == 26
    assert client.get("/editions/2026-11-19.bib").status_code == 404
    page = client.get("/editions/2026-11-20.html").text
    assert f'href="{BASE}editions/2026-11-20.bib"' in page
    xsl = client.get("/feed.xsl")
    assert xsl.status_code == 200 and xsl.headers["content-type"].startswith("text/xsl")
    assert client.get("/feed.xml").text.count('<?xml-stylesheet type="text/xsl"') == 1


def test_a_browser_gets_the_feed_as_xml_it_styles_and_a_reader_as_a_feed(client: TestClient) -> None:
    """Chromium shows application/rss+xml as text and never applies its stylesheet: a browser
    (it asks for text/html) gets the same bytes as application/xml, a feed reader the feed
    type; both may load the same-origin stylesheet (XSLT counts as script for CSP)."""
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path, kind in (("/feed.xml", "application/rss+xml"), ("/atom.xml", "application/atom+xml")):
        reader, shown = client.get(path), client.get(path, headers=browser)
        assert reader.headers["content-type"].startswith(kind)
        assert shown.headers["content-type"] == "application/xml; charset=utf-8" and shown.content == reader.content
        assert "Accept" in reader.headers["vary"] and "script-src 'self'" in reader.headers["content-security-policy"]
        assert reader.headers["etag"] == shown.headers["etag"]
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'none'; style-src")
    assert "script-src" not in client.get("/").headers["content-security-policy"]


def test_the_manage_page_sets_the_reader_s_hour_and_time_zone(client: TestClient, db: Database) -> None:
    token = _active(db, "hana@example.org")
    signed = Signer(KEY).sign(token, "manage")
    page = client.get(f"/manage?token={signed}")
    assert 'name="send_at"' in page.text and '<option value="Europe/Berlin">' in page.text
    saved = client.post("/manage", data={"token": signed, "send_at": "6:45", "time_zone": "Asia/Tokyo"})
    assert saved.status_code == 200 and "Saved" in saved.text and 'value="06:45"' in saved.text
    with db.read() as session:
        prefs = find_subscriber(session, "hana@example.org").preferences  # type: ignore[union-attr]
    assert (prefs.send_at, prefs.time_zone) == ("06:45", "Asia/Tokyo")
    for field, bad in (("send_at", "25:00"), ("time_zone", "Mars/Olympus"), ("time_zone", "<script>")):
        refused = client.post("/manage", data={"token": signed, field: bad})
        assert refused.status_code == 400 and field in refused.text and "<script>" not in refused.text
    with db.read() as session:
        assert find_subscriber(session, "hana@example.org").preferences.time_zone == "Asia/Tokyo"  # type: ignore[union-attr]
    client.post("/manage", data={"token": signed, "send_at": "", "time_zone": ""})
    with db.read() as session:
        prefs = find_subscriber(session, "hana@example.org").preferences  # type: ignore[union-attr]
    assert (prefs.send_at, prefs.time_zone) == (None, None), "empty: the digest's own hour again"


def test_a_reader_downloads_their_data_and_has_everything_deleted(client: TestClient, db: Database,
                                                                    web_settings: Settings, edition: dt.date) -> None:
    """From the manage page, no login: the download holds the subscription, the choices and each
    copy mailed; deleting asks once more (a GET or the first POST deletes nothing), then removes
    the subscriber, the record of their copies and their queued mail; the link is dead after."""
    from bot.deliver import send_edition
    from bot.store import deliveries as outbox

    with db.write() as session:
        token = upsert_subscriber(session, "ivy@example.org", preferences(mute="no-such-topic", send_at="06:00",
                                                                         time_zone="Asia/Tokyo"), NOW).subscriber.token
        notice_store.queue(session, "ivy@example.org", "a note", "body", NOW)
        upsert_subscriber(session, "jon@example.org", preferences(), NOW)
    send_edition(db, replace(web_settings, outbox=web_settings.inbox.parent / "maildir"), clock=lambda: NOW)
    signed = Signer(KEY).sign(token, "manage")
    page = client.get(f"/manage?token={signed}")
    assert "manage/data?token=" in page.text and 'value="forget"' in page.text

    download = client.get(f"/manage/data?token={signed}")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.headers["cache-control"] == "no-store"
    data = download.json()
    assert data["address"] == "ivy@example.org" and data["status"] == "active"
    assert data["preferences"]["mute"] == ["no-such-topic"] and data["preferences"]["time_zone"] == "Asia/Tokyo"
    assert [(e["date"], e["status"]) for e in data["editions"]] == [(edition.isoformat(), "sent")]
    for bad in (tampered(signed), Signer(KEY).sign(token, "unsubscribe"), ""):
        assert client.get(f"/manage/data?token={bad}").status_code == 400

    asked = client.post("/manage", data={"token": signed, "action": "forget"})
    assert asked.status_code == 200 and "forget-confirmed" in asked.text and "ivy@example.org" in asked.text
    with db.read() as session:
        assert find_subscriber(session, "ivy@example.org") is not None, "asking deletes nothing"
    done = client.post("/manage", data={"token": signed, "action": "forget-confirmed"})
    assert done.status_code == 200 and "no longer knows ivy@example.org" in done.text
    with db.read() as session:
        assert find_subscriber(session, "ivy@example.org") is None
        assert find_subscriber(session, "jon@example.org") is not None
        assert {d.address for d in outbox.iter_deliveries(session)} == {"jon@example.org"}
        assert session.execute(select(notice_store.notices.c.address)).scalars().all() == []
    assert client.get(f"/manage?token={signed}").status_code == 400
    assert client.get(f"/manage/data?token={signed}").status_code == 400


def test_the_manage_page_follows_and_mutes_people(client: TestClient, db: Database) -> None:
    token = _active(db, "kai@example.org")
    signed = Signer(KEY).sign(token, "manage")
    saved = client.post("/manage", data={"token": signed, "people": "Zoë Ho, Google DeepMind",
                                         "mute_people": "Spam <b>Corp</b>"})
    assert saved.status_code == 200 and "Zoë Ho, Google DeepMind" in saved.text and "<b>Corp" not in saved.text
    with db.read() as session:
        prefs = find_subscriber(session, "kai@example.org").preferences  # type: ignore[union-attr]
    assert prefs.people == ("Zoë Ho", "Google DeepMind") and prefs.mute_people == ("Spam <b>Corp</b>",)
    refused = client.post("/manage", data={"token": signed, "people": "Sam Lee", "mute_people": "sam lee"})
    assert refused.status_code == 400 and "followed and muted" in refused.text


def test_the_manage_page_sets_how_often(client: TestClient, db: Database) -> None:
    token = _active(db, "lou@example.org")
    signed = Signer(KEY).sign(token, "manage")
    page = client.get(f"/manage?token={signed}")
    assert 'name="cadence" value="daily" checked' in page.text
    saved = client.post("/manage", data={"token": signed, "cadence": "weekly", "weekday": "thursday"})
    assert saved.status_code == 200 and 'value="weekly" checked' in saved.text
    assert '<option value="thursday" selected>' in saved.text
    with db.read() as session:
        prefs = find_subscriber(session, "lou@example.org").preferences  # type: ignore[union-attr]
    assert (prefs.cadence, prefs.weekday) == ("weekly", 3)
    refused = client.post("/manage", data={"token": signed, "cadence": "hourly"})
    assert refused.status_code == 400 and "cadence" in refused.text


def test_the_weekly_and_monthly_digests_are_served_as_feeds_and_a_page_each(client: TestClient) -> None:
    feed = client.get("/weekly.xml")
    assert feed.status_code == 200 and "atom" in feed.headers["content-type"]
    assert "/weekly/2026-11-16.html" in feed.text
    assert client.get("/weekly.xml", headers={"If-None-Match": feed.headers["etag"]}).status_code == 304
    page = client.get("/weekly/2026-11-16.html")
    assert page.status_code == 200 and "The best papers of the week of 16 Nov 2026" in page.text
    for missing in ("/weekly/2026-11-09.html", "/weekly/not-a-date.html"):
        assert client.get(missing).status_code == 404
    outline = client.get("/feeds.opml")
    assert outline.status_code == 200 and outline.headers["content-type"].startswith("text/x-opml")
    assert "http://testserver/monthly.xml" in outline.text and "http://testserver/topics/" in outline.text
    assert client.get("/feeds.opml", headers={"If-None-Match": outline.headers["etag"]}).status_code == 304
    monthly = client.get("/monthly.xml")
    assert monthly.status_code == 200 and "/monthly/2026-11.html" in monthly.text
    page = client.get("/monthly/2026-11.html")
    assert page.status_code == 200 and "The best papers of November 2026" in page.text
    for missing in ("/monthly/2026-10.html", "/monthly/2026-13.html", "/monthly/nope.html", "/monthly/2026-11-16.html"):
        assert client.get(missing).status_code == 404


def test_how_often_is_chosen_when_subscribing(client: TestClient, db: Database) -> None:
    assert '<select id="cadence" name="cadence">' in client.get("/").text
    assert subscribe(client, "mia@example.org", cadence="weekly").status_code == 200  # type: ignore[attr-defined]
    with db.read() as session:
        pending = find_subscriber(session, "mia@example.org")
    assert pending is not None and pending.status == "pending" and pending.preferences.cadence == "weekly"
    refused = subscribe(client, "ned@example.org", cadence="hourly")
    assert refused.status_code == 400 and "cadence" in refused.text  # type: ignore[attr-defined]
    with db.read() as session:
        assert find_subscriber(session, "ned@example.org") is None


def test_search_pages_group_by_edition_mark_the_words_and_escape_everything(client: TestClient, db: Database) -> None:
    from bot.pipeline import index_search

    assert index_search(db) > 0
    empty = client.get("/search")
    assert empty.status_code == 200 and 'name="q"' in empty.text and "<mark>" not in empty.text
    page = client.get("/search", params={"q": "reward models"})
    assert page.status_code == 200 and "<mark>" in page.text
    assert '<a href="http://testserver/editions/2026-11-20.html">Edition of 20 Nov 2026</a>' in page.text
    hostile = client.get("/search", params={"q": '<script>alert(1)</script> "reward'})
    assert hostile.status_code == 200 and "<script>alert" not in hostile.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
    assert client.get("/search", params={"q": "reward", "page": "nope"}).status_code == 200
    many = client.get("/search", params={"q": "approach"})
    total = int(re.search(r"(\d+) papers?, the most relevant first", many.text)[1])  # type: ignore[index]
    assert total > 20 and 'rel="next"' in many.text and 'rel="prev"' not in many.text
    second = client.get("/search", params={"q": "approach", "page": "2"})
    assert 'rel="prev"' in second.text and "page 2" in second.text
    assert "Search every paper" in client.get("/").text


def test_a_saved_search_is_a_feed_with_stable_ids_and_conditional_get(client: TestClient, db: Database,
                                                                       tmp_path: Path) -> None:
    from bot.pipeline import index_search
    from tests.feed_rules import problems

    index_search(db)
    feed = client.get("/search.xml", params={"q": "reward models"})
    assert feed.status_code == 200 and "atom" in feed.headers["content-type"]
    assert "<entry>" in feed.text and "urn:paperboy:paper:" in feed.text and "\x02" not in feed.text
    again = client.get("/search.xml", params={"q": "reward models"}, headers={"If-None-Match": feed.headers["etag"]})
    assert again.status_code == 304
    (tmp_path / "search.xml").write_bytes(feed.content)
    assert problems(tmp_path / "search.xml") == []
    home = client.get("/atom.xml").text
    shared = set(re.findall(r"<id>(urn:paperboy:paper:[^<]+)</id>", feed.text))
    assert shared and shared <= set(re.findall(r"<id>(urn:paperboy:paper:[^<]+)</id>", home)), "the same ids"
    assert client.get("/search.xml").status_code == 404
    hostile = client.get("/search.xml", params={"q": "<b>&amp;"})
    assert hostile.status_code == 200 and "<b>" not in hostile.text
