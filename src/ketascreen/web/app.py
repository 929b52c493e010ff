"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ketascreen import __version__
from ketascreen.config import Settings
from ketascreen.errors import InputError, Problem
from ketascreen.interop.outcome import FhirError, operation_outcome
from ketascreen.web.auth import CsrfFailed, LoginRequired
from ketascreen.web.routes import api, cds_hooks, fhir, person, staff
from ketascreen.web.state import build_state

log = logging.getLogger(__name__)

#: FastAPI(telemetry=...): no spans, metrics or logs, and no exporters from the
#: environment.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; storage is opened and migrated when it starts.

    Args:
        settings: server settings (default: from the environment).

    Returns:
        The FastAPI application.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ketascreen = build_state(settings)
        yield
        await app.state.ketascreen.writer.close()
        app.state.ketascreen.repository.engine.dispose()

    app = FastAPI(
        title="ketascreen",
        version=__version__,
        description="Screening for ketamine therapy. Never a diagnosis; a clinician decides.",
        lifespan=lifespan,
        # The interactive docs load their scripts from a CDN, which the CSP forbids;
        # the OpenAPI description stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
        # FastAPI's OpenTelemetry support off for good: no environment variable
        # (FASTAPI_OTEL_AUTO_CONFIGURE, OTEL_EXPORTER_OTLP_ENDPOINT) or library can
        # make it send request traces, whose paths hold private link tokens, anywhere.
        telemetry=NO_TELEMETRY,
    )
    app.include_router(api.router)
    app.include_router(person.router)
    app.include_router(staff.router)
    app.include_router(cds_hooks.router)
    app.include_router(fhir.router)
    app.mount(
        "/static",
        StaticFiles(directory=str(files("ketascreen.web") / "static")),
        "static",
    )
    _add_error_handlers(app)
    _limit_body_size(app, settings.max_body_bytes)
    return app


def _problem(status_code: int, problems: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status_code=status_code)


def _operation_outcome(exc: InputError) -> JSONResponse:
    """FHIR endpoints answer errors with an OperationOutcome: 400 for FHIR that is
    malformed, 422 for well-formed FHIR whose answers fail validation."""
    code = 400 if isinstance(exc, FhirError) else 422
    return JSONResponse(
        operation_outcome(exc.problems),
        status_code=code,
        media_type="application/fhir+json",
    )


