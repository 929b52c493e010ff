"""FHIR R4 endpoints: our Questionnaire, screening a QuestionnaireResponse, results.

Errors are OperationOutcomes (one issue per problem). A stored screening is read back
as a Bundle with its private access token (``Authorization: Bearer …``) or a staff
session, exactly like ``GET /api/v1/screenings/{id}``; every read is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.errors import Problem
from ketascreen.interop.intake import read_input
from ketascreen.interop.outcome import FhirError, operation_outcome, with_not_used
from ketascreen.screening import screen
from ketascreen.web.deps import StateDep
from ketascreen.web.problems import error_responses, read_json
from ketascreen.web.routes.api import find_screening
from ketascreen.web.state import AppState

FHIR_JSON = "application/fhir+json"


class FhirJSONResponse(JSONResponse):
    """JSON with the FHIR media type."""

    media_type = FHIR_JSON


router = APIRouter(
    prefix="/fhir",
    tags=["fhir"],
    default_response_class=FhirJSONResponse,
    responses=error_responses(400, 404, 413, 422, 503, fhir=True),
)
QUESTIONNAIRE_ID = "ketascreen-intake"
TOKEN_HEADER = "X-Ketascreen-Access-Token"  # noqa: S105 - a header name  # nosec B105
_RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"enum": ["QuestionnaireResponse", "Bundle"]}},
}
RESPONSE_BODY = {
    "required": True,
    "description": "A QuestionnaireResponse, or a Bundle holding one.",
    "content": {
        FHIR_JSON: {"schema": _RESOURCE},
        "application/json": {"schema": _RESOURCE},
    },
}


def fhir_response(
    body: dict[str, Any], code: int = 200, **headers: str
) -> JSONResponse:
    """A FHIR JSON response."""
    return FhirJSONResponse(body, code, headers=headers or None)


def _not_found(what: str) -> JSONResponse:
    outcome = operation_outcome([Problem(what, "not found")], code="not-found")
    return fhir_response(outcome, status.HTTP_404_NOT_FOUND)


@router.get("/Questionnaire/{questionnaire_id}")
def get_questionnaire(questionnaire_id: str, state: StateDep) -> JSONResponse:
    """The whole intake as one SDC Questionnaire (linkId = answers key)."""
    if questionnaire_id != QUESTIONNAIRE_ID:
        return _not_found(f"Questionnaire/{questionnaire_id}")
    from ketascreen.interop.questionnaire import questionnaire_resource

    key = "fhir-questionnaire"
    if key not in state.content.cache:
        state.content.cache[key] = questionnaire_resource(state.content.form)
    return fhir_response(state.content.cache[key])


@router.post(
    "/QuestionnaireResponse",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": RESPONSE_BODY},
)
async def post_response(request: Request, state: StateDep) -> JSONResponse:
    """Screen and store a QuestionnaireResponse; answers with the result Bundle.

    The Bundle's Location is ``/fhir/Bundle/{id}``; the private token that reads it
    back is in the ``X-Ketascreen-Access-Token`` header.
    """
    try:
        data = await read_json(request)
    except ValueError as exc:
        raise FhirError([Problem("body", str(exc))]) from None
    if not isinstance(data, dict) or data.get("resourceType") not in (
        "QuestionnaireResponse",
        "Bundle",
    ):
        message = "expected a QuestionnaireResponse (or a Bundle holding one)"
        raise FhirError([Problem("resourceType", message)])
    intake = read_input(data, state.content)
    result = screen(intake.answers, content=state.content)
    stored, _ = state.repository.save(
        answers=intake.answers, result=result, actor="fhir"
    )
    bundle = _bundle(state, result, intake.answers, stored.id, stored.created_at)
    with_not_used(bundle, list(intake.not_used))
    return fhir_response(
        bundle,
        status.HTTP_201_CREATED,
        Location=f"/fhir/Bundle/{stored.id}",
        **{TOKEN_HEADER: stored.access_token},
    )


@router.get("/Bundle/{screening_id}")
async def get_bundle(
    screening_id: str,
    request: Request,
    state: StateDep,
    authorization: str | None = Header(default=None),
) -> JSONResponse:
    """A stored screening as a Bundle (QuestionnaireResponse, RiskAssessment,
    DetectedIssues, Observations); token or staff session; audited."""
    found = await find_screening(state, screening_id, request, authorization)
    if found is None:
        return _not_found(f"Bundle/{screening_id}")
    bundle = _bundle(state, found.result, found.answers, screening_id, found.created_at)
    return fhir_response(bundle)


def _bundle(
    state: AppState,
    result: ScreeningResult,
    answers: dict[str, Any],
    screening_id: str,
    created_at: datetime,
) -> dict[str, Any]:
    from ketascreen.interop.results import result_bundle

    instruments = {key: c.file for key, c in state.content.instruments.items()}
    return result_bundle(
        result,
        answers=answers,
        form=state.content.form,
        screening_id=screening_id,
        created_at=created_at,
        instruments=instruments,
        domain_titles={d: i.title for d, i in state.content.domains.items()},
    )
