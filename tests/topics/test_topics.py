"""The topics stage: configured rules, discovered groups, labels, determinism, stable names."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from bot.identity import slugify
from bot.models import KnownTopic, TopicDoc, TopicRule
from bot.topics import Options, group_papers
from bot.topics.labels import grams, name_groups, title_case, title_phrases
from bot.topics.rules import Matcher
from bot.topics.text import (
    GENERIC,
    canonical,
    clean,
    content_tokens,
    is_generic,
    singular,
)
from tests.conftest import SHARED
from tests.topic_corpus import corpus

EVAL = SHARED / "eval" / "topics"


def _eval(name: str) -> list[dict]:
    path = EVAL / name
    if not path.is_file():
        pytest.skip(f"the shared evaluation listings are not beside the project ({path} is absent)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _docs(rows: list[dict]) -> list[TopicDoc]:
    return [TopicDoc(r["id"], r["title"], r["abstract"]) for r in rows]


def _known(grouping) -> list[KnownTopic]:
    return [KnownTopic(g.slug, g.label, g.kind, g.profile) for g in grouping.groups if g.kind != "other"]


# -- words ------------------------------------------------------------------------------------

def test_plural_and_acronym_variants_are_one_term() -> None:
    assert singular("llms") == "llm"
    assert singular("policies") == "policy"
    assert singular("analyses") == "analysis"
    assert singular("bias") == "bias"
    assert canonical("LLMs") == canonical("LLM")
    assert canonical("Robots") == canonical("robot")


def test_urls_and_code_availability_sentences_are_removed() -> None:
    text = ("We build GLEN for retrieval. Code is available at https://github.com/x/glen. "
            "See www.example.org/page for more. Results hold.")
    cleaned = clean(text)
    assert "github" not in cleaned and "example.org" not in cleaned and "available" not in cleaned
    assert "GLEN for retrieval" in cleaned and "Results hold" in cleaned


def test_generic_words_never_form_a_term_alone() -> None:
    terms = content_tokens("We propose a novel framework. Reinforcement learning for reward models.").terms()
    assert "reinforc learn" in terms and "reward model" in terms
    assert not any(is_generic(t) for t in terms)
    assert all(is_generic(canonical(w)) for w in ("model", "learning", "method", "propose", "results", "framework"))


# -- configured topics -----------------------------------------------------------------------------

RULES = (
    TopicRule("Reward models", "reward-models", ("reward model", "RLHF")),
    TopicRule("Multi-agent systems", "multi-agent", ("multi-agent",), exclude=("survey",)),
    TopicRule("Reinforcement learning", "rl", ("RL", "reinforcement learning")),
)


@pytest.mark.parametrize("title, expected", [
    ("Training Reward Models at scale", "reward-models"),
    ("A reward-model for dialogue", "reward-models"),
    ("RLHF without tears", "reward-models"),
    ("Multiagent debate", "multi-agent"),
    ("Multi-Agent Collaboration", "multi-agent"),
    ("A survey of multi-agent systems", None),
    ("URL parsing and controllers", None),
    ("Offline RL benchmarks", "rl"),
])
def test_rules_match_on_word_boundaries_ignoring_case_plurals_and_hyphens(title: str, expected: str | None) -> None:
    rule = Matcher(RULES).match(TopicDoc("x", title, ""))
    assert (rule.slug if rule else None) == expected


def test_best_match_wins_and_configured_topics_take_precedence() -> None:
    doc = TopicDoc("x", "Reinforcement learning with reward models", "We train a reward model with RLHF and RL.")
    assert Matcher(RULES).match(doc).slug == "reward-models"
    docs = [d for _, d in corpus()] + [doc]
    grouping = group_papers(docs, rules=RULES)
    first = grouping.groups[0]
    assert (first.slug, first.label, first.kind) == ("reward-models", "Reward models", "configured")
    assert "x" in first.ids
    assert sum("x" in g.ids for g in grouping.groups) == 1


def test_slugify() -> None:
    assert slugify("Reward models · RLHF") == "reward-models-rlhf"
    assert slugify("Überraschung!") == "uberraschung"
    assert slugify("···") == "topic"


# -- discovered topics --------------------------------------------------------------------------------

def test_subjects_are_found_labelled_and_every_paper_placed_once() -> None:
    pairs = corpus()
    grouping = group_papers([d for _, d in pairs])
    subject = {d.id: s for s, d in pairs}
    placed = [i for g in grouping.groups for i in g.ids]
    assert sorted(placed) == sorted(subject)
    discovered = [g for g in grouping.groups if g.kind == "discovered"]
    assert len(discovered) == 4
    for group in discovered:
        assert len({subject[i] for i in group.ids}) == 1, group.label
        assert 1 <= len(group.label.split(" · ")) <= 4
        assert not any(is_generic(t) for t in group.terms)
    assert len({g.label for g in grouping.groups}) == len(grouping.groups)


def test_papers_are_ordered_by_upvotes_then_rank() -> None:
    docs = [
        TopicDoc("a", "Speech recognition", "speech recognition acoustic model", upvotes=3, rank=5),
        TopicDoc("b", "Speech recognition", "speech recognition acoustic model", upvotes=9, rank=9),
        TopicDoc("c", "Speech recognition", "speech recognition acoustic model", upvotes=3, rank=1),
        TopicDoc("d", "Speech recognition", "speech recognition acoustic model", upvotes=None, rank=2),
    ]
    grouping = group_papers(docs, rules=(TopicRule("Speech", "speech", ("speech",)),))
    assert grouping.groups[0].ids == ("b", "c", "a", "d")


def test_grouping_is_deterministic_whatever_the_input_order() -> None:
    docs = [d for _, d in corpus()]
    first = group_papers(docs).as_json()
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    assert group_papers(shuffled).as_json() == first
    assert group_papers(docs).as_json() == first


def test_tiny_and_empty_inputs() -> None:
    assert group_papers([]).groups == ()
    grouping = group_papers([TopicDoc("a", "One paper", "")])
    assert [(g.slug, g.ids) for g in grouping.groups] == [("other", ("a",))]
    with pytest.raises(ValueError):
        group_papers([TopicDoc("a", "x"), TopicDoc("a", "y")])


def test_a_group_over_max_share_is_split() -> None:
    pairs = corpus(per_subject=40, subjects=("robots",)) + corpus(per_subject=8, subjects=("speech", "proteins"))
    grouping = group_papers([d for _, d in pairs], options=Options(max_share=0.35))
    assert max(len(g.ids) for g in grouping.groups) <= 0.35 * len(pairs) + 1


def test_above_the_vote_sample_every_paper_still_joins_its_subject() -> None:
    pairs = corpus(per_subject=560)  # 2,240 papers: the vote runs on a sample of 2,000
    grouping = group_papers([d for _, d in pairs])
    subject = {d.id: s for s, d in pairs}
    assert sorted(i for g in grouping.groups for i in g.ids) == sorted(subject)
    for group in grouping.groups:
        if group.kind == "discovered":
            _top, n = Counter(subject[i] for i in group.ids).most_common(1)[0]
            assert n >= 0.95 * len(group.ids), group.label


# -- stable names across days ------------------------------------------------------------------------

def test_same_subjects_on_two_days_keep_their_slugs() -> None:
    pairs = corpus(per_subject=40)
    day1 = [(s, d) for i, (s, d) in enumerate(pairs) if i % 2 == 0]
    day2 = [(s, d) for i, (s, d) in enumerate(pairs) if i % 2 == 1]
    first = group_papers([d for _, d in day1])
    second = group_papers([d for _, d in day2], known=_known(first))

    def by_subject(grouping, pairs):
        subject = {d.id: s for s, d in pairs}
        return {Counter(subject[i] for i in g.ids).most_common(1)[0][0]: g
                for g in grouping.groups if g.kind == "discovered"}

    one, two = by_subject(first, day1), by_subject(second, day2)
    assert set(one) == set(two) == {s for s, _ in pairs}
    for subject in one:
        assert (two[subject].slug, two[subject].label) == (one[subject].slug, one[subject].label)
        assert not two[subject].is_new


def test_real_halves_of_a_listing_keep_their_slugs() -> None:
    """Two disjoint halves of one listing, as two days: most subjects keep their slug, and a kept
    slug always names the same subject (a like mix of arXiv categories) on both days."""
    rows = _eval("balanced_8cat_1000.jsonl")
    category = {r["id"]: r["primary_category"] for r in rows}
    first = group_papers(_docs(rows[0::2]))
    second = group_papers(_docs(rows[1::2]), known=_known(first))

    def mix(group) -> Counter[str]:
        return Counter(category[i] for i in group.ids)

    def alike(a: Counter[str], b: Counter[str]) -> float:
        dot = sum(a[c] * b[c] for c in a)
        return dot / (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5

    before = {g.slug: mix(g) for g in first.groups if g.kind == "discovered"}
    after = [g for g in second.groups if g.kind == "discovered"]
    kept = [g for g in after if g.slug in before]
    assert len(kept) >= 0.6 * len(after), [g.label for g in after]
    assert all(not g.is_new for g in kept)
    for group in kept:
        assert alike(mix(group), before[group.slug]) >= 0.8, (group.label, mix(group), before[group.slug])


def _save(grouping, known: dict[str, KnownTopic]) -> dict[str, KnownTopic]:
    """What ``save_topics`` persists, kept in memory: shown topics and candidates, profiles blended."""
    from bot.topics.continuity import blend

    for g in (*grouping.groups, *grouping.candidates):
        if g.kind in ("discovered", "candidate"):
            old = known.get(g.slug)
            known[g.slug] = KnownTopic(g.slug, old.label if old else g.label, g.kind,
                                       blend(old.profile, g.profile) if old else dict(g.profile))
    return known


@pytest.mark.parametrize("name", ["balanced_8cat_1000.jsonl", "daily_2025-06-03.jsonl"])
def test_most_of_a_second_day_joins_the_topics_of_the_first(name: str) -> None:
    """The map, not a clustering per day: halves of a real listing as two days (the second's
    term space fitted with the first as history). At least 70 % of the second day's papers go to
    a topic the first day made, no continued topic changes its label, and the second day's
    grouping is as good against arXiv categories as the first's (AMI within 0.05)."""
    from sklearn.metrics import adjusted_mutual_info_score

    rows = _eval(name)
    category = {r["id"]: r["primary_category"] for r in rows}
    one, two = _docs(rows[0::2]), _docs(rows[1::2])
    first = group_papers(one)
    known = _save(first, {})
    second = group_papers(two, known=list(known.values()), history=one)
    shown = {g.slug: g.label for g in first.groups if g.kind == "discovered"}
    placed = {i: g for g in second.groups for i in g.ids}
    assert sum(placed[d.id].slug in shown for d in two) >= 0.7 * len(two)
    assert all(g.label == shown[g.slug] for g in second.groups if g.slug in shown)

    def ami(grouping, docs) -> float:
        where = {i: g.slug for g in grouping.groups for i in g.ids}
        return float(adjusted_mutual_info_score([category[d.id] for d in docs], [where[d.id] for d in docs]))

    assert ami(second, two) >= ami(first, one) - 0.05


