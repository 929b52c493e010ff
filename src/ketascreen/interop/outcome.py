"""FHIR input errors and the OperationOutcome that reports them."""

from __future__ import annotations

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
