"""Subscribers: addresses, preferences, CSV import/export, and the commands over them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from bot.digest import for_subscriber
from bot.errors import AddressError
from bot.models import Edition, EditionPaper, Section
from bot.models.readers import Preferences
from bot.subscribers import Signer, normalise_address, preferences
from tests.conftest import ROOT, Cli
from tests.smtp_server import Recorder, SmtpServer
from tests.tokens import tampered


def test_addresses_are_normalised_and_bad_ones_refused() -> None:
    assert normalise_address("  Alice@Example.ORG ") == "Alice@example.org"
    assert normalise_address("José@exämple.org") == "José@exämple.org"
    for bad in ("", "no-at-sign", "a@b", "x@localhost", "a\r\n@example.org", "a@example.org\nBcc: b@example.org"):
        with pytest.raises(AddressError):
            normalise_address(bad)


def test_preferences_are_checked() -> None:
    assert preferences(follow="llm-agents, Vision ,llm-agents") == Preferences(follow=("llm-agents", "vision"))
    with pytest.raises(AddressError, match="not a topic slug"):
        preferences(mute="no spaces")
    with pytest.raises(AddressError, match="keyword"):
        preferences(include="x" * 101)


def test_signed_links_only_verify_for_their_action_and_key() -> None:
    signed = Signer("k1").sign("token-1", "unsubscribe")
    assert Signer("k1").verify(signed, "unsubscribe") == "token-1"
    assert Signer("k1").verify(signed, "confirm") is None
    assert Signer("k2").verify(signed, "unsubscribe") is None
    assert Signer("k1").verify(tampered(signed), "unsubscribe") is None


def _paper(key: str, title: str, slug: str) -> EditionPaper:
    return EditionPaper(key, None, title, "An abstract about things.", 3, None, None, 5, slug, slug.title())


EDITION = Edition(dt.date(2026, 11, 21), dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC), (
    Section("agents", "Agents", (_paper("a", "Web agents that browse", "agents"),
                                 _paper("b", "Agents for RL tuning", "agents"))),
    Section("vision", "Vision", (_paper("c", "A URL-free vision model", "vision"),)),
))


def test_a_subscribers_copy_follows_mutes_and_filters_by_keyword() -> None:
    assert for_subscriber(EDITION, Preferences()) is EDITION
    assert [s.slug for s in for_subscriber(EDITION, Preferences(follow=("vision",))).sections] == ["vision"]
    assert [s.slug for s in for_subscriber(EDITION, Preferences(mute=("vision",))).sections] == ["agents"]
    only_rl = for_subscriber(EDITION, Preferences(include=("rl",)))  # whole words: "URL" is not "RL"
    assert [p.key for s in only_rl.sections for p in s.papers] == ["b"]
    no_web = for_subscriber(EDITION, Preferences(exclude=("web",)))
    assert [p.key for s in no_web.sections for p in s.papers] == ["b", "c"]
    assert for_subscriber(EDITION, Preferences(follow=("vision",), exclude=("vision",))) is None


def test_add_remove_and_list(cli: Cli) -> None:
    assert cli("subscribers", "add", "Ann@Example.org", "--follow", "agents", "--exclude", "survey").exit_code == 0
    listed = cli.json("subscribers", "list")
    assert listed == [{"email": "Ann@example.org", "status": "active", "follow": ["agents"], "mute": [],
                       "include": [], "exclude": ["survey"], "people": [], "mute_people": [], "searches": [],
                       "cadence": "daily",
                       "weekday": None, "send_at": None, "time_zone": None,
                       "created": listed[0]["created"], "confirmed": listed[0]["confirmed"]}]
    again = cli("subscribers", "add", "ann@EXAMPLE.org")
    assert "updated" in again.output  # the same person, preferences reset to everything
    assert cli.json("subscribers", "list")[0]["follow"] == []
    assert cli("subscribers", "remove", "ann@example.org").exit_code == 0
    assert cli.json("subscribers", "list")[0]["status"] == "unsubscribed"
    assert cli.json("subscribers", "list", "--status", "active") == []
    assert "active" in cli("subscribers", "add", "ann@example.org").output  # the operator may bring them back
    assert cli("subscribers", "remove", "ann@example.org", "--purge").exit_code == 0
    assert cli.json("subscribers", "list") == []
    missing = cli("subscribers", "remove", "nobody@example.org")
    assert missing.exit_code == 1 and missing.stderr == "paperboy: nobody@example.org: not a subscriber\n"
    bad = cli("subscribers", "add", "not an address")
    assert bad.exit_code == 2 and len(bad.stderr.splitlines()) == 1 and "not a valid address" in bad.stderr


def test_import_reports_bad_rows_by_line_and_is_idempotent(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "subscribers.csv"
    source.write_text("email,follow,mute\n"
                      "one@example.org,agents,\n"
                      "not-an-address,,\n"
                      "two@example.org,,vision\n"
                      "three@example.org,Bad Slug!,\n"
                      "\"four@example.org\",\"agents,vision\",\n", encoding="utf-8")
    first = cli("subscribers", "import", str(source), "--json")
    assert first.exit_code == 1
    report = json.loads(first.stdout)
    assert (report["added"], report["updated"], report["unchanged"]) == (3, 0, 0)
    assert [(p["line"], "not a valid address" in p["problem"] or "slug" in p["problem"])
            for p in report["problems"]] == [(3, True), (5, True)]
    second = json.loads(cli("subscribers", "import", str(source), "--json").stdout)
    assert (second["added"], second["updated"], second["unchanged"]) == (0, 0, 3)
    cli("subscribers", "remove", "two@example.org")
    third = json.loads(cli("subscribers", "import", str(source), "--json").stdout)
    assert third["kept"] == 1  # an import does not subscribe someone who left
    statuses = {s["email"]: s["status"] for s in cli.json("subscribers", "list")}
    assert statuses == {"one@example.org": "active", "two@example.org": "unsubscribed",
                        "four@example.org": "active"}
    assert {s["email"]: s["follow"] for s in cli.json("subscribers", "list")}["four@example.org"] == ["agents",
                                                                                                       "vision"]


def test_import_refuses_a_file_it_cannot_read(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "no-email.csv").write_text("name,follow\nx,y\n")
    (tmp_path / "latin1.csv").write_bytes("email\nj\xe9r\xf4me@example.org\n".encode("latin-1"))
    for name, problem in (("missing.csv", "file not found"), ("no-email.csv", "no email column"),
                          ("latin1.csv", "is not UTF-8")):
        result = cli("subscribers", "import", str(tmp_path / name))
        assert result.exit_code == 1 and problem in result.stderr and len(result.stderr.splitlines()) == 1
    assert cli.json("subscribers", "list") == []


def test_export_round_trips_through_import(cli: Cli, tmp_path: Path) -> None:
    cli("subscribers", "add", "a@example.org", "--follow", "agents", "--include", "diffusion,robot arms")
    cli("subscribers", "add", "b@example.org", "--mute", "vision")
    exported = cli("subscribers", "export").stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["email"], r["status"], r["follow"], r["mute"], r["include"]) for r in rows] == [
        ("a@example.org", "active", "agents", "", "diffusion,robot arms"), ("b@example.org", "active", "", "vision", "")]
    out = tmp_path / "export.csv"
    assert cli("subscribers", "export", "--out", str(out)).exit_code == 0
    (tmp_path / "import.csv").write_text("\n".join(
        ",".join(f'"{v}"' for v in (r["email"], r["follow"], r["mute"], r["include"], r["exclude"]))
        for r in [{"email": "email", "follow": "follow", "mute": "mute", "include": "include",
                   "exclude": "exclude"}, *rows]) + "\n")
    result = json.loads(cli("subscribers", "import", str(tmp_path / "import.csv"), "--json").stdout)
    assert (result["unchanged"], result["problems"]) == (2, [])
    as_exported = json.loads(cli("subscribers", "import", str(out), "--json").stdout)
    assert (as_exported["unchanged"], as_exported["problems"]) == (2, []), "the export imports back as it is"


def test_a_reader_s_hour_and_time_zone_from_the_cli_and_csv(cli: Cli, tmp_path: Path) -> None:
    added = cli("subscribers", "add", "a@example.org", "--send-at", "7:30", "--time-zone", "Europe/Berlin", "--json")
    assert (json.loads(added.stdout)["send_at"], json.loads(added.stdout)["time_zone"]) == ("07:30", "Europe/Berlin")
    for option, bad in (("--send-at", "7h30"), ("--send-at", "24:00"), ("--time-zone", "Europe/Atlantis"),
                        ("--time-zone", "UTC\nBcc: x@example.org")):
        refused = cli("subscribers", "add", "b@example.org", option, bad)
        assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert option.lstrip("-").replace("-", "_") in refused.stderr
    source = tmp_path / "hours.csv"
    source.write_text("email,send_at,time_zone\nc@example.org,06:15,Asia/Tokyo\nd@example.org,25:61,\n"
                      "e@example.org,,America/Sao_Paulo\n", encoding="utf-8")
    report = json.loads(cli("subscribers", "import", str(source), "--json").stdout)
    assert report["added"] == 2 and [p["line"] for p in report["problems"]] == [3]
    listed = {s["email"]: (s["send_at"], s["time_zone"]) for s in cli.json("subscribers", "list")}
    assert listed == {"a@example.org": ("07:30", "Europe/Berlin"), "c@example.org": ("06:15", "Asia/Tokyo"),
                      "e@example.org": (None, "America/Sao_Paulo")}
    exported = list(csv.DictReader(io.StringIO(cli("subscribers", "export").stdout)))
    assert {r["email"]: (r["send_at"], r["time_zone"]) for r in exported}["c@example.org"] == ("06:15", "Asia/Tokyo")


def test_send_dry_run_and_json(cli: Cli, tmp_path: Path) -> None:
    cli("ingest", str(ROOT / "examples" / "inbox"))
    cli("digest", "build", "--date", "2026-11-20")
    cli("subscribers", "add", "a@example.org")
    cli("subscribers", "add", "b@example.org", "--include", "zzzz-nothing")
    env = {"PAPERBOY_OUTBOX": str(tmp_path / "outbox")}
    result = cli("send", "--dry-run", "--json", env=env)
    assert json.loads(result.stdout) == {"edition": "2026-11-20", "queued": 2, "sent": 1, "failed": 0,
                                         "skipped": 1, "retrying": 0, "uncertain": 0, "dry_run": True}
    assert not (tmp_path / "outbox").exists()
    sent = json.loads(cli("send", "--json", env=env).stdout)
    assert sent == {"edition": "2026-11-20", "queued": 2, "sent": 1, "failed": 0, "skipped": 1, "retrying": 0,
                    "uncertain": 0}
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1
    listed = json.loads(cli("deliveries", "list", "--json").stdout)
    assert {(d["email"], d["status"]) for d in listed} == {("a@example.org", "sent"), ("b@example.org", "skipped")}
    assert json.loads(cli("deliveries", "list", "--status", "sent", "--json").stdout)[0]["message_id"].startswith(
        "<2026-11-20.")
    none = cli("send", "--date", "2026-11-01")
    assert none.exit_code == 1 and "no edition for 2026-11-01" in none.stderr


def test_mail_check_explains_what_it_finds(cli: Cli) -> None:
    server = SmtpServer(Recorder()).start()
    try:
        env = {"PAPERBOY_SMTP_HOST": "127.0.0.1", "PAPERBOY_SMTP_PORT": str(server.port), "PAPERBOY_SMTP_TLS": "none"}
        ok = cli("mail", "check", "--to", "me@example.org", env=env)
        assert ok.exit_code == 0, ok.output
        assert "ok   connect" in ok.output and "ok   send" in ok.output
        assert server.recorder.per_recipient() == {"me@example.org": 1}
        tls = cli("mail", "check", env={**env, "PAPERBOY_SMTP_TLS": "tls"})
        assert tls.exit_code == 1 and "FAIL connect" in tls.output
        starttls = cli("mail", "check", env={**env, "PAPERBOY_SMTP_TLS": "starttls"})
        assert starttls.exit_code == 1 and "does not offer STARTTLS" in starttls.output
    finally:
        server.stop()
    refused = cli("mail", "check", env=env)
    assert refused.exit_code == 1 and "nothing listens on port" in refused.output
    offline = cli("mail", "check")
    assert offline.exit_code == 0 and "Maildir" in offline.output


def test_a_topic_followed_and_muted_is_refused_by_add_and_import(cli: Cli, tmp_path: Path) -> None:
    refused = cli("subscribers", "add", "both@example.org", "--follow", "agents", "--mute", "agents")
    assert refused.exit_code == 2 and "cannot be followed and muted at once: agents" in refused.stderr
    rows = tmp_path / "subs.csv"
    rows.write_text('email,follow,mute\nok@example.org,agents,vision\nboth@example.org,agents,"agents,vision"\n')
    imported = cli("subscribers", "import", str(rows))
    assert imported.exit_code == 1
    assert "line 3: both@example.org: a topic cannot be followed and muted at once: agents" in imported.stderr
    assert [s["email"] for s in cli.json("subscribers", "list")] == ["ok@example.org"]  # type: ignore[union-attr]


def test_people_to_follow_and_mute_from_the_cli_and_csv(cli: Cli, tmp_path: Path) -> None:
    added = json.loads(cli("subscribers", "add", "a@example.org", "--people", "Zoë Ho, Google DeepMind",
                           "--mute-people", "Spam Corp", "--json").stdout)
    assert (added["people"], added["mute_people"]) == (["Zoë Ho", "Google DeepMind"], ["Spam Corp"])
    both = cli("subscribers", "add", "b@example.org", "--people", "Sam Lee", "--mute-people", "sam lee")
    assert both.exit_code == 2 and "followed and muted" in both.stderr and len(both.stderr.splitlines()) == 1
    source = tmp_path / "people.csv"
    source.write_text('email,people,mute_people\nc@example.org,"Ada Lovelace,Grace Hopper",\n'
                      'd@example.org,"' + "x" * 101 + '",\n', encoding="utf-8")
    report = json.loads(cli("subscribers", "import", str(source), "--json").stdout)
    assert report["added"] == 1 and [p["line"] for p in report["problems"]] == [3]
    assert "name is one line" in report["problems"][0]["problem"]
    exported = {r["email"]: r for r in csv.DictReader(io.StringIO(cli("subscribers", "export").stdout))}
    assert exported["c@example.org"]["people"] == "Ada Lovelace,Grace Hopper"


def test_the_export_starts_no_spreadsheet_formula_and_still_imports_back(cli: Cli, tmp_path: Path) -> None:
    """A reader may type a formula as a keyword or a name: the exported cell cannot run in a
    spreadsheet (OWASP's CSV injection advice: a leading apostrophe), and the import reads the
    value back as typed."""
    cli("subscribers", "add", "a@example.org", "--include", "=HYPERLINK(\"http://evil.example\")",
        "--people", "@SUM(1+1), -Ada")
    out = tmp_path / "export.csv"
    assert cli("subscribers", "export", "--out", str(out)).exit_code == 0
    row = next(csv.DictReader(io.StringIO(out.read_text())))
    assert row["include"].startswith("'=") and row["people"].startswith("'@")
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    cli("subscribers", "remove", "a@example.org", "--purge")
    assert json.loads(cli("subscribers", "import", str(out), "--json").stdout)["added"] == 1
    [back] = cli.json("subscribers", "list")
    assert back["include"] == ['=HYPERLINK("http://evil.example")'] and back["people"] == ["@SUM(1+1)", "-Ada"]


def test_how_often_from_the_cli_and_csv(cli: Cli, tmp_path: Path) -> None:
    added = json.loads(cli("subscribers", "add", "a@example.org", "--cadence", "weekly", "--weekday", "Fri",
                           "--json").stdout)
    assert (added["cadence"], added["weekday"]) == ("weekly", "friday")
    for option, bad in (("--weekday", "someday"), ("--weekday", "9")):
        refused = cli("subscribers", "add", "b@example.org", "--cadence", "weekly", option, bad)
        assert refused.exit_code == 2 and "weekday" in refused.stderr and len(refused.stderr.splitlines()) == 1
    source = tmp_path / "often.csv"
    source.write_text("email,cadence,weekday\nc@example.org,monthly,\nd@example.org,hourly,\n"
                      "e@example.org,weekly,sunday\n", encoding="utf-8")
    report = json.loads(cli("subscribers", "import", str(source), "--json").stdout)
    assert report["added"] == 2 and [p["line"] for p in report["problems"]] == [3]
    assert "cadence" in report["problems"][0]["problem"]
    listed = {s["email"]: (s["cadence"], s["weekday"]) for s in cli.json("subscribers", "list")}
    assert listed == {"a@example.org": ("weekly", "friday"), "c@example.org": ("monthly", None),
                      "e@example.org": ("weekly", "sunday")}
    out = tmp_path / "export.csv"
    cli("subscribers", "export", "--out", str(out))
    assert json.loads(cli("subscribers", "import", str(out), "--json").stdout)["unchanged"] == 3
