"""Persisted topics and the topics commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bot.models import TopicDoc
from bot.store import Database
from bot.store.topics import known_topics, retire, save_topics
from bot.topics import group_papers
from bot.topics.continuity import blend
from tests.conftest import ROOT, Cli, run_paperboy
from tests.topic_corpus import corpus

NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.UTC)


def _write_listing(path: Path, docs: list[TopicDoc]) -> Path:
    path.write_text("".join(json.dumps({"id": d.id, "title": d.title, "abstract": d.abstract,
                                        "primary_category": "x"}) + "\n" for d in docs))
    return path


def test_saved_topics_come_back_and_are_not_duplicated(db: Database) -> None:
    grouping = group_papers([d for _, d in corpus()])
    with db.write() as session:
        assert save_topics(session, grouping, NOW, merge=blend) == 4
    with db.write() as session:
        assert save_topics(session, grouping, NOW + dt.timedelta(days=1), merge=blend) == 0
    with db.read() as session:
        known = known_topics(session)
    assert sorted(k.slug for k in known) == sorted(g.slug for g in grouping.groups if g.kind != "other")
    assert all(k.profile for k in known)
    again = group_papers([d for _, d in corpus(seed=99)], known=known)
    assert {g.slug for g in again.groups} == {k.slug for k in known}
    assert not any(g.is_new for g in again.groups)


def test_a_candidate_is_kept_and_becomes_a_topic_when_it_recurs(db: Database) -> None:
    """Candidates are persisted (not shown), and one that gets papers on a later day is a
    topic from then on, under the same slug."""
    base = corpus(per_subject=60, subjects=("robots", "speech", "proteins"))
    newcomer = corpus(per_subject=3, seed=11, subjects=("privacy",))
    day1 = [d for _, d in base[0::2]] + [d for _, d in newcomer]
    first = group_papers(day1)
    [candidate] = first.candidates
    with db.write() as session:
        save_topics(session, first, NOW, merge=blend)
    with db.read() as session:
        kinds = {k.slug: k.kind for k in known_topics(session)}
    assert kinds[candidate.slug] == "candidate"
    again = [TopicDoc(f"again-{d.id}", d.title, d.abstract)
             for _, d in corpus(per_subject=3, seed=12, subjects=("privacy",))]
    with db.read() as session:
        second = group_papers([d for _, d in base[1::2]] + again, known=known_topics(session), history=day1)
    with db.write() as session:
        save_topics(session, second, NOW + dt.timedelta(days=1), merge=blend)
    with db.read() as session:
        assert {k.slug: k.kind for k in known_topics(session)}[candidate.slug] == "discovered"


def test_quiet_topics_are_retired_and_a_returning_subject_takes_its_slug_again(db: Database) -> None:
    """A topic without a paper for ``retire_days`` is retired (a candidate after 14 days): no
    longer offered to papers, but its slug stays its own, and when its subject comes back, a
    new group that matches it takes it up again."""
    pairs = corpus()
    grouping = group_papers([d for _, d in pairs])
    with db.write() as session:
        save_topics(session, grouping, NOW, merge=blend)
    with db.write() as session:
        assert retire(session, NOW + dt.timedelta(days=59), 60) == []
    with db.write() as session:
        retired = retire(session, NOW + dt.timedelta(days=61), 60)
    assert sorted(t.slug for t in retired) == sorted(g.slug for g in grouping.groups if g.kind == "discovered")
    with db.read() as session:
        known = known_topics(session)
    assert {k.kind for k in known} == {"retired"}
    again = group_papers([d for _, d in corpus(seed=99)], known=known)
    assert {g.slug for g in again.groups if g.kind == "discovered"} == {k.slug for k in known}
    with db.write() as session:
        save_topics(session, again, NOW + dt.timedelta(days=62), merge=blend)
    with db.read() as session:
        assert {k.kind for k in known_topics(session)} == {"discovered"}


def test_topics_group_prints_every_id_once(cli: Cli, tmp_path: Path) -> None:
    docs = [d for _, d in corpus()]
    listing = _write_listing(tmp_path / "listing.jsonl", docs)
    result = cli.json("topics", "group", str(listing))
    topics = result["topics"]
    assert sorted(i for t in topics for i in t["ids"]) == sorted(d.id for d in docs)
    assert all(set(t) == {"slug", "label", "ids"} and t["label"] and t["slug"] for t in topics)
    table = cli("topics", "group", str(listing))
    assert table.exit_code == 0 and topics[0]["label"].split(" ·")[0] in table.output


def test_configured_topics_apply_to_topics_group(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "paperboy.toml"
    config.write_text('[[topics]]\nname = "Speech"\ninclude = ["speech recognition", "ASR"]\n')
    listing = _write_listing(tmp_path / "listing.jsonl", [d for _, d in corpus()])
    result = json.loads(cli("--config", str(config), "topics", "group", str(listing), "--json").output)
    first = result["topics"][0]
    assert first["slug"] == "speech" and first["label"] == "Speech"
    assert all(i.startswith("speech-") for i in first["ids"])


def test_bad_listings_get_one_line_naming_the_line(cli: Cli, tmp_path: Path) -> None:
    cases = {
        "not json\n": "bad.jsonl:1: not valid JSON",
        '{"id": "a", "title": "T"}\n[1]\n': "bad.jsonl:2: expected a JSON object",
        '{"title": "T"}\n': "bad.jsonl:1: 'id' must be a non-empty string or number",
        '{"id": "a", "title": ""}\n': "bad.jsonl:1: 'title' must be a non-empty string",
        '{"id": "a", "title": "T"}\n{"id": "a", "title": "U"}\n': "bad.jsonl:2: id 'a' appears twice",
        '{"id": "a", "title": "T", "abstract": 5}\n': "bad.jsonl:1: 'abstract' must be a string",
        "\n\n": "bad.jsonl: no papers in it",
    }
    bad = tmp_path / "bad.jsonl"
    for body, message in cases.items():
        bad.write_text(body)
        result = cli("topics", "group", str(bad))
        assert result.exit_code == 1, body
        assert message in result.output and result.output.count("\n") == 1, result.output
    missing = cli("topics", "group", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_topics_show_save_and_list(cli: Cli) -> None:
    assert cli("ingest", str(ROOT / "examples" / "inbox")).exit_code == 0
    keys = {p["key"] for p in cli.json("papers", "list")}
    shown = cli.json("topics", "show")
    assert sorted(i for t in shown["topics"] for i in t["ids"]) == sorted(keys)
    assert cli.json("topics", "list") == []
    saved = cli.json("topics", "show", "--save")
    listed = cli.json("topics", "list")
    assert {t["slug"] for t in listed} == {t["slug"] for t in saved["topics"]} - {"other"}
    again = cli.json("topics", "show", "--all")
    assert [t["slug"] for t in again["topics"]] == [t["slug"] for t in saved["topics"]]


@pytest.mark.slow
def test_a_real_process_reports_a_bad_listing_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "title": "\xff\xfe"}\n')
    result = run_paperboy("topics", "group", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "bad.jsonl" in result.stderr


def test_topics_list_and_show_give_each_topic_s_weeks_and_latest_papers(cli: Cli) -> None:
    assert cli("ingest", str(ROOT / "examples" / "inbox")).exit_code == 0
    built = cli.json("digest", "build")
    counts = {t["slug"]: t["count"] for t in built["topics"] if t["slug"] != "other"}
    listed = {t["slug"]: t for t in cli.json("topics", "list")}
    assert set(counts) <= set(listed)
    for slug, count in counts.items():
        assert listed[slug]["weeks"][-1] == count and sum(listed[slug]["weeks"]) == count
        assert listed[slug]["kind"] == "discovered" and len(listed[slug]["weeks"]) == 8
    slug = next(iter(counts))
    shown = cli.json("topics", "show", slug)
    assert shown["slug"] == slug and shown["weeks"][-1] == counts[slug] and len(shown["weeks"]) == 12
    assert 1 <= len(shown["latest"]) <= 5 and all(isinstance(t, str) and t for t in shown["latest"])
    table = cli("topics", "show", slug)
    assert table.exit_code == 0 and slug in table.output and "papers by week" in table.output
    missing = cli("topics", "show", "no-such-topic")
    assert missing.exit_code == 1 and "no topic 'no-such-topic'" in missing.output
    assert missing.output.count("\n") == 1


def test_a_merged_topic_s_slug_becomes_an_alias_and_its_readers_move(db: Database, tmp_path: Path) -> None:
    """The merge an edition build makes when two shown topics became one subject: the smaller
    one's slug is an alias of the larger (listed as merged), its followers follow the larger,
    and the static site writes its feed path with the larger topic's feed."""
    from bot.models import Grouping, TopicGroup
    from bot.pipeline.editions import _merge
    from bot.store.subscribers import find_subscriber, set_preferences, upsert_subscriber
    from bot.store.topics import aliases, list_topics
    from bot.subscribers import preferences

    profile = {"robot": 0.8, "grasp": 0.5, "gripper": 0.3}
    grouping = Grouping((TopicGroup("robot-grasping", "Robot Grasping", "discovered", ("a", "b", "c", "d"),
                                    profile=profile),
                         TopicGroup("grasping-robots", "Grasping Robots", "discovered", ("e",),
                                    profile={**profile, "tactil": 0.1}),
                         TopicGroup("speech", "Speech", "discovered", ("f", "g"), profile={"speech": 1.0})))
    with db.write() as session:
        save_topics(session, grouping, NOW, merge=blend)
        upsert_subscriber(session, "ada@example.org", preferences(follow="grasping-robots,speech"), NOW)
        upsert_subscriber(session, "bob@example.org", preferences(mute="grasping-robots"), NOW)
    with db.write() as session:
        _merge(session, NOW + dt.timedelta(days=1))
    with db.read() as session:
        assert aliases(session) == {"grasping-robots": "robot-grasping"}
        ada = find_subscriber(session, "ada@example.org")
        bob = find_subscriber(session, "bob@example.org")
        listed = {t.topic.slug: t for t in list_topics(session, NOW.date())}
    assert ada is not None and ada.preferences.follow == ("robot-grasping", "speech")
    assert bob is not None and bob.preferences.mute == ("robot-grasping",)
    assert listed["grasping-robots"].topic.kind == "merged" and listed["grasping-robots"].merged_into == "robot-grasping"
    assert listed["robot-grasping"].papers == 5
    with db.write() as session:
        _merge(session, NOW + dt.timedelta(days=2))  # nothing more to merge: nothing changes
    with db.read() as session:
        assert aliases(session) == {"grasping-robots": "robot-grasping"}
    with db.write() as session:  # an old form or link still naming the merged slug
        late = upsert_subscriber(session, "cy@example.org", preferences(follow="grasping-robots"), NOW).subscriber
        changed = set_preferences(session, late.token, preferences(mute="grasping-robots,speech"), NOW)
    assert late.preferences.follow == ("robot-grasping",)
    assert changed is not None and changed.preferences.mute == ("robot-grasping", "speech")


