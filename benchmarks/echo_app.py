"""The ketascreen app plus a bare echo route: the floor for benchmarks/web.py.

Served only by the benchmark (``uvicorn --factory echo_app:create``), never by
``ketascreen serve``, so the product has no route that exists only for measuring.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ketascreen.web.app import create_app


def create() -> FastAPI:
    """The same app ``ketascreen serve`` runs, with ``POST /api/v1/echo`` added."""
    app = create_app()

    @app.post("/api/v1/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        """Return the JSON body unchanged: HTTP and JSON only (a coroutine, like the
        screening route, so neither pays for a trip to a worker thread)."""
        return body

    return app
