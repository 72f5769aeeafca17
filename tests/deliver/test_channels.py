"""Chat and webhook channels, against a loopback server that answers as each API does: every
kind in its own shape, topics routed, each part posted once, retries that honour Retry-After, a
failing channel that holds up nobody else, and a sender killed with -9 mid-post."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.deliver import retry, send_edition
from bot.errors import ConfigError
from bot.models import Edition, EditionPaper, PaperLinks, Section
from bot.models.channels import ChannelSpec
from bot.pipeline import build_edition, ingest
from bot.render.channels import LIMITS, channel_posts
from bot.settings import Settings, load_settings
from bot.status import status
from bot.store import Database
from bot.store import channels as channel_store
from bot.store import editions as edition_store
from tests.channel_server import SECRET, ChannelServer, Scripted, channels_toml
from tests.conftest import ROOT, run_paperboy
from tests.golden import check_golden

DATE = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
PATHS = {"slack": "/slack/", "discord": "/discord/", "matrix": "/_matrix/", "telegram": "/bot", "webhook": "/hook/"}


@pytest.fixture
def server() -> Iterator[ChannelServer]:
    running = ChannelServer().start()
    yield running
    running.stop()


def channel_settings(settings: Settings, tmp_path: Path, server: ChannelServer, **options: object) -> Settings:
    text, env = channels_toml(server.url, **options)  # type: ignore[arg-type]
    path = tmp_path / "channels.toml"
    path.write_text(text)
    loaded = load_settings(path, env=env, database_url=settings.database_url, inbox=str(settings.inbox))
    return replace(loaded, base_url="https://papers.example.org/", delivery_retry_seconds=0.1,
                   delivery_wait_seconds=15, delivery_lease_seconds=60)


@pytest.fixture
def edition(db: Database, settings: Settings) -> Edition:
    for day in ("18", "19", "20"):
        assert ingest(db, settings, [ROOT / "examples" / "inbox" / f"2026-11-{day}.txt"], now=lambda: NOW).ok
    assert build_edition(db, settings, DATE, NOW) is not None
    with db.read() as session:
        return edition_store.stored_edition(session, DATE)[0]


def test_every_kind_gets_the_edition_once_in_its_own_shape(db: Database, settings: Settings, tmp_path: Path,
                                                          server: ChannelServer, edition: Edition) -> None:
    chosen = channel_settings(settings, tmp_path, server)
    summary = send_edition(db, chosen, DATE)
    assert summary.posts is not None and summary.posts.failed == summary.posts.retrying == 0
    assert summary.posts.sent == summary.posts.queued >= 5
    assert all(r.status < 300 for r in server.requests), [(r.path, r.status, r.body[:200]) for r in server.requests]

    slack = server.to("/slack/")[0].json
    assert slack["blocks"][0]["type"] == "header" and slack["unfurl_links"] is False
    assert any(edition.sections[0].papers[0].title[:20] in json.dumps(b, ensure_ascii=False) for b in slack["blocks"])
    discord = server.to("/discord/")[0].json
    assert discord["allowed_mentions"] == {"parse": []} and discord["flags"] == 4
    matrix = server.to("/_matrix/")[0]
    with db.read() as session:
        keys = {p.channel: p.key for p in channel_store.iter_posts(session) if p.part == 1}
    assert matrix.method == "PUT" and matrix.path.endswith(f"/send/m.room.message/{keys['matrix-papers']}")
    assert "/rooms/!papers:example.org/" in matrix.path and matrix.json["format"] == "org.matrix.custom.html"
    telegram = server.to("/bot")[0].json
    assert telegram["chat_id"] == -1001234567890 and telegram["parse_mode"] == "HTML"
    hook = server.to("/hook/")[0]
    signed = hmac.new(SECRET.encode(), hook.headers["x-paperboy-timestamp"].encode() + b"." + hook.body,
                      hashlib.sha256).hexdigest()
    assert hook.headers["x-paperboy-signature"] == f"sha256={signed}"
    assert hook.headers["x-paperboy-delivery"] == keys["webhook-papers"]
    document = hook.json
    assert document["date"] == "2026-11-20" and document["channel"] == "webhook-papers"
    assert sum(len(t["papers"]) for t in document["topics"]) == edition.papers  # a webhook gets every paper

    count = len(server.requests)
    again = send_edition(db, chosen, DATE)
    assert again.posts is not None and (again.posts.queued, again.posts.sent) == (0, 0)
    assert len(server.requests) == count


def test_topics_are_routed_to_their_channels(db: Database, settings: Settings, tmp_path: Path,
                                            server: ChannelServer, edition: Edition) -> None:
    first = edition.sections[0]
    chosen = channel_settings(settings, tmp_path, server, kinds=("webhook", "telegram"),
                              topics={"webhook": [first.slug], "telegram": ["no-such-topic"]})
    summary = send_edition(db, chosen, DATE)
    assert summary.posts is not None and summary.posts.sent == 1
    document = server.to("/hook/")[0].json
    assert [t["slug"] for t in document["topics"]] == [first.slug]
    assert not server.to("/bot")  # nothing of the edition is for it: nothing queued, nothing posted


def test_retry_after_is_honoured_and_the_part_posted_once(db: Database, settings: Settings, tmp_path: Path,
                                                         server: ChannelServer, edition: Edition) -> None:
    chosen = channel_settings(settings, tmp_path, server, kinds=("slack", "telegram", "discord"))
    server.answer("/slack/", Scripted(429, {"Retry-After": "1"}, b"rate_limited"))
    server.answer("/bot", Scripted(429, {"Content-Type": "application/json"},
                                   b'{"ok": false, "error_code": 429, "parameters": {"retry_after": 1}}'))
    server.answer("/discord/", Scripted(503, {}, b"upstream"), Scripted(502, {}, b""))
    summary = send_edition(db, chosen, DATE)
    assert summary.posts is not None and summary.posts.failed == 0 and summary.posts.retrying == 0
    for prefix in ("/slack/", "/bot"):
        tries = server.to(prefix, accepted=False)
        assert [r.status for r in tries][:2] == [429, 200]
        assert tries[1].at - tries[0].at >= 1.0  # it waited what the channel asked, not its own 0.1 s
        assert tries[0].body == tries[1].body
    assert [r.status for r in server.to("/discord/", accepted=False)][:3] == [503, 502, 204]
    with db.read() as session:
        assert {p.status for p in channel_store.iter_posts(session)} == {"sent"}


def test_a_failing_channel_holds_up_nobody_and_is_shown(db: Database, settings: Settings, tmp_path: Path,
                                                       server: ChannelServer, edition: Edition, cli: object) -> None:
    chosen = replace(channel_settings(settings, tmp_path, server), delivery_max_attempts=2,
                     delivery_wait_seconds=0)
    server.answer("/discord/", *[Scripted(500, {}, b"boom")] * 50)
    server.answer("/_matrix/", Scripted(404, {}, b'{"errcode": "M_NOT_FOUND", "error": "Unknown room"}'))
    summary = send_edition(db, chosen, DATE)
    assert summary.posts is not None
    errors = dict(summary.posts.errors)
    assert errors["matrix-papers"] == "HTTP 404: M_NOT_FOUND Unknown room"
    assert errors["discord-papers"].startswith("HTTP 500")
    assert len(server.to("/_matrix/", accepted=False)) == 1  # a 404 is not retried
    for prefix in ("/slack/", "/bot", "/hook/"):
        assert server.to(prefix)
    report = status(db, chosen, NOW + dt.timedelta(hours=1))
    shown = {c["name"]: c for c in report["channels"]}
    assert shown["slack-papers"]["parts"] == {"sent": 1}
    assert shown["matrix-papers"]["parts"] == {"failed": 1}
    assert shown["discord-papers"]["parts"] == {"pending": 4, "retrying": 1}  # in order: the rest waits
    warnings = " ".join(report["health"]["warnings"])
    assert "channel matrix-papers: 1 failed of 1 part" in warnings and "Unknown room" in warnings
    assert "channel discord-papers: 1 waiting to retry" in warnings
    assert str(SECRET) not in json.dumps(report) and "XXXX" not in json.dumps(report)

    server.clear()
    again = retry(db, chosen)
    assert again.posts is not None and again.posts.sent == 6
    assert len(server.to("/discord/")) == 5 and len(server.to("/_matrix/")) == 1
    with db.read() as session:
        assert {p.status for p in channel_store.iter_posts(session)} == {"sent"}


def test_a_sender_killed_mid_post_posts_each_part_once_more_at_most(
        database_url: str, tmp_path: Path, server: ChannelServer, db: Database, settings: Settings,
        edition: Edition) -> None:
    text, env = channels_toml(server.url, kinds=("webhook",))
    tables = "".join(text.replace('"webhook-papers"', f'"hook-{n}"').replace("/hook/webhook-papers", f"/hook/{n}")
                     for n in range(4))
    config = tmp_path / "paperboy.toml"
    config.write_text(f'base_url = "https://papers.example.org/"\n[delivery]\nlease_seconds = 60\n\n{tables}')
    env = {f"PAPERBOY_CHANNEL_HOOK_{n}_SECRET": SECRET for n in range(4)}
    env |= {"PAPERBOY_CONFIG": str(config), "PAPERBOY_DATABASE_URL": database_url,
            "PAPERBOY_OUTBOX": str(tmp_path / "outbox")}
    server.hold("/hook/2")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    sender = subprocess.Popen([sys.executable, "-m", "bot", "send", "--date", "2026-11-20"],
                              env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.holding.wait(60), "the held post never arrived"
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait(30)
    finally:
        if sender.poll() is None:
            sender.kill()
    server.release()
    result = run_paperboy("send", "--date", "2026-11-20", env=env)
    assert result.returncode == 0, result.stderr
    deliveries = {}
    for request in server.to("/hook/", accepted=False):
        deliveries.setdefault(request.path, []).append(request.headers["x-paperboy-delivery"])
    assert sorted(deliveries) == [f"/hook/{n}" for n in range(4)]
    with db.read() as session:
        posts = {p.channel: p for p in channel_store.iter_posts(session)}
    assert {p.status for p in posts.values()} == {"sent"}
    for n in range(4):
        keys = deliveries[f"/hook/{n}"]
        assert set(keys) == {posts[f"hook-{n}"].key}  # one delivery id per part, however often it arrived
        # Posts in flight when the sender died (the held one, and any other channel's that had
        # its answer but no record yet) go again once; nothing else does.
        assert len(keys) - 1 <= posts[f"hook-{n}"].resent <= 1
    assert len(deliveries["/hook/2"]) == 2


def _paper(i: int, title: str) -> EditionPaper:
    return EditionPaper(key=f"arxiv:2611.{i:05d}", arxiv_id=f"2611.{i:05d}", title=title,
                        abstract="We show a thing. " * 40, author_count=5, organization="Lab & Co",
                        published=DATE, upvotes=100 - i, authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "X"),
                        links=PaperLinks(github_repo="https://github.com/a/b", github_stars=1500))


HOSTILE = "<!channel> @everyone </a><script>alert(1)</script> **bold** [x](https://evil.example) <@123>"


def test_every_message_fits_its_channel_and_escapes_what_it_carries() -> None:
    papers = tuple(_paper(i, HOSTILE if i % 7 == 0 else f"Paper {i}: a study of (things) & more") for i in range(120))
    big = Edition(DATE, NOW, (Section("robotics", "Robotics <b>", papers[:70]), Section("llms", "LLMs", papers[70:])))
    for kind in ("slack", "discord", "telegram", "matrix"):
        for per_topic in (0, 5):
            spec = ChannelSpec("c", kind, "http://127.0.0.1", "x", "!r:x", per_topic=per_topic)
            posts = channel_posts(big, spec, "https://papers.example.org/")
            assert posts and all(p.size <= LIMITS[kind] for p in posts), (kind, [p.size for p in posts])
            text = json.dumps([p.body for p in posts], ensure_ascii=False)
            marked = text if kind != "matrix" else json.dumps([p.body["formatted_body"] for p in posts])
            assert "<script>" not in marked and "<!channel>" not in marked  # Matrix's plain body is only text
            if len(posts) > 1:
                assert f"(2/{len(posts)})" in text
            shown = text.count("2611.00007")
            assert shown >= 1 if per_topic == 0 else shown == 0  # the 8th paper is beyond the top 5
    discord = channel_posts(big, ChannelSpec("c", "discord", "http://x", per_topic=0), "https://p.example/")
    assert "\\*\\*bold\\*\\*" in discord[0].body["content"] and "\\<\\@123\\>" in discord[0].body["content"]
    slack = channel_posts(big, ChannelSpec("c", "slack", "http://x", per_topic=0), "https://p.example/")
    assert all(len(p.body["blocks"]) <= 50 for p in slack)  # type: ignore[arg-type]
    assert "&lt;!channel&gt;" in json.dumps(slack[0].body)


@pytest.mark.parametrize("kind", ["slack", "discord", "matrix", "telegram", "webhook"])
def test_recorded_payloads(kind: str, edition: Edition) -> None:
    """What each channel receives for the example edition (the README shows these)."""
    spec = ChannelSpec(f"{kind}-papers", kind, "http://x", "k", "!r:x", per_topic=2 if kind != "webhook" else 0)
    posts = channel_posts(edition, spec, "https://papers.example.org/")
    check_golden(f"channels/{kind}.json", json.dumps([p.body for p in posts], ensure_ascii=False, indent=2) + "\n")


@pytest.mark.parametrize(("table", "env", "error"), [
    ('name = "a"\nkind = "irc"', {}, "channels[1].kind: expected one of slack, discord, matrix, telegram, webhook"),
    ('name = "a"\nkind = "slack"', {}, "set PAPERBOY_CHANNEL_A_URL in the environment to the slack webhook URL"),
    ('name = "a"\nkind = "slack"\nurl = "https://hooks.slack.com/services/T/B/secret"', {},
     "channels[1].url: a slack webhook URL is a secret: set PAPERBOY_CHANNEL_A_URL in the environment"),
    ('name = "A b"\nkind = "slack"', {}, "channels[1].name: expected a short name"),
    ('name = "a"\nkind = "webhook"\nurl = "ftp://x"', {"PAPERBOY_CHANNEL_A_SECRET": "s"},
     "channels[1].url: expected an http:// or https:// URL"),
    ('name = "a"\nkind = "webhook"\nurl = "https://x.example"', {}, "PAPERBOY_CHANNEL_A_SECRET"),
    ('name = "a"\nkind = "telegram"\nchat = "-100"', {"PAPERBOY_CHANNEL_A_TOKEN": "nope"},
     "PAPERBOY_CHANNEL_A_TOKEN: expected a bot token"),
    ('name = "a"\nkind = "matrix"\nurl = "https://m.example"\nroom = "general"', {"PAPERBOY_CHANNEL_A_TOKEN": "t"},
     "channels[1].room: expected a room id"),
    ('name = "a"\nkind = "discord"\ncolour = 3', {}, "channels[1].colour: unknown key"),
    ('name = "a"\nkind = "webhook"\nurl = "https://x.example"\nper_topic = -1', {"PAPERBOY_CHANNEL_A_SECRET": "s"},
     "channels[1].per_topic"),
])
def test_a_bad_channel_is_one_line_naming_it(tmp_path: Path, table: str, env: dict[str, str], error: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[[channels]]\n{table}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env=env)
    key, _, said = error.partition(": ")
    message = str(raised.value)
    assert key in message and said in message and "\n" not in message, message
    assert "hooks.slack.com" not in message


def test_channel_credentials_stay_out_of_what_is_shown(tmp_path: Path, server: ChannelServer) -> None:
    text, env = channels_toml(server.url)
    path = tmp_path / "c.toml"
    path.write_text(text)
    loaded = load_settings(path, env=env)
    shown = repr(loaded)
    assert {c.kind for c in loaded.channels} == {"slack", "discord", "matrix", "telegram", "webhook"}
    for secret in env.values():
        assert secret not in shown
    assert "XXXX" not in shown and "test-token" not in shown


README_KINDS = ("slack", "discord", "matrix", "telegram", "webhook")


def readme_edition() -> Edition:
    """One paper in one topic: what the README's recorded payloads show."""
    paper = EditionPaper(
        key="arxiv:2611.01234", arxiv_id="2611.01234", title="Diffusion Policies for Robot Arms",
        abstract="We train diffusion policies for robot arms.", author_count=2, organization="Example Lab",
        published=DATE, upvotes=42, authors=("Ada Lovelace", "Alan Turing"), topic_slug="robotics",
        topic_label="Robotics", tldr="Diffusion policies learn arm control from 50 demonstrations.",
        tldr_source="source", links=PaperLinks(github_repo="https://github.com/example/arms", github_stars=1200))
    return Edition(DATE, NOW, (Section("robotics", "Robotics", (paper,)),))