def test_a_small_new_group_is_a_candidate_and_becomes_a_topic_when_it_recurs() -> None:
    """A subject too small to be a topic on the day it appears is kept as a candidate, its papers
    in "Other"; when it comes back, it becomes a topic under the candidate's slug."""
    base = corpus(per_subject=60, subjects=("robots", "speech", "proteins"))
    newcomer = corpus(per_subject=3, seed=11, subjects=("privacy",))
    day1 = [d for _, d in base[0::2]] + [d for _, d in newcomer]
    first = group_papers(day1)
    assert [c.ids for c in first.candidates] == [tuple(sorted(d.id for _, d in newcomer))]
    candidate = first.candidates[0]
    assert not any(candidate.slug == g.slug for g in first.groups)
    assert set(candidate.ids) <= set(next(g for g in first.groups if g.kind == "other").ids)
    known = _save(first, {})
    again = [TopicDoc(f"again-{d.id}", d.title, d.abstract) for _, d in corpus(per_subject=3, seed=12,
                                                                                  subjects=("privacy",))]
    second = group_papers([d for _, d in base[1::2]] + again, known=list(known.values()), history=day1)
    promoted = next(g for g in second.groups if g.slug == candidate.slug)
    assert promoted.kind == "discovered" and promoted.is_new and set(promoted.ids) == {d.id for d in again}


