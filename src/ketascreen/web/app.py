"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from ketascreen import __version__
from ketascreen.config import Settings
from ketascreen.errors import InputError
from ketascreen.interop.outcome import FhirError, operation_outcome
from ketascreen.web.auth import CsrfFailed, LoginRequired
from ketascreen.web.routes import api, cds_hooks, fhir, person, staff
from ketascreen.web.state import build_state


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
    async def _database(_request: Request, _exc: OperationalError) -> JSONResponse:
        return JSONResponse(
            {
                "detail": "The screening service cannot reach its database. Nothing was saved. "
                "Please try again in a minute."
            },
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )


SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _limit_body_size(app: FastAPI, limit: int) -> None:
    """Refuse oversized bodies and add security headers (a plain ASGI wrapper)."""
    inner = app.build_middleware_stack

    def build() -> Any:
        downstream = inner()

        async def wrapper(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await downstream(scope, receive, send)
                return
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > limit:
                response = JSONResponse(
                    {
                        "detail": [
                            {"field": "body", "message": f"larger than {limit} bytes"}
                        ]
                    },
                    status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                )
                await response(scope, receive, _with_headers(send, scope))
                return
            await downstream(scope, receive, _with_headers(send, scope))

        return wrapper

    app.build_middleware_stack = build  # type: ignore[method-assign]


def _with_headers(send: Any, scope: Any) -> Any:
    https = scope.get("scheme") == "https"

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", [])) + SECURITY_HEADERS
            if https:
                headers.append((b"strict-transport-security", b"max-age=31536000"))
            message = {**message, "headers": headers}
        await send(message)

    return sending
