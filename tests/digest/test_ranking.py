"""Per-reader ranking: the profile learnt from verdicts, picks with their reasons, the order
inside topics, and what a reader muted staying out whatever their profile says."""

from __future__ import annotations

import datetime as dt
import math

from bot.digest import PEOPLE_SLUG, PICKED, PICKED_SLUG, SEARCHES_SLUG, for_subscriber
from bot.digest.ranking import LIKED_KEPT, PROFILE_TERMS, EditionIndex, index_of, paper_text, profile_of, terms
from bot.models import Edition, EditionPaper, Section
from bot.models.readers import Preferences, Verdict

SUBJECTS = {
    "robots": "robot arm grasping manipulation tactile gripper",
    "proofs": "theorem proving lean proof assistant tactic lemma",
    "speech": "speech synthesis voice vocoder prosody speaker",
    "cells": "protein folding gene expression single cell atlas",
}


def _paper(subject: str, i: int, upvotes: int, authors: tuple[str, ...] = ()) -> EditionPaper:
    words = SUBJECTS[subject].split()
    title = f"{words[i % len(words)].title()} and {words[(i + 1) % len(words)]} study {i}"
    return EditionPaper(f"{subject}-{i}", None, title, f"We study {' '.join(words)} in setting {i}.", None, None,
                        None, upvotes, subject, subject.title(), authors=authors)


def _edition() -> Edition:
    sections = tuple(Section(s, s.title(), tuple(_paper(s, i, 50 - i) for i in range(4))) for s in SUBJECTS)
    return Edition(dt.date(2026, 11, 21), dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC), sections)


def _verdict(subject: str, sign: int, i: int = 99) -> Verdict:
    paper = _paper(subject, i, 0)
    return Verdict(paper.key, paper.title, paper_text(paper.title, paper.abstract), sign)


def test_a_profile_weighs_liked_words_up_and_disliked_ones_down_with_norm_one() -> None:
    profile = profile_of([_verdict("proofs", 1), _verdict("speech", -1)])
    weights = dict(profile.terms)
    assert weights["theorem"] > 0 and weights["vocod"] < 0 and "study" not in weights, weights
    assert math.isclose(sum(w * w for _, w in profile.terms), 1.0, rel_tol=1e-3)
    assert [title for _, title, _ in profile.liked] == [_paper("proofs", 99, 0).title]
    many = [Verdict(f"k{i}", f"t{i}", " ".join(f"word{i}x{j}" for j in range(40)), 1) for i in range(60)]
    big = profile_of(many)
    assert len(big.terms) == PROFILE_TERMS and len(big.liked) == LIKED_KEPT and big.liked[0][0] == "k0"
    assert not profile_of([]) and Preferences().everything and not Preferences(profile=big).everything


def test_terms_fold_forms_and_drop_function_words() -> None:
    assert terms("The models modelling a Model of the proofs") == terms("model model model proof")


def test_liked_subjects_are_picked_from_any_topic_with_the_reason_and_disliked_ones_sink() -> None:
    edition = _edition()
    prefs = Preferences(follow=("robots",), profile=profile_of([_verdict("proofs", 1), _verdict("cells", -1)]))
    copy = for_subscriber(edition, prefs)
    assert copy is not None
    assert copy.sections[0].slug == PICKED_SLUG
    picked = copy.sections[0].papers
    assert 0 < len(picked) <= PICKED and all(p.topic_slug == "proofs" for p in picked)
    assert all(p.reason == f"Like \u201c{_paper('proofs', 99, 0).title}\u201d, which you liked" for p in picked)
    assert [s.slug for s in copy.sections[1:]] == ["robots"], "the followed topic stays; picks come on top"
    assert all(p.reason == "You follow Robots" for p in copy.sections[1].papers)

    everything = for_subscriber(edition, Preferences(profile=profile_of([_verdict("cells", -1)])))
    assert everything is not None and everything.sections[-1].slug == "cells", "the disliked topic comes last"
    assert PICKED_SLUG not in [s.slug for s in everything.sections], "nothing is picked from dislikes alone"


