"""A FHIR R4 QuestionnaireResponse becomes ketascreen answers.

The LHC-Forms Questionnaires are read from tests/fixtures/fhir (copied from ../shared/data/fhir) (see its README: public
repository LHNCBC/lforms, test/data/R4; NLM terms, LOINC content under the LOINC terms
of use); those tests skip when the folder is absent.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhir.resources.R4B.questionnaire import Questionnaire
from pydantic import ValidationError
from tests.helpers import SCREENING_DATE, run

from ketascreen.domain.types import FactKind
from ketascreen.intake.answers import facts_from_answers
from ketascreen.intake.form import Form, FormItem
from ketascreen.interop.outcome import FhirError
from ketascreen.interop.response import (
    ANSWERS_SYSTEM,
    LOINC,
    ResponseAnswers,
    answers_from_response,
    disabled_link_ids,
    read_questionnaire,
)
from ketascreen.rules.loader import Content

GOLDEN = Path(__file__).parents[1] / "golden"
SHARED = Path(__file__).parents[1] / "fixtures" / "fhir"
LHC_EXPORT = (
    Path(__file__).parents[1] / "fixtures" / "fhir" / "lforms-phq9-response.json"
)
OURS = "http://ketascreen.org/fhir/Questionnaire/ketascreen-intake|1.0.0"
UCUM = "http://unitsofmeasure.org"
UCUM_CODES = {"days": "d", "weeks": "wk", "months": "mo", "years": "a"}
DURATION = re.compile(r"^(\d+(?:\.\d+)?) (day|week|month|year)s?$")

#: PHQ-9 item LOINC codes in item order, as the LHC-Forms linkIds spell them.
PHQ9_LINKS = [
    "/44250-9",
    "/44255-8",
    "/44259-0",
    "/44254-1",
    "/44251-7",
    "/44258-2",
    "/44252-5",
    "/44253-3",
    "/44260-8",
]
#: LOINC answer codes of the 0-3 frequency scale, by points.
FREQUENCY = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


# ---- building responses by hand ---------------------------------------------------


def coding(code: Any, system: str = ANSWERS_SYSTEM) -> dict[str, Any]:
    """A valueCoding answer."""
    return {"valueCoding": {"system": system, "code": str(code)}}


def quantity(amount: float, unit: str) -> dict[str, Any]:
    """A valueQuantity answer with the UCUM code of a duration unit."""
    return {
        "valueQuantity": {
            "value": amount,
            "unit": unit,
            "system": UCUM,
            "code": UCUM_CODES[unit],
        }
    }


def fhir_answers(item: FormItem, value: Any) -> list[dict[str, Any]]:
    """The FHIR answers of one of our items, written the way the export writes them."""
    if item.kind == FactKind.multi:
        return [coding(v) for v in value]
    if item.kind in (FactKind.yes_no, FactKind.yes_no_unsure) or item.choices:
        return [coding(value)]
    if item.kind == FactKind.duration:
        match = DURATION.match(str(value))
        if match:
            return [quantity(float(match.group(1)), match.group(2) + "s")]
        return [quantity(value, item.unit or "months")]
    if item.kind == FactKind.number:
        key = "valueInteger" if isinstance(value, int) else "valueDecimal"
        return [{key: value}]
    if item.kind == FactKind.date:
        return [{"valueDate": value}]
    return [{"valueString": value}]


def our_response(
    form: Form, answers: dict[str, Any], status: str = "completed"
) -> dict[str, Any]:
    """A response to our Questionnaire: a group per section, then external facts."""
    groups = []
    for section in form.sections:
        items = [
            {"linkId": i.id, "answer": fhir_answers(i, answers[i.id])}
            for i in section.items
            if answers.get(i.id) is not None
        ]
        if items:
            groups.append({"linkId": section.id, "item": items})
    groups += [
        {"linkId": key, "answer": [coding(answers[key])]}
        for key in form.external
        if answers.get(key) is not None
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": OURS,
        "status": status,
        "authored": SCREENING_DATE.isoformat(),
        "item": groups,
    }


def bare_response(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A completed QuestionnaireResponse with the given top-level items."""
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": items,
        **extra,
    }


