"""FHIR clinical resources (Condition, Observation, medicines, allergies, Patient)
become ketascreen answers, and those answers screen."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from tests.helpers import SCREENING_DATE, fired, run

from ketascreen.interop.clinical import ClinicalAnswers, answers_from_resources
from ketascreen.interop.codes import (
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    CodeMaps,
    build_code_maps,
    load_code_maps,
)
from ketascreen.interop.outcome import FhirError
from ketascreen.rules.loader import Content

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_VERIFICATION = (
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
)
UCUM = "http://unitsofmeasure.org"


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(
    system: str,
    code: str,
    *,
    rid: str = "c1",
    clinical: str | None = None,
    verification: str | None = None,
    onset: str | None = None,
) -> dict[str, Any]:
    """A Condition with the given code and statuses."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": "Patient/p1"},
        "code": _concept(system, code),
    }
    if clinical:
        resource["clinicalStatus"] = _concept(CLINICAL, clinical)
    if verification:
        resource["verificationStatus"] = _concept(VERIFICATION, verification)
    if onset:
        resource["onsetDateTime"] = onset
    return resource


def blood_pressure(
    systolic: float, diastolic: float, *, rid: str = "bp1", when: str = "2026-11-27"
) -> dict[str, Any]:
    """A vital-signs BP panel with systolic and diastolic components."""

    def component(code: str, value: float) -> dict[str, Any]:
        quantity = {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
        return {"code": _concept(LOINC, code), "valueQuantity": quantity}

    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": _concept(LOINC, "85354-9"),
        "effectiveDateTime": when,
        "component": [component("8480-6", systolic), component("8462-4", diastolic)],
    }


def pregnancy_test(result: str, *, when: str = "2026-11-20") -> dict[str, Any]:
    """A urine hCG test with a SNOMED result (positive 10828004, negative 260385009)."""
    return {
        "resourceType": "Observation",
        "id": "hcg",
        "status": "final",
        "code": _concept(LOINC, "2106-3"),
        "effectiveDateTime": when,
        "valueCodeableConcept": _concept(SNOMED, result),
    }


def statement(code: str, *, status: str = "active", rid: str = "m1") -> dict[str, Any]:
    """A MedicationStatement for an RxNorm code."""
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": _concept(RXNORM, code),
    }


def allergy(
    concept: dict[str, Any], *, verification: str | None = None
) -> dict[str, Any]:
    """An AllergyIntolerance for a concept."""
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient/p1"},
        "code": concept,
    }
    if verification:
        resource["verificationStatus"] = _concept(ALLERGY_VERIFICATION, verification)
    return resource


def read(
    content: Content, *resources: dict[str, Any], **kwargs: Any
) -> ClinicalAnswers:
    """Read resources on the fixed screening date and check the answers screen."""
    result = answers_from_resources(
        list(resources), content.form, today=SCREENING_DATE, **kwargs
    )
    run(result.answers)
    return result


def reasons(result: ClinicalAnswers) -> dict[str | None, str]:
    """Unmapped code to its reason."""
    return {u.code: u.reason for u in result.unmapped}