def test_inside_a_topic_the_reader_s_kind_of_paper_comes_first_whatever_its_upvotes() -> None:
    mixed = Section("mixed", "Mixed", (_paper("speech", 1, 90), _paper("cells", 2, 80), _paper("proofs", 3, 10)))
    edition = Edition(dt.date(2026, 11, 21), dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC), (mixed,))
    prefs = Preferences(mute=("other",), profile=profile_of([_verdict("proofs", 1, 5), _verdict("speech", -1, 6)]))
    copy = for_subscriber(edition, prefs, index_of(edition))
    assert copy is not None
    ordered = [p.key for s in copy.sections for p in s.papers]
    assert ordered.index("proofs-3") < ordered.index("cells-2") < ordered.index("speech-1")


def test_muted_topics_people_and_excluded_words_are_never_picked() -> None:
    edition = _edition()
    liked = profile_of([_verdict("proofs", 1)])
    for prefs in (Preferences(mute=("proofs",), profile=liked), Preferences(exclude=("lean",), profile=liked)):
        copy = for_subscriber(edition, prefs)
        assert copy is not None and all(p.topic_slug != "proofs" or "lean" not in p.abstract.lower()
                                        for s in copy.sections for p in s.papers)
        assert PICKED_SLUG not in [s.slug for s in copy.sections]
    by = Section("proofs", "Proofs", tuple(_paper("proofs", i, 9, authors=("Mia Muted",)) for i in range(3)))
    muted = Edition(edition.date, edition.created_at, (by, *edition.sections[:1]))
    copy = for_subscriber(muted, Preferences(mute_people=("Mia Muted",), profile=liked))
    assert copy is not None and all(p.topic_slug != "proofs" for s in copy.sections for p in s.papers)


def test_followed_people_stay_first_and_say_who() -> None:
    papers = (_paper("cells", 1, 3, authors=("Zoë Ho",)), _paper("cells", 2, 9))
    edition = Edition(dt.date(2026, 11, 21), dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC),
                      (Section("cells", "Cells", papers),))
    copy = for_subscriber(edition, Preferences(people=("zoe ho",), profile=profile_of([_verdict("cells", 1)])))
    assert copy is not None and copy.sections[0].slug == PEOPLE_SLUG
    assert copy.sections[0].papers[0].reason == "You follow zoe ho"


def test_scores_are_cosines_and_an_unrelated_profile_scores_nothing() -> None:
    edition = _edition()
    index = EditionIndex.of([p for s in edition.sections for p in s.papers])
    scores = index.scores(profile_of([_verdict("robots", 1)]))
    assert all(-1.0 <= s <= 1.0 for s in scores.values())
    assert max(scores, key=lambda k: scores[k]).startswith("robots-")
    assert index.scores(profile_of([Verdict("x", "x", "quantum chromodynamics lattice", 1)])) == {}


def test_saved_searches_bring_their_matches_first_from_any_topic_and_say_which() -> None:
    edition = _edition()
    prefs = Preferences(follow=("robots",), searches=("lean proof", "nothing like this"))
    copy = for_subscriber(edition, prefs)
    assert copy is not None and copy.sections[0].slug == SEARCHES_SLUG
    found = copy.sections[0].papers
    assert found and all(p.topic_slug == "proofs" for p in found), "from a topic the reader does not follow"
    assert all(p.reason == "Matches your search \u201clean proof\u201d" for p in found)
    assert [s.slug for s in copy.sections] == [SEARCHES_SLUG, "robots"]
    muted = for_subscriber(edition, Preferences(mute=("proofs",), searches=("lean proof",)))
    assert muted is not None and SEARCHES_SLUG not in [s.slug for s in muted.sections]
    assert for_subscriber(edition, Preferences(searches=("quantum chromodynamics",))) is not None