def test_a_pinned_label_is_stored(db: Database) -> None:
    pairs = corpus(per_subject=20)
    first = group_papers([d for _, d in pairs[0::2]])
    with db.write() as session:
        save_topics(session, first, NOW, merge=blend)
        known = known_topics(session)
    slug = known[0].slug
    second = group_papers([d for _, d in pairs[1::2]], known=known, pins={slug: "Pinned Name"})
    with db.write() as session:
        save_topics(session, second, NOW + dt.timedelta(days=1), merge=blend)
    with db.read() as session:
        labels = {k.slug: k.label for k in known_topics(session)}
    assert labels[slug] == "Pinned Name"
    assert {s: lab for s, lab in labels.items() if s != slug} == {k.slug: k.label for k in known if k.slug != slug}


def test_an_operator_s_new_slug_takes_over_and_the_old_one_is_an_alias(db: Database) -> None:
    """``[topic_slugs]``: at the next edition the topic carries the new slug (label, profile and
    papers with it), the old one is an alias (followers move, its feed redirects), and the
    next day's papers of that subject go to the new slug."""
    from bot.pipeline.editions import _rename
    from bot.settings import Settings
    from bot.store.subscribers import find_subscriber, upsert_subscriber
    from bot.store.topics import aliases
    from bot.subscribers import preferences

    pairs = corpus(per_subject=20)
    first = group_papers([d for _, d in pairs[0::2]])
    with db.write() as session:
        save_topics(session, first, NOW, merge=blend)
        old = known_topics(session)[0]
        upsert_subscriber(session, "ada@example.org", preferences(follow=old.slug), NOW)
    settings = Settings(topic_slugs=((old.slug, "my-topic"), ("no-such-topic", "other-name")))
    with db.write() as session:
        _rename(session, settings, NOW)
    with db.write() as session:
        _rename(session, settings, NOW)  # done once: nothing more happens
    with db.read() as session:
        assert aliases(session) == {old.slug: "my-topic"}
        known = {k.slug: k for k in known_topics(session)}
        ada = find_subscriber(session, "ada@example.org")
    assert (known["my-topic"].label, known["my-topic"].kind, known["my-topic"].profile) == (
        old.label, "discovered", old.profile)
    assert known[old.slug].kind == "merged" and "other-name" not in known
    assert ada is not None and ada.preferences.follow == ("my-topic",)
    second = group_papers([d for _, d in pairs[1::2]], known=list(known.values()))
    assert "my-topic" in {g.slug for g in second.groups} and old.slug not in {g.slug for g in second.groups}


