"""When PostgreSQL goes away: a clear 503, nothing half-written, and recovery by itself."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from tests.databases import fresh_database

from ketascreen.config import Settings
from ketascreen.web.app import create_app


def set_connections(server: str, database: str, allowed: bool) -> None:
    """Allow or refuse connections to a database (and drop the current ones)."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


def test_database_outage_gives_503_then_recovers(postgres: str, tmp_path: Path) -> None:
    """Requests during the outage get 503 JSON; after it, submissions are stored again."""
    url = fresh_database(postgres)
    name = url.rsplit("/", 1)[1]
    settings = Settings(
        database_url=url,
        data_dir=tmp_path,
        data_key=base64.b64encode(os.urandom(32)).decode(),
    )
    with TestClient(create_app(settings)) as client:
        body = {"answers": {"age": 40}}
        assert client.post("/api/v1/screenings", json=body).status_code == 201
        set_connections(postgres, name, allowed=False)
        try:
            down = client.post("/api/v1/screenings", json=body)
            assert down.status_code == 503
            assert "Nothing was saved" in down.json()["detail"]
        finally:
            set_connections(postgres, name, allowed=True)
        assert client.post("/api/v1/screenings", json=body).status_code == 201
        repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
        assert repository.count() == 2
