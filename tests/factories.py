"""Factories for content files written to a test's tmp_path (real files, real loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def rule(rule_id: str, when: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A complete rule; ``fields`` replace any of its defaults."""
    data: dict[str, Any] = {
        "id": rule_id,
        "domain": rule_id.split(".")[0],
        "level": "needs_specialist_review",
        "title": f"Test rule {rule_id}",
        "when": when,
        "patient_message": "A clinician will want to talk with you.",
        "clinician_rationale": "Test rule.",
        "next_steps": ["Book a visit."],
        "references": ["SPR"],
    }
    data.update(fields)
    return data


def parameter(value: float, **fields: Any) -> dict[str, Any]:
    """A complete, cited parameter."""
    return {
        "value": value,
        "description": "A test threshold.",
        "references": ["SPR"],
        **fields,
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as YAML (strings such as "yes" stay quoted strings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def clinic_layer(tmp_path: Path, name: str = "clinic.yaml", **keys: Any) -> Path:
    """A clinic ruleset file that ``extends: default``, with the given top-level keys."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": Path(name).stem,
        "version": "0.1.0",
        "title": "Clinic",
        "extends": "default",
    }
    data.update(keys)
    return write_yaml(tmp_path / name, data)


def rules_file(
    path: Path,
    rules: list[dict[str, Any]],
    parameters: dict[str, Any] | None = None,
) -> Path:
    """A rule file that a ruleset includes."""
    data: dict[str, Any] = {"schema_version": 1}
    if parameters:
        data["parameters"] = parameters
    data["rules"] = rules
    return write_yaml(path, data)
