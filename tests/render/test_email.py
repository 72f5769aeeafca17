"""The digest email: golden output, untrusted text, the size limit, the MIME message."""

from __future__ import annotations

import datetime as dt
import email
from dataclasses import replace
from email import policy
from pathlib import Path

import pytest

from bot.deliver.message import compose
from bot.deliver.preview import preview
from bot.models import Edition, EditionPaper, Section
from bot.pipeline import build_edition, ingest
from bot.render import environment
from bot.render.email import MAX_HTML_BYTES, links_for, render_email
from bot.settings import Settings
from bot.store import Database
from tests.conftest import ROOT
from tests.golden import check_golden

NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
EVIL = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "]]> end of CDATA",
    "line\r\nBcc: victim@example.org",
    "nul\x00byte",
]
UNICODE = "大语言模型 🚀 ∑ᵢ xᵢ² ≤ ∞"


@pytest.fixture
def example_edition(db: Database, settings: Settings) -> Settings:
    for day in ("18", "19", "20"):
        summary = ingest(db, settings, [ROOT / "examples" / "inbox" / f"2026-11-{day}.txt"],
                         now=lambda: NOW)
        assert summary.ok
    assert build_edition(db, settings, dt.date(2026, 11, 20), NOW) is not None
    return settings


def test_email_matches_the_golden_files(db: Database, example_edition: Settings) -> None:
    check_golden("email.html", preview(db, example_edition, fmt="html").decode())
    check_golden("email.txt", preview(db, example_edition, fmt="text").decode())


def test_text_part_is_wrapped_at_78_columns(db: Database, example_edition: Settings) -> None:
    text = preview(db, example_edition, fmt="text").decode()
    assert all(len(line) <= 78 or line.strip().startswith("http") for line in text.splitlines())


def test_the_eml_is_the_complete_message(db: Database, example_edition: Settings) -> None:
    raw = preview(db, example_edition, fmt="eml", now=NOW)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "Trending papers, 20 Nov: 26 new in 4 topics"
    assert message["List-Unsubscribe"].startswith("<http://localhost:8000/unsubscribe")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Unsubscribe: http://localhost:8000/unsubscribe?token=preview" in text
    assert 'href="http://localhost:8000/unsubscribe?token=preview"' in html
    assert preview(db, example_edition, fmt="eml", now=NOW) == raw


def _paper(i: int, title: str, abstract: str, topic: str = "Evil") -> EditionPaper:
    return EditionPaper(f"title:{i}", None, title, abstract, 3, None, dt.date(2026, 11, 1), i, "evil", topic)


def test_untrusted_text_is_escaped_cleaned_and_kept_out_of_headers() -> None:
    papers = tuple(_paper(i, f"{bad} {UNICODE}", f"{bad} abstract {UNICODE}", topic=bad) for i, bad in enumerate(EVIL))
    edition = Edition(dt.date(2026, 11, 21), NOW, (Section("evil", EVIL[3], papers),))
    parts = render_email(environment(), edition, links_for("https://p.example/", edition), 5)
    assert "<script>" not in parts.html and "<img" not in parts.html and "onerror=alert(1)>" not in parts.html
    assert "&lt;script&gt;" in parts.html
    assert "\x00" not in parts.html + parts.text and "\r" not in parts.html + parts.text
    assert UNICODE in parts.html and UNICODE in parts.text
    assert "\n" not in parts.subject and "\r" not in parts.subject
    message = compose(parts, edition=edition, sender="paperboy@p.example", to="a@b.example",
                      unsubscribe_url="https://p.example/unsubscribe?token=t", date=NOW)
    parsed = email.message_from_bytes(message, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["To"] == "a@b.example"


def test_a_300_paper_edition_stays_under_gmails_clip() -> None:
    sections = tuple(
        Section(f"t{t}", f"Topic {t}", tuple(_paper(t * 100 + i, f"Paper {t}-{i} " + "long title " * 8,
                                                     "An abstract sentence that goes on. " * 20, f"Topic {t}")
                                            for i in range(30)))
        for t in range(10)
    )
    edition = Edition(dt.date(2026, 11, 21), NOW, sections)
    parts = render_email(environment(), edition, links_for("https://p.example/", edition), 5)
    assert edition.papers == 300
    assert len(parts.html.encode()) <= MAX_HTML_BYTES < 102 * 1024
    assert parts.truncated and parts.shown == 50
    assert "https://p.example/editions/2026-11-21.html" in parts.html
    assert "Unsubscribe" in parts.html and "25 more in Topic 0" in parts.html


def test_templates_can_be_overridden(db: Database, example_edition: Settings, tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "subject.txt").write_text("Custom {{ edition.papers }}")
    raw = preview(db, replace(example_edition, templates_dir=tmp_path), fmt="eml", now=NOW)
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == "Custom 26"


def test_every_template_ships_in_the_wheel() -> None:
    import fnmatch
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["bot.templates"]
    files = [p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()]
    assert config["package-dir"]["bot.templates"] == "templates"
    assert [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bot").rglob("__init__.py")}
    assert packages - {"bot.store.migrations"} <= set(config["packages"]), "a package the wheel would miss"


def test_the_mime_bodies_decode_to_exactly_the_personalised_parts(db: Database, example_edition: Settings) -> None:
    from bot.render.email import personalise

    one = Edition(dt.date(2026, 11, 21), NOW, (Section("s", "Topic · 大语言模型", (
        _paper(1, "A title with trailing space ", "Abstract " * 60 + UNICODE),),),))
    parts = render_email(environment(), one, links_for("https://p.example/", one), 5)
    url = "https://p.example/unsubscribe?token=a=b&c=" + "x" * 90
    raw = compose(parts, edition=one, sender="Paperboy <paperboy@p.example>", to="Zoë <zoe@b.example>",
                  unsubscribe_url=url, date=NOW)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    message = email.message_from_bytes(raw, policy=policy.default)
    html, text = personalise(parts, url)
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == html
    assert message["To"] == "Zoë <zoe@b.example>" and message["From"] == "Paperboy <paperboy@p.example>"