def test_the_history_s_order_does_not_matter() -> None:
    pairs = corpus(per_subject=20)
    one, two = [d for _, d in pairs[0::2]], [d for _, d in pairs[1::2]]
    known = list(_save(group_papers(one), {}).values())
    shuffled = one[:]
    random.Random(3).shuffle(shuffled)
    assert (group_papers(two, known=known, history=one).as_json()
            == group_papers(two, known=known, history=shuffled).as_json())


def test_where_a_paper_goes_on_a_later_day_depends_on_neither_upvotes_nor_source_order() -> None:
    """Continuity: the second day's placement in the first day's topics is the same whatever the
    papers' upvotes, ranks and the order their sources listed them in (only the order within a
    section follows upvotes)."""
    import dataclasses

    pairs = corpus(per_subject=20)
    one, two = [d for _, d in pairs[0::2]], [d for _, d in pairs[1::2]]
    known = list(_save(group_papers(one), {}).values())

    def placement(docs: list[TopicDoc]) -> dict[str, str]:
        return {i: g.slug for g in group_papers(docs, known=known, history=one).groups for i in g.ids}

    rng = random.Random(5)
    recounted = [dataclasses.replace(d, upvotes=rng.randint(0, 500), rank=rng.randint(1, 99)) for d in two]
    rng.shuffle(recounted)
    assert placement(recounted) == placement(two)


