"""Paper cards: what a researcher sees of each paper in the email, the feeds and the archive.

One edition holds papers from the Daily Papers API (authors, code, stars, project page, comments,
the API's own summary) and papers known only from a page dump (an author count, upvotes, a
date): golden files for both kinds of card, then each promise on its own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from pathlib import Path

import feedparser
import pytest

from bot.deliver.preview import preview
from bot.digest.tldr import LIMIT, key_sentences, sentences
from bot.models import Edition, EditionPaper, Section
from bot.pipeline import build_edition, build_feeds, ingest, ingest_document
from bot.render import clean, environment
from bot.render.cards import bibtex, day, make_card, plural
from bot.render.feeds import FeedLimits, render_site
from bot.settings import Settings
from bot.sources.hfapi import parse_hf_api
from bot.sources.samples import Sample, hf_api
from bot.store import Database
from bot.store.papers import list_papers
from tests.conftest import ROOT
from tests.golden import check_golden

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
BASE = "http://localhost:8000/"
API_PAPERS = [
    Sample("2411.00101", r"T\"ULU 3: Pushing Frontiers in Open Language Model Post-Training",
           "We introduce TULU 3, a family of open post-trained models. We release the data, code and recipes. "
           "Our best model surpasses the instruct versions of comparable open models on standard benchmarks.",
           authors=("Nathan Lambert", "Jacob Morrison", "Valentina Pyatkin", "Shengyi Huang"),
           categories=("cs.CL", "cs.LG")),
    Sample("2411.00102", r"Scaling $\alpha$-entmax attention to long contexts",
           "Sparse attention lets transformers skip irrelevant tokens. We show that alpha-entmax scales to long "
           "contexts with a fused kernel. On three benchmarks it matches dense attention at a third of the cost.",
           authors=("Ada Lovelace",)),
    Sample("2411.00103", "Retrieval heads explain long-context factuality",
           "We find a small set of attention heads that retrieve facts from long inputs. Pruning them breaks "
           "retrieval while leaving reasoning intact. We release a probe for finding them in any model.",
           authors=("Grace Hopper", "Alan Turing")),
]


@pytest.fixture
def mixed(db: Database, settings: Settings) -> Settings:
    """An edition with API papers (full cards) and dump papers (listing-only cards)."""
    assert ingest(db, settings, [ROOT / "examples" / "inbox" / "2026-11-20.txt"], now=lambda: NOW).ok
    report = ingest_document(db, "api", hf_api(API_PAPERS), "hf-api", NOW)
    assert report.status == "ingested" and report.new == 3, report
    assert build_edition(db, settings, dt.date(2026, 11, 20), NOW) is not None
    return settings


def _edition(db: Database) -> Edition:
    from bot.store.editions import find_edition

    with db.read() as session:
        found = find_edition(session, dt.date(2026, 11, 20))
    assert found is not None
    return found


def _papers(edition: Edition) -> dict[str, EditionPaper]:
    return {p.title: p for s in edition.sections for p in s.papers}


def test_full_and_listing_only_cards_match_the_golden_files(db: Database, mixed: Settings, tmp_path: Path) -> None:
    check_golden("cards/email.html", preview(db, mixed, fmt="html").decode())
    check_golden("cards/email.txt", preview(db, mixed, fmt="text").decode())
    out = tmp_path / "public"
    build_feeds(db, mixed, out)
    for name in ("atom.xml", "feed.json", "editions/2026-11-20.html", "editions/2026-11-20.bib"):
        check_golden(f"cards/{name}", (out / name).read_text(encoding="utf-8"))


def test_an_api_paper_is_stored_and_shown_with_everything_the_api_said(db: Database, mixed: Settings) -> None:
    papers = _papers(_edition(db))
    tulu = papers[r"T\"ULU 3: Pushing Frontiers in Open Language Model Post-Training"]
    assert tulu.arxiv_id == "2411.00101" and tulu.authors[:2] == ("Nathan Lambert", "Jacob Morrison")
    assert tulu.links.github_repo == "https://github.com/example/kernels-0" and tulu.links.github_stars == 40
    assert tulu.links.project_page == "https://example.org/kernels/0" and tulu.organization == "Example Lab"
    assert tulu.tldr_source == "source" and tulu.tldr == "Sparse attention kernel 1 runs faster on long inputs."
    assert not tulu.listing_only
    c = make_card(tulu, clean)
    assert clean(tulu.title).startswith("TÜLU 3:")  # LaTeX read as text
    assert c.byline == "Nathan Lambert, Jacob Morrison, Valentina Pyatkin et al. · Example Lab"
    assert [link.label for link in c.links] == ["Daily Papers", "arXiv", "PDF", "Code ★ 40", "Project page"]
    assert c.links[1].url == "https://arxiv.org/abs/2411.00101" and c.links[2].url == "https://arxiv.org/pdf/2411.00101"
    assert c.tldr_label == "TL;DR (Hugging Face)" and c.note is None
    # the second API paper has no summary of the API's own: key sentences from its abstract
    second = papers[r"Scaling $\alpha$-entmax attention to long contexts"]
    assert second.tldr_source == "extract" and second.tldr and second.tldr in clean(second.abstract)


def test_a_dump_paper_says_plainly_what_is_not_known(db: Database, mixed: Settings) -> None:
    listing = [p for p in _papers(_edition(db)).values() if p.arxiv_id is None]
    assert listing and all(p.listing_only for p in listing)
    c = make_card(next(p for p in listing if p.author_count), clean)
    assert c.note == "From the Daily Papers listing, no arXiv id yet"
    assert [link.label for link in c.links] == ["Search Daily Papers"]
    assert c.links[0].url.startswith("https://huggingface.co/papers?q=")
    assert re.fullmatch(r"\d+ authors?", c.byline) and c.tldr_label == "TL;DR (from the abstract)"
    html = preview(db, mixed, fmt="html").decode()
    assert "no arXiv id yet" in html and "unknown" not in html


def test_the_api_fields_are_validated_not_trusted() -> None:
    evil = [{"paper": {"id": "2411.00001", "title": "A paper", "summary": "An abstract.",
                       "githubRepo": "javascript:alert(1)", "githubStars": -5, "projectPage": "https://ok.example/p",
                       "ai_summary": "<b>bold</b> claim", "ai_keywords": ["a", 3, "b"]},
             "numComments": "many", "thumbnail": "https://x.example/a b.png", "organization": {"fullname": "Lab"}}]
    papers, warnings = parse_hf_api(json.dumps(evil).encode(), "api")
    links = papers[0].links
    assert links is not None and links.github_repo is None and links.github_stars is None
    assert links.project_page == "https://ok.example/p" and links.comments is None and links.thumbnail is None
    assert links.ai_summary == "bold claim" and links.ai_keywords == ("a", "b")
    assert papers[0].organization == "Lab"
    assert len(warnings) == 4 and all(w.startswith("item 1 ('A paper')") for w in warnings)


def test_counts_that_move_follow_the_latest_sighting(db: Database, settings: Settings) -> None:
    first = json.loads(hf_api(API_PAPERS[:1]))
    assert ingest_document(db, "api-1", json.dumps(first).encode(), "hf-api", NOW).new == 1
    first[0]["paper"]["githubStars"], first[0]["numComments"] = 400, 7
    first[0]["paper"].pop("projectPage")  # a later answer that leaves a field out erases nothing
    assert ingest_document(db, "api-2", json.dumps(first).encode(), "hf-api", NOW).seen == 1
    with db.read() as session:
        [stored] = list_papers(session)
    assert stored.links.github_stars == 400 and stored.links.comments == 7
    assert stored.links.project_page == "https://example.org/kernels/0"


def test_within_a_topic_upvotes_then_comments_then_stars_then_rank() -> None:
    from bot.models import TopicDoc
    from bot.topics import _ordered

    docs = [TopicDoc("a", "A", upvotes=5, rank=1), TopicDoc("b", "B", upvotes=9, rank=2),
            TopicDoc("c", "C", upvotes=5, rank=3, comments=2), TopicDoc("d", "D", upvotes=5, rank=4, comments=2,
                                                                        stars=10),
            TopicDoc("e", "E", rank=0)]
    assert _ordered(docs) == ("b", "d", "c", "a", "e")


def test_text_reads_well() -> None:
    assert plural(1, "upvote") == "1 upvote" and plural(2, "upvote") == "2 upvotes" and plural(0, "comment") == "0 comments"
    assert day(dt.date(2026, 11, 3)) == "3 Nov 2026" and day(dt.datetime(2026, 1, 20, 5, tzinfo=dt.UTC)) == "20 Jan 2026"
    assert clean(r"T\"ULU 3") == "TÜLU 3" and clean(r"Scaling $\alpha$-entmax") == "Scaling α-entmax"
    assert clean(r"Caf\'e") == "Café" and clean(r"A \textbf{bold} claim") == "A bold claim"
    # what only looks like LaTeX stays as written
    for plain in ("Costs $5 and $10", "100% of cases", "C++ & Rust", r"a \ b", "x_1 in text"):
        assert clean(plain) == plain


def test_key_sentences_are_the_abstract_s_own_words_within_the_limit() -> None:
    abstracts = [a.abstract for a in API_PAPERS] + ["", "One sentence only, " + "however long, " * 30 + "it may be."]
    picked = key_sentences(abstracts)
    for abstract, tldr in zip(abstracts[:3], picked[:3], strict=True):
        assert tldr and len(tldr) <= LIMIT and all(s in sentences(abstract) for s in sentences(tldr))
    assert picked[3] is None
    assert picked[4] and len(picked[4]) <= LIMIT and picked[4].endswith("…")
    assert sentences("We use e.g. tools, et al. 2020 did. Fig. 2 shows it. Next (a) one.") == [
        "We use e.g. tools, et al. 2020 did.", "Fig. 2 shows it.", "Next (a) one."]


def test_bibtex_is_arxiv_s_own_shape() -> None:
    paper = EditionPaper("arxiv:2411.00101", "2411.00101", r"T\"ULU 3 & friends: 100% {open}", "", None, None,
                         dt.date(2024, 11, 22), 3, authors=("Nathan Lambert", "Jürgen Schmidhuber"),
                         categories=("cs.CL",))
    entry = bibtex(paper, ["Nathan Lambert", "Jürgen Schmidhuber"], clean(paper.title))
    assert entry.startswith("@misc{lambert2024tulu,\n")
    assert "  title = {{TÜLU 3 \\& friends: 100\\% open}},\n" in entry
    assert "  author = {Nathan Lambert and Jürgen Schmidhuber},\n" in entry
    assert "eprint = {2411.00101}" in entry and "archivePrefix = {arXiv}" in entry and "primaryClass = {cs.CL}" in entry
    assert entry.count("{") == entry.count("}")


def _big_edition(papers: int, abstract_words: int = 400) -> Edition:
    made = tuple(EditionPaper(f"k{i}", None, f"Paper {i}", "word " * abstract_words, None, None, None, None, "t", "T")
                 for i in range(papers))
    return Edition(dt.date(2026, 11, 20), NOW, (Section("t", "T", made),))


def test_the_digest_feed_is_bounded_by_editions_and_bytes() -> None:
    editions = [replace(_big_edition(40), date=dt.date(2026, 11, 20) - dt.timedelta(days=n),
                        created_at=NOW - dt.timedelta(days=n)) for n in range(12)]
    env = environment()
    few = render_site(editions, BASE, env, FeedLimits(digest_editions=5), pages=False)["digest.xml"]
    assert len(feedparser.parse(few).entries) == 5
    whole = render_site(editions, BASE, env, FeedLimits(), pages=False)["digest.xml"]
    assert len(feedparser.parse(whole).entries) == 12
    small = render_site(editions, BASE, env, FeedLimits(digest_bytes=len(whole) // 2), pages=False)["digest.xml"]
    parsed = feedparser.parse(small)
    assert len(small) <= len(whole) // 2 and 4 <= len(parsed.entries) < 12
    assert parsed.entries[0].id == "urn:paperboy:edition:2026-11-20"  # the newest stays
    one = render_site(editions, BASE, env, FeedLimits(digest_bytes=1), pages=False)["digest.xml"]
    assert len(feedparser.parse(one).entries) == 1


def test_feeds_have_distinct_titles_a_stylesheet_and_the_paper_s_own_dates(db: Database, mixed: Settings,
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "public"
    build_feeds(db, mixed, out)
    rss, atom = feedparser.parse((out / "feed.xml").read_bytes()), feedparser.parse((out / "atom.xml").read_bytes())
    assert rss.feed.title != atom.feed.title
    for name in ("feed.xml", "atom.xml", "digest.xml"):
        assert f'<?xml-stylesheet type="text/xsl" href="{BASE}feed.xsl"?>' in (out / name).read_text()
    assert "<xsl:stylesheet" in (out / "feed.xsl").read_text()
    tulu = next(e for e in atom.entries if e.id.endswith("2411.00101"))
    assert [a.name for a in tulu.authors][:2] == ["Nathan Lambert", "Jacob Morrison"]
    assert tulu.published.startswith("2026-11-20T09:00:00") is False  # the API's date, at its day's start
    assert tulu.summary == "Sparse attention kernel 1 runs faster on long inputs."
    published = {e.published for e in atom.entries}
    assert len(published) > 1, "entries carry their papers' own dates, not the edition's for all"
    document = json.loads((out / "feed.json").read_text())
    item = next(i for i in document["items"] if i["id"].endswith("2411.00101"))
    extension = item["_paperboy"]
    assert extension["github_stars"] == 40 and extension["tldr_source"] == "source"
    assert extension["links"]["PDF"] == "https://arxiv.org/pdf/2411.00101" and not extension["listing_only"]


def test_a_busy_day_fits_gmail_whole_with_every_cards_links_and_a_bigger_one_says_what_top_means() -> None:
    from benchmarks.render import edition as rich_edition
    from bot.render.email import FEEDBACK_MARK, FEEDBACK_ROOM, MAX_HTML_BYTES, links_for, render_email

    def size(html: str) -> int:
        return len(html.encode()) + html.count(FEEDBACK_MARK) * (FEEDBACK_ROOM - len(FEEDBACK_MARK))

    busy = rich_edition(0, 60, topics=10)
    parts = render_email(environment(), busy, links_for("https://papers.example.org/", busy), 5)
    assert size(parts.html) <= MAX_HTML_BYTES and not parts.truncated
    for action in ("more", "less", "mute", "follow"):
        assert parts.html.count(f"/{action}\"") == 60, "every card has its four feedback links"
    big = rich_edition(0, 100, topics=10)
    parts = render_email(environment(), big, links_for("https://papers.example.org/", big), 5)
    assert size(parts.html) <= MAX_HTML_BYTES and parts.truncated and "shows the top 50 of 100" in parts.html
    unranked = replace(big, sections=tuple(replace(s, papers=tuple(replace(p, upvotes=None) for p in s.papers) * 3)
                                           for s in big.sections))
    cut = render_email(environment(), unranked, links_for("https://papers.example.org/", big), 5)
    assert cut.truncated and "shows the first" in cut.html and "by upvotes" not in cut.html