def golden_answers(name: str) -> dict[str, Any]:
    """The answered items of a golden case."""
    data = yaml.safe_load((GOLDEN / name).read_text(encoding="utf-8"))
    return {k: v for k, v in (data["answers"] or {}).items() if v is not None}


def expected_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """What reading our response back gives: durations as text become value+unit."""
    out = dict(answers)
    for key, value in answers.items():
        match = DURATION.match(value) if isinstance(value, str) else None
        if match:
            out[key] = {"value": float(match.group(1)), "unit": match.group(2) + "s"}
    return out


def read(content: Content, data: dict[str, Any], **kwargs: Any) -> ResponseAnswers:
    """Read a response against the default content on the fixed screening date."""
    return answers_from_response(
        data,
        content.form,
        instruments=content.instruments,
        screening_date=SCREENING_DATE,
        **kwargs,
    )


def problems(error: pytest.ExceptionInfo[FhirError]) -> dict[str, str]:
    """The error's problems as where -> message."""
    return {p.where: p.message for p in error.value.problems}


def shared(name: str) -> dict[str, Any]:
    """A Questionnaire from tests/fixtures/fhir (copied from ../shared/data/fhir)."""
    path = SHARED / name
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def phq9_response(points: list[int], **extra: Any) -> dict[str, Any]:
    """An LHC-Forms style PHQ-9 response: linkIds like /44250-9, LA answer codes."""
    items = [
        {"linkId": link, "answer": [coding(FREQUENCY[p], LOINC)]}
        for link, p in zip(PHQ9_LINKS, points, strict=True)
    ]
    return bare_response(items, **extra)


# ---- our own Questionnaire --------------------------------------------------------


GOLDEN_CASES = sorted(p.name for p in GOLDEN.glob("*.yaml"))


class TestOurResponse:
    """A response to ketascreen's Questionnaire gives back the answers it carries."""

    @pytest.mark.parametrize("name", GOLDEN_CASES)
    def test_golden_round_trip(self, content: Content, name: str) -> None:
        """Every golden case read back from FHIR equals its answers and screens alike."""
        answers = golden_answers(name)
        got = read(content, our_response(content.form, answers))
        assert got.answers == expected_answers(answers)
        assert got.ignored == ()
        assert got.source == "ketascreen"
        direct, via_fhir = run(answers), run(got.answers)
        assert via_fhir.disposition == direct.disposition
        assert [f.rule_id for f in via_fhir.findings] == [
            f.rule_id for f in direct.findings
        ]

    def test_multi_select_is_a_list(self, content: Content) -> None:
        """Repeated answers to a multi-select item become a list, in order."""
        item = {
            "linkId": "heart_conditions",
            "answer": [coding("high_bp"), coding("arrhythmia")],
        }
        got = read(content, bare_response([item], questionnaire=OURS))
        assert got.answers == {"heart_conditions": ["high_bp", "arrhythmia"]}

    def test_loinc_answer_code_in_our_response(self, content: Content) -> None:
        """An instrument option sent with its LOINC answer code gives its value."""
        item = {"linkId": "phq9_1", "answer": [coding("LA6570-1", LOINC)]}
        got = read(content, bare_response([item], questionnaire=OURS))
        assert got.answers == {"phq9_1": 2}

    def test_value_types(self, content: Content) -> None:
        """Booleans, numbers, dates, text and durations in another unit convert."""
        items = [
            {"linkId": "pregnant", "answer": [{"valueBoolean": False}]},
            {"linkId": "age", "answer": [{"valueInteger": 41}]},
            {"linkId": "bp_systolic", "answer": [{"valueDecimal": 128.0}]},
            {"linkId": "last_cardiac_check", "answer": [{"valueDate": "2025-03-01"}]},
            {"linkId": "reason_for_seeking", "answer": [{"valueString": "Low mood"}]},
            {"linkId": "drugs_past_year", "answer": [coding("cannabis")]},
            {"linkId": "drug_last_use_months", "answer": [quantity(3, "weeks")]},
        ]
        got = read(content, bare_response(items, questionnaire=OURS))
        assert got.answers == {
            "pregnant": False,
            "age": 41,
            "bp_systolic": 128.0,
            "last_cardiac_check": "2025-03-01",
            "reason_for_seeking": "Low mood",
            "drugs_past_year": ["cannabis"],
            "drug_last_use_months": {"value": 3, "unit": "weeks"},
        }
        facts = facts_from_answers(content.form, got.answers, SCREENING_DATE)
        assert facts.values["pregnant"] == "no"

    def test_bundle_and_bare_canonical(self, content: Content) -> None:
        """A Bundle holding the response, and a canonical without version, both work."""
        item = {"linkId": "age", "answer": [{"valueInteger": 30}]}
        response = bare_response([item], questionnaire=OURS.split("|")[0])
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": response}],
        }
        assert read(content, bundle).answers == {"age": 30}

    def test_in_progress_leaves_the_rest_unknown(self, content: Content) -> None:
        """An in-progress response is read; what it lacks stays unknown, never no."""
        answers = {"age": 30, "phq9_1": 1, "phq9_9": 0}
        got = read(content, our_response(content.form, answers, "in-progress"))
        assert got.answers == answers
        result = run(got.answers)
        assert result.disposition != "no_concerns_found"
        assert "pregnant" not in got.answers


