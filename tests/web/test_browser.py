"""End to end in a real browser: Playwright drives Debian's chromium against `paperboy serve` (a
real process) with an aiosmtpd server on loopback. Subscribe through the form, confirm from the
mail, receive an edition, click "less like this" in it and see the next edition change,
unsubscribe through the email's link, and keep a screenshot of the
archive page in test-artifacts/. The received email's cards, and the home page's, are measured
at a phone's width: each paper takes at most 250 px."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.pipeline import build_edition, ingest, ingest_document
from bot.settings import Settings
from bot.sources.samples import Sample, hf_api, synthetic
from bot.store import Database
from bot.store.editions import find_edition
from bot.store.subscribers import find_subscriber
from tests.conftest import ROOT
from tests.smtp_server import SmtpServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def server(db: Database, settings: Settings, smtp: SmtpServer, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    for day in ("18", "19", "20"):
        assert ingest(db, settings, [ROOT / "examples" / "inbox" / f"2026-11-{day}.txt"], now=lambda: NOW).ok
    # and full cards: papers from the Daily Papers API, with authors, code, summaries
    assert ingest_document(db, "api", hf_api(synthetic(8)), "hf-api", NOW).new == 8
    assert build_edition(db, settings, dt.date(2026, 11, 20), NOW) is not None
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")},
           "PAPERBOY_DATABASE_URL": settings.database_url, "PAPERBOY_SECRET_KEY": "browser-test-secret-key",
           "PAPERBOY_BASE_URL": base, "PAPERBOY_SMTP_HOST": "127.0.0.1", "PAPERBOY_SMTP_PORT": str(smtp.port),
           "PAPERBOY_SMTP_TLS": "none", "PAPERBOY_MAIL_FROM": "digest@papers.example.org",
           "PAPERBOY_INBOX": str(tmp_path / "inbox"), "PAPERBOY_PUBLIC_DIR": str(tmp_path / "public")}
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "healthz", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # it answers (503 while the sources are stale)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"paperboy serve did not start: {process.communicate()[0]}") from None
            time.sleep(0.2)
    yield base, env
    process.terminate()
    process.wait(20)


CARD_MAX_PX = 250
PHONE = {"width": 400, "height": 800}


def _mail_to(smtp: SmtpServer, address: str, count: int, timeout: float = 30, kind: str = "plain") -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = [m for m in smtp.recorder.received if address in m.recipients]
        if len(messages) >= count:
            message = messages[count - 1].message
            part = message.get_body((kind,)) if message.is_multipart() else message
            return part.get_content()  # type: ignore[union-attr,no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"no mail number {count} to {address}")


@pytest.mark.slow
def test_subscribe_confirm_receive_and_unsubscribe_in_a_real_browser(
    server: tuple[str, dict[str, str]], smtp: SmtpServer, db: Database,
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install -y chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    base, env = server
    address = "reader@example.org"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 412, "height": 900})
        page.goto(base)
        assert page.locator('link[rel="alternate"][href$="feed.xml"]').count() == 1
        page.fill("#email", address)
        page.click("form.subscribe button[type=submit]")
        page.wait_for_selector("text=Check your inbox")

        confirm = re.search(r"http://\S+/confirm\?token=\S+", _mail_to(smtp, address, 1))[0]  # type: ignore[index]
        page.goto(confirm)
        page.click("form.action button")
        page.wait_for_selector("text=You are subscribed")
        with db.read() as session:
            assert find_subscriber(session, address).status == "active"  # type: ignore[union-attr]

        sent = subprocess.run([sys.executable, "-m", "bot", "send"], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=False)
        assert sent.returncode == 0, sent.stderr
        edition = _mail_to(smtp, address, 2)
        assert "TRENDING PAPERS" in edition
        _cards_fit(page, _mail_to(smtp, address, 2, kind="html"), "td.paper", "email")
        page.set_viewport_size(PHONE)
        page.goto(base)
        _cards_fit(page, None, "div.paper", "home page")
        _less_like_this_changes_the_next_edition(page, smtp, db, env, address)
        manage = re.search(r"http://\S+/manage\?token=[^\s>]+", edition)[0]  # type: ignore[index]
        page.goto(manage)
        page.check('input[name="cadence"][value="weekly"]')
        page.select_option("#weekday", "friday")
        page.fill("#send_at", "06:30")
        page.fill("#time_zone", "Europe/Berlin")
        page.locator("form.action").first.locator("button[type=submit]").click()
        page.wait_for_selector("text=Saved")
        with db.read() as session:
            prefs = find_subscriber(session, address).preferences  # type: ignore[union-attr]
        assert (prefs.send_at, prefs.time_zone, prefs.cadence, prefs.weekday) == ("06:30", "Europe/Berlin", "weekly", 4)
        unsubscribe = re.search(r"Unsubscribe: (\S+)", edition)[1]  # type: ignore[index]
        page.goto(unsubscribe)
        page.click("form.action button")
        page.wait_for_selector("text=You are unsubscribed")
        with db.read() as session:
            assert find_subscriber(session, address).status == "unsubscribed"  # type: ignore[union-attr]

        page.goto(base + "feed.xml")  # a browser opening a feed sees a page that says what it is
        if page.evaluate("typeof XSLTProcessor") != "undefined":  # while Chromium still has XSLT
            assert "This is a feed" in page.content()

        page.set_viewport_size({"width": 1000, "height": 1200})
        page.goto(base + "editions/2026-11-20.html")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "archive.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000


def _less_like_this_changes_the_next_edition(  # type: ignore[no-untyped-def]
        page, smtp: SmtpServer, db: Database, env: dict[str, str], address: str) -> None:
    """Click "less like this" on the received email's first card (its page asks, its button
    acts), then build and send the next day's edition: in the reader's copy a paper like that
    one no longer comes where its upvotes put it in the public edition."""
    page.set_content(_mail_to(smtp, address, 2, kind="html"))
    title = page.locator("a.title").first.inner_text()
    page.locator("td.paper").first.locator("a", has_text="Less like this").click()
    page.wait_for_selector("text=Less like this?")
    page.click("form.action button")
    page.wait_for_selector("text=Your next digest will have less papers like")

    created = NOW + dt.timedelta(days=1)  # after the first edition's cutoff
    day = created.date()
    alike = [Sample(f"2611.21{i:03d}", f"{title} revisited, part {i}", f"{title}. We revisit it, part {i}.")
             for i in range(6)]  # the most upvoted of the day, and the larger topic
    others = [Sample(f"2611.21{i:03d}", f"Quantum error correction code number {i} for superconducting qubits",
                     f"Surface codes and decoders for superconducting qubit number {i}.") for i in range(6, 9)]
    assert ingest_document(db, "next-day", hf_api([*alike, *others], day), "hf-api", created).new == 9
    settings = Settings(database_url=env["PAPERBOY_DATABASE_URL"])
    assert build_edition(db, settings, day, created + dt.timedelta(hours=1)) is not None
    sent = subprocess.run([sys.executable, "-m", "bot", "send"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert sent.returncode == 0, sent.stderr
    page.set_content(_mail_to(smtp, address, 3, kind="html"))
    mailed = page.locator("a.title").all_inner_texts()
    with db.read() as session:
        public = [p.title for s in find_edition(session, day).sections for p in s.papers]  # type: ignore[union-attr]
    assert sorted(mailed) == sorted(public) and "revisited" in public[0], public
    assert all("revisited" in t for t in mailed[len(others):]), f"the ones like it come last now: {mailed}"


def _cards_fit(page, html: str | None, selector: str, what: str) -> None:  # type: ignore[no-untyped-def]
    """Every card of ``html`` (or of the page already loaded) at most CARD_MAX_PX tall at 400 px."""
    page.set_viewport_size(PHONE)
    if html is not None:
        page.set_content(html)
    heights = page.eval_on_selector_all(selector, "cards => cards.map(c => c.getBoundingClientRect().height)")
    assert len(heights) >= 30, heights
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"card-heights-{what.replace(' ', '-')}.txt").write_text(
        f"{what}: {len(heights)} cards at 400 px, max {max(heights):.0f} px, mean {sum(heights) / len(heights):.0f} px, "
        f"page {page.evaluate('document.documentElement.scrollHeight')} px\n")
    assert max(heights) <= CARD_MAX_PX, f"{what}: a card is {max(heights):.0f} px tall at 400 px"
