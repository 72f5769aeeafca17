"""Sources over HTTP as an attacker would serve them: bombs, drips, redirects to inside,
credentials in URLs, bodies of the wrong kind. Each is one clear failure, and nothing is stored."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.errors import SourceError
from bot.models import SourceSpec
from bot.pipeline import ingest_sources
from bot.settings import Settings
from bot.sources.fetch import FetchPolicy, fetch, redirect_refused
from bot.sources.samples import arxiv_rss, hf_api, synthetic
from bot.status import health
from bot.store import Database
from bot.store.schema import DumpRow
from tests.conftest import ROOT
from tests.hostile_server import (
    Hostile,
    body,
    gzip_bytes,
    gzip_of_zeros,
    hostile_server,
    redirect,
)

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


@pytest.fixture
def server() -> Iterator[Hostile]:
    with hostile_server() as state:
        yield state


def sourced(settings: Settings, *sources: tuple[str, str, str], **changes: object) -> Settings:
    options: dict[str, object] = {"fetch_timeout": 30.0, "fetch_deadline": 120.0, **changes}
    return replace(settings, sources=tuple(SourceSpec(*s) for s in sources), **options)


def stored(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(DumpRow)).scalar_one())


def only_error(db: Database, settings: Settings) -> str:
    summary = ingest_sources(db, settings, now=lambda: NOW)
    assert [f.status for f in summary.files if f.path != str(settings.inbox)] == ["failed"], summary
    assert stored(db) == 0, "a refused source stores nothing"
    error = summary.errors[0]
    assert "\n" not in error and "Traceback" not in error
    return error


# Decompression bombs --------------------------------------------------------------------

def test_a_gzip_bomb_stops_at_max_mb_without_inflating(server: Hostile) -> None:
    bomb = gzip_of_zeros(256 * 2**20)  # 256 MiB of zeros in about 250 KB
    server.routes["/bomb"] = body(bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match=r"larger than 1 MiB \(fetch.max_mb\)"):
            fetch(f"{server.base}/bomb", FetchPolicy(max_bytes=2**20, timeout=5))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing a 256 MiB bomb"


def test_stacked_encodings_are_refused(db: Database, settings: Settings, server: Hostile) -> None:
    twice = gzip_bytes(gzip_of_zeros(64 * 2**20))
    server.routes["/rss"] = body(twice, headers={"Content-Encoding": "gzip, gzip"})
    error = only_error(db, sourced(settings, ("twice", "feed", f"{server.base}/rss")))
    assert "stacked content encodings (gzip, gzip)" in error


def test_an_encoding_not_asked_for_is_refused(server: Hostile) -> None:
    server.routes["/br"] = body(b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    with pytest.raises(SourceError, match="content encoding 'br'"):
        fetch(f"{server.base}/br", FetchPolicy(timeout=5))


def test_gzip_and_deflate_within_the_limit_are_read(server: Hostile) -> None:
    data = arxiv_rss(synthetic(50))
    server.routes["/gz"] = body(gzip_bytes(data) + gzip_bytes(b""), headers={"Content-Encoding": "gzip"})
    server.routes["/zlib"] = body(zlib_of(data), headers={"Content-Encoding": "deflate"})
    server.routes["/raw"] = body(zlib_of(data)[2:-4], headers={"Content-Encoding": "deflate"})
    for path in ("/gz", "/zlib", "/raw"):
        assert fetch(f"{server.base}{path}", FetchPolicy(timeout=5)).body == data, path


def zlib_of(data: bytes) -> bytes:
    import zlib
    return zlib.compress(data)


# Drips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_drip_is_given_up_at_the_deadline(server: Hostile, in_headers: bool) -> None:
    server.routes["/drip"] = server.drip(in_headers=in_headers, every=0.05)
    with pytest.raises(SourceError, match=r"gave up after 1 s \(fetch.deadline\)"):
        fetch(f"{server.base}/drip", FetchPolicy(timeout=30, deadline=1))


def test_cancel_ends_a_fetch_at_once(server: Hostile) -> None:
    server.routes["/drip"] = server.drip()
    cancel = threading.Event()
    threading.Thread(target=lambda: (server.asked.wait(), cancel.set()), daemon=True).start()
    with pytest.raises(SourceError, match="stopped before the answer was complete"):
        fetch(f"{server.base}/drip", FetchPolicy(timeout=600, deadline=600), cancel=cancel)


@pytest.mark.slow
def test_sigterm_ends_run_once_while_a_source_drips(tmp_path: Path, database_url: str, server: Hostile) -> None:
    server.routes["/drip"] = server.drip()
    config = tmp_path / "paperboy.toml"
    config.write_text(f'[fetch]\ntimeout = 600\ndeadline = 3600\n\n[[sources]]\nname = "drip"\nkind = "feed"\n'
                      f'location = "{server.base}/drip"\n')
    env = {**os.environ, "PAPERBOY_DATABASE_URL": database_url, "PAPERBOY_INBOX": str(tmp_path / "inbox"),
           "PAPERBOY_OUTBOX": str(tmp_path / "outbox"), "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public")}
    process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run", "--once", "--json"],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.asked.wait(120), "the source was never asked"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    report = json.loads(out)
    assert report["stopped"] is True, err
    assert any("stopped before the answer was complete" in e for e in report["ingested"]["failed"]), report


# Redirects ------------------------------------------------------------------------------

def test_a_redirect_to_another_port_is_refused(db: Database, settings: Settings, server: Hostile) -> None:
    with hostile_server() as inside:
        inside.routes["/secret"] = body(b"admin password: hunter2")
        server.routes["/feed"] = redirect(f"{inside.base}/secret")
        error = only_error(db, sourced(settings, ("moved", "feed", f"{server.base}/feed")))
        assert f"redirects to {inside.base}/secret" in error and "fetch.allow_redirect_hosts" in error
        assert inside.requests == [], "the inside service was never asked"


def test_a_redirect_host_the_operator_allows_is_followed(db: Database, settings: Settings,
                                                         server: Hostile) -> None:
    with hostile_server() as mirror:
        mirror.routes["/rss"] = body(arxiv_rss(synthetic(2)))
        server.routes["/feed"] = redirect(f"http://localhost:{mirror.port}/rss")
        allowed = sourced(settings, ("moved", "feed", f"{server.base}/feed"),
                          fetch_allow_redirect_hosts=(f"localhost:{mirror.port}",))
        assert ingest_sources(db, allowed, now=lambda: NOW).new == 2


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/"])
def test_other_schemes_are_never_followed(db: Database, settings: Settings, server: Hostile, location: str) -> None:
    server.routes["/feed"] = redirect(location)
    error = only_error(db, sourced(settings, ("moved", "feed", f"{server.base}/feed"),
                                   fetch_allow_redirect_hosts=("127.0.0.1",)))
    assert "only http and https are followed" in error


def test_same_origin_redirects_and_upgrades_are_followed() -> None:
    policy = FetchPolicy()
    source = httpx.URL("http://papers.example/feed")
    assert redirect_refused(source, httpx.URL("http://papers.example/other"), policy) is None
    assert redirect_refused(source, httpx.URL("https://papers.example/feed"), policy) is None
    assert redirect_refused(httpx.URL("https://papers.example/"), httpx.URL("http://papers.example/"), policy)


def test_allowed_hosts_may_not_lead_inside_unless_the_source_is_inside() -> None:
    addresses = {"papers.example": ["93.184.216.34"], "mirror.example": ["93.184.216.35"],
                 "sneaky.example": ["10.0.0.5"], "meta.example": ["169.254.169.254"],
                 "lab.internal": ["192.168.1.10"], "v6.example": ["::ffff:127.0.0.1"]}
    policy = FetchPolicy(allow_redirect_hosts=("*.example", "lab.internal"), resolve=lambda h: addresses.get(h, []))
    public = httpx.URL("https://papers.example/api")
    assert redirect_refused(public, httpx.URL("https://mirror.example/api"), policy) is None
    for inside in ("https://sneaky.example/", "http://meta.example/latest/", "http://lab.internal/",
                   "http://v6.example/"):
        assert "loopback, private or link-local" in (redirect_refused(public, httpx.URL(inside), policy) or ""), inside
    assert redirect_refused(httpx.URL("http://lab.internal/feed"), httpx.URL("https://sneaky.example/"),
                            policy) is None, "a source inside may lead to another inside host it is allowed"
    assert "fetch.allow_redirect_hosts" in (redirect_refused(public, httpx.URL("https://other.org/"), policy) or "")


# Credentials ----------------------------------------------------------------------------

def test_credentials_in_a_source_url_are_shown_nowhere(db: Database, settings: Settings, server: Hostile,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from starlette.testclient import TestClient

    from bot.status import status
    from bot.web import create_app

    server.routes["/feed"] = body(b"nope", status=500)
    url = f"http://reader:s3cr3tpass@127.0.0.1:{server.port}/feed?apikey=K3YVALUE&day=1"
    settings = sourced(settings, ("private", "feed", url), secret_key="k" * 32)
    with caplog.at_level(logging.DEBUG):
        summary = ingest_sources(db, settings, now=lambda: NOW)
    assert server.requests[0][1].get("authorization"), "the credentials are still used"
    shown = [*summary.errors, json.dumps(status(db, settings, NOW), default=str), caplog.text,
             json.dumps(health(db, settings, NOW).as_json())]
    for text in shown:
        assert "s3cr3tpass" not in text and "K3YVALUE" not in text
    assert "http://***@127.0.0.1" in summary.errors[0] and "apikey=***" in summary.errors[0]
    with TestClient(create_app(db, settings)) as client:
        healthz = client.get("/healthz").text
    assert "failing" in healthz and "127.0.0.1" not in healthz and "s3cr3t" not in healthz


# Bodies of the wrong kind -----------------------------------------------------------------

@pytest.mark.parametrize(("kind", "payload", "problem"), [
    ("feed", b"<!doctype html><html><body><h1>Login</h1></body></html>", "not an RSS or Atom feed"),
    ("feed", b'{"items": []}', "not an RSS or Atom feed"),
    ("hf-api", b"<html><body>rate limited</body></html>", "not JSON"),
    ("hf-api", b'{"error": "Invalid credentials"}', "expected a JSON list"),
    ("hf-api", b'[1, "two", null]', "has no papers"),
    ("dump", b'[{"paper": {"title": "x"}}]', "not a Daily Papers dump"),
    ("dump", b"<!doctype html><html><body><p>Daily Papers</p></body></html>", "not a Daily Papers dump"),
])
def test_a_body_of_the_wrong_kind_is_one_line(db: Database, settings: Settings, server: Hostile, kind: str,
                                              payload: bytes, problem: str) -> None:
    server.routes["/x"] = body(payload)
    error = only_error(db, sourced(settings, ("wrong", kind, f"{server.base}/x")))
    assert problem in error and error.startswith("wrong"), error


def test_the_right_bodies_still_go_in(db: Database, settings: Settings, server: Hostile) -> None:
    server.routes["/rss"] = body(arxiv_rss(synthetic(3)))
    server.routes["/api"] = body(hf_api(synthetic(2, start=10)), headers={"Content-Type": "application/json"})
    both = sourced(settings, ("rss", "feed", f"{server.base}/rss"), ("api", "hf-api", f"{server.base}/api"))
    assert ingest_sources(db, both, now=lambda: NOW).new == 5