class TestHypertensionAndBloodPressure:
    """A hypertension Condition and a measured BP of 172/104."""

    def test_bp_defers(self, content: Content) -> None:
        """172/104 is at or above the default defer cut-off: BP finding, deferral."""
        result = read(
            content,
            condition(ICD10CM, "I10", clinical="active"),
            blood_pressure(172, 104),
        )
        assert result.answers == {
            "heart_conditions": ["high_bp"],
            "bp_systolic": 172,
            "bp_diastolic": 104,
        }
        screening = run(result.answers)
        assert "cardiovascular.bp_high_measured" in fired(screening)
        assert screening.disposition == "not_recommended_now"

    def test_sources(self, content: Content) -> None:
        """Each answer names the resources that supplied it."""
        result = read(content, condition(ICD10CM, "I10"), blood_pressure(172, 104))
        assert result.sources["heart_conditions"] == ["Condition/c1"]
        assert result.sources["bp_systolic"] == ["Observation/bp1"]

    def test_most_recent_panel(self, content: Content) -> None:
        """The latest reading is used; the older one is reported back."""
        old = blood_pressure(150, 95, rid="old", when="2026-01-02")
        new = blood_pressure(128, 82, rid="new", when="2026-11-27T09:30:00+01:00")
        result = read(content, new, old)
        assert (result.answers["bp_systolic"], result.answers["bp_diastolic"]) == (
            128,
            82,
        )
        assert {u.id for u in result.unmapped} == {"old"}

    def test_decimal_reading_is_rounded(self, content: Content) -> None:
        """The BP items take whole numbers."""
        result = read(content, blood_pressure(139.5, 89.4))
        assert (result.answers["bp_systolic"], result.answers["bp_diastolic"]) == (
            140,
            89,
        )

    def test_wrong_unit(self, content: Content) -> None:
        """A BP in kPa is not read as mmHg."""
        bp = blood_pressure(20, 12)
        for component in bp["component"]:
            component["valueQuantity"]["code"] = "kPa"
        result = read(content, bp)
        assert "bp_systolic" not in result.answers
        assert "kPa" in reasons(result)["8480-6"]

    def test_heart_rate(self, content: Content) -> None:
        """Heart rate 8867-4 fills heart_rate."""
        hr = {
            "resourceType": "Observation",
            "id": "hr",
            "status": "final",
            "code": _concept(LOINC, "8867-4"),
            "valueQuantity": {
                "value": 72,
                "unit": "beats/minute",
                "system": UCUM,
                "code": "/min",
            },
        }
        assert read(content, hr).answers == {"heart_rate": 72}

    def test_preliminary_observation(self, content: Content) -> None:
        """Only final, amended or corrected observations count."""
        bp = blood_pressure(172, 104) | {"status": "preliminary"}
        result = read(content, bp)
        assert result.answers == {}
        assert reasons(result)["8480-6"] == "status preliminary"


class TestAbsenceAndRefutation:
    """Absence is never 'no'; only explicit negatives may say no."""

    def test_absence_leaves_unknown(self, content: Content) -> None:
        """No bipolar Condition: bipolar_dx stays unknown, and the screening says so."""
        result = read(content, condition(ICD10CM, "I10"))
        assert "bipolar_dx" not in result.answers
        screening = run(result.answers)
        assert screening.disposition != "no_concerns_found"

    def test_refuted_condition_maps_to_nothing(self, content: Content) -> None:
        """A refuted bipolar diagnosis is reported, not turned into 'no'."""
        result = read(content, condition(SNOMED, "13746004", verification="refuted"))
        assert result.answers == {}
        assert reasons(result) == {"13746004": "refuted"}

    def test_entered_in_error(self, content: Content) -> None:
        """An entry in error is reported and ignored."""
        result = read(
            content, condition(ICD10CM, "I10", verification="entered-in-error")
        )
        assert result.answers == {}
        assert reasons(result) == {"I10": "entered in error"}

    def test_refuted_allergy_says_no(self, content: Content) -> None:
        """A refuted ketamine allergy is an explicit negative the item allows."""
        resource = allergy({"text": "Ketamine"}, verification="refuted")
        assert read(content, resource).answers == {"ketamine_allergy": "no"}

    def test_ketamine_allergy_wins_over_no_known_allergy(
        self, content: Content
    ) -> None:
        """A yes is never lost to a 'no known allergy' record."""
        nka = allergy(_concept(SNOMED, "716186003")) | {"id": "nka"}
        ketamine = allergy(_concept(RXNORM, "2119365"))
        result = read(content, nka, ketamine)
        assert result.answers == {"ketamine_allergy": "yes"}
        assert "allergy.ketamine_hypersensitivity" in fired(run(result.answers))
        assert [u.id for u in result.unmapped] == ["nka"]

    def test_inactive_counts_for_ever_items(self, content: Content) -> None:
        """A resolved hypertension still answers 'ever been told'."""
        result = read(content, condition(ICD10CM, "I10", clinical="resolved"))
        assert result.answers == {"heart_conditions": ["high_bp"]}

    def test_inactive_for_a_now_item(self, content: Content) -> None:
        """Psychotic depression in remission does not answer the 'now' option."""
        result = read(content, condition(ICD10CM, "F32.3", clinical="remission"))
        assert result.answers == {}
        assert reasons(result) == {"F32.3": "inactive"}

    def test_dependence_in_remission(self, content: Content) -> None:
        """Alcohol dependence in remission: a problem ever, not known to be now."""
        result = read(content, condition(ICD10CM, "F10.21", clinical="active"))
        assert result.answers == {"substance_problem_ever": "yes"}

    def test_active_dependence(self, content: Content) -> None:
        """Active opioid dependence: a problem ever and now."""
        result = read(content, condition(ICD10CM, "F11.20", clinical="active"))
        assert result.answers == {
            "substance_problem_ever": "yes",
            "substance_problem_now": "yes",
        }

    def test_reason_for_treatment(self, content: Content) -> None:
        """Depression is known but deliberately unused, and says why."""
        result = read(content, condition(ICD10CM, "F33.1"))
        assert result.answers == {}
        assert "reason for treatment" in reasons(result)["F33.1"]


