"""Shared material for the CDS Hooks tests: the spec's own examples and a record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: JSON examples from the CDS Hooks 2.0 specification (tests/fixtures/cds-hooks/README.md).
SPEC = Path(__file__).parents[1] / "fixtures" / "cds-hooks"


def spec_examples(kind: str) -> dict[str, Any]:
    """The spec's example files of one kind (discovery, request, response)."""
    found = {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(SPEC.glob(f"*-{kind}.json"))
    }
    assert found, f"no {kind} examples in {SPEC}"
    return found


def card_keys() -> set[str]:
    """Every card field the spec's example responses use."""
    keys: set[str] = set()
    for response in spec_examples("response").values():
        for card in response.get("cards", []):
            keys.update(card)
    return keys | {"overrideReasons", "links", "uuid", "detail", "source"}


def observation(code: str, **value: Any) -> dict[str, Any]:
    """A final LOINC Observation with the given value[x] or components."""
    return {
        "resourceType": "Observation",
        "id": f"obs-{code}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": "2026-11-20",
        **value,
    }


def blood_pressure(systolic: int, diastolic: int) -> dict[str, Any]:
    """A blood pressure panel (85354-9) with its two components."""

    def part(code: str, mmhg: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": mmhg,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    return observation(
        "85354-9", component=[part("8480-6", systolic), part("8462-4", diastolic)]
    )


PREGNANT = observation(
    "82810-3",
    valueCodeableConcept={
        "coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]
    },
)


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    """A search result Bundle, as an EHR prefetches it."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def request(hook: str, *observations: dict[str, Any], **context: Any) -> dict[str, Any]:
    """A hook call with every prefetch key our services ask for."""
    return {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": hook,
        "context": {"userId": "Practitioner/1", "patientId": "p1", **context},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": "p1",
                "birthDate": "1985-03-02",
            },
            "conditions": searchset(),
            "observations": searchset(*observations),
            "medications": searchset(),
            "medication_statements": searchset(),
            "allergies": searchset(),
        },
    }


def draft_order(display: str, code: str) -> dict[str, Any]:
    """An order-select context with one draft MedicationRequest."""
    return {
        "selections": ["MedicationRequest/mr1"],
        "draftOrders": searchset(
            {
                "resourceType": "MedicationRequest",
                "id": "mr1",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": code,
                            "display": display,
                        }
                    ]
                },
            }
        ),
    }


KETAMINE = draft_order("ketamine 50 MG/ML Injectable Solution", "6130")
AMOXICILLIN = draft_order("Amoxicillin 120 MG/ML Oral Suspension", "617993")
