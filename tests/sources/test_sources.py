"""More sources: arXiv RSS and Atom, the Daily Papers API, fetched over HTTP from a local server
(http.server on port 0: 304s, 404s, slow and oversized answers), and one identity across them."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.models import SourceSpec
from bot.pipeline import ingest, ingest_sources
from bot.settings import Settings, load_settings
from bot.sources.dump import DumpParser
from bot.sources.feed import parse_feed
from bot.sources.hfapi import parse_hf_api
from bot.sources.samples import Sample, arxiv_atom, arxiv_rss, hf_api, synthetic
from bot.status import health
from bot.store import Database
from bot.store.papers import list_papers
from bot.store.schema import DumpRow, PaperRow
from tests.conftest import ROOT, Cli

DUMP = ROOT / "examples" / "inbox" / "2026-11-18.txt"
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


@dataclass
class Site:
    """What the local server answers, by path, and what it was asked."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    slow: float = 3.0


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            if self.path == "/slow":
                time.sleep(state.slow)
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/rss")
                self.end_headers()
                return
            body = state.bodies.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            etag = state.etags.get(self.path)
            if etag and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            zipped = "gzip" in self.headers.get("Accept-Encoding", "")
            payload = gzip.compress(body) if zipped else body
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            if zipped:
                self.send_header("Content-Encoding", "gzip")
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def with_sources(settings: Settings, *sources: tuple[str, str, str], **changes: object) -> Settings:
    """A generous timeout unless a test is about timing out: a loaded machine only makes it slower."""
    changes.setdefault("fetch_timeout", 30.0)
    return replace(settings, sources=tuple(SourceSpec(*s) for s in sources), **changes)


def dump_titles() -> list[str]:
    parser = DumpParser(DUMP.read_text().splitlines(keepends=True), today=dt.date(2026, 11, 20))
    return [p.title for p in parser.papers()]


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_arxiv_rss_new_cross_and_replace(db: Database, settings: Settings, site: tuple[Site, str]) -> None:
    state, base = site
    first = [Sample("2411.00001", "Sparse attention kernels for long sequence models", "A.", announce="new"),
             Sample("2411.00002", "Cross-listed diffusion priors for robot planning", "B.", announce="cross",
                    categories=("cs.RO", "cs.LG"))]
    state.bodies["/rss"] = arxiv_rss(first)
    settings = with_sources(settings, ("arxiv", "feed", f"{base}/rss"))
    summary = ingest_sources(db, settings, now=lambda: NOW)
    assert summary.ok and summary.new == 2
    later = [Sample("2411.00001", "Sparse attention kernels for long sequence models", "A, revised.",
                    announce="replace", version=2),
             Sample("2411.00003", "A genuinely new paper on tabular foundation models", "C.")]
    state.bodies["/rss"] = arxiv_rss(later, dt.date(2026, 11, 21))
    again = ingest_sources(db, settings, now=lambda: NOW + dt.timedelta(days=1))
    assert again.ok and again.new == 1, "a replace of a paper already seen is an update, never new"
    with db.read() as session:
        stored = {p.arxiv_id: p for p in list_papers(session)}
        categories = dict(session.execute(select(PaperRow.arxiv_id, PaperRow.categories)).all())
    assert set(stored) == {"2411.00001", "2411.00002", "2411.00003"}
    assert stored["2411.00002"].authors == ("Ada Lovelace", "Alan Turing")
    assert categories["2411.00002"] == ["cs.RO", "cs.LG"], "categories are kept"


def test_announce_types_and_ids_are_read_from_rss_and_atom_alike() -> None:
    samples = [Sample("2411.00009", "Replace entry title here for testing", "Text.", announce="replace", version=4),
               Sample("2411.00010", "Cross entry title here for testing", "Other.", announce="cross")]
    for data in (arxiv_rss(samples), arxiv_atom(samples)):
        parsed = parse_feed(data, "sample")
        assert [(p.arxiv_id, p.announce) for p in parsed.papers] == [("2411.00009", "replace"),
                                                                   ("2411.00010", "cross")]
        assert parsed.papers[0].abstract == "Text.", "the 'arXiv:… Announce Type:' preamble is not abstract"
        assert parsed.papers[0].rank == 1 and parsed.papers[1].rank == 2


def test_entities_and_markup_in_titles_are_text() -> None:
    data = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Lab blog</title>'
            b"<item><title>&lt;i&gt;Attention&lt;/i&gt; &amp;amp; Friends: a &lt;b&gt;Survey&lt;/b&gt;</title>"
            b"<link>https://example.org/posts/1</link><description>&lt;p&gt;Hello &amp;amp; welcome&lt;/p&gt;"
            b"</description></item></channel></rss>")
    [paper] = parse_feed(data, "blog").papers
    assert paper.title == "Attention & Friends: a Survey"
    assert paper.abstract == "Hello & welcome" and paper.arxiv_id is None, "a lab blog has no arXiv id"