class TestRecentEvents:
    """Onset dates give the time since a heart attack or stroke."""

    def test_recent_heart_attack(self, content: Content) -> None:
        """An MI two months ago defers ketamine."""
        onset = (SCREENING_DATE - timedelta(days=61)).isoformat()
        result = read(content, condition(ICD10CM, "I21.4", onset=onset))
        assert result.answers["mi_stroke_months_ago"] == {"value": 61, "unit": "days"}
        assert "cardiovascular.recent_mi_stroke" in fired(run(result.answers))

    def test_most_recent_event_wins(self, content: Content) -> None:
        """A stroke last month and an MI years ago: the stroke sets the time."""
        mi = condition(
            ICD10CM, "I21.9", rid="mi", clinical="resolved", onset="2019-04-01"
        )
        stroke = condition(SNOMED, "230690007", rid="stroke", onset="2026-10-27")
        result = read(content, mi, stroke)
        assert result.answers["heart_conditions"] == ["heart_attack", "stroke"]
        assert result.answers["mi_stroke_months_ago"] == {"value": 31, "unit": "days"}

    def test_partial_onset_is_taken_as_late_as_possible(self, content: Content) -> None:
        """'2026-06' counts from 30 June: a partial date never makes an event older."""
        result = read(content, condition(ICD10CM, "I63.9", onset="2026-06"))
        days = (SCREENING_DATE - date(2026, 6, 30)).days
        assert result.answers["mi_stroke_months_ago"] == {"value": days, "unit": "days"}

    def test_future_onset(self, content: Content) -> None:
        """An onset after the screening date is reported, not used."""
        result = read(content, condition(ICD10CM, "I21.9", onset="2027-01-01"))
        assert "mi_stroke_months_ago" not in result.answers
        assert "after the screening date" in reasons(result)["I21.9"]


class TestPregnancy:
    """Positive tests say pregnant; negatives need a recency window the content sets."""

    def test_positive_test(self, content: Content) -> None:
        """A positive hCG test gives the pregnancy finding."""
        result = read(content, pregnancy_test("10828004"))
        assert result.answers == {"pregnant": "yes"}
        assert "pregnancy.pregnant" in fired(run(result.answers))

    def test_positive_as_text(self, content: Content) -> None:
        """A result written as 'Positive' counts too."""
        test = pregnancy_test("10828004")
        del test["valueCodeableConcept"]
        test["valueString"] = "Positive"
        assert read(content, test).answers == {"pregnant": "yes"}

    def test_negative_test_stays_unknown(self, content: Content) -> None:
        """No recency window is set, so a negative test does not answer 'no'."""
        result = read(content, pregnancy_test("260385009"))
        assert result.answers == {}
        assert "no recency window" in reasons(result)["2106-3"]

    @pytest.mark.parametrize(
        ("when", "expected"), [("2026-11-25", {"pregnant": "no"}), ("2026-09-01", {})]
    )
    def test_negative_within_a_clinic_window(
        self, content: Content, when: str, expected: dict[str, str]
    ) -> None:
        """With a window set in the code map, only a recent negative answers 'no'."""
        result = read(
            content, pregnancy_test("260385009", when=when), codes=_with_window(7)
        )
        assert result.answers == expected

    def test_pregnancy_status(self, content: Content) -> None:
        """Pregnancy status 82810-3 with SNOMED 77386006 (pregnant)."""
        status = pregnancy_test("77386006") | {"code": _concept(LOINC, "82810-3")}
        assert read(content, status).answers == {"pregnant": "yes"}

    def test_unrecognised_result(self, content: Content) -> None:
        """A result the map does not list is reported."""
        result = read(content, pregnancy_test("261665006"))
        assert reasons(result)["2106-3"] == "result not recognised"


