"""TL;DRs from an operator's language model: an OpenAI-compatible server on loopback (the real
API is on the internet), answering well, failing, answering nonsense, or not answering at all.
The edition is built every time, with the model's summaries where they came back and paperboy's
own key sentences everywhere else."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.pipeline import build_edition, ingest
from bot.settings import Settings
from bot.store import Database
from bot.store.papers import list_papers
from tests.conftest import ROOT

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


class FakeModel:
    """A chat-completions endpoint whose behaviour the test sets: ok, error, junk or hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, object]] = []
        self.headers: list[str | None] = []
        self.release = threading.Event()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                model.requests.append(body)
                model.headers.append(self.headers.get("Authorization"))
                if self.path != "/v1/chat/completions":
                    self._answer(404, {"error": "no such path"})
                elif model.mode == "hang":
                    model.release.wait(120)  # a broken deadline fails slowly instead of hanging
                    self._answer(200, {"choices": [{"message": {"content": "too late"}}]})
                elif model.mode == "error":
                    self._answer(500, {"error": "overloaded"})
                elif model.mode == "junk":
                    self._answer(200, {"choices": [{"message": {"content": "x" * 5000}}]})
                else:
                    title = body["messages"][1]["content"].splitlines()[0].removeprefix("Title: ")
                    self._answer(200, {"choices": [{"message": {"content": f"**Model** summary of {title}."}}]})

            def _answer(self, status: int, document: object) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel()
    yield fake
    fake.close()


def _build(db: Database, settings: Settings) -> dict[str, tuple[str | None, str | None]]:
    assert ingest(db, settings, [ROOT / "examples" / "inbox" / "2026-11-20.txt"], now=lambda: NOW).ok
    assert build_edition(db, settings, dt.date(2026, 11, 20), NOW) is not None
    with db.read() as session:
        return {p.title: (p.tldr, p.tldr_source) for p in list_papers(session)}


def test_the_model_summarises_each_new_paper_once(db: Database, settings: Settings, model: FakeModel) -> None:
    configured = replace(settings, summaries_url=model.url, summaries_api_key="sk-test", summaries_model="tiny")
    tldrs = _build(db, configured)
    assert tldrs and all(source == "model" for _, source in tldrs.values())
    title, (text, _) = next(iter(tldrs.items()))
    assert text == f"Model summary of {title}."  # one line, markdown emphasis dropped
    assert len(model.requests) == len(tldrs) and model.requests[0]["model"] == "tiny"
    assert set(model.headers) == {"Bearer sk-test"}
    asked = len(model.requests)
    assert build_edition(db, configured, dt.date(2026, 11, 20), NOW) is not None  # built already
    assert build_edition(db, configured, dt.date(2026, 11, 21), NOW + dt.timedelta(days=1)) is None
    assert len(model.requests) == asked, "a paper is asked about once"


def test_at_most_max_papers_are_asked(db: Database, settings: Settings, model: FakeModel) -> None:
    tldrs = _build(db, replace(settings, summaries_url=model.url, summaries_max_papers=3))
    assert len(model.requests) == 3
    assert sorted(source or "" for _, source in tldrs.values()).count("model") == 3
    assert all(source in ("model", "extract") for _, source in tldrs.values())


@pytest.mark.parametrize("mode", ["error", "junk"])
def test_a_failing_model_leaves_the_key_sentences(db: Database, settings: Settings, model: FakeModel, mode: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    model.mode = mode
    with caplog.at_level(logging.WARNING):
        tldrs = _build(db, replace(settings, summaries_url=model.url))
    assert tldrs and all(source == "extract" and text for text, source in tldrs.values())
    assert "keep their key sentences" in caplog.text


def test_a_model_that_never_answers_costs_the_edition_its_timeout_only(db: Database, settings: Settings,
                                                                      model: FakeModel) -> None:
    model.mode = "hang"
    tldrs = _build(db, replace(settings, summaries_url=model.url, summaries_timeout=1))
    assert tldrs and all(source == "extract" for _, source in tldrs.values())


def test_off_by_default(db: Database, settings: Settings, model: FakeModel) -> None:
    assert settings.summaries_url == ""
    tldrs = _build(db, settings)
    assert model.requests == [] and all(source == "extract" for _, source in tldrs.values())