class TestHiddenAnswers:
    """Answers to items the form would not show are left out and listed."""

    def test_follow_up_of_a_no_is_ignored(self, content: Content) -> None:
        """A follow-up answered although its gate question was no is not used."""
        answers = {"substance_problem_ever": "no", "substance_problem_now": "yes"}
        got = read(content, our_response(content.form, answers))
        assert got.answers == {"substance_problem_ever": "no"}
        assert [p.where for p in got.ignored] == [
            "QuestionnaireResponse.item[0].item[1]"
        ]
        assert got.ignored[0].message.startswith("substance_problem_now: not shown")

    def test_phq9_difficulty_after_all_zero(self, content: Content) -> None:
        """PHQ-9 item 10 answered after nine 'not at all' answers is not used."""
        answers: dict[str, Any] = {f"phq9_{n}": 0 for n in range(1, 10)}
        answers["phq9_10"] = "somewhat_difficult"
        got = read(content, our_response(content.form, answers))
        assert "phq9_10" not in got.answers
        assert len(got.answers) == 9
        assert [p.message.split(":")[0] for p in got.ignored] == ["phq9_10"]

    def test_unknown_gate_keeps_the_answer(self, content: Content) -> None:
        """A follow-up whose gate is unanswered is kept (unknown gate: shown)."""
        answers = {"substance_problem_now": "yes"}
        got = read(content, our_response(content.form, answers))
        assert got.answers == answers
        assert got.ignored == ()


