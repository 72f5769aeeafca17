"""Following people and organisations: a pinned section first, muted ones never, in the copy a
reader gets through real SMTP; the matching rules on their own."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from bot.deliver import send_edition
from bot.digest import PEOPLE_LABEL, PEOPLE_SLUG, for_subscriber
from bot.models import Edition, EditionPaper, PaperLinks, Section
from bot.models.readers import Preferences
from bot.pipeline import build_edition, ingest, ingest_document
from bot.settings import Settings
from bot.sources.samples import hf_api
from bot.store import Database
from tests.conftest import ROOT
from tests.deliver.test_delivery import mail_settings as mail_settings  # the fixture, shared
from tests.deliver.test_delivery import subscribe
from tests.render.test_cards import API_PAPERS
from tests.smtp_server import SmtpServer

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def _paper(key: str, topic: str, authors: tuple[str, ...] = (), organization: str | None = None,
           submitter: str | None = None) -> EditionPaper:
    return EditionPaper(key, None, f"Paper {key}", "", len(authors) or None, organization, None, 1, topic, topic,
                        authors=authors, links=PaperLinks(submitted_by=submitter))


def test_followed_people_come_first_whatever_their_topic_and_muted_ones_never() -> None:
    edition = Edition(dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC), (
        Section("agents", "Agents", (_paper("a1", "agents", ("Zoë Ho", "Sam Lee")), _paper("a2", "agents"),
                                     _paper("a3", "agents", submitter="Ada Example"))),
        Section("vision", "Vision", (_paper("v1", "vision", organization="Google DeepMind"),
                                     _paper("v2", "vision", ("Spam Author",)),
                                     _paper("v3", "vision", organization="DeepMindful Labs"))),
    ), climbing=(_paper("c1", "vision", organization="Spam Corp"),))
    prefs = Preferences(follow=("agents",), people=("zoe ho", "DeepMind", "ada example"),
                        mute_people=("spam author", "Spam Corp"))
    copy = for_subscriber(edition, prefs)
    assert copy is not None
    assert [(s.slug, [p.key for p in s.papers]) for s in copy.sections] == [
        (PEOPLE_SLUG, ["a1", "a3", "v1"]), ("agents", ["a2"])], "pinned first, not twice, a topic not followed too"
    assert copy.sections[0].label == PEOPLE_LABEL
    assert copy.climbing == (), "a muted organisation never appears, climbing included"
    only_muted = for_subscriber(edition, Preferences(mute_people=("Spam Author",)))
    assert only_muted is not None and "v2" not in {p.key for s in only_muted.sections for p in s.papers}
    assert "v3" in {p.key for s in only_muted.sections for p in s.papers}, "whole words of a name only"


def test_a_reader_who_follows_an_author_gets_their_paper_first_by_mail(
    db: Database, settings: Settings, mail_settings: Settings, smtp: SmtpServer,
) -> None:
    assert ingest(db, settings, [ROOT / "examples" / "inbox" / "2026-11-20.txt"], now=lambda: NOW).ok
    assert ingest_document(db, "api", hf_api(API_PAPERS), "hf-api", NOW).new == 3
    assert build_edition(db, settings, dt.date(2026, 11, 20), NOW) is not None
    subscribe(db, "fan@example.org", people="GRACE HOPPER", mute_people="Ada Lovelace")
    subscribe(db, "all@example.org")
    assert send_edition(db, replace(mail_settings, digest_email_top_n=100), clock=lambda: NOW).sent == 2
    mails = {m.recipients[0]: m.message for m in smtp.recorder.received}
    fan = mails["fan@example.org"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    everyone = mails["all@example.org"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert PEOPLE_LABEL.upper() in fan.upper() and PEOPLE_LABEL.upper() not in everyone.upper()
    assert fan.upper().index(PEOPLE_LABEL.upper()) < fan.index("Retrieval heads explain long-context factuality")
    assert fan.count("Retrieval heads explain long-context factuality") == everyone.count(
        "Retrieval heads explain long-context factuality"), "listed once, in the pinned section"
    assert "entmax" in everyone and "entmax" not in fan, "a muted author's paper is not in the copy"
