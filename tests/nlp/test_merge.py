"""A note with a person's answers: conflicts kept and flagged, nothing serious lost."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketascreen.domain.types import Level
from ketascreen.nlp.evaluate import found
from ketascreen.nlp.merge import screen_with_note
from ketascreen.screening import screen
from tests.strategies import answers as any_answers

TODAY = date(2026, 6, 15)


def test_a_note_alone_gives_a_partial_screening_with_note_sources() -> None:
    noted = screen_with_note(
        "Pt denies SI. Hx bipolar I, stable on lithium x 3 yrs. BP 132/84.",
        screening_date=TODAY,
    )
    assert found(noted.result).domains == ("mood",)
    (bipolar,) = [
        f for f in noted.result.findings if f.rule_id == "mood.bipolar_stable"
    ]
    assert {e.fact: e.source for e in bipolar.evidence} == {
        "bipolar_dx": "note",
        "bipolar_status": "note",
    }
    assert noted.conflicts == ()
    # a partial list from a note: lithium is named, nothing is ruled out
    assert noted.answers["medication_classes"] == ["antipsychotic_or_lithium"]


def test_the_latest_blood_pressure_counts() -> None:
    noted = screen_with_note(
        "BP 152/94 at first check; 138/86 on recheck after 10 min seated rest.",
        screening_date=TODAY,
    )
    assert (noted.answers["bp_systolic"], noted.answers["bp_diastolic"]) == (138, 86)
    assert noted.conflicts == ()


def test_disagreement_is_kept_flagged_and_the_cautious_value_used() -> None:
    noted = screen_with_note(
        "Pt reports she is 14 weeks pregnant.",
        {"pregnant": "no", "sex_at_birth": "female"},
        screening_date=TODAY,
    )
    (conflict,) = noted.conflicts
    assert conflict.item == "pregnant"
    assert {(o.value, o.source) for o in conflict.offers} == {
        ("no", "answer"),
        ("yes", "note"),
    }
    assert conflict.used == "yes"
    assert "clinician" in conflict.why
    assert noted.result.disposition == "not_recommended_now"
    (finding,) = [f for f in noted.result.findings if f.rule_id == "pregnancy.pregnant"]
    assert finding.evidence[0].source == "answer and note"


def test_a_note_cannot_erase_suicide_risk_from_the_answers() -> None:
    answers = {
        "phq9_9": 2,
        "asq_1": "yes",
        "asq_2": "yes",
        "asq_3": "yes",
        "asq_4": "no",
        "asq_5": "yes",
    }
    alone = screen(answers, screening_date=TODAY)
    assert alone.disposition == "urgent_safety"
    noted = screen_with_note(
        "Pt denies SI/HI. No suicidal ideation. Not suicidal.",
        answers,
        screening_date=TODAY,
    )
    assert noted.result.disposition == "urgent_safety"
    assert noted.result.crisis is not None
    assert noted.result.findings[0].domain == "suicide_risk"


def test_a_note_adds_suicide_risk_the_answers_did_not_have() -> None:
    noted = screen_with_note(
        "Endorses passive SI, wishes she would not wake up.",
        {"phq9_9": 0},
        screening_date=TODAY,
    )
    assert "suicide_risk" in found(noted.result).domains
    assert noted.result.crisis is not None


def test_invalid_values_from_a_note_are_reported_not_used() -> None:
    noted = screen_with_note("BP 400/300. Pt is a 150 yo man.", screening_date=TODAY)
    assert "bp_systolic" not in noted.answers
    assert {n.item for n in noted.not_used} >= {"bp_systolic", "age"}


def test_a_note_saying_none_and_naming_a_drug_is_a_conflict() -> None:
    noted = screen_with_note(
        "Denies drug use. Later admits she smokes weed daily.", screening_date=TODAY
    )
    (conflict,) = [c for c in noted.conflicts if c.item == "drugs_past_year"]
    assert conflict.used == ["cannabis"]


NOTE_SENTENCES = [
    "Pt denies SI.",
    "No hx mania.",
    "Not pregnant.",
    "BP 118/76.",
    "NKDA.",
    "Denies drug use.",
    "No seizures.",
    "Sober six years.",
    "Wants this for herself.",
    "Husband is supportive and will drive her home.",
    "HTN, well controlled.",
    "Bipolar I, stable on lithium.",
    "Denies AH/VH.",
    "No therapist.",
]
SERIOUS = {Level.urgent_safety, Level.not_recommended_now}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    answers=any_answers(),
    sentences=st.lists(st.sampled_from(NOTE_SENTENCES), min_size=1, max_size=6),
)
def test_a_note_never_removes_a_serious_finding(
    answers: dict[str, Any], sentences: list[str]
) -> None:
    alone = screen(answers, screening_date=TODAY)
    kept = {
        f.rule_id
        for f in alone.findings
        if f.level in SERIOUS or f.domain == "suicide_risk"
    }
    noted = screen_with_note(" ".join(sentences), answers, screening_date=TODAY)
    assert kept <= {f.rule_id for f in noted.result.findings}
