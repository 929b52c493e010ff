"""A FHIR bulk export screens per patient exactly as the single-person FHIR path does."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.interop.cds_examples import PREGNANT, blood_pressure

from ketascreen.batch.run import run_batch
from ketascreen.batch.table import BatchInputError
from ketascreen.interop.clinical import answers_from_resources
from ketascreen.rules.loader import Content
from ketascreen.screening import screen

TODAY = date.today()  # noqa: DTZ011 - the local date, as screen() uses


def condition(cid: str, patient: str, code: str) -> dict[str, Any]:
    """An active SNOMED Condition."""
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
    }


def about(resource: dict[str, Any], patient: str) -> dict[str, Any]:
    """The resource, about one patient."""
    return {**resource, "subject": {"reference": f"Patient/{patient}"}}


RECORD = {
    "Patient": [
        {"resourceType": "Patient", "id": "a", "birthDate": "1980-01-01"},
        {"resourceType": "Patient", "id": "b", "birthDate": "1950-06-01"},
        {"resourceType": "Patient", "id": "c", "birthDate": "1995-02-02"},
    ],
    "Observation": [about(PREGNANT, "a"), about(blood_pressure(172, 104), "b")],
    "Condition": [condition("c1", "b", "38341003"), condition("c2", "c", "12345")],
}


def write_export(folder: Path) -> None:
    """The record as one NDJSON file per resource type."""
    folder.mkdir()
    for kind, resources in RECORD.items():
        lines = "\n".join(json.dumps(r) for r in resources)
        (folder / f"{kind}.ndjson").write_text(lines + "\n", encoding="utf-8")


class TestBulk:
    """Bulk NDJSON in, one row per patient out."""

    def test_same_as_single_person(self, content: Content, tmp_path: Path) -> None:
        """Each patient's disposition and fired rules equal screen() on their record."""
        export = tmp_path / "export"
        write_export(export)
        summary = run_batch(export, tmp_path / "out.parquet", content)
        got = {
            r["person_id"]: r
            for r in pl.read_parquet(tmp_path / "out.parquet").to_dicts()
        }
        assert set(got) == {"a", "b", "c"}
        everything = [r for rs in RECORD.values() for r in rs]
        for patient, row in got.items():
            mine = [
                r
                for r in everything
                if (r.get("id") == patient and r["resourceType"] == "Patient")
                or r.get("subject", {}).get("reference") == f"Patient/{patient}"
            ]
            answers = answers_from_resources(mine, content.form, today=TODAY).answers
            result = screen(answers, content=content, screening_date=TODAY)
            assert row["disposition"] == result.disposition.value
            fired = sorted(f.rule_id for f in result.findings if not f.unresolved)
            assert sorted(row["rule_ids"]) == fired
        assert "pregnancy.pregnant" in got["a"]["rule_ids"]
        assert any("12345" in code for code in summary.not_used)

    def test_bad_line(self, content: Content, tmp_path: Path) -> None:
        """A line that is not JSON is named with its file and line number."""
        export = tmp_path / "export"
        write_export(export)
        (export / "Condition.ndjson").write_text("{not json\n", encoding="utf-8")
        with pytest.raises(BatchInputError, match=r"Condition\.ndjson:1"):
            run_batch(export, tmp_path / "out.parquet", content)

    def test_empty_folder(self, content: Content, tmp_path: Path) -> None:
        """A folder with no NDJSON is refused."""
        with pytest.raises(BatchInputError, match=r"no \.ndjson"):
            run_batch(tmp_path, tmp_path / "out.parquet", content)


def test_resources_about_no_patient_are_counted(
    content: Content, tmp_path: Path
) -> None:
    """A resource whose subject is not a Patient reference is counted, not screened."""
    export = tmp_path / "export"
    write_export(export)
    odd = {**condition("c9", "a", "38341003"), "subject": "Patient/a"}
    with (export / "Condition.ndjson").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(odd) + "\n")
    summary = run_batch(export, tmp_path / "out.parquet", content)
    assert summary.not_used["no patient: a resource with no Patient subject"] == 1
    assert summary.people == 3


def test_export_without_patients(content: Content, tmp_path: Path) -> None:
    """An export whose resources name no patient is refused, not half-written."""
    export = tmp_path / "export"
    export.mkdir()
    lone = {**condition("c1", "x", "38341003"), "subject": {"display": "someone"}}
    (export / "Condition.ndjson").write_text(json.dumps(lone) + "\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="no people to screen"):
        run_batch(export, tmp_path / "out.parquet", content)
    assert not (tmp_path / "out.parquet").exists()