def readme_request(kind: str) -> tuple[str, str, dict[str, str], bytes]:
    from bot.deliver.channels import request

    spec = ChannelSpec(f"lab-{kind}", kind, {"matrix": "https://matrix.example.org",  # type: ignore[arg-type]
                                            "telegram": "https://api.telegram.org"}.get(kind, "https://hooks.example"),
                       {"webhook": "signing-key", "telegram": "123456:ABC"}.get(kind, "token"),
                       {"matrix": "!papers:example.org", "telegram": "@lab_papers"}.get(kind))
    body = channel_posts(readme_edition(), spec, "https://papers.example.org/")[0].body
    return request(spec, "5f0c2a1e9b7d4c3a8e6f1b2d3c4a5e6f", body, NOW)


@pytest.mark.parametrize("kind", README_KINDS)
def test_the_readme_shows_what_each_channel_receives(kind: str) -> None:
    readme = (ROOT / "README.md").read_text()
    shown = json.dumps(json.loads(readme_request(kind)[3]), ensure_ascii=False, indent=2)
    assert f"```json\n{shown}\n```" in readme, f"README.md's {kind} payload is not what is posted:\n{shown}"


def test_a_retry_due_after_the_run_is_posted_by_a_later_tick(db: Database, settings: Settings, tmp_path: Path,
                                                            server: ChannelServer, edition: Edition) -> None:
    from bot.deliver import post_channels

    chosen = replace(channel_settings(settings, tmp_path, server, kinds=("slack",)), delivery_wait_seconds=0)
    server.answer("/slack/", Scripted(429, {"Retry-After": "600"}, b"rate_limited"))
    summary = send_edition(db, chosen, DATE)
    assert summary.posts is not None and (summary.posts.sent, summary.posts.retrying) == (0, 1)
    early = post_channels(db, chosen, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60))
    assert early.sent == 0 and len(server.requests) == 1  # Retry-After said ten minutes
    later = post_channels(db, chosen, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=601))
    assert later.sent == 1 and [r.status for r in server.requests] == [429, 200]