class TestMedications:
    """Current medicines map to the questionnaire's medicine groups."""

    def test_maoi_statement(self, content: Content) -> None:
        """Phenelzine gives the MAOI finding."""
        result = read(content, statement("8123"))
        assert result.answers == {"medication_classes": ["maoi"]}
        assert "medications.maoi" in fired(run(result.answers))

    @pytest.mark.parametrize("status", ["stopped", "not-taken", "completed"])
    def test_not_current(self, content: Content, status: str) -> None:
        """Stopped, not taken or completed medicines are reported, not answered."""
        result = read(content, statement("8123", status=status))
        assert result.answers == {}
        assert reasons(result) == {"8123": f"status {status}"}

    def test_request_by_reference_and_name(self, content: Content) -> None:
        """A request for a Medication in the same Bundle, known only by its name."""
        request = {
            "resourceType": "MedicationRequest",
            "id": "r1",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "Medication/med1"},
        }
        medication = {
            "resourceType": "Medication",
            "id": "med1",
            "code": {"text": "Xanax"},
        }
        result = read(content, request, medication)
        assert result.answers == {"medication_classes": ["benzodiazepine"]}
        assert result.unmapped == ()

    def test_missing_medication(self, content: Content) -> None:
        """A reference that cannot be followed is reported."""
        request = statement("8123") | {
            "medicationReference": {"reference": "Medication/x"}
        }
        del request["medicationCodeableConcept"]
        result = read(content, request)
        assert "not found" in result.unmapped[0].reason

    def test_do_not_perform(self, content: Content) -> None:
        """A request not to give a medicine is not a medicine taken."""
        request = {
            "resourceType": "MedicationRequest",
            "id": "r1",
            "status": "active",
            "intent": "order",
            "doNotPerform": True,
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": _concept(RXNORM, "6470"),
        }
        assert read(content, request).answers == {}

    def test_allergy_to_a_benzodiazepine_is_not_taking_one(
        self, content: Content
    ) -> None:
        """A lorazepam allergy sets no medicine group."""
        result = read(content, allergy(_concept(RXNORM, "6470")))
        assert result.answers == {}
        assert reasons(result) == {"6470": "code not used for AllergyIntolerance"}

    def test_several_groups(self, content: Content) -> None:
        """Values from several statements are collected."""
        result = read(content, statement("8123"), statement("36437", rid="m2"))
        assert result.answers == {"medication_classes": ["antidepressant", "maoi"]}


class TestUnmapped:
    """Codes that give no answer are reported with the reason."""

    def test_unknown_snomed_code(self, content: Content) -> None:
        """An unknown SNOMED code is listed as unknown."""
        result = read(content, condition(SNOMED, "271737000"))
        [unmapped] = result.unmapped
        assert (unmapped.resource_type, unmapped.id, unmapped.system) == (
            "Condition",
            "c1",
            SNOMED,
        )
        assert (unmapped.code, unmapped.reason) == ("271737000", "unknown code")

    def test_text_only(self, content: Content) -> None:
        """A concept with only text is reported with that text."""
        resource = condition(SNOMED, "x") | {"code": {"text": "heart trouble"}}
        [unmapped] = read(content, resource).unmapped
        assert (unmapped.display, unmapped.reason) == ("heart trouble", "no coding")

    def test_one_mapped_coding_is_enough(self, content: Content) -> None:
        """A second coding of the same concept is a translation, not a lost code."""
        resource = condition(SNOMED, "38341003")
        resource["code"]["coding"].append(
            {"system": "http://example.org", "code": "HT"}
        )
        assert read(content, resource).unmapped == ()

    def test_other_resource_types(self, content: Content) -> None:
        """Resource types that are not read are reported once."""
        encounter = {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
        }
        assert reasons(read(content, encounter)) == {None: "resource type not used"}

    def test_instrument_totals_are_noted(self, content: Content) -> None:
        """A PHQ-9 total is listed in sources but sets no answer."""
        total = {
            "resourceType": "Observation",
            "id": "phq",
            "status": "final",
            "code": _concept(LOINC, "44261-6"),
            "valueInteger": 14,
        }
        result = read(content, total)
        assert result.answers == {}
        assert result.sources == {"phq9.total": ["Observation/phq"]}
        assert result.unmapped == ()