def test_a_pinned_label_wins_and_stays() -> None:
    pairs = corpus(per_subject=20)
    first = group_papers([d for _, d in pairs[0::2]])
    slug = next(g.slug for g in first.groups if g.kind == "discovered")
    known = list(_save(first, {}).values())
    second = group_papers([d for _, d in pairs[1::2]], known=known, pins={slug: "My Own Name"})
    assert next(g.label for g in second.groups if g.slug == slug) == "My Own Name"
    assert all(g.label != "My Own Name" for g in second.groups if g.slug != slug)


def test_topics_that_became_one_subject_merge_the_smaller_into_the_larger() -> None:
    from bot.topics.continuity import merges

    robots = {"robot": 0.8, "grasp": 0.5, "gripper": 0.3}
    twin = {"robot": 0.7, "grasp": 0.6, "tactil": 0.2}
    speech = {"speech": 0.9, "acoust": 0.4}
    topics = [KnownTopic("robot-grasping", "Robot Grasping", "discovered", robots),
              KnownTopic("grasping-robots", "Grasping Robots", "discovered", twin),
              KnownTopic("speech", "Speech Recognition", "discovered", speech)]
    assert merges(topics, {"robot-grasping": 40, "grasping-robots": 7, "speech": 12}) == [
        ("grasping-robots", "robot-grasping")]
    assert merges(topics, {"robot-grasping": 4, "grasping-robots": 70}) == [("robot-grasping", "grasping-robots")]
    assert merges(topics[1:], {}) == [], "distinct subjects stay apart"
    triple = [*topics[:2], KnownTopic("robots-3", "Robots", "discovered", dict(robots))]
    assert len(merges(triple, {})) == 1, "a topic is in one merge a day"


def _profile(pairs, *subjects: str) -> dict[str, float]:
    """A topic's profile as the store keeps it, made from these subjects' papers."""
    from bot.topics import tokens_of
    from bot.topics.assign import Space

    docs = [d for _, d in pairs]
    return Space([tokens_of(d) for d in docs]).profile([i for i, (s, _) in enumerate(pairs) if s in subjects])


