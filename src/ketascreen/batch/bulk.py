"""A FHIR bulk export (a folder of NDJSON files) as a facts table.

Each line is one resource (Patient, Condition, Observation, MedicationStatement,
MedicationRequest, AllergyIntolerance). Resources are grouped by the patient they are
about and turned into answers through the interop code maps, so the batch engine
screens record data with exactly the mappings the single-person FHIR path uses.
Unmapped codes are counted and reported, never silently dropped.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from ketascreen.batch.polars_backend import DTYPES
from ketascreen.batch.schema import PERSON, Column
from ketascreen.batch.table import BatchInputError
from ketascreen.errors import InputError, Problem
from ketascreen.intake.answers import facts_from_answers
from ketascreen.rules.loader import Content


@dataclass(frozen=True)
class BulkFacts:
    """Facts per patient from a bulk export, and what could not be used."""

    frame: pl.DataFrame
    unmapped: Counter[str]


def read_bulk(
    folder: Path,
    content: Content,
    columns: dict[str, Column],
    today: date | None = None,
) -> BulkFacts:
    """Read every ``*.ndjson`` file in a folder into one row per patient.

    Args:
        folder: the bulk export folder.
        content: the loaded content.
        columns: the facts table's columns.
        today: the screening date (ages and intervals).

    Returns:
        The facts table and a count of unmapped codes (``system|code: reason``).

    Raises:
        BatchInputError: no NDJSON files, or a line that is not JSON.
    """
    from ketascreen.interop.clinical import answers_from_resources

    when = today or date.today()  # noqa: DTZ011 - the local date, as screen() uses
    by_patient = _group(folder)
    rows, unmapped = [], Counter[str]()
    unmapped["no patient: a resource with no Patient subject"] = len(
        by_patient.pop("", [])
    )
    for patient, resources in sorted(by_patient.items()):
        try:
            record = answers_from_resources(resources, content.form, today=when)
            facts = facts_from_answers(content.form, record.answers, when).values
        except InputError as exc:
            where = f"{folder}: Patient/{patient}"
            raise BatchInputError(
                [Problem(f"{where} {p.where}", p.message) for p in exc.problems]
            ) from exc
        unmapped.update(f"{u.system}|{u.code}: {u.reason}" for u in record.unmapped)
        rows.append({PERSON: patient, **_facts(facts, columns)})
    unmapped = +unmapped  # drop the zero count
    schema = {
        PERSON: pl.String(),
        **{n: DTYPES[c.dtype] for n, c in columns.items() if c.required},
    }
    return BulkFacts(pl.DataFrame(rows, schema=schema), unmapped)


def _group(folder: Path) -> dict[str, list[dict[str, Any]]]:
    files = sorted(folder.glob("*.ndjson"))
    if not files:
        raise BatchInputError(
            [Problem(str(folder), "no .ndjson files (a FHIR bulk export)")]
        )
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    resource = _parse(path, number, line)
                    grouped[_patient_of(resource)].append(resource)
    return grouped  # under "": resources about no patient (counted, not screened)


def _parse(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        resource = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BatchInputError(
            [Problem(f"{path}:{number}", f"not JSON: {exc.msg}")]
        ) from exc
    if not isinstance(resource, dict) or "resourceType" not in resource:
        raise BatchInputError([Problem(f"{path}:{number}", "not a FHIR resource")])
    return resource


def _patient_of(resource: dict[str, Any]) -> str:
    if resource["resourceType"] == "Patient":
        return str(resource.get("id", ""))
    holder = resource.get("subject") or resource.get("patient")
    ref = holder.get("reference") if isinstance(holder, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/"):
        return ""
    return ref.removeprefix("Patient/")


def _facts(facts: Mapping[str, Any], columns: dict[str, Column]) -> dict[str, Any]:
    out = {}
    for key, value in facts.items():
        column = columns.get(key)
        if column is None or not column.required:
            continue
        if column.dtype == "list[str]":
            value = sorted(map(str, value))
        out[key] = value
    return out
