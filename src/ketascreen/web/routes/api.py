"""JSON API under /api/v1: submit a screening, read it back with its private token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.screening import screen
from ketascreen.storage.links import LinkRevoked
from ketascreen.web.auth import COOKIE
from ketascreen.web.deps import StateDep
from ketascreen.web.note import NotePublic, screen_note
from ketascreen.web.problems import (
    CheckedJSONRoute,
    Message,
    Problems,
    error_responses,
)
from ketascreen.web.state import AppState

router = APIRouter(
    prefix="/api/v1",
    tags=["screenings"],
    responses=error_responses(400, 413, 422, 503),
    route_class=CheckedJSONRoute,
)


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
    note: str | None = Field(
        default=None,
        description="A free-text note (referral letter, intake note) read with the "
        "answers; at most KETASCREEN_NOTE_MAX_BYTES bytes of UTF-8. Where the note and "
        "the answers disagree, the more cautious value is used and the item is listed "
        "under note.conflicts for review. Stored encrypted; never shown to the person.",
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
    note: NotePublic | None = Field(
        default=None,
        description="What the note contributed, with evidence; only when a note was "
        "sent.",
    )


@router.post(
    "/screenings",
    status_code=status.HTTP_201_CREATED,
    response_model=ScreeningCreated,
    responses={
        410: {
            "model": Problems,
            "description": "A repeated submission whose private link the clinic "
            "revoked; the clinic can send a new one.",
        },
        422: {
            "model": Problems,
            "description": "Answers or a note with problems, one entry per field "
            "(the note's field is `note`), or an Idempotency-Key already used for "
            "other answers.",
        },
    },
)
async def create_screening(
    body: ScreeningCreate,
    state: StateDep,
    idempotency_key: str | None = Header(
        default=None,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Any printable ASCII without spaces (e.g. a UUID); a repeat "
        "returns the first screening.",
    ),
) -> Response:
    """Screen the answers and store the result; a repeated Idempotency-Key is a no-op.

    Runs on the event loop; concurrent submissions share one transaction (group
    commit), and each is answered only after its commit.
    """
    record = None
    if body.note is not None:
        # The scanner takes a while (and loads spaCy once): keep the event loop free.
        reading = await run_in_threadpool(
            screen_note,
            body.note,
            body.answers,
            content=state.content,
            max_bytes=state.settings.note_max_bytes,
            screening_date=body.screening_date,
        )
        result, record = reading.result, reading.record
    else:
        result = screen(
            body.answers, content=state.content, screening_date=body.screening_date
        )
    if idempotency_key:
        # A repeat of the same submission (same Idempotency-Key) gets the first
        # screening back, result included, with a fresh link (the first one stops
        # working); the same key with other answers is refused (422).
        try:
            stored, _ = state.repository.save(
                answers=body.answers,
                result=result,
                idempotency_key=idempotency_key,
                person_ref=body.person_ref,
                note=record,
            )
        except LinkRevoked:
            return _link_revoked()
        token = stored.access_token
    else:
        prepared = state.repository.prepare(
            answers=body.answers,
            result=result,
            person_ref=body.person_ref,
            note=record,
        )
        await state.writer.submit(prepared)  # returns once committed
        stored, token = prepared.stored, prepared.access_token
    extra = {"note": stored.note["report"]} if stored.note is not None else {}
    return Response(
        screening_json(
            stored.id,
            stored.created_at,
            stored.status,
            stored.result_json,
            access_token=token,
            **extra,
        ),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
    )


def screening_json(
    screening_id: str,
    created_at: datetime,
    review_status: str,
    result_json: bytes,
    **extra: Any,
) -> bytes:
    """A screening as the API answers it, the stored result JSON spliced in as is.

    The result was serialised once, when it was stored; parsing and validating it
    again for every answer would cost more than everything else a read does.
    """
    head = json.dumps(
        {
            "id": screening_id,
            "created_at": created_at.isoformat().replace("+00:00", "Z"),
            "status": review_status,
            **extra,
        }
    )
    return head[:-1].encode() + b', "result": ' + result_json + b"}"


def _link_revoked() -> JSONResponse:
    message = (
        "this submission is stored, but the clinic revoked its private link; "
        "ask the clinic for a new one"
    )
    return JSONResponse(
        {"detail": [{"field": "Idempotency-Key", "message": message}]},
        status_code=status.HTTP_410_GONE,
    )


@router.get(
    "/screenings/{screening_id}",
    response_model=ScreeningPublic,
    responses={
        404: {
            "model": Message,
            "description": "No screening with this id and a current token "
            "(wrong, revoked and expired tokens alike).",
        }
    },
)
async def read_screening(
    screening_id: str,
    request: Request,
    state: StateDep,
    authorization: str | None = Header(default=None),
) -> Response:
    """Read a stored screening with its private token (``Authorization: Bearer …``)
    or a staff session; every read is audited."""
    found = await find_screening(state, screening_id, request, authorization)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "No screening with this id and token."
        )
    return Response(
        screening_json(screening_id, found.created_at, found.status, found.result_json),
        media_type="application/json",
    )


@dataclass(frozen=True)
class Found:
    """A stored screening read by its owner (token) or by staff; the read is audited."""

    answers: dict[str, Any]
    result_json: bytes
    created_at: datetime
    status: str

    @property
    def result(self) -> ScreeningResult:
        """The stored result, parsed and validated."""
        return ScreeningResult.model_validate_json(self.result_json)


async def find_screening(
    state: AppState, screening_id: str, request: Request, authorization: str | None
) -> Found | None:
    """The screening for its private token (``Bearer …``) or a staff session; the
    read's audit entry is committed before it is returned.

    Returns:
        The screening, or None for an unknown id or a wrong token (no hints).
    """
    token = (authorization or "").removeprefix("Bearer ").strip()
    if token:
        read = state.repository.view_with_token(screening_id, token)
        if read is not None:
            stored, entry = read
            await state.writer.audit(entry)
            return Found(
                stored.answers, stored.result_json, stored.created_at, stored.status
            )
    session = request.cookies.get(COOKIE)
    staff = state.staff.session_user(session) if session else None
    viewed = state.staff.view_screening(staff[0], screening_id) if staff else None
    if viewed is None:
        return None
    found, entry = viewed
    await state.writer.audit(entry)
    return Found(
        found["answers"], found["result_json"], found["created_at"], found["status"]
    )