def test_a_topic_grown_over_two_subjects_splits_and_the_smaller_part_is_a_new_topic() -> None:
    """A known topic took in two subjects; the day it holds more than ``max_share`` of the papers
    and the day's clustering sets one subject apart, that part becomes a topic of its own (new
    slug, ``split_from`` the old), and the old slug stays with the larger part."""
    before = corpus(per_subject=30, seed=1, subjects=("robots", "speech", "proteins"))
    known = [KnownTopic("robots-and-speech", "Robots and Speech", "discovered",
                        _profile(before, "robots", "speech")),
             KnownTopic("proteins", "Proteins", "discovered", _profile(before, "proteins"))]
    day = corpus(per_subject=30, seed=2, subjects=("robots", "proteins")) + corpus(per_subject=20, seed=3,
                                                                                     subjects=("speech",))
    subject = {d.id: s for s, d in day}
    grouping = group_papers([d for _, d in day], known=known, history=[d for _, d in before],
                            options=Options(assign=0.3))
    by_slug = {g.slug: g for g in grouping.groups}
    assert {subject[i] for i in by_slug["robots-and-speech"].ids} == {"robots"}
    [part] = [g for g in grouping.groups if g.split_from is not None]
    assert part.split_from == "robots-and-speech" and part.is_new and part.kind == "discovered"
    assert sorted(part.ids) == sorted(d.id for s, d in day if s == "speech")
    assert part.slug not in {k.slug for k in known} and part.label != "Robots and Speech"


def test_a_broad_topic_of_one_subject_does_not_split() -> None:
    """Holding most of the day is not enough: the parts must be distinct subjects."""
    before = corpus(per_subject=30, seed=1, subjects=("robots", "proteins"))
    known = [KnownTopic("robots", "Robots", "discovered", _profile(before, "robots")),
             KnownTopic("proteins", "Proteins", "discovered", _profile(before, "proteins"))]
    day = corpus(per_subject=60, seed=2, subjects=("robots",)) + corpus(per_subject=15, seed=3,
                                                                         subjects=("proteins",))
    grouping = group_papers([d for _, d in day], known=known, history=[d for _, d in before],
                            options=Options(assign=0.3))
    assert not [g for g in grouping.groups if g.split_from is not None]
    assert {g.slug for g in grouping.groups} <= {"robots", "proteins", "other"}


# -- quality on real listings ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["balanced_8cat_1000.jsonl", "daily_2025-06-03.jsonl"])
def test_real_listing_groups_are_sized_labelled_and_distinct(name: str) -> None:
    rows = _eval(name)
    grouping = group_papers(_docs(rows))
    assert sorted(i for g in grouping.groups for i in g.ids) == sorted(r["id"] for r in rows)
    assert max(len(g.ids) for g in grouping.groups) <= 0.35 * len(rows)
    labels = [g.label for g in grouping.groups]
    assert len(set(labels)) == len(labels)
    for group in grouping.groups:
        if group.kind == "other":
            continue
        assert group.terms and not all(is_generic(t) for t in group.terms), group.label
        words = [w.lower() for w in group.label.replace("·", " ").split()]
        assert not all(w in GENERIC for w in words), group.label
        assert len(words) >= 2 and len(group.terms) <= 4, group.label


def test_generic_only_labels_never_appear_even_on_boilerplate() -> None:
    prose = ("We propose a novel framework and method. Extensive experiments show results. "
             "Our model learning approach outperforms baselines. The proposed method achieves performance.")
    docs = [TopicDoc(f"p{i}", f"A novel method number {i}", prose) for i in range(12)]
    grouping = group_papers(docs)
    for group in grouping.groups:
        assert group.kind == "other" or not all(is_generic(t) for t in group.terms), group.label




# -- labels ------------------------------------------------------------------------------------