def test_the_cli_sends_lists_and_reports_the_channels(cli: object, tmp_path: Path, server: ChannelServer,
                                                      db: Database, settings: Settings, edition: Edition) -> None:
    from tests.conftest import Cli

    assert isinstance(cli, Cli)
    text, env = channels_toml(server.url, kinds=("slack", "webhook"))
    config = tmp_path / "paperboy.toml"
    config.write_text('base_url = "https://papers.example.org/"\n' + text)
    env |= {"PAPERBOY_CONFIG": str(config)}
    dry = cli("send", "--date", "2026-11-20", "--dry-run", "--json", env=env)
    assert json.loads(dry.stdout)["channels"]["sent"] == 2 and not server.requests
    sent = cli("send", "--date", "2026-11-20", "--json", env=env)
    assert sent.exit_code == 0, sent.stdout
    assert json.loads(sent.stdout)["channels"] == {"queued": 2, "sent": 2, "failed": 0, "retrying": 0, "errors": {}}
    listed = json.loads(cli("deliveries", "list", "--json", env=env).stdout)
    assert {(row["channel"], row["status"], row["part"], row["parts"]) for row in listed} == {
        ("slack-papers", "sent", 1, 1), ("webhook-papers", "sent", 1, 1)}
    table = cli("deliveries", "list", "--channel", "webhook-papers", env=env).stdout
    assert "1 channel posts" in table and "slack-papers" not in table
    report = json.loads(cli("status", "--json", env=env).stdout)
    assert {c["name"]: c["parts"] for c in report["channels"]} == {"slack-papers": {"sent": 1},
                                                                    "webhook-papers": {"sent": 1}}
    human = cli("status", env=env).stdout
    assert "channel slack-papers (slack): edition 2026-11-20: 1 sent" in human
    assert "XXXX" not in human + table  # the Slack webhook's secret path is never shown