class TestInvalidResponse:
    """Bad input is refused whole, each problem at its place in the response."""

    def test_fhir_errors_have_paths(self, content: Content) -> None:
        """Invalid FHIR gives one problem per field, with a FHIRPath-like place."""
        items: list[dict[str, Any]] = [
            {
                "linkId": "about_you",
                "item": [{"linkId": "age", "answer": [{"valueInteger": "old"}]}],
            },
            {"answer": [{"valueString": "x"}]},
            {
                "linkId": "pregnant",
                "answer": [{"valueBoolean": True, "valueString": "yes"}],
            },
        ]
        with pytest.raises(FhirError) as error:
            read(content, bare_response(items, questionnaire=OURS))
        found = problems(error)
        assert "QuestionnaireResponse.item[0].item[0].answer[0].valueInteger" in found
        assert "QuestionnaireResponse.item[1].linkId" in found
        assert "QuestionnaireResponse.item[2].answer[0]" in found

    def test_answer_problems_point_at_the_item(self, content: Content) -> None:
        """Answers that fail validation are reported at their item in the response."""
        items = [
            {
                "linkId": "about_you",
                "item": [{"linkId": "age", "answer": [{"valueInteger": 200}]}],
            },
            {"linkId": "favourite_colour", "answer": [{"valueString": "blue"}]},
        ]
        with pytest.raises(FhirError) as error:
            read(content, bare_response(items, questionnaire=OURS))
        found = problems(error)
        assert found["QuestionnaireResponse.item[0].item[0]"].startswith("age: 200")
        assert "unknown item id" in found["QuestionnaireResponse.item[1]"]

    def test_code_problems(self, content: Content) -> None:
        """Foreign code systems, unknown LOINC answers and wrong units are refused."""
        items = [
            {
                "linkId": "pregnant",
                "answer": [coding("77386006", "http://snomed.info/sct")],
            },
            {"linkId": "phq9_2", "answer": [coding("LA0000-0", LOINC)]},
            {
                "linkId": "drug_last_use_months",
                "answer": [{"valueQuantity": {"value": 2, "unit": "fortnights"}}],
            },
        ]
        with pytest.raises(FhirError) as error:
            read(content, bare_response(items, questionnaire=OURS))
        messages = list(problems(error).values())
        assert "snomed" in messages[0]
        assert "LA0000-0" in messages[1]
        assert "fortnights" in messages[2]

    def test_answered_twice(self, content: Content) -> None:
        """The same item answered in two places is refused."""
        item = {"linkId": "age", "answer": [{"valueInteger": 30}]}
        with pytest.raises(FhirError) as error:
            read(content, bare_response([item, item], questionnaire=OURS))
        assert "answered twice" in problems(error)["QuestionnaireResponse.item[1]"]

    def test_entered_in_error(self, content: Content) -> None:
        """A response entered in error is refused."""
        response = our_response(content.form, {"age": 30}, "entered-in-error")
        with pytest.raises(FhirError) as error:
            read(content, response)
        assert "entered-in-error" in problems(error)["QuestionnaireResponse.status"]

    def test_not_a_response(self, content: Content) -> None:
        """Something other than a response or a Bundle is refused."""
        with pytest.raises(FhirError) as error:
            read(content, {"resourceType": "Patient"})
        assert "resourceType" in problems(error)

    def test_bundle_needs_one_response(self, content: Content) -> None:
        """A Bundle with two responses is refused."""
        response = our_response(content.form, {"age": 30})
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": response}, {"resource": response}],
        }
        with pytest.raises(FhirError) as error:
            read(content, bundle)
        assert "found 2" in problems(error)["Bundle.entry"]

    def test_unknown_questionnaire(self, content: Content) -> None:
        """A response to an unknown Questionnaire, sent alone, says what to send."""
        response = phq9_response([0] * 9, questionnaire="http://example.org/Q/phq9")
        with pytest.raises(FhirError) as error:
            read(content, response)
        message = problems(error)["QuestionnaireResponse.questionnaire"]
        assert "http://example.org/Q/phq9" in message
        assert "Send the Questionnaire" in message
        assert "ketascreen-intake" in message


# ---- a foreign, LOINC-coded Questionnaire -----------------------------------------


