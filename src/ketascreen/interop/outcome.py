"""FHIR input errors and the OperationOutcome that reports them."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError

from ketascreen.errors import InputError, Problem


class FhirError(InputError):
    """FHIR input that cannot be used; one Problem per issue (``where`` is a path)."""

    def operation_outcome(self) -> dict[str, Any]:
        """This error as a FHIR OperationOutcome (one issue per problem)."""
        return operation_outcome(self.problems)


def operation_outcome(
    problems: list[Problem], *, severity: str = "error", code: str = "invalid"
) -> dict[str, Any]:
    """An OperationOutcome resource with one issue per problem.

    Args:
        problems: what is wrong and where (``where`` becomes the issue's expression).
        severity: fatal, error, warning or information.
        code: the FHIR issue type code (invalid, not-found, not-supported, ...).

    Returns:
        The resource as JSON-ready data.
    """
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": code,
                "diagnostics": p.message,
                "expression": [p.where],
            }
            for p in problems
        ],
    }


def problems_from_validation(error: ValidationError, prefix: str) -> list[Problem]:
    """Turn a fhir.resources validation error into one Problem per failing field.

    Args:
        error: the pydantic error raised while parsing a resource.
        prefix: the resource type or path the locations are relative to.

    Returns:
        Problems whose ``where`` is a FHIRPath-like location (``Patient.name[0]``).
    """
    problems = []
    for item in error.errors():
        where = prefix
        for part in item["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        problems.append(Problem(where, item["msg"]))
    return problems


def with_not_used(bundle: dict[str, Any], not_used: list[Problem]) -> dict[str, Any]:
    """Add an informational OperationOutcome listing input that gave no answer.

    Unmapped codes and answers hidden by enableWhen are reported, never dropped
    silently.

    Args:
        bundle: a result Bundle (changed in place and returned).
        not_used: what was not used and why.

    Returns:
        The Bundle.
    """
    if not_used:
        outcome = operation_outcome(
            not_used, severity="information", code="informational"
        )
        entry = {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome}
        bundle.setdefault("entry", []).append(entry)
    return bundle
