"""One entry for every JSON input: plain answers, a QuestionnaireResponse, or a record.

The CLI's ``screen --answers`` and the web's FHIR endpoints hand whatever JSON they
got to :func:`read_input`, which recognises it and returns answers plus what was
left unused (hidden answers, unmapped codes), so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ketascreen.errors import Problem
from ketascreen.interop.outcome import FhirError
from ketascreen.rules.loader import Content

if TYPE_CHECKING:
    from ketascreen.interop.clinical import Unmapped

#: Resource types that carry record data (not questionnaire answers).
RECORD_TYPES = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "MedicationRequest",
        "Medication",
        "AllergyIntolerance",
    }
)


@dataclass(frozen=True)
class Intake:
    """Answers read from one input, and what was not used."""

    answers: dict[str, Any]
    kind: str
    """answers, questionnaire-response or record."""
    not_used: tuple[Problem, ...] = ()


def read_input(
    data: Any, content: Content, *, screening_date: date | None = None
) -> Intake:
    """Recognise an input and turn it into answers.

    Args:
        data: parsed JSON: an answers object, a QuestionnaireResponse (or a Bundle
            holding one), or FHIR record resources (one, a list, or a Bundle).
        content: the loaded clinical content.
        screening_date: the date of screening (record ages and intervals use it).

    Returns:
        The answers and what was not used.

    Raises:
        FhirError: the FHIR input is invalid.
    """
    # FHIR models load only for FHIR input: plain answers stay fast to screen.
    from ketascreen.interop.clinical import answers_from_resources
    from ketascreen.interop.response import answers_from_response

    if _has_response(data):
        read = answers_from_response(
            data,
            content.form,
            instruments=content.instruments,
            screening_date=screening_date,
        )
        return Intake(read.answers, "questionnaire-response", read.ignored)
    if _is_record(data):
        resources = data if isinstance(data, list) else [data]
        record = answers_from_resources(resources, content.form, today=screening_date)
        unused = tuple(
            Problem(f"{u.resource_type}/{u.id or '?'}", _unmapped_text(u))
            for u in record.unmapped
        )
        return Intake(record.answers, "record", unused)
    if isinstance(data, Mapping) and "resourceType" in data:
        raise FhirError([Problem("resourceType", _not_screenable(data))])
    return Intake(dict(data) if isinstance(data, Mapping) else data, "answers")


def _not_screenable(data: Mapping[str, Any]) -> str:
    kinds = ", ".join(sorted(RECORD_TYPES))
    return (
        f"a {data['resourceType']} cannot be screened; send answers, a "
        f"QuestionnaireResponse, or record resources ({kinds})"
    )


def _unmapped_text(unmapped: Unmapped) -> str:
    code = f"{unmapped.system}|{unmapped.code}" if unmapped.code else "no code"
    return f"not used ({unmapped.reason}): {code} {unmapped.display or ''}".strip()


def _has_response(data: Any) -> bool:
    if not isinstance(data, Mapping):
        return False
    if data.get("resourceType") == "QuestionnaireResponse":
        return True
    return any(
        _resource(e).get("resourceType") == "QuestionnaireResponse"
        for e in _entries(data)
    )


def _is_record(data: Any) -> bool:
    items = data if isinstance(data, list) else [data]
    types = set()
    for item in items:
        if not isinstance(item, Mapping):
            return False
        types.add(item.get("resourceType"))
        types.update(_resource(e).get("resourceType") for e in _entries(item))
    return bool(types & RECORD_TYPES)


def _resource(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """An entry's resource; anything but an object counts as none."""
    resource = entry.get("resource")
    return resource if isinstance(resource, Mapping) else {}


def _entries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if data.get("resourceType") != "Bundle":
        return []
    return [e for e in data.get("entry") or () if isinstance(e, Mapping)]