class TestPatient:
    """Age comes from the birth date; gender is not sex at birth."""

    def test_age(self, content: Content) -> None:
        """Age on the screening date."""
        patient = {"resourceType": "Patient", "id": "p1", "birthDate": "2000-11-28"}
        assert read(content, patient).answers == {"age": 25}

    def test_partial_birth_date_gives_youngest_age(self, content: Content) -> None:
        """'2008' could be 31 December: 17, so the under-18 check is not missed."""
        patient = {"resourceType": "Patient", "id": "p1", "birthDate": "2008"}
        result = read(content, patient)
        assert result.answers == {"age": 17}
        assert "age.under_18" in fired(run(result.answers))

    def test_gender_is_not_mapped(self, content: Content) -> None:
        """Gender is reported, and sex_at_birth stays unanswered."""
        patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
        result = read(content, patient)
        assert result.answers == {}
        assert "sex assigned at birth" in reasons(result)["female"]


class TestInvalidResources:
    """Invalid FHIR is refused whole, each problem at its path."""

    def test_fhir_error_paths(self, content: Content) -> None:
        """Each bad field is named, under its resource and position."""
        bad = condition(ICD10CM, "I10") | {"clinicalStatus": "active", "colour": "red"}
        with pytest.raises(FhirError) as caught:
            answers_from_resources([statement("8123"), bad], content.form)
        wheres = {p.where for p in caught.value.problems}
        assert wheres == {"Condition[1].clinicalStatus", "Condition[1].colour"}

    def test_not_a_resource(self, content: Content) -> None:
        """Something without a resourceType is refused."""
        with pytest.raises(FhirError) as caught:
            answers_from_resources([{"code": "I10"}], content.form)
        assert caught.value.problems[0].where == "[0]"

    def test_unknown_resource_type(self, content: Content) -> None:
        """An unknown resource type is refused."""
        with pytest.raises(FhirError, match="unknown resource type"):
            answers_from_resources([{"resourceType": "Conditon"}], content.form)

    def test_operation_outcome(self, content: Content) -> None:
        """The error renders as an OperationOutcome with one issue per problem."""
        with pytest.raises(FhirError) as caught:
            answers_from_resources(
                [{"resourceType": "Observation", "status": "final"}], content.form
            )
        outcome = caught.value.operation_outcome()
        assert outcome["issue"][0]["expression"] == ["Observation[0].code"]


class TestBundle:
    """A Bundle is read entry by entry."""

    def bundle(self, *resources: dict[str, Any]) -> dict[str, Any]:
        """A collection Bundle of the resources."""
        entries = [
            {"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)
        ]
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}

    def test_bundle(self, content: Content) -> None:
        """A Bundle gives the same answers as its resources."""
        resources = [
            condition(ICD10CM, "I10"),
            blood_pressure(172, 104),
            statement("8123"),
        ]
        from_bundle = read(content, self.bundle(*resources))
        assert from_bundle == read(content, *resources)
        assert "cardiovascular.bp_high_measured" in fired(run(from_bundle.answers))

    def test_bundle_alone(self, content: Content) -> None:
        """A Bundle may be passed on its own, not in a list."""
        result = answers_from_resources(
            self.bundle(pregnancy_test("10828004")), content.form, today=SCREENING_DATE
        )
        assert result.answers == {"pregnant": "yes"}

    def test_invalid_entry_path(self, content: Content) -> None:
        """A bad entry is located inside the Bundle."""
        bad = condition(ICD10CM, "I10") | {"onsetDateTime": "yesterday"}
        with pytest.raises(FhirError) as caught:
            answers_from_resources([self.bundle(statement("8123"), bad)], content.form)
        [problem] = caught.value.problems
        assert problem.where.startswith("Bundle[0].entry[1].resource.onsetDateTime")


def _with_window(days: int) -> CodeMaps:
    """The bundled maps with a negative-result window on the pregnancy test group."""
    files = dict(load_code_maps().files)
    loinc = files["loinc"]
    groups = [
        g.model_copy(update={"negative_within_days": days})
        if g.id == "pregnancy_test"
        else g
        for g in loinc.groups
    ]
    files["loinc"] = loinc.model_copy(update={"groups": groups})
    return build_code_maps(files)
