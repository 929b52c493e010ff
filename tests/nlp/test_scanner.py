"""The note scanner: concepts in context, values, sections, evidence, bad input."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ketascreen.nlp.scanner import NoteError, NoteScan, read_note, scan

TODAY = date(2026, 6, 15)


def answers(text: str) -> dict[str, list[Any]]:
    """Every value each item was given by the note (in note order)."""
    found: dict[str, list[Any]] = {}
    for candidate in scan(text, TODAY).candidates:
        value = candidate.value
        if isinstance(value, list | frozenset):
            value = sorted(value)
        found.setdefault(candidate.item, []).append(value)
    return found


def one(text: str) -> dict[str, Any]:
    """Item to its single value (fails if the note gave an item two values)."""
    found = answers(text)
    for item, values in found.items():
        distinct = {repr(v) for v in values}
        assert len(distinct) == 1, f"{item} got {values}"
    return {item: values[0] for item, values in found.items()}


def test_the_issue_example_reads_every_fact_with_evidence() -> None:
    text = "Pt denies SI. Hx bipolar I, stable on lithium x 3 yrs. BP 132/84."
    result = scan(text, TODAY)
    got = {c.item: c.value for c in result.candidates}
    assert got == {
        "suicidal_thoughts_reported": "no",
        "bipolar_dx": "yes",
        "bipolar_status": "stable_treated",
        "medication_classes": ["antipsychotic_or_lithium"],
        "bp_systolic": 132,
        "bp_diastolic": 84,
    }
    si = next(c for c in result.candidates if c.item == "suicidal_thoughts_reported")
    assert si.mention.sentence == "Pt denies SI."
    assert text[si.mention.start : si.mention.end] == "SI"
    assert si.mention.context == "negated"
    assert [(m.category, m.text) for m in si.mention.modifiers] == [
        ("NEGATED_EXISTENCE", "denies")
    ]
    # "Hx" reaches lithium, but only words like "stopped" make a medicine past
    lithium = next(c for c in result.candidates if c.item == "medication_classes")
    assert lithium.mention.context == "present"


def test_every_mention_points_at_its_words() -> None:
    text = (
        "HPI: 45 yo F with TRD.\nPMH: HTN, AFib, TBI 2015.\n"
        "Meds: sertraline 100 mg daily, Klonopin 1 mg BID\nVitals: BP 150/92, HR 88\n"
    )
    result: NoteScan = scan(text, TODAY)
    assert result.candidates
    for candidate in result.candidates:
        mention = candidate.mention
        assert text[mention.start : mention.end].startswith(mention.text[:2])
        assert mention.sentence.strip() in text


@pytest.mark.parametrize(
    ("abbreviation", "item", "value"),
    [
        ("HTN", "heart_conditions", ["high_bp"]),
        ("CAD", "heart_conditions", ["coronary"]),
        ("MI", "heart_conditions", ["heart_attack"]),
        ("AFib", "heart_conditions", ["arrhythmia"]),
        ("AVM", "heart_conditions", ["avm"]),
        ("ICH", "heart_conditions", ["brain_bleed"]),
        ("TBI", "neuro_conditions", ["brain_injury"]),
        ("BPD", "personality_dx", "yes"),
        ("PTSD", "ptsd_dx", "yes"),
        ("SUD", "substance_problem_ever", "yes"),
        ("AUD", "substance_problem_ever", "yes"),
    ],
)
def test_clinical_abbreviations(abbreviation: str, item: str, value: Any) -> None:
    assert one(f"PMH: {abbreviation}.")[item] == value


def test_abbreviations_are_matched_only_as_written() -> None:
    # "mi" and "si" inside other words, or in Spanish, are not MI and SI
    assert one("Mi casa es su casa. Si, claro.") == {}


@pytest.mark.parametrize(
    ("text", "item", "value"),
    [
        ("Pt denies SI.", "suicidal_thoughts_reported", "no"),
        ("No hallucinations.", "hallucinations_now", "no"),
        ("Not pregnant.", "pregnant", "no"),
        ("NKDA", "ketamine_allergy", "no"),
        ("Allergies: ketamine (hives)", "ketamine_allergy", "yes"),
        ("possible pregnancy, LMP unknown", "pregnant", "unsure"),
        ("hx of psychosis", "psychosis_past", "yes"),
        ("hearing voices telling her to hurt herself", "hallucinations_now", "yes"),
        ("Mother has bipolar disorder.", "family_bipolar", "yes"),
        ("Family Hx: schizophrenia in brother", "family_psychosis", "yes"),
        ("on top of the world for days, barely slept", "mania_now", "yes"),
        ("14 wks pregnant", "pregnant", "yes"),
        ("G2P1 at 20w", "pregnant", "yes"),
        ("exclusively breastfeeding her 2 month old", "breastfeeding", "yes"),
        ("buys Xanax off the street", "drugs_past_year", ["sedatives"]),
        ("Klonopin 1 mg BID", "benzo_frequency", "daily"),
        ("allergic to ketamine", "ketamine_allergy", "yes"),
        ("husband is making her do this", "feels_pressured", "yes"),
        ("expects one infusion to cure her depression", "hopes", "fix_everything"),
        # a relative named first, then the writer speaking of themselves
        (
            "my girlfriend moved out and now i just want to die",
            "suicidal_thoughts_reported",
            "yes",
        ),
        ("SA by ligature 10/52 ago", "attempt_months_ago", 2.3),
        ("took a paracetamol overdose in March", "asq_4", "yes"),
        ("O&G: G2P1, currently 22/40.", "pregnant", "yes"),
        ("DHx: temazepam 20 mg nocte", "benzo_frequency", "daily"),
        # numbered screener answers, read only when the note names the screener
        ("ASQ by phone: yes to Q1 and Q3.", "asq_3", "yes"),
        ("ASQ: pt declined Q1-Q3. Q4: no.", "asq_2", "declined"),
        ("ASQ: pt declined Q1-Q3. Q4: no.", "asq_4", "no"),
        # words a pattern's needles once left out
        ("She has been rehoming her dog.", "suicide_preparation", "yes"),
        ("I can't stop using.", "substance_problem_now", "yes"),
        ("Gets the shakes when she stops.", "substance_problem_now", "yes"),
        ("Two bottles of ros\u00e9 most nights.", "auditc_1", 4),
    ],
)
def test_context_decides_the_answer(text: str, item: str, value: Any) -> None:
    assert one(text)[item] == value


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        # someone else's, a worry, or a question is not the person's
        ("Her brother hears voices.", "hallucinations_now"),
        ("My sister has been suicidal for weeks.", "suicidal_thoughts_reported"),
        (
            "The leaflet says it can cause suicidal thoughts.",
            "suicidal_thoughts_reported",
        ),
        ("Sister is pregnant.", "pregnant"),
        ("my wife is 19 weeks pregnant with our first", "pregnant"),
        ("PHQ-9 done: yes to Q1 and Q3.", "asq_1"),
        # a habit that ended with its period is not use now
        ("Used ketamine most weekends from 2015 to 2020.", "drug_last_use_months"),
        ("Asked whether ketamine can cause mania.", "mania_now"),
        ("Will call 988 if suicidal thoughts return.", "suicidal_thoughts_reported"),
        ("No family history of bipolar disorder.", "family_bipolar"),
        # past medicines are not taken now
        ("Stopped sertraline last year.", "medication_classes"),
        # the word ketamine is the treatment being considered, not drug use
        ("Referred for IV ketamine.", "drugs_past_year"),
        # "relapsing-remitting" MS is not a relapse into drinking
        ("MS, relapsing remitting, on ocrelizumab.", "substance_problem_now"),
    ],
)
def test_mentions_that_are_not_the_persons_facts(text: str, absent: str) -> None:
    assert absent not in one(text)


def test_every_blood_pressure_reading_is_offered_where_it_is() -> None:
    text = "BP 158/96 on arrival, repeat 142/88 after rest."
    readings = {
        (c.value, text[c.mention.start : c.mention.start + 3])
        for c in scan(text, TODAY).candidates
        if c.item == "bp_systolic"
    }
    # the latest counts; that is decided when answers are merged (test_merge)
    assert readings == {(158, "158"), (142, "142")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BP 158/96", {"bp_systolic": 158, "bp_diastolic": 96}),
        ("blood pressure was 172 over 104", {"bp_systolic": 172, "bp_diastolic": 104}),
        (
            "Vitals: 160/100, P 76",
            {"bp_systolic": 160, "bp_diastolic": 100, "heart_rate": 76},
        ),
        ("HR 112", {"heart_rate": 112}),
        ("a 17 year old", {"age": 17}),
        ("36F", {"age": 36, "sex_at_birth": "female"}),
        ("42 yoF presents", {"age": 42, "sex_at_birth": "female"}),
        ("42yoM", {"age": 42, "sex_at_birth": "male"}),
        ("120over80", {"bp_systolic": 120, "bp_diastolic": 80}),
        ("iam 19", {"age": 19}),
    ],
)
def test_measurements(text: str, expected: dict[str, Any]) -> None:
    assert one(text) == expected


def test_dates_and_durations_resolve_against_the_screening_date() -> None:
    got = one("Tried to kill herself 2 months ago. MI in Jan 2026.")
    assert got["asq_4"] == "yes"
    assert got["attempt_months_ago"] == 2.0
    assert got["mi_stroke_months_ago"] == 4.4
    remission = one("Alcohol use disorder, sober six years.")
    assert remission["substance_problem_months_since"] == 72.0
    assert remission["substance_problem_now"] == "no"
    recent = one("used meth last weekend")
    assert recent["drugs_past_year"] == ["stimulants"]
    assert recent["drug_last_use_months"] == 0.2
    # use more than 12 months ago is past use, not use in the past year
    assert "drugs_past_year" not in one("used cocaine until 2019")


def test_drinking_reads_frequency_amount_and_heavy_occasions() -> None:
    got = one("drinks 3 beers most nights and 6 or more at parties about twice a month")
    assert (got["auditc_1"], got["auditc_2"], got["auditc_3"]) == (4, 1, 2)
    # an amount per week says neither how often nor how much at a time
    assert one("about 10 drinks a week") == {}
    # named drinking days, and "never >4" as never heavy
    got = one("EtOH 3-4 cans lager Fri + Sat, never >4 in one sitting.")
    assert (got["auditc_1"], got["auditc_2"], got["auditc_3"]) == (3, 1, 0)


@pytest.mark.parametrize(
    "text",
    [
        "PT DENIES SI. HX BIPOLAR I, STABLE ON LITHIUM",
        "pt denies si hx bipolar i stable on lithium",
        "* denies SI\n* bipolar I -- stable!!\n* lithium ;;",
        "Pt   denies\tSI\u00a0.  Hx bipolar  I",
    ],
)
def test_odd_punctuation_caps_bullets_and_no_full_stops(text: str) -> None:
    got = one(text)
    assert got["bipolar_dx"] == "yes"


def test_a_line_wrapped_mid_sentence_keeps_its_negation() -> None:
    got = one("Pt denies\nSI or HI today.\nReports AH.")
    assert got["suicidal_thoughts_reported"] == "no"
    assert got["hallucinations_now"] == "yes"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\t ", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"Pt denies SI \xff\xfe", "not UTF-8"),
        (b"x" * 300, "the limit is 200"),
    ],
)
def test_bad_notes_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(NoteError) as caught:
        read_note(data, max_bytes=200)
    (problem,) = caught.value.problems
    assert problem.where == "note"
    assert message in problem.message


def test_a_byte_order_mark_is_fine() -> None:
    assert read_note("\ufeffPt denies SI.".encode(), 200) == "Pt denies SI."
