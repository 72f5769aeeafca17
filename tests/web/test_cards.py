"""A card's links from a received email, over HTTP: more / less like this, mute topic, follow
author; and the manage page's library. The mail goes through a real SMTP server on loopback;
the next edition is built and sent again to see the reader's copy change."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from bot.deliver import send_edition
from bot.digest import PICKED_SLUG
from bot.pipeline import build_edition, ingest_document
from bot.settings import Settings
from bot.sources.samples import Sample, hf_api
from bot.store import Database
from bot.store.editions import find_edition
from bot.store.subscribers import find_subscriber, reader_data, upsert_subscriber
from bot.subscribers import Signer, preferences
from bot.web import create_app
from tests.smtp_server import SmtpServer
from tests.tokens import tampered

BASE = "http://testserver/"
KEY = "test-secret-key-0123456789abcdef"
DAY1 = dt.date(2026, 11, 20)
DAY2 = dt.date(2026, 11, 21)
SUBJECTS = {
    "robot": ("Grasping deformable objects with a robot arm", "We teach a robot arm to grasp cloth and rope "
              "with tactile sensing, a grasp planner and closed-loop manipulation on real hardware."),
    "proof": ("Formal theorem proving with language models", "A language model writes Lean proofs; the proof "
              "assistant checks each tactic and the prover searches over lemmas and theorems."),
    "audio": ("Speech synthesis from few seconds of voice", "A text to speech model clones a speaker's voice "
              "from audio prompts of a few seconds, with a neural vocoder and prosody control."),
    "cells": ("Predicting protein structure of single cells", "We predict protein folding and gene expression "
              "in single cell sequencing data with a structure model trained on cell atlases."),
}


def _samples(day: int, subjects: dict[str, int]) -> list[Sample]:
    """Papers of the given subjects (how many of each), distinct ids and titles per day."""
    out: list[Sample] = []
    for subject, count in subjects.items():
        title, abstract = SUBJECTS[subject]
        for i in range(count):
            out.append(Sample(f"2611.{day:02d}{len(out):03d}", f"{title}, part {day}-{i}",
                              f"{abstract} Variant {i} of day {day}.",
                              authors=(f"{subject.title()} Author {i}", "Shared Coauthor")))
    return out


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return replace(settings, secret_key=KEY, base_url=BASE, smtp_host="127.0.0.1", smtp_port=smtp.port,
                   smtp_tls="none", mail_from="digest@papers.example.org", delivery_concurrency=1)


@pytest.fixture
def client(db: Database, mail_settings: Settings) -> Iterator[TestClient]:
    now = dt.datetime.combine(DAY1, dt.time(9), dt.UTC)
    ingest_document(db, "api", hf_api(_samples(20, {"robot": 3, "proof": 3, "audio": 3, "cells": 3}), DAY1),
                    "hf-api", now)
    assert build_edition(db, mail_settings, DAY1, now + dt.timedelta(hours=1)) is not None
    with TestClient(create_app(db, mail_settings)) as test_client:
        yield test_client


def _reader(db: Database, address: str) -> str:
    with db.write() as session:
        return upsert_subscriber(session, address, preferences(), dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
                                 ).subscriber.token


def _received(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m.message for m in smtp.recorder.received if address in m.recipients]


def _html(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr,no-any-return]


def _card_link(message: EmailMessage, title_part: str, action: str) -> str:
    """The ``action`` link of the first card whose title holds ``title_part``."""
    html = _html(message)
    card = html[re.search(rf'class="title"[^>]*>[^<]*{re.escape(title_part)}', html).start():]  # type: ignore[union-attr]
    card = card[:card.index("</td>")]
    return re.search(rf'href="({re.escape(BASE)}f/[^"]+/{action})"', card)[1]  # type: ignore[index]


def _titles(message: EmailMessage) -> list[str]:
    return re.findall(r'class="title"[^>]*>([^<]+)</a>', _html(message))


def _next_day(db: Database, settings: Settings) -> None:
    now = dt.datetime.combine(DAY2, dt.time(9), dt.UTC)
    ingest_document(db, "api2", hf_api(_samples(21, {"robot": 3, "proof": 3, "audio": 3, "cells": 3}), DAY2),
                    "hf-api", now)
    assert build_edition(db, settings, DAY2, now + dt.timedelta(hours=1)) is not None


def test_less_like_this_from_a_received_email_sinks_its_kind_in_the_next_edition(
        client: TestClient, db: Database, mail_settings: Settings, smtp: SmtpServer) -> None:
    _reader(db, "critic@example.org")
    _reader(db, "plain@example.org")
    assert send_edition(db, mail_settings, DAY1).sent == 2
    [first] = _received(smtp, "critic@example.org")
    link = _card_link(first, "Grasping deformable objects", "less")

    asked = client.get(link)  # a mail scanner opening it changes nothing
    assert asked.status_code == 200 and "Less like this" in asked.text and "<button" in asked.text
    with db.read() as session:
        assert not find_subscriber(session, "critic@example.org").preferences.profile  # type: ignore[union-attr]
    done = client.post(link)
    assert done.status_code == 200 and "Your next digest will have less papers like" in done.text
    assert client.post(link).status_code == 200, "the same click twice is harmless"

    _next_day(db, mail_settings)
    assert send_edition(db, mail_settings, DAY2).sent == 2
    critic, plain = _titles(_received(smtp, "critic@example.org")[1]), _titles(_received(smtp, "plain@example.org")[1])
    assert sorted(critic) == sorted(plain) and critic != plain
    robots = [i for i, t in enumerate(critic) if "Grasping" in t]
    assert robots and min(robots) > max(i for i, t in enumerate(critic) if "Grasping" not in t), \
        "every robot paper comes after every other paper in the critic's copy"
    assert min(i for i, t in enumerate(plain) if "Grasping" in t) < max(
        i for i, t in enumerate(plain) if "Grasping" not in t), "the unranked copy keeps them where topics put them"


def test_more_like_this_picks_papers_for_the_reader_and_says_why(
        client: TestClient, db: Database, mail_settings: Settings, smtp: SmtpServer) -> None:
    _reader(db, "fan@example.org")
    assert send_edition(db, mail_settings, DAY1).sent == 1
    [first] = _received(smtp, "fan@example.org")
    assert client.post(_card_link(first, "Formal theorem proving", "more")).status_code == 200
    with db.write() as session:  # then follows only the robots' topic: picks still come from any topic
        robots = next(s.slug for s in find_edition(session, DAY1).sections  # type: ignore[union-attr]
                      if any("Grasping" in p.title for p in s.papers))
        upsert_subscriber(session, "fan@example.org", preferences(follow=robots),
                          dt.datetime(2026, 11, 19, tzinfo=dt.UTC))

    _next_day(db, mail_settings)
    assert send_edition(db, mail_settings, DAY2).sent == 1
    second = _received(smtp, "fan@example.org")[1]
    html = _html(second)
    picked = html[html.index(f'<h2 id="{PICKED_SLUG}"'):]
    picked = picked[:picked.index("<h2", 10)]
    titles = re.findall(r'class="title"[^>]*>([^<]+)</a>', picked)
    assert titles and all("Formal theorem proving" in t for t in titles[:3])
    assert "Why you got this: Like \u201cFormal theorem proving with language models, part 20-" in html
    assert "Why you got this: You follow" in html and "Speech synthesis" not in html
    text = second.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Why you got this: Like" in text and "More or less like this:" in text


def test_mute_topic_and_follow_author_from_a_card(
        client: TestClient, db: Database, mail_settings: Settings, smtp: SmtpServer) -> None:
    _reader(db, "tuner@example.org")
    assert send_edition(db, mail_settings, DAY1).sent == 1
    [first] = _received(smtp, "tuner@example.org")
    mute = _card_link(first, "Speech synthesis", "mute")
    assert "Mute this topic" in client.get(mute).text
    assert client.post(mute).status_code == 200
    follow = _card_link(first, "Predicting protein structure", "follow")
    page = client.get(follow)
    assert 'type="checkbox" name="name" value="Cells Author 0"' in page.text
    refused = client.post(follow, data={"name": "Somebody Else"})
    assert refused.status_code == 400, "only the card's own names can be followed from it"
    assert 'value="Shared Coauthor"' in page.text
    assert client.post(follow, data={"name": ["Cells Author 0"]}).status_code == 200
    with db.read() as session:
        prefs = find_subscriber(session, "tuner@example.org").preferences  # type: ignore[union-attr]
    assert prefs.people == ("Cells Author 0",) and len(prefs.mute) == 1

    _next_day(db, mail_settings)
    assert send_edition(db, mail_settings, DAY2).sent == 1
    second = _html(_received(smtp, "tuner@example.org")[1])
    assert "Speech synthesis" not in second, "the muted topic's papers are gone"
    assert "Why you got this: You follow Cells Author 0" in second


def test_forged_altered_or_foreign_card_links_change_nothing(
        client: TestClient, db: Database, mail_settings: Settings, smtp: SmtpServer) -> None:
    token = _reader(db, "target@example.org")
    assert send_edition(db, mail_settings, DAY1).sent == 1
    link = _card_link(_received(smtp, "target@example.org")[0], "Grasping", "less")
    signed = link.split("/f/", 1)[1].split("/", 1)[0]
    anchor = link.rsplit("/", 2)[1]
    for bad in (tampered(signed), Signer("another key").sign_card(token), Signer(KEY).sign(token, "manage"),
                token):
        assert client.post(f"/f/{bad}/{anchor}/less").status_code == 400
    assert client.post(f"/f/{signed}/0123456789/less").status_code == 404
    assert client.post(f"/f/{signed}/{anchor}/delete").status_code == 404
    assert client.get(f"/f/{signed}/<script>/less").status_code == 404
    with db.read() as session:
        assert not find_subscriber(session, "target@example.org").preferences.profile  # type: ignore[union-attr]
        assert reader_data(session, token)["verdicts"] == []  # type: ignore[index]


def test_a_readers_library_seeds_their_profile_and_leaves_with_their_data(
        client: TestClient, db: Database, mail_settings: Settings) -> None:
    token = _reader(db, "scholar@example.org")
    signed = Signer(KEY).sign(token, "manage")
    page = client.get(f"/manage?token={signed}")
    assert 'action="http://testserver/manage/library"' in page.text and 'enctype="multipart/form-data"' in page.text
    pasted = client.post("/manage/library", data={"token": signed, "ids": "2611.20003 and arXiv:9999.99999"})
    assert pasted.status_code == 200 and "1 paper paperboy knows" in pasted.text and "9999.99999" in pasted.text
    bib = (b"@misc{x, title={Lean proofs by a {language model}}, eprint={2611.20004}, archivePrefix={arXiv}}\n"
           b"@article{y, title={Tactile grasping of rope}, abstract={A robot arm grasps rope.}}\n")
    ris = b"TY  - JOUR\nTI  - Voice cloning in seconds\nAB  - speech synthesis\nER  - \n"
    csl = b'[{"title": "Cell atlases", "URL": "https://arxiv.org/abs/2611.20009"}]'
    for name, data, counts in (("mine.bib", bib, "1 paper paperboy knows and 1 read from the file"),
                               ("mine.ris", ris, "0 papers paperboy knows and 1 read from the file"),
                               ("mine.json", csl, "1 paper paperboy knows and 0 read from the file")):
        answer = client.post("/manage/library", data={"token": signed}, files={"file": (name, data)})
        assert answer.status_code == 200 and counts in answer.text, answer.text
    for name, data, problem in (("bad.bib", b"\xff\xfe\x00", "not UTF-8"), ("empty.txt", b"hello", "no arXiv id"),
                                ("x.json", b"[1, 2]", "not CSL-JSON")):
        refused = client.post("/manage/library", data={"token": signed}, files={"file": (name, data)})
        assert refused.status_code == 400 and f"{name}: {problem}" in refused.text
    big = client.post("/manage/library", data={"token": signed}, files={"file": ("big.bib", b"%" * (3 << 20))})
    assert big.status_code == 413
    body = (f'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n{signed}\r\n--b\r\n'
            'Content-Disposition: form-data; name="file"; filename="big.bib"\r\n\r\n').encode()
    chunked = client.post("/manage/library", content=iter([body, *([b"%" * (1 << 20)] * 3)]),
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert chunked.status_code == 413, "a body with no Content-Length stops at the bound too"
    assert client.post("/manage/library", data={"token": tampered(signed), "ids": "2611.20003"}).status_code == 400

    with db.read() as session:
        stored = reader_data(session, token)
        prefs = find_subscriber(session, "scholar@example.org").preferences  # type: ignore[union-attr]
    assert stored is not None and len(stored["verdicts"]) == 5
    assert {v["from"] for v in stored["verdicts"]} == {"library"}
    assert prefs.profile and any(t.startswith("lean") for t, _ in prefs.profile.terms)
    download = client.get(f"/manage/data?token={signed}").json()
    assert len(download["verdicts"]) == 5
    page = client.get(f"/manage?token={signed}")
    assert page.text.count('name="paper" value=') == 5 and "Tactile grasping of rope" in page.text
    slip = next(v["paper"] for v in download["verdicts"] if v["title"] == "Tactile grasping of rope")
    taken = client.post("/manage", data={"token": signed, "action": "unrate", "paper": slip})
    assert taken.status_code == 200 and "Taken back" in taken.text and "Tactile grasping of rope" not in taken.text
    assert "Nothing to take back" in client.post("/manage", data={"token": signed, "action": "unrate",
                                                                   "paper": slip}).text
    with db.read() as session:
        relearnt = find_subscriber(session, "scholar@example.org").preferences  # type: ignore[union-attr]
    assert relearnt.profile != prefs.profile and not any(t.startswith("rope") for t, _ in relearnt.profile.terms)
    assert client.post("/manage", data={"token": signed, "action": "forget-confirmed"}).status_code == 200
    with db.read() as session:
        assert reader_data(session, token) is None
        assert session.execute(text("SELECT count(*) FROM verdicts")).scalar_one() == 0


def test_a_saved_search_from_the_manage_page_is_an_alert_in_the_next_digest(
        client: TestClient, db: Database, mail_settings: Settings, smtp: SmtpServer) -> None:
    token = _reader(db, "alerted@example.org")
    signed = Signer(KEY).sign(token, "manage")
    saved = client.post("/manage", data={"token": signed, "searches": "vocoder prosody, lean lemmas"})
    assert saved.status_code == 200 and 'value="vocoder prosody, lean lemmas"' in saved.text
    assert send_edition(db, mail_settings, DAY1).sent == 1
    html = _html(_received(smtp, "alerted@example.org")[0])
    section = html[html.index('<h2 id="your-searches"'):]
    section = section[:section.index("<h2", 10)]
    titles = re.findall(r'class="title"[^>]*>([^<]+)</a>', section)
    assert len(titles) == 6 and all("Speech synthesis" in t or "Formal theorem" in t for t in titles)
    assert "Why you got this: Matches your search \u201cvocoder prosody\u201d" in section
    with db.read() as session:
        assert reader_data(session, token)["preferences"]["searches"] == ["vocoder prosody", "lean lemmas"]  # type: ignore[index]
