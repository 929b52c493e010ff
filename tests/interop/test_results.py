"""A screening result as a FHIR R4 Bundle: valid, complete, and true to the answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from tests.helpers import SCREENING_DATE, run

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.types import FactKind, Level
from ketascreen.intake.answers import facts_from_answers
from ketascreen.intake.form import Form
from ketascreen.interop.results import (
    ANSWERS_SYSTEM,
    ISSUE_SEVERITY,
    LOINC,
    RISK,
    RULES_SYSTEM,
    result_bundle,
)
from ketascreen.rules.loader import Content

GOLDEN = Path(__file__).parents[1] / "golden"
WHEN = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

#: One golden case per kind of result (disposition in the comment).
CASES = [
    "001-calm-adult-no-concerns",  # no_concerns_found
    "005-family-history-only-info",  # no_concerns_found with an info finding
    "077-no-integration-no-support",  # prepare_first
    "034-stable-bipolar-on-lamotrigine",  # needs_specialist_review (caution)
    "050-measured-bp-172-104-defers",  # not_recommended_now
    "041-use-disorder-2-9-months-defers",  # not_recommended_now, durations
    "015-passive-death-wish",  # suicide risk, crisis help, not urgent
    "017-suicide-plan",  # urgent_safety
    "098-empty-answers",  # nothing answered
]


def golden_answers(name: str) -> dict[str, Any]:
    """The answers of a golden case."""
    data = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text(encoding="utf-8"))
    answers: dict[str, Any] = data["answers"] or {}
    return answers


def bundle_for(
    content: Content, answers: dict[str, Any], **kwargs: Any
) -> tuple[ScreeningResult, dict[str, Any]]:
    """Screen the answers and express the result as a Bundle."""
    result = run(answers, content=content)
    kwargs.setdefault("created_at", WHEN)
    bundle = result_bundle(result, answers=answers, form=content.form, **kwargs)
    return result, bundle


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The resources of one type, in Bundle order."""
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
    ]