class TestLhcFormsPhq9:
    """The LHC-Forms PHQ-9: items matched by LOINC code, answers by LA code."""

    def test_answers_and_total(self, content: Content) -> None:
        """LA-coded answers give phq9_1..phq9_9 and the right PHQ-9 total."""
        points = [1, 2, 3, 0, 1, 0, 2, 1, 1]
        got = read(content, phq9_response(points), questionnaire=shared_phq9())
        assert got.answers == {f"phq9_{n}": p for n, p in enumerate(points, 1)}
        assert got.source == f"{LOINC}|44249-1"
        result = run(got.answers)
        total = next(s for s in result.instrument_scores if s.instrument == "phq9")
        assert total.value == sum(points)
        assert result.crisis is not None  # item 9 at "several days"

    def test_total_and_difficulty(self, content: Content) -> None:
        """The total sent is ignored with a note; item 10 maps by its LA code."""
        response = phq9_response([1] * 9)
        response["item"] += [
            {"linkId": "/44261-6", "answer": [{"valueDecimal": 99}]},
            {"linkId": "/69722-7", "answer": [coding("LA6575-0", LOINC)]},
        ]
        got = read(content, response, questionnaire=shared_phq9())
        assert got.answers["phq9_10"] == "very_difficult"
        assert len(got.ignored) == 1
        assert got.ignored[0].where == "QuestionnaireResponse.item[9]"
        assert "44261-6" in got.ignored[0].message
        assert "computed from the items" in got.ignored[0].message

    def test_contained_and_bundled_questionnaire(self, content: Content) -> None:
        """The Questionnaire may be contained in the response or sit in the Bundle."""
        questionnaire = dict(shared_phq9(), id="phq9")
        contained = phq9_response(
            [2] * 9, contained=[questionnaire], questionnaire="#phq9"
        )
        assert read(content, contained).answers["phq9_5"] == 2
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": questionnaire},
                {"resource": phq9_response([3] * 9)},
            ],
        }
        assert read(content, bundle).answers["phq9_9"] == 3

    def test_matched_by_code_not_link_id(self, content: Content) -> None:
        """Renamed linkIds still map by code; a linkId named like ours maps nothing."""
        questionnaire = shared_phq9()
        for n, item in enumerate(questionnaire["item"]):
            item["linkId"] = f"q{n}"
        questionnaire["item"].append({"linkId": "phq9_1", "type": "string"})
        items = [
            {"linkId": "q0", "answer": [coding("LA6571-9", LOINC)]},
            {"linkId": "phq9_1", "answer": [{"valueString": "0"}]},
            {"linkId": "nowhere", "answer": [{"valueInteger": 1}]},
        ]
        got = read(content, bare_response(items), questionnaire=questionnaire)
        assert got.answers == {"phq9_1": 3}
        reasons = [p.message for p in got.ignored]
        assert (
            reasons[0]
            == "phq9_1: no ketascreen item has this item's code (no LOINC code)"
        )
        assert reasons[1] == "nowhere: this linkId is not in the Questionnaire"

    def test_ordinal_value_and_numbers(self, content: Content) -> None:
        """Local answer codes map through ordinalValue; plain numbers map too."""
        questionnaire = shared_phq9()
        for option in questionnaire["item"][0]["answerOption"]:
            option["valueCoding"] = {
                "system": "urn:local",
                "code": "x" + option["valueCoding"]["code"],
            }
        items = [
            {"linkId": "/44250-9", "answer": [coding("xLA6570-1", "urn:local")]},
            {"linkId": "/44255-8", "answer": [{"valueInteger": 1}]},
            {"linkId": "/44259-0", "answer": [coding("unheard-of", "urn:local")]},
        ]
        got = read(content, bare_response(items), questionnaire=questionnaire)
        assert got.answers == {"phq9_1": 2, "phq9_2": 1}
        assert "'unheard-of' has no ketascreen value" in got.ignored[0].message

    def test_hidden_by_enable_when(self, content: Content) -> None:
        """An answer the Questionnaire's enableWhen hides is ignored, as SDC says."""
        questionnaire = shared_phq9()
        difficulty = questionnaire["item"][-1]
        difficulty["enableWhen"] = [
            {
                "question": "/44250-9",
                "operator": "!=",
                "answerCoding": {"system": LOINC, "code": "LA6568-5"},
            }
        ]
        response = phq9_response([0] * 9)
        response["item"].append(
            {"linkId": "/69722-7", "answer": [coding("LA6573-5", LOINC)]}
        )
        got = read(content, response, questionnaire=questionnaire)
        assert "phq9_10" not in got.answers
        assert got.ignored[0].message.startswith(
            "/69722-7: hidden by the Questionnaire's enableWhen"
        )

    def test_bad_foreign_answers(self, content: Content) -> None:
        """Two answers to one item, or an out-of-range number, are refused."""
        items = [
            {
                "linkId": "/44250-9",
                "answer": [coding("LA6568-5", LOINC), coding("LA6569-3", LOINC)],
            },
            {"linkId": "/44255-8", "answer": [{"valueInteger": 7}]},
        ]
        with pytest.raises(FhirError) as error:
            read(content, bare_response(items), questionnaire=shared_phq9())
        found = problems(error)
        assert "expected one answer, got 2" in found["QuestionnaireResponse.item[0]"]
        assert found["QuestionnaireResponse.item[1]"].startswith(
            "phq9_2: expected one of"
        )

    def test_read_leniently(self) -> None:
        """The LHC-Forms PHQ-9 fails strict validation but is read leniently."""
        data = shared_phq9()
        with pytest.raises(ValidationError):
            Questionnaire.model_validate(data)
        form = read_questionnaire(data)
        assert form.item[0].loinc_codes == ["44250-9"]

    def test_malformed_questionnaire(self, content: Content) -> None:
        """A Questionnaire whose items lack linkIds is refused with a path."""
        bad = {"resourceType": "Questionnaire", "item": [{"type": "choice"}]}
        with pytest.raises(FhirError) as error:
            read(content, phq9_response([0] * 9), questionnaire=bad)
        assert "Questionnaire.item[0].linkId" in problems(error)

    def test_lhc_forms_export(self, content: Content) -> None:
        """A response exported by LHC-Forms itself screens with the right total."""
        data = json.loads(LHC_EXPORT.read_text(encoding="utf-8"))
        got = read(content, data, questionnaire=shared_phq9())
        items = {k: v for k, v in got.answers.items() if re.fullmatch(r"phq9_[1-9]", k)}
        assert len(items) == 9
        result = run(got.answers)
        total = next(s for s in result.instrument_scores if s.instrument == "phq9")
        assert total.value == sum(items.values())


