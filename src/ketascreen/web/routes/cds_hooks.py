"""CDS Hooks 2.0 endpoints: discovery, the two services, and card feedback."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ketascreen.interop.cds_hooks import (
    CdsRequest,
    NothingToJudge,
    UnknownService,
    discovery,
    handle,
    service,
)
from ketascreen.web.bearer import BearerRefused, check_bearer
from ketascreen.web.deps import StateDep
from ketascreen.web.problems import (
    CheckedJSONRoute,
    Message,
    error_responses,
    read_json,
)

router = APIRouter(
    prefix="/cds-services",
    tags=["cds-hooks"],
    responses=error_responses(400, 401, 404, 413, 422, 503),
    route_class=CheckedJSONRoute,
)
#: Card ids are kept in the audit log's target column (64 characters, no NULs).
CARD_ID = r"^[^\x00-\x1f]+$"


class OverrideReasonGiven(BaseModel):
    """Why the clinician did not follow a card."""

    model_config = ConfigDict(extra="allow")
    reason: dict[str, Any] | None = None
    userComment: str | None = None


class FeedbackItem(BaseModel):
    """What happened to one card."""

    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1, max_length=64, pattern=CARD_ID)
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: str
    overrideReason: OverrideReasonGiven | None = None
    acceptedSuggestions: list[dict[str, Any]] | None = None


class Feedback(BaseModel):
    """The feedback body (CDS Hooks 2.0)."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


@router.get("")
def list_services() -> dict[str, Any]:
    """Discovery: the services and the data each wants prefetched."""
    return discovery()


def _caller(request: Request, state: StateDep, authorization: str | None) -> str:
    url = str(request.url).removesuffix("/feedback").split("?")[0]
    try:
        return check_bearer(authorization, state.settings.cds_jwt_issuers, url)
    except BearerRefused as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc


@router.post(
    "/{service_id}",
    responses={412: {"model": Message, "description": "Nothing prefetched."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CdsRequest.model_json_schema()}},
        }
    },
)
async def call_service(
    service_id: str,
    request: Request,
    state: StateDep,
    authorization: str | None = Header(default=None),
) -> JSONResponse:
    """Run a service on the EHR's prefetched record; answers with cards."""
    _caller(request, state, authorization)
    try:
        body = await read_json(request)
    except ValueError as exc:
        return JSONResponse({"detail": [{"field": "body", "message": str(exc)}]}, 400)
    try:
        answer = handle(
            service_id,
            body,
            content=state.content,
            base_url=str(request.base_url),
        )
    except UnknownService:
        raise HTTPException(404, f"no CDS service {service_id!r}") from None
    except NothingToJudge as exc:
        return JSONResponse({"detail": str(exc)}, status.HTTP_412_PRECONDITION_FAILED)
    return JSONResponse(answer)


@router.post("/{service_id}/feedback")
def feedback(
    service_id: str,
    body: Feedback,
    request: Request,
    state: StateDep,
    authorization: str | None = Header(default=None),
) -> dict[str, int]:
    """Record what the clinician did with each card in the audit log.

    Free-text comments are not stored (the audit log is not the place for notes);
    the outcome and the coded override reason are.
    """
    issuer = _caller(request, state, authorization)
    try:
        service(service_id)
    except UnknownService:
        raise HTTPException(404, f"no CDS service {service_id!r}") from None
    for item in body.feedback:
        reason = (item.overrideReason.reason or {}) if item.overrideReason else {}
        detail = f"{service_id}: {item.outcome}"
        if reason.get("code"):
            detail += f" ({reason['code']})"
        state.repository.audit(
            f"cds:{issuer or 'ehr'}", "cds.feedback", item.card, detail
        )
    return {"recorded": len(body.feedback)}
