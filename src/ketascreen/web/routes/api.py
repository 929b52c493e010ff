"""JSON API under /api/v1: submit a screening, read it back with its private token."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.screening import screen
from ketascreen.web.auth import COOKIE
from ketascreen.web.deps import StateDep

router = APIRouter(prefix="/api/v1", tags=["screenings"])


class ScreeningCreate(BaseModel):
    """A screening to run and store."""

    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Any] = Field(
        description="Questionnaire item id to value (see GET /api/v1/questionnaire)."
    )
    screening_date: date | None = Field(
        default=None, description="Date of the screening; default today."
    )
    person_ref: str | None = Field(
        default=None,
        max_length=200,
        description="The clinic's reference for the person (e.g. a record number); "
        "screenings with the same reference are shown together as the person's history. "
        "Stored encrypted.",
    )


class ScreeningPublic(BaseModel):
    """A stored screening as the person (or staff) sees it."""

    id: str
    created_at: datetime
    status: str
    result: ScreeningResult


class ScreeningCreated(ScreeningPublic):
    """The stored screening and the private token that reads it back."""

    access_token: str = Field(
        description="Keep this private: with the id it reads this screening back."
    )


@router.post(
    "/screenings",
    status_code=status.HTTP_201_CREATED,
    response_model=ScreeningCreated,
    responses={422: {"description": "Answers with problems, one entry per field."}},
)
async def create_screening(
    body: ScreeningCreate,
    state: StateDep,
    idempotency_key: str | None = Header(default=None, max_length=200),
) -> Response:
    """Screen the answers and store the result; a repeated Idempotency-Key is a no-op.

    Runs on the event loop; concurrent submissions share one transaction (group
    commit), and each is answered only after its commit.
    """
    result = screen(
        body.answers, content=state.content, screening_date=body.screening_date
    )
    if idempotency_key:
        # A repeat (same Idempotency-Key) gets the first screening back, result included.
        stored, _ = state.repository.save(
            answers=body.answers,
            result=result,
            idempotency_key=idempotency_key,
            person_ref=body.person_ref,
        )
        token = state.repository.access_token(stored.id)
    else:
        prepared = state.repository.prepare(
            answers=body.answers, result=result, person_ref=body.person_ref
        )
        await state.writer.submit(prepared)  # returns once committed
        stored, token = prepared.stored, prepared.access_token
    head = json.dumps(
        {
            "id": stored.id,
            "created_at": stored.created_at.isoformat().replace("+00:00", "Z"),
            "status": stored.status,
            "access_token": token,
        }
    )
    # The stored result JSON is spliced in as is: serialised once, in one place.
    body_bytes = head[:-1].encode() + b', "result": ' + stored.result_json + b"}"
    return Response(
        body_bytes, status_code=status.HTTP_201_CREATED, media_type="application/json"
    )


@router.get(
    "/screenings/{screening_id}",
    response_model=ScreeningPublic,
    responses={404: {"description": "No screening with this id and token."}},
)
def read_screening(
    screening_id: str,
    request: Request,
    state: StateDep,
    authorization: str | None = Header(default=None),
) -> ScreeningPublic:
    """Read a stored screening with its private token (``Authorization: Bearer …``)
    or a staff session; every read is audited."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    if token:
        stored = state.repository.get_with_token(screening_id, token)
        if stored is not None:
            return ScreeningPublic(
                id=stored.id,
                created_at=stored.created_at,
                status=stored.status,
                result=ScreeningResult.model_validate_json(stored.result_json),
            )
    session = request.cookies.get(COOKIE)
    staff = state.staff.session_user(session) if session else None
    found = state.staff.screening(staff[0], screening_id) if staff else None
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "No screening with this id and token."
        )
    return ScreeningPublic(
        id=found["id"],
        created_at=found["created_at"],
        status=found["status"],
        result=ScreeningResult.model_validate(found["result"]),
    )


@router.post("/echo", include_in_schema=True, tags=["operations"])
def echo(body: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON body unchanged: a baseline for load tests (benchmarks/web.py)."""
    return body