def test_title_phrases_are_noun_phrases_as_written() -> None:
    texts = {p.text for p in title_phrases(
        "Rethinking Retrieval-Augmented Generation: A Scalable Approach that Revisits Chain of Thought "
        "for Fine-Tuned LLMs")}
    assert {"Retrieval-Augmented Generation", "Chain of Thought", "LLMs"} <= texts
    for text in texts:  # never ends on filler, a stop word, an adjective or a participle
        last = text.split()[-1].lower()
        assert last not in {"approach", "scalable", "revisits", "for", "of", "fine-tuned", "rethinking"}, text
        assert text.split()[0].lower() not in {"a", "that", "of", "for", "rethinking"}, text


def test_labels_are_short_title_case_phrases_from_the_titles() -> None:
    titles = [["Gaussian Splatting for Dynamic Scenes", "Fast Gaussian Splatting on Phones",
               "Gaussian Splatting with Mesh Priors", "Relighting Gaussian Splatting"],
              ["Reward Models Revisited", "Training Reward Models at Scale", "Process Reward Models",
               "On the Limitations of Reward Models"]]
    docs = [[content_tokens(t) for t in group] for group in titles]
    used = [[grams(d.words) for d in group] for group in docs]
    labels = name_groups(titles, used, [g for group in used for g in group])
    assert [label.text for label in labels] == ["Gaussian Splatting", "Reward Models"]
    assert all(label.coverage == 1.0 for label in labels)
    assert title_case("retrieval-augmented generation of LLMs") == "Retrieval-Augmented Generation of LLMs"


def test_no_label_repeats_another_s_first_phrase() -> None:
    """Two sections of one day must not read as one subject twice: a phrase that begins one
    label is never a further phrase of another, and the other keeps a phrase of its own."""
    titles = [["Language Models for Code", "Scaling Language Models", "Language Models as Judges",
               "Language Models in Medicine"],
              ["LLMs Forget Facts", "LLMs and Tool Calls", "Memory for LLMs", "Hallucination in Language Models",
               "Retrieval for Language Models", "Tool Calls in Language Models"]]
    docs = [[content_tokens(t) for t in group] for group in titles]
    used = [[grams(d.words) for d in group] for group in docs]
    first, second = name_groups(titles, used, [g for group in used for g in group])
    assert first.text == "Language Models"
    assert second.text.startswith("LLMs") and "Language Models" not in second.text, second.text


def test_labels_reach_most_of_their_papers_on_real_listings() -> None:
    """Coverage: the share of a topic's papers whose title or abstract holds one of its label's
    phrases, at least 0.6 on both listings; no label longer than four words (a small word
    inside not counted) or made of filler."""
    for name in ("balanced_8cat_1000.jsonl", "daily_2025-06-03.jsonl"):
        rows = _eval(name)
        docs = {d.id: d for d in _docs(rows)}
        grouping = group_papers(list(docs.values()))
        named = [g for g in grouping.groups if g.kind == "discovered"]
        held = sum(1 for g in named for i in g.ids
                   if any(tuple(t.split()) in grams(content_tokens(f"{docs[i].title}.\n{docs[i].abstract}").words)
                          for t in g.terms))
        assert held >= 0.6 * sum(len(g.ids) for g in named), name
        for group in named:
            words = [w for w in group.label.replace(" · ", " ").split() if w.lower() not in {"of", "for", "and", "to",
                                                                                            "in", "on", "with", "from"}]
            assert 1 <= len(words) <= 4 or len(group.label.split(" · ")) == 1, group.label
            assert not any(w.lower() in {"approach", "revisits", "discuss", "limitations", "step", "features"}
                           for w in words), group.label


def test_grouping_holds_the_thread_pools_to_one_thread() -> None:
    from threadpoolctl import threadpool_info

    from bot.topics.discover import Options, thread_limit

    with thread_limit(Options()):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    docs = [doc for _, doc in corpus(per_subject=10)]
    one = group_papers(docs, options=Options())
    libraries = group_papers(docs, options=Options(threads=0))
    assert [(g.slug, g.ids) for g in one.groups] == [(g.slug, g.ids) for g in libraries.groups], "no result changes"
