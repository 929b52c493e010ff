"""Schemathesis against the app's own OpenAPI schema, in process, on SQLite and
PostgreSQL.

Every operation gets schema-valid requests (positive) and schema-breaking ones
(negative), generated deterministically (derandomized: CI sees the same requests).
Each answer is checked: never a 5xx; the status, media type and body are the ones
the schema documents; a request that breaks the schema is refused; and every 4xx
is JSON naming the problem (``assert_names_the_problem``). Failures are collected
rather than shrunk, so the run reports all of them and its request count is fixed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err, Ok
from schemathesis.errors import InvalidSchema
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import APIOperation, BaseSchema

from ketascreen.config import Settings
from ketascreen.web.app import create_app
from tests.hostile.conftest import assert_names_the_problem

Operation = APIOperation[Any, Any, Any, Any]
#: Requests per operation and mode; 8 operations x 2 modes bound the run.
EXAMPLES = 120
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


@dataclass
class Tally:
    """Requests sent per operation and mode, and every failure seen."""

    sent: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def schema(settings: Settings) -> Iterator[BaseSchema]:
    """The schema the app serves, bound to the app (schemathesis runs its lifespan)."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    yield loaded
    shutdown_lifespans()  # close the database before the next app opens its own


def _fuzz(operation: Operation, mode: GenerationMode, tally: Tally) -> None:
    """Send EXAMPLES generated requests to one operation and check each answer."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode))
    def send(case: Case[Any]) -> None:
        tally.sent[f"{operation.label} ({mode.value})"] += 1
        response = case.call(timeout=120)  # the first note loads spaCy
        try:
            case.validate_response(response, checks=CHECKS)
            if response.status_code >= 400:
                path = case.formatted_path
                assert_names_the_problem(path, response.status_code, response.json())
        except (AssertionError, ValueError, FailureGroup) as exc:
            tally.failures.append(f"{operation.label} ({mode.value}): {exc}")

    try:
        send()
    except Unsatisfiable:
        # Nothing in the operation can be made schema-invalid (e.g. only free
        # strings in the path): there is no negative request to send.
        assert mode == GenerationMode.NEGATIVE


def _operation(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """An operation of the schema; a schema schemathesis cannot read fails here."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


@pytest.mark.slow
def test_generated_requests_get_documented_answers(schema: BaseSchema) -> None:
    """Thousands of generated requests: no 5xx, documented answers, named problems."""
    tally = Tally()
    operations = [_operation(result) for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, tally)
    total = sum(tally.sent.values())
    print(  # noqa: T201 - the figures for the closing note (pytest -s)
        f"schemathesis: {len(operations)} operations, {total} requests, "
        f"{len(tally.failures)} failures; per operation: {dict(tally.sent)}"
    )
    assert len(operations) >= 8
    assert total >= 1000
    assert not tally.failures, "\n\n".join(tally.failures[:5])
