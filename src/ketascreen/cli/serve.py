"""``serve``: the web app and JSON API."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated, Any

import typer

from ketascreen.cli.common import (
    InstrumentOpt,
    RulesetOpt,
    fail,
    load_content,
    out,
    redact,
)
from ketascreen.errors import Problem


class LogLevel(StrEnum):
    """Log levels of ``serve``; uvicorn's "trace" is left out: it logs headers,
    session cookies and bearer tokens included."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (also KETASCREEN_DATABASE_URL)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes (one per core).")] = 1,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            help="The server's and every library's log level, on standard error.",
        ),
    ] = LogLevel.warning,
) -> None:
    """Serve the web app and JSON API (SQLite in your data folder by default)."""
    import logging.config

    import uvicorn
    from pydantic import ValidationError

    from ketascreen.config import Settings
    from ketascreen.web.app import create_app
    from ketascreen.web.logs import log_config

    try:
        overrides: dict[str, Any] = {}
        if db:
            overrides["database_url"] = db
        if ruleset:
            overrides["ruleset"] = ruleset
        if instrument:
            overrides["instruments"] = instrument
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [
            Problem("settings", str(e["msg"])) for e in exc.errors(include_url=False)
        ]
        fail(problems, "Refusing to start:")
    load_content(settings.ruleset, settings.instruments)  # a bad clinic file fails here
    logging.config.dictConfig(log_config(log_level.value))  # migrations log too
    _open_storage(settings)  # so does a database that cannot be used
    out.print(
        f"ketascreen serving on http://{host}:{port} (database: {redact(settings)})"
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level.value,
        "log_config": log_config(log_level.value),
        # X-Forwarded-Proto from a trusted proxy makes the request HTTPS: HSTS and
        # Secure cookies follow; X-Forwarded-For gives the sign-in limit's address.
        "proxy_headers": True,
        "forwarded_allow_ips": settings.trusted_proxies,
    }
    if workers > 1:
        # Prepared once above (key file, migrations); each process builds its own app
        # from the same settings, passed on through the environment.
        os.environ.update(settings.as_environment())
        app = "ketascreen.web.app:create_app"
        uvicorn.run(app, factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def _open_storage(settings: Any) -> None:
    """Open, migrate and test-write the database once before serving: one that cannot
    be used (unreachable, read-only, no space) stops the start, named, instead of
    failing every request."""
    from sqlalchemy.exc import DBAPIError

    from ketascreen.web.state import build_state

    try:
        build_state(settings).repository.engine.dispose()
    except (DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        problem = Problem(redact(settings), f"cannot be used: {reason}")
        fail([problem], "Refusing to start:")
