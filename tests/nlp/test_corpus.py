"""Consistency of the labelled note corpus (tests/nlp/corpus).

Every case's ``expect`` must be what the screening engine gives on its coded answers,
so the corpus stays true as the rules change: when a rule changes on purpose, rerun
``.venv/bin/python -m tests.nlp.fill_corpus_expect`` and review the diff.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.nlp.corpus_tools import (
    DEV,
    DOMAINS,
    FILES,
    HELDOUT,
    PROBE,
    TAGS,
    VOICES,
    expected,
    load,
    screening_date,
)

CORPORA: dict[Path, dict[str, Any]] = {path: load(path) for path in FILES}
CASES: list[tuple[Path, dict[str, Any]]] = [
    (path, case) for path, corpus in CORPORA.items() for case in corpus["cases"]
]
ID_PATTERN = {
    DEV: re.compile(r"^dev-\d{3}$"),
    HELDOUT: re.compile(r"^heldout-\d{3}$"),
    PROBE: re.compile(r"^probe-\d{3}$"),
}
MINIMUM = {DEV: 150, HELDOUT: 60, PROBE: 80}
# How many cases must flag each domain: the probe set is smaller and spread wider.
FLAGGED_PER_DOMAIN = {DEV: 3, HELDOUT: 3, PROBE: 2}
KEYS = {"id", "voice", "tags", "text", "answers", "expect"}


def by_id() -> list[Any]:
    return [pytest.param(path, case, id=case["id"]) for path, case in CASES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_header(path: Path) -> None:
    corpus = CORPORA[path]
    assert corpus["schema_version"] == 1
    assert screening_date(corpus) == date(2026, 6, 15)
    assert len(corpus["cases"]) >= MINIMUM[path]


def test_ids_are_unique() -> None:
    counts = Counter(case["id"] for _, case in CASES)
    assert [i for i, n in counts.items() if n > 1] == []


@pytest.mark.parametrize(("path", "case"), by_id())
def test_case_shape(path: Path, case: dict[str, Any]) -> None:
    assert set(case) == KEYS
    assert ID_PATTERN[path].match(case["id"])
    assert case["voice"] in VOICES
    assert case["tags"], "every case says what it exercises"
    assert set(case["tags"]) <= TAGS, set(case["tags"]) - TAGS
    assert isinstance(case["text"], str)
    assert case["text"].strip()
    assert isinstance(case["answers"], dict)
    for key, value in case["answers"].items():
        # An unquoted yes/no reads as a boolean in YAML 1.1 loaders.
        assert not isinstance(value, bool), f"{key}: quote yes/no"
        if isinstance(value, list):
            assert "none" not in value, f"{key}: a note never rules out the rest"
    assert set(case["expect"]) == {"disposition", "domains"}
    assert set(case["expect"]["domains"]) <= DOMAINS


@pytest.mark.parametrize(("path", "case"), by_id())
def test_expect_is_what_the_engine_gives(path: Path, case: dict[str, Any]) -> None:
    # screen() raises AnswersError on an invalid answer: let it fail loudly.
    computed = expected(case["answers"], screening_date(CORPORA[path]))
    assert case["expect"] == computed


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_mix(path: Path) -> None:
    cases = CORPORA[path]["cases"]
    voices = Counter(case["voice"] for case in cases)
    for voice in VOICES:
        assert voices[voice] >= len(cases) * 0.3, voices
    flagged = Counter(d for case in cases for d in case["expect"]["domains"])
    minimum = FLAGGED_PER_DOMAIN[path]
    assert {d for d in DOMAINS if flagged[d] < minimum} == set(), flagged
    dispositions = Counter(case["expect"]["disposition"] for case in cases)
    assert set(dispositions) == {
        "urgent_safety",
        "not_recommended_now",
        "needs_specialist_review",
        "prepare_first",
        "no_concerns_found",
    }


def test_dev_has_enough_suicide_risk_and_clear_cases() -> None:
    cases = CORPORA[DEV]["cases"]
    suicide = [c for c in cases if "suicide_risk" in c["expect"]["domains"]]
    clear = [c for c in cases if c["expect"]["disposition"] == "no_concerns_found"]
    assert len(suicide) >= 20
    assert any(c["expect"]["disposition"] == "urgent_safety" for c in suicide)
    assert any(c["expect"]["disposition"] != "urgent_safety" for c in suicide)
    assert len(clear) >= 15


def test_heldout_texts_are_not_copies_of_dev_texts() -> None:
    dev = [case["text"].lower() for case in CORPORA[DEV]["cases"]]
    for case in CORPORA[HELDOUT]["cases"]:
        text = case["text"].lower()
        for other in dev:
            matcher = difflib.SequenceMatcher(None, text, other, autojunk=False)
            if matcher.real_quick_ratio() < 0.75 or matcher.quick_ratio() < 0.75:
                continue
            assert matcher.ratio() < 0.75, (case["id"], other)


def test_probe_has_enough_suicide_risk_clear_and_multi_domain_cases() -> None:
    cases = CORPORA[PROBE]["cases"]
    suicide = [c for c in cases if "suicide_risk" in c["expect"]["domains"]]
    urgent = [c for c in suicide if c["expect"]["disposition"] == "urgent_safety"]
    clear = [c for c in cases if c["expect"]["disposition"] == "no_concerns_found"]
    multi = [c for c in cases if len(c["expect"]["domains"]) >= 2]
    assert len(suicide) >= 12
    assert len(urgent) >= 4
    assert len(suicide) > len(urgent)
    assert len(clear) >= 12
    assert len(multi) >= 5


@pytest.mark.parametrize("other", [DEV, HELDOUT], ids=lambda p: p.name)
def test_probe_texts_are_not_copies_of_other_texts(other: Path) -> None:
    # Only ids in the message: the held-out texts stay unread by whoever tunes.
    others = [(case["id"], case["text"].lower()) for case in CORPORA[other]["cases"]]
    for case in CORPORA[PROBE]["cases"]:
        text = case["text"].lower()
        for other_id, other_text in others:
            matcher = difflib.SequenceMatcher(None, text, other_text, autojunk=False)
            if matcher.real_quick_ratio() < 0.75 or matcher.quick_ratio() < 0.75:
                continue
            assert matcher.ratio() < 0.75, (case["id"], other_id)
