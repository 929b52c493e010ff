"""How the app answers a bad request: the error bodies, documented for the OpenAPI
schema, and reading a JSON body that may be hostile (``read_json`` for routes that
read the body themselves, ``CheckedJSONRoute`` for bodies FastAPI parses).

Three forms, each naming the problem:

- ``{"detail": [{"field": ..., "message": ...}]}`` for input that can be pinned to a
  field (400, 413, 422 outside ``/fhir/``);
- ``{"detail": "..."}``, one sentence, where no field is at fault (401, 404, 412, 503);
- a FHIR OperationOutcome under ``/fhir/`` (one issue per problem, ``expression`` the
  field).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from ketascreen.jsonio import load_untrusted


class FieldProblem(BaseModel):
    """One problem with one field of the request."""

    field: str = Field(description="The field: a dotted path in the body, or `body`.")
    message: str = Field(description="What is wrong with it, in words.")


class Problems(BaseModel):
    """The request was refused; each entry names a field and the problem."""

    detail: list[FieldProblem] = Field(min_length=1)


class Message(BaseModel):
    """The request was refused for a reason no single field carries."""

    detail: str = Field(min_length=1)


class OutcomeIssue(BaseModel):
    """One issue of an OperationOutcome."""

    severity: str
    code: str
    diagnostics: str = Field(description="What is wrong, in words.")
    expression: list[str] | None = Field(
        default=None, description="Where: the field or FHIR path."
    )


class OperationOutcome(BaseModel):
    """A FHIR OperationOutcome (errors of the /fhir endpoints)."""

    resourceType: Literal["OperationOutcome"]
    issue: list[OutcomeIssue] = Field(min_length=1)


_WHY = {
    400: "The body is not JSON, not UTF-8, or nested too deeply; or the path or query "
    "holds a NUL character.",
    401: "The CDS client's JWT was refused.",
    404: "Nothing with this id (and token).",
    412: "Nothing was prefetched.",
    413: "The body is larger than KETASCREEN_MAX_BODY_BYTES.",
    422: "Problems with the input, one entry per field.",
    503: "The database cannot be reached; nothing was saved.",
}
_FIELD_CODES = {400, 413, 422}
_FHIR_CODES = {400, 404, 413, 422}


def error_responses(*codes: int, fhir: bool = False) -> dict[int | str, Any]:
    """OpenAPI ``responses`` for the given error status codes.

    Args:
        codes: the HTTP status codes an operation can answer with.
        fhir: whether the problems come as OperationOutcomes (the /fhir routes).

    Returns:
        A mapping for a FastAPI router's or route's ``responses``.
    """
    responses: dict[int | str, Any] = {}
    for code in codes:
        answer: dict[str, Any] = {"description": _WHY[code]}
        if fhir and code in _FHIR_CODES:
            answer["model"] = OperationOutcome
        elif code in _FIELD_CODES:
            answer["model"] = Problems
        else:  # plain JSON on every route, the FHIR ones included
            schema = Message.model_json_schema()
            answer["content"] = {"application/json": {"schema": schema}}
        responses[code] = answer
    return responses


async def read_json(request: Request) -> Any:
    """The request body as JSON (see ``ketascreen.jsonio.load_untrusted``).

    Raises:
        ValueError: the body is not JSON or not UTF-8 text, or nests too deeply; the
            message says which, in words for the client.
    """
    return load_untrusted(await request.body())


class CheckedJSONRequest(Request):
    """A request whose JSON body is read by ``load_untrusted``."""

    async def json(self) -> Any:
        """The body as JSON; ValueError (a 400 naming the body) when unusable."""
        if not hasattr(self, "_json"):
            self._json = load_untrusted(await self.body())
        return self._json


class CheckedJSONRoute(APIRoute):
    """A route whose JSON body FastAPI parses with ``load_untrusted``: the depth
    limit and the surrogate check apply before any model sees the body."""

    def get_route_handler(self) -> Any:
        """The FastAPI handler, given a CheckedJSONRequest."""
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(CheckedJSONRequest(request.scope, request.receive))

        return checked