def shared_phq9() -> dict[str, Any]:
    """A fresh copy of the LHC-Forms PHQ-9 Questionnaire."""
    return copy.deepcopy(shared("lforms-phq9.R4.json"))


# ---- the enableWhen evaluator ------------------------------------------------------


def enabled(answers: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Conditional items of the LHC-Forms edge-case form that are enabled."""
    questionnaire = shared("lforms-enableWhen-test.R4.json")
    response = {"item": [{"linkId": k, "answer": v} for k, v in answers.items()]}
    off = disabled_link_ids(questionnaire, response)
    every = {i.linkId for g in read_questionnaire(questionnaire).item for i in g.item}
    return {i for i in every if "-" in i and i not in off}


def b_and_c() -> list[dict[str, Any]]:
    """Q8 answered B and C."""
    return [coding("B", "test-coding"), coding("C", "test-coding")]


class TestEnableWhen:
    """The R4 enableWhen rules, on the LHC-Forms edge cases."""

    def test_nothing_answered(self) -> None:
        """With no answers only 'not exists' and '!=' items are enabled (as LHC-Forms)."""
        on = enabled({})
        assert {"Q1-not-exists", "Q1-not-true", "Q9-noteq-B", "Q7-notequals"} <= on
        assert not {"Q1-exists", "Q1-true", "Q1-false", "Q9-eq-B", "Q2-ge"} & on

    @pytest.mark.parametrize(
        ("answers", "shown", "hidden"),
        [
            (
                {"Q1": [{"valueBoolean": True}]},
                {"Q1-exists", "Q1-true"},
                {"Q1-false", "Q1-not-true", "Q1-not-exists"},
            ),
            (
                {"Q1": [{"valueBoolean": False}]},
                {"Q1-exists", "Q1-false", "Q1-not-true"},
                {"Q1-true"},
            ),
            ({"Q2": [{"valueDecimal": 5.6}]}, {"Q2-equal", "Q2-ge"}, {"Q2-not-exists"}),
            ({"Q2": [{"valueDecimal": 4.7}]}, {"Q2-exists"}, {"Q2-equal", "Q2-ge"}),
            ({"Q3": [{"valueInteger": 4}]}, {"Q3-ge"}, {"Q3-equal"}),
            ({"Q4": [{"valueDate": "2021-01-31"}]}, {"Q4-ge"}, {"Q4-equal"}),
            (
                {"Q5": [{"valueDateTime": "2020-05-01T10:00:00Z"}]},
                {"Q5-exists"},
                {"Q5-not-exists"},
            ),
            ({"Q6": [{"valueTime": "10:30:00"}]}, {"Q6-exists"}, {"Q6-not-exists"}),
            (
                {"Q7": [{"valueString": "test"}]},
                {"Q7-equals", "Q7-gt", "Q7-ge", "Q7-ge2", "Q7-le2"},
                {"Q7-notequals", "Q7-lt", "Q7-le"},
            ),
            ({"Q8": b_and_c()}, {"Q8-eq-B", "Q8-eq-B-and-C"}, {"Q8-not-exists"}),
            ({"Q8": [coding("B", "test-coding")]}, {"Q8-eq-B"}, {"Q8-eq-B-and-C"}),
            ({"Q9": [coding("B", "test-coding")]}, {"Q9-eq-B"}, {"Q9-noteq-B"}),
            ({"Q9": [coding("A", "test-coding")]}, {"Q9-noteq-B"}, {"Q9-eq-B"}),
            ({"Q9a": [{"valueString": "B"}]}, {"Q9a-eq-B"}, {"Q9a-noteq-B"}),
            ({"Q9b": [{"valueInteger": 12}]}, {"Q9b-noteq-B"}, {"Q9b-eq-B"}),
            ({"Q9b": [{"valueInteger": 34}]}, {"Q9b-eq-B"}, {"Q9b-noteq-B"}),
            ({"Q9c": [{"valueDate": "2022-09"}]}, {"Q9c-eq-B"}, {"Q9c-noteq-B"}),
            ({"Q9c": [{"valueDate": "2022"}]}, {"Q9c-noteq-B"}, {"Q9c-eq-B"}),
            ({"Q9d": [{"valueTime": "13:30:00"}]}, {"Q9d-eq-B"}, {"Q9d-noteq-B"}),
        ],
    )
    def test_edge_cases(
        self,
        answers: dict[str, list[dict[str, Any]]],
        shown: set[str],
        hidden: set[str],
    ) -> None:
        """Each operator and answer type enables exactly what R4 says it should."""
        on = enabled(answers)
        assert shown <= on
        assert not hidden & on

    def test_expression_is_not_evaluated(self) -> None:
        """An item with only an enableWhenExpression counts as enabled."""
        assert "Q10-ewe" in enabled({})

    def test_chain_and_groups(self) -> None:
        """A disabled item's answers count as absent; a disabled group hides its items."""
        questionnaire = {
            "resourceType": "Questionnaire",
            "item": [
                {"linkId": "a", "type": "boolean"},
                {
                    "linkId": "b",
                    "type": "string",
                    "enableWhen": [
                        {"question": "a", "operator": "=", "answerBoolean": True}
                    ],
                },
                {
                    "linkId": "g",
                    "type": "group",
                    "enableWhen": [
                        {"question": "b", "operator": "exists", "answerBoolean": True}
                    ],
                    "item": [{"linkId": "c", "type": "string"}],
                },
            ],
        }
        response = {
            "item": [
                {"linkId": "a", "answer": [{"valueBoolean": False}]},
                {"linkId": "b", "answer": [{"valueString": "x"}]},
                {
                    "linkId": "g",
                    "item": [{"linkId": "c", "answer": [{"valueString": "y"}]}],
                },
            ]
        }
        assert disabled_link_ids(questionnaire, response) == {"b", "g", "c"}
        response["item"][0]["answer"] = [{"valueBoolean": True}]
        assert disabled_link_ids(questionnaire, response) == set()

    def test_foreign_form_lists_the_reasons(self, content: Content) -> None:
        """Through the reader, hidden and unmatched answers are told apart."""
        questionnaire = shared("lforms-enableWhen-test.R4.json")
        items = [
            {"linkId": "Q1", "answer": [{"valueBoolean": False}]},
            {"linkId": "Q1-true", "answer": [{"valueString": "stale"}]},
        ]
        got = read(content, bare_response(items), questionnaire=questionnaire)
        assert got.answers == {}
        assert got.source == "Questionnaire without a canonical"
        reasons = [p.message for p in got.ignored]
        assert reasons[0].startswith("Q1: no ketascreen item has this item's code")
        assert reasons[1].startswith(
            "Q1-true: hidden by the Questionnaire's enableWhen"
        )