def test_a_feed_that_is_not_well_formed_is_read_leniently_or_refused() -> None:
    broken = (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Unclosed &amp; broken'
              b"</title><link>https://arxiv.org/abs/2411.00042v2</link></item>")
    parsed = parse_feed(broken, "broken")
    assert [p.arxiv_id for p in parsed.papers] == ["2411.00042"] and parsed.warnings
    with pytest.raises(Exception, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>Service unavailable</body></html>", "garbage")


def test_the_daily_papers_api_reads_paper_first_then_the_top_level() -> None:
    samples = synthetic(3)
    papers, warnings = parse_hf_api(hf_api(samples), "api")
    assert [p.rank for p in papers] == [1, 2, 3] and not warnings
    assert papers[0].arxiv_id == "2411.00001" and papers[0].upvotes == 100
    assert papers[0].authors == ("Ada Lovelace", "Alan Turing") and papers[0].published == dt.date(2026, 11, 20)
    top_level_only = b'[{"paper": {"id": "2411.07777"}, "title": "Only at the top level of the item", ' \
                     b'"summary": "Here.", "numComments": 2}, 17, {"paper": {}}]'
    papers, warnings = parse_hf_api(top_level_only, "api")
    assert papers[0].title == "Only at the top level of the item" and papers[0].abstract == "Here."
    assert len(warnings) == 2
    with pytest.raises(Exception, match="expected a JSON list"):
        parse_hf_api(b'{"error": "rate limited"}', "api")


def test_a_dump_then_a_feed_and_the_api_with_the_same_papers(db: Database, settings: Settings,
                                                             site: tuple[Site, str]) -> None:
    """The overlapping papers are not new the second time, and they now have arXiv ids."""
    state, base = site
    assert ingest(db, settings, [DUMP], now=lambda: NOW).ok
    titles = dump_titles()
    before = count(db, PaperRow)
    overlap = [Sample(f"2411.{100 + i:05d}", t.upper() + ".", "Abstract from arXiv.") for i, t in enumerate(titles[:3])]
    state.bodies["/rss"] = arxiv_rss([*overlap, Sample("2411.09999", "Something else entirely for the feed", "X.")])
    api = [Sample(f"2411.{200 + i:05d}", t, "From the API.") for i, t in enumerate(titles[3:5])]
    state.bodies["/api"] = hf_api(api)
    settings = with_sources(settings, ("arxiv", "feed", f"{base}/rss"), ("daily", "hf-api", f"{base}/api"))
    summary = ingest_sources(db, settings, now=lambda: NOW + dt.timedelta(hours=1))
    assert summary.ok, summary.errors
    by_source = {f.path.split(" ")[0]: f for f in summary.files}
    assert (by_source["arxiv"].new, by_source["arxiv"].seen) == (1, 3)
    assert (by_source["daily"].new, by_source["daily"].seen) == (0, 2)
    assert count(db, PaperRow) == before + 1
    with db.read() as session:
        stored = {p.title: p for p in list_papers(session)}
    for sample, title in zip([*overlap, *api], titles[:5], strict=True):
        paper = stored[title]
        assert paper.arxiv_id == sample.arxiv_id, "the id is attached to the paper seen first"
        assert paper.first_seen == NOW, "its first sighting stays"
        assert paper.authors == ("Ada Lovelace", "Alan Turing"), "authors come from whichever source has them"
    # And the other way round: the dump again, now that the ids are known, adds nothing.
    copy = settings.inbox.parent / "again.txt"
    copy.write_text(DUMP.read_text() + "\n")
    assert ingest(db, settings, [copy], now=lambda: NOW + dt.timedelta(hours=2)).new == 0


def test_titles_that_differ_only_in_form_meet_but_short_generic_ones_do_not(db: Database, settings: Settings) -> None:
    from bot.models import Paper
    from bot.store import papers as store

    def put(*papers: Paper) -> store.BatchResult:
        with db.write() as session:
            dump = store.start_dump(session, content_hash=str(time.monotonic_ns()), path="t",
                                    header=__import__("bot.models", fromlist=["DumpHeader"]).DumpHeader(
                                        "rss", NOW.date(), False), size=1, now=NOW)
            return store.record_batch(session, dump, [(store.key_for(p), p) for p in papers], NOW)

    assert put(Paper(r"\textbf{Deep} Residual Learning for Image Recognition.", "", 1)).new == 1
    assert put(Paper("deep residual learning for image  recognition", "", 1, arxiv_id="1512.03385")).new == 0
    assert put(Paper("Scaling Laws", "", 1, arxiv_id="2001.08361")).new == 1
    assert put(Paper("Scaling Laws", "", 1, arxiv_id="2203.15556")).new == 1, "two papers, one short title"
    with db.read() as session:
        ids = {p.arxiv_id for p in list_papers(session)}
    assert ids == {"1512.03385", "2001.08361", "2203.15556"}


def test_a_304_means_nothing_new_and_validators_are_sent(db: Database, settings: Settings,
                                                        site: tuple[Site, str]) -> None:
    state, base = site
    state.bodies["/rss"] = arxiv_rss(synthetic(3))
    state.etags["/rss"] = '"v1"'
    settings = with_sources(settings, ("arxiv", "feed", f"{base}/rss"))
    assert ingest_sources(db, settings, now=lambda: NOW).new == 3
    second = ingest_sources(db, settings, now=lambda: NOW)
    assert [f.status for f in second.files] == ["unchanged"]
    asked = state.requests[-1]
    assert asked["if-none-match"] == '"v1"'
    assert asked["user-agent"].startswith("paperboy/") and "gzip" in asked["accept-encoding"]


@pytest.mark.parametrize(("path", "problem"), [
    ("/missing", "HTTP 404"), ("/slow", "timed out after 1 s"), ("/huge", "larger than 1 MiB"),
    ("/garbage", "not an RSS or Atom feed"),
])
def test_a_failing_source_is_reported_and_skipped(db: Database, settings: Settings, site: tuple[Site, str],
                                                  path: str, problem: str) -> None:
    state, base = site
    state.bodies["/rss"] = arxiv_rss(synthetic(2))
    state.etags["/rss"] = '"good"'
    state.bodies["/huge"] = b"<rss>" + b" " * (2 * 2**20) + b"</rss>"
    state.bodies["/garbage"] = b"<html><body>Our feed moved.</body></html>"
    state.bodies["/slow"] = arxiv_rss(synthetic(1))
    settings = with_sources(settings, ("good", "feed", f"{base}/rss"), ("bad", "feed", f"{base}{path}"),
                            fetch_max_mb=1, fetch_timeout=1.0 if path == "/slow" else 30.0)
    summary = ingest_sources(db, settings, now=lambda: NOW)
    failed = [f for f in summary.files if f.status == "failed"]
    assert len(failed) == 1 and problem in (failed[0].error or ""), summary.errors
    assert "\n" not in (failed[0].error or "") and base in (failed[0].error or "")
    assert summary.new == 2, "the other source still goes in"
    assert count(db, DumpRow) == 1, "the failing one stored nothing"
    verdict = health(db, settings, NOW)
    assert verdict.verdict == "failing" and problem in verdict.reasons[0]


def test_a_dump_over_http_goes_through_the_dump_parser(db: Database, settings: Settings,
                                                      site: tuple[Site, str]) -> None:
    state, base = site
    state.bodies["/today.txt"] = DUMP.read_bytes()
    settings = with_sources(settings, ("mirror", "dump", f"{base}/today.txt"))
    first = ingest_sources(db, settings, now=lambda: NOW)
    assert first.ok and first.new == len(dump_titles())
    assert first.files[-1].path == f"mirror ({base}/today.txt)" and first.files[-1].layout == "flat-list"
    assert ingest_sources(db, settings, now=lambda: NOW).files[-1].status == "unchanged"
    state.bodies["/today.txt"] = b"\x00\x01 binary"
    broken = ingest_sources(db, settings, now=lambda: NOW)
    assert not broken.ok and "mirror" in broken.errors[0] and "/tmp" not in broken.errors[0]


def test_redirects_are_followed(db: Database, settings: Settings, site: tuple[Site, str]) -> None:
    state, base = site
    state.bodies["/rss"] = arxiv_rss(synthetic(2))
    summary = ingest_sources(db, with_sources(settings, ("moved", "feed", f"{base}/moved")), now=lambda: NOW)
    assert summary.ok and summary.new == 2


def test_sources_from_the_config_file_are_read_by_ingest_without_paths(cli: Cli, tmp_path: Path,
                                                                     site: tuple[Site, str]) -> None:
    state, base = site
    state.bodies["/api"] = hf_api(synthetic(4, start=500))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "cs.LG.xml").write_bytes(arxiv_atom(synthetic(3, start=100)))
    config = tmp_path / "paperboy.toml"
    config.write_text(f'[[sources]]\nname = "local"\nkind = "feed"\nlocation = "{feeds}"\n\n'
                      f'[[sources]]\nname = "daily"\nkind = "hf-api"\nlocation = "{base}/api"\n')
    assert load_settings(config, env={}).sources[1] == SourceSpec("daily", "hf-api", f"{base}/api")
    result = cli("--config", str(config), "ingest", "--json")
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.stdout)
    assert report["totals"]["new"] == 7
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sources]]\nname = "x"\nkind = "rss"\nlocation = "y"\n')
    refused = cli("--config", str(bad), "ingest")
    assert refused.exit_code == 2 and "sources[1].kind" in refused.output