def test_a_topic_that_splits_keeps_its_readers_on_both_parts(db: Database, cli: Cli) -> None:
    """A persisted topic over two subjects splits when one sets itself apart: the part is a new
    topic that names the one it split off (``topics list``), and whoever followed or muted the
    topic follows or mutes both."""
    from bot.models import Grouping, TopicGroup
    from bot.pipeline.editions import _save_topics
    from bot.store.subscribers import find_subscriber, upsert_subscriber
    from bot.store.topics import list_topics
    from bot.subscribers import preferences
    from bot.topics import Options
    from tests.topics.test_topics import _profile

    before = corpus(per_subject=30, seed=1, subjects=("robots", "speech", "proteins"))
    grouping = Grouping((TopicGroup("robots-and-speech", "Robots and Speech", "discovered", ("a",),
                                    profile=_profile(before, "robots", "speech")),
                         TopicGroup("proteins", "Proteins", "discovered", ("b",), profile=_profile(before, "proteins"))))
    with db.write() as session:
        save_topics(session, grouping, NOW, merge=blend)
        upsert_subscriber(session, "ada@example.org", preferences(follow="robots-and-speech"), NOW)
        upsert_subscriber(session, "bob@example.org", preferences(mute="robots-and-speech,proteins"), NOW)
        upsert_subscriber(session, "cy@example.org", preferences(follow="proteins"), NOW)
    day = corpus(per_subject=30, seed=2, subjects=("robots", "proteins")) + corpus(per_subject=20, seed=3,
                                                                                     subjects=("speech",))
    with db.read() as session:
        known = known_topics(session)
    second = group_papers([d for _, d in day], known=known, history=[d for _, d in before],
                          options=Options(assign=0.3))
    [part] = [g for g in second.groups if g.split_from]
    with db.write() as session:
        _save_topics(session, second, NOW + dt.timedelta(days=1))
    with db.read() as session:
        follows = {a: find_subscriber(session, a) for a in ("ada@example.org", "bob@example.org", "cy@example.org")}
        listed = {t.topic.slug: t for t in list_topics(session, NOW.date())}
    assert follows["ada@example.org"].preferences.follow == ("robots-and-speech", part.slug)  # type: ignore[union-attr]
    assert follows["bob@example.org"].preferences.mute == ("robots-and-speech", part.slug, "proteins")  # type: ignore[union-attr]
    assert follows["cy@example.org"].preferences.follow == ("proteins",)  # type: ignore[union-attr]
    assert listed[part.slug].split_from == "robots-and-speech" and listed[part.slug].topic.kind == "discovered"
    listing = {t["slug"]: t for t in json.loads(cli("topics", "list", "--json").stdout)}
    assert listing[part.slug]["split_from"] == "robots-and-speech"
    assert "discovered, split off robots-and-speech" in cli("topics", "show", part.slug).stdout