def finding_issues(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """DetectedIssues that stand for a finding (coded with a rule id)."""
    return [
        r
        for r in resources(bundle, "DetectedIssue")
        if r["code"]["coding"][0]["system"] == RULES_SYSTEM
    ]


def references(node: Any) -> Iterator[str]:
    """Every internal (``urn:uuid``) Reference.reference under a JSON node."""
    if isinstance(node, dict):
        target = node.get("reference")
        if isinstance(target, str) and target.startswith("urn:uuid:"):
            yield target
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def read_answers(bundle: dict[str, Any], form: Form) -> dict[str, Any]:
    """A tiny QuestionnaireResponse reader: item id to fact value."""
    (response,) = resources(bundle, "QuestionnaireResponse")
    read: dict[str, Any] = {}
    for group in response.get("item", []):
        for entry in group["item"]:
            item = form.items[entry["linkId"]]
            values = [read_value(item.codes, a) for a in entry["answer"]]
            read[item.id] = (
                frozenset(values) if item.kind == FactKind.multi else values[0]
            )
    return read


def read_value(codes: tuple[str | int, ...], answer: dict[str, Any]) -> Any:
    """One answer's value; codings map back to the option's stored value."""
    if "valueCoding" in answer:
        code = answer["valueCoding"]["code"]
        return next((c for c in codes if str(c) == code), code)
    if "valueQuantity" in answer:
        return answer["valueQuantity"]["value"]
    (value,) = answer.values()
    return value


def answered_items(form: Form, answers: dict[str, Any]) -> dict[str, Any]:
    """The normalised answers to questionnaire items (what the QR must hold)."""
    facts = facts_from_answers(form, answers, SCREENING_DATE).values
    return {k: v for k, v in facts.items() if k in form.items}


class TestBundle:
    """The Bundle as a whole."""

    @pytest.mark.parametrize("name", CASES)
    def test_validates_with_the_r4b_models(self, content: Content, name: str) -> None:
        """Every golden Bundle parses as an R4B Bundle of type collection."""
        _, bundle = bundle_for(content, golden_answers(name))
        parsed = Bundle.model_validate(bundle)
        assert parsed.type == "collection"
        assert json.loads(json.dumps(bundle)) == bundle

    @pytest.mark.parametrize("name", CASES)
    def test_never_says_eligible(self, content: Content, name: str) -> None:
        """No form of the word "eligible" appears anywhere in the JSON."""
        _, bundle = bundle_for(content, golden_answers(name))
        assert "eligible" not in json.dumps(bundle).lower()

    @pytest.mark.parametrize("name", CASES)
    def test_internal_references_resolve(self, content: Content, name: str) -> None:
        """Every urn:uuid reference points at an entry of the same Bundle."""
        _, bundle = bundle_for(content, golden_answers(name))
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(set(urls)) == len(urls)
        assert all(u.startswith("urn:uuid:") for u in urls)
        targets = list(references(bundle))
        assert targets
        assert set(targets) <= set(urls)

    def test_screening_id_makes_full_urls_repeatable(self, content: Content) -> None:
        """The same screening id gives the same full URLs and identifier."""
        answers = golden_answers("034-stable-bipolar-on-lamotrigine")
        _, first = bundle_for(content, answers, screening_id="abc")
        _, again = bundle_for(content, answers, screening_id="abc")
        _, other = bundle_for(content, answers, screening_id="xyz")
        assert first == again
        assert first["identifier"]["value"] == "abc"
        assert first["entry"][0]["fullUrl"] != other["entry"][0]["fullUrl"]

    def test_patient_reference_is_the_subject(self, content: Content) -> None:
        """A given patient reference is every resource's subject or patient."""
        answers = golden_answers("050-measured-bp-172-104-defers")
        _, bundle = bundle_for(content, answers, patient_reference="Patient/p1")
        for entry in bundle["entry"]:
            resource = entry["resource"]
            who = resource.get("subject") or resource.get("patient")
            assert who == {"reference": "Patient/p1"}

    def test_a_naive_time_is_refused(self, content: Content) -> None:
        """created_at without a timezone cannot become a FHIR dateTime."""
        naive = datetime(2026, 11, 27, 9, 30)  # noqa: DTZ001 - the point of the test
        with pytest.raises(ValueError, match="timezone"):
            bundle_for(
                content, golden_answers("001-calm-adult-no-concerns"), created_at=naive
            )


class TestQuestionnaireResponse:
    """The answers as a QuestionnaireResponse."""

    @pytest.mark.parametrize("name", CASES)
    def test_answers_round_trip(self, content: Content, name: str) -> None:
        """Reading the response back gives exactly the answered items' values."""
        answers = golden_answers(name)
        _, bundle = bundle_for(content, answers)
        assert read_answers(bundle, content.form) == answered_items(
            content.form, answers
        )

    def test_canonical_answers_come_back_as_given(self, content: Content) -> None:
        """For canonical answers the reader returns the very values given."""
        answers = golden_answers("001-calm-adult-no-concerns")
        _, bundle = bundle_for(content, answers)
        given = {
            k: frozenset(v) if isinstance(v, list) else v for k, v in answers.items()
        }
        assert read_answers(bundle, content.form) == given

    def test_shape(self, content: Content) -> None:
        """Completed, the versioned canonical, one group per section answered."""
        _, bundle = bundle_for(content, golden_answers("001-calm-adult-no-concerns"))
        (response,) = resources(bundle, "QuestionnaireResponse")
        QuestionnaireResponse.model_validate(response)
        form = content.form
        assert response["status"] == "completed"
        assert response["questionnaire"] == (
            f"http://ketascreen.org/fhir/Questionnaire/ketascreen-intake|{form.version}"
        )
        sections = {s.id: {i.id for i in s.items} for s in form.sections}
        for group in response["item"]:
            assert {i["linkId"] for i in group["item"]} <= sections[group["linkId"]]

    def test_unanswered_items_are_left_out(self, content: Content) -> None:
        """A missing answer is unknown: no item, never a "no"."""
        answers = golden_answers("001-calm-adult-no-concerns")
        del answers["pregnant"]
        _, bundle = bundle_for(content, answers)
        assert "pregnant" not in read_answers(bundle, content.form)
        assert '"linkId": "pregnant"' not in json.dumps(bundle)

    def test_nothing_answered_means_no_items(self, content: Content) -> None:
        """With no answers the response has no items at all."""
        _, bundle = bundle_for(content, {})
        (response,) = resources(bundle, "QuestionnaireResponse")
        assert "item" not in response

    def test_choices_are_coded_with_labels(self, content: Content) -> None:
        """A choice answer is a coding in our answers system with the option label."""
        _, bundle = bundle_for(content, golden_answers("001-calm-adult-no-concerns"))
        (response,) = resources(bundle, "QuestionnaireResponse")
        answers = {
            i["linkId"]: i["answer"] for g in response["item"] for i in g["item"]
        }
        assert answers["phq9_1"] == [
            {
                "valueCoding": {
                    "system": ANSWERS_SYSTEM,
                    "code": "2",
                    "display": "More than half the days",
                }
            }
        ]
        assert answers["pregnant"][0]["valueCoding"]["display"] == "No"
        assert answers["age"] == [{"valueInteger": 34}]
        assert len(answers["medication_classes"]) == 1

    def test_loinc_answer_codes_are_used_when_present(self, content: Content) -> None:
        """An instrument option with a LOINC answer code is coded in LOINC."""
        options = [
            SimpleNamespace(value=2, label="More than half the days", loinc="LA6570-1"),
            SimpleNamespace(value=1, label="Several days"),
        ]
        phq9 = SimpleNamespace(
            items=[SimpleNamespace(id="phq9_1")], responses_for=lambda _: options
        )
        answers = golden_answers("001-calm-adult-no-concerns")
        instruments = cast(Any, {"phq9": phq9})
        _, bundle = bundle_for(content, answers, instruments=instruments)
        (response,) = resources(bundle, "QuestionnaireResponse")
        answered = {
            i["linkId"]: i["answer"] for g in response["item"] for i in g["item"]
        }
        assert answered["phq9_1"][0]["valueCoding"] == {
            "system": LOINC,
            "code": "LA6570-1",
            "display": "More than half the days",
        }
        assert answered["phq9_5"][0]["valueCoding"]["system"] == ANSWERS_SYSTEM

    def test_real_instrument_files_are_accepted(self, content: Content) -> None:
        """The bundled instrument files can be passed (LOINC answer codes or not)."""
        files = {i: c.file for i, c in content.instruments.items()}
        _, bundle = bundle_for(
            content, golden_answers("017-suicide-plan"), instruments=files
        )
        Bundle.model_validate(bundle)


class TestRiskAssessment:
    """The overall picture as a RiskAssessment."""

    @pytest.mark.parametrize("name", CASES)
    def test_one_prediction_per_flagged_domain(
        self, content: Content, name: str
    ) -> None:
        """Predictions name exactly the flagged domains, each with a rationale."""
        result, bundle = bundle_for(content, golden_answers(name))
        (risk,) = resources(bundle, "RiskAssessment")
        predicted = [p["outcome"]["text"] for p in risk.get("prediction", [])]
        assert predicted == list(result.domains)
        assert all(p["rationale"] for p in risk.get("prediction", []))

    def test_risk_follows_the_most_severe_finding(self, content: Content) -> None:
        """A domain's qualitative risk is mapped from its most severe level."""
        _, bundle = bundle_for(content, golden_answers("017-suicide-plan"))
        (risk,) = resources(bundle, "RiskAssessment")
        (prediction,) = risk["prediction"]
        code = prediction["qualitativeRisk"]["coding"][0]["code"]
        assert code == RISK[Level.urgent_safety][0] == "high"

    def test_basis_method_and_note(self, content: Content) -> None:
        """Final, based on the response, names the ruleset, notes the result."""
        result, bundle = bundle_for(
            content, golden_answers("050-measured-bp-172-104-defers")
        )
        (risk,) = resources(bundle, "RiskAssessment")
        (response_url,) = [
            e["fullUrl"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "QuestionnaireResponse"
        ]
        assert risk["status"] == "final"
        assert risk["basis"] == [{"reference": response_url}]
        assert risk["method"]["text"] == f"ketascreen ruleset {result.ruleset_version}"
        assert result.disposition_label in risk["note"][0]["text"]
        assert "condition" not in risk

    def test_no_concerns_has_no_predictions(self, content: Content) -> None:
        """Nothing flagged: no prediction, only the note."""
        _, bundle = bundle_for(content, golden_answers("001-calm-adult-no-concerns"))
        (risk,) = resources(bundle, "RiskAssessment")
        assert "prediction" not in risk
        assert "No concerns found" in risk["note"][0]["text"]


class TestDetectedIssue:
    """Findings as DetectedIssues."""

    @pytest.mark.parametrize("name", CASES)
    def test_one_issue_per_finding(self, content: Content, name: str) -> None:
        """Each finding is one issue, in order, coded with its rule id and title."""
        result, bundle = bundle_for(content, golden_answers(name))
        issues = finding_issues(bundle)
        assert [i["code"]["coding"][0]["code"] for i in issues] == [
            f.rule_id for f in result.findings
        ]
        for issue, finding in zip(issues, result.findings, strict=True):
            assert issue["code"]["coding"][0]["display"] == finding.title
            assert issue["severity"] == ISSUE_SEVERITY[finding.level]
            assert issue["detail"] == finding.clinician_rationale
            assert len(issue.get("evidence", [])) == len(finding.evidence)

    def test_evidence_and_citations(self, content: Content) -> None:
        """Evidence names fact, value and test; citations are kept whole."""
        result, bundle = bundle_for(
            content, golden_answers("050-measured-bp-172-104-defers")
        )
        (issue,) = finding_issues(bundle)
        (finding,) = result.findings
        texts = [e["code"][0]["text"] for e in issue["evidence"]]
        assert any(
            "[bp_systolic] = 172" in t and "test: bp_systolic" in t for t in texts
        )
        key = finding.references[0].key
        assert issue["reference"].endswith("#" + key)
        citations = [
            e["valueString"] for e in issue["extension"] if "citation" in e["url"]
        ]
        assert citations[0].startswith(key)
        assert finding.references[0].citation in citations[0]

    def test_severity_mapping_covers_every_level(self) -> None:
        """Every level has a severity and a risk code from the HL7 value sets."""
        assert set(ISSUE_SEVERITY) == set(Level) == set(RISK)
        assert set(ISSUE_SEVERITY.values()) <= {"high", "moderate", "low"}
        assert {code for code, _ in RISK.values()} <= {"high", "moderate", "low"}

    @pytest.mark.parametrize("name", ["015-passive-death-wish", "017-suicide-plan"])
    def test_crisis_comes_first_and_high(self, content: Content, name: str) -> None:
        """With crisis help the first entry is a high-severity crisis issue."""
        result, bundle = bundle_for(content, golden_answers(name))
        assert result.crisis is not None
        first = bundle["entry"][0]["resource"]
        assert first["resourceType"] == "DetectedIssue"
        assert first["severity"] == "high"
        assert len(first["mitigation"]) == len(result.crisis.resources)

    def test_no_crisis_issue_without_crisis(self, content: Content) -> None:
        """Without a suicide-risk signal the response comes first."""
        result, bundle = bundle_for(
            content, golden_answers("050-measured-bp-172-104-defers")
        )
        assert result.crisis is None
        assert bundle["entry"][0]["resource"]["resourceType"] == "QuestionnaireResponse"
        assert len(resources(bundle, "DetectedIssue")) == len(result.findings)


class TestObservation:
    """Instrument scores as survey Observations."""

    @pytest.mark.parametrize("name", CASES)
    def test_one_observation_per_score(self, content: Content, name: str) -> None:
        """Each instrument score is one final survey Observation from the response."""
        result, bundle = bundle_for(content, golden_answers(name))
        observations = resources(bundle, "Observation")
        assert len(observations) == len(result.instrument_scores)
        for obs in observations:
            assert obs["status"] == "final"
            assert obs["category"][0]["coding"][0]["code"] == "survey"
            assert len(obs["derivedFrom"]) == 1

    def test_phq9_total(self, content: Content) -> None:
        """The PHQ-9 total has LOINC 44261-6, the score as an integer, its band."""
        result, bundle = bundle_for(content, golden_answers("017-suicide-plan"))
        phq9 = next(s for s in result.instrument_scores if s.instrument == "phq9")
        (obs,) = [
            o
            for o in resources(bundle, "Observation")
            if o["code"]["coding"][0]["code"] == "44261-6"
        ]
        assert obs["code"]["coding"][0]["system"] == LOINC
        assert obs["valueInteger"] == phq9.value == 13
        assert obs["interpretation"] == [{"text": phq9.band}]

    def test_unknown_score_has_an_absent_reason(self, content: Content) -> None:
        """A score with unanswered items has no value, and says why."""
        answers = golden_answers("001-calm-adult-no-concerns")
        del answers["gad7_1"]
        result, bundle = bundle_for(content, answers)
        gad7 = next(s for s in result.instrument_scores if s.instrument == "gad7")
        assert gad7.value is None
        (obs,) = [
            o
            for o in resources(bundle, "Observation")
            if o["code"]["coding"][0]["code"] == gad7.loinc
        ]
        assert "valueInteger" not in obs
        assert obs["dataAbsentReason"]["coding"][0]["code"] == "unknown"