def _unparsed(cause: BaseException) -> str:
    """Why a JSON body could not be parsed, in words."""
    if isinstance(cause, RecursionError):
        return "not valid JSON: nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "not valid JSON: not UTF-8 text"
    if isinstance(cause, ValueError):  # from ketascreen.jsonio, in words already
        return str(cause)
    return "not valid JSON"


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        if request.url.path.startswith("/fhir/"):
            return _operation_outcome(exc)
        fields = [{"field": p.where, "message": p.message} for p in exc.problems]
        return _problem(status.HTTP_422_UNPROCESSABLE_CONTENT, fields)

    @app.exception_handler(RequestValidationError)
    async def _validation(
        _request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        fields = []
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        for err in exc.errors():
            loc = [str(part) for part in err.get("loc", ()) if part != "body"]
            if err.get("type") == "json_invalid":
                code = status.HTTP_400_BAD_REQUEST
                fields.append({"field": "body", "message": "not valid JSON"})
                continue
            fields.append(
                {"field": ".".join(loc) or "body", "message": str(err.get("msg"))}
            )
        return _problem(code, fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI and Starlette answer a body they cannot parse (JSON not UTF-8 or
        # nested past the recursion limit, broken multipart, too many form fields)
        # with a bare 400; name the body as the field at fault.
        if exc.status_code == status.HTTP_400_BAD_REQUEST:
            message = _unparsed(exc.__cause__) if exc.__cause__ else str(exc.detail)
            return _problem(exc.status_code, [{"field": "body", "message": message}])
        return await http_exception_handler(request, exc)

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse("/staff/login", status_code=status.HTTP_303_SEE_OTHER)

    @app.exception_handler(CsrfFailed)
    async def _csrf(_request: Request, _exc: CsrfFailed) -> Response:
        return JSONResponse(
            {
                "detail": [
                    {
                        "field": "csrf",
                        "message": "the form expired; reload and try again",
                    }
                ]
            },
            status_code=status.HTTP_403_FORBIDDEN,
        )

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> Response:
        # The driver's message only (never the statement or its parameters).
        log.warning("database error, answered 503: %s", exc.orig)
        return _unavailable(request)


#: Paths that answer in JSON even when a browser asks for a page.
_MACHINE_PATHS = ("/api/", "/fhir/", "/cds-services")


def _unavailable(request: Request) -> Response:
    """503 while the database cannot be used (away, full, read-only): a kind page for
    a person's or clinician's browser, a JSON message for programs."""
    code, headers = status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": "60"}
    wants_page = "text/html" in request.headers.get("accept", "")
    if wants_page and not request.url.path.startswith(_MACHINE_PATHS):
        return person.templates.TemplateResponse(
            request, "unavailable.html", {}, status_code=code, headers=headers
        )
    return JSONResponse(
        {
            "detail": "The screening service cannot reach its database. Nothing was saved. "
            "Please try again in a minute."
        },
        status_code=code,
        headers=headers,
    )


SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class BodyTooLarge(StarletteHTTPException):
    """A body over the limit, noticed while it was received (no Content-Length)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE, f"larger than {limit} bytes"
        )


def _limit_body_size(app: FastAPI, limit: int) -> None:
    """Refuse oversized bodies and NUL characters in the path or query, and add
    security headers (a plain ASGI wrapper)."""
    inner = app.build_middleware_stack

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return _refusal(request.url.path, exc.status_code, "body", exc.detail)

    def build() -> Any:
        downstream = inner()

        async def wrapper(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await downstream(scope, receive, send)
                return
            refused = _refuse_early(scope, limit)
            if refused is not None:
                await refused(scope, receive, _with_headers(send, scope))
                return
            counted = _counting(receive, limit)
            await downstream(scope, counted, _with_headers(send, scope))

        return wrapper

    app.build_middleware_stack = build  # type: ignore[method-assign]


def _refuse_early(scope: Any, limit: int) -> JSONResponse | None:
    """A refusal before any route runs: a declared length over the limit, or a NUL
    character (which no valid request has, and PostgreSQL cannot store)."""
    path: str = scope["path"]
    length = dict(scope["headers"]).get(b"content-length", b"")
    if length.isdigit() and int(length) > limit:
        message = f"larger than {limit} bytes"
        return _refusal(path, status.HTTP_413_CONTENT_TOO_LARGE, "body", message)
    query = unquote_to_bytes(scope.get("query_string", b""))
    for field, has_nul in (("path", "\x00" in path), ("query", b"\x00" in query)):
        if has_nul:
            message = "contains a NUL character"
            return _refusal(path, status.HTTP_400_BAD_REQUEST, field, message)
    return None


def _counting(receive: Any, limit: int) -> Any:
    """``receive`` that counts body bytes as they arrive (chunked bodies have no
    Content-Length) and raises BodyTooLarge past the limit."""
    received = 0

    async def receiving() -> Any:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receiving


def _refusal(path: str, code: int, field: str, message: str) -> JSONResponse:
    """A refusal naming the field, as an OperationOutcome under /fhir/."""
    if path.startswith("/fhir/"):
        issue = "too-costly" if code == status.HTTP_413_CONTENT_TOO_LARGE else "invalid"
        outcome = operation_outcome([Problem(field, message)], code=issue)
        return JSONResponse(outcome, code, media_type="application/fhir+json")
    return _problem(code, [{"field": field, "message": message}])


def _with_headers(send: Any, scope: Any) -> Any:
    """Security headers on every response; HSTS over HTTPS (as the server saw it, or
    as a trusted proxy said); no caching of anything but the static files."""
    https = scope.get("scheme") == "https"
    private = not scope["path"].startswith("/static/")

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", [])) + SECURITY_HEADERS
            if https:
                headers.append((b"strict-transport-security", b"max-age=31536000"))
            if private and all(k.lower() != b"cache-control" for k, _ in headers):
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return sending
