"""Shared fixtures: the default content bundle, and real databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ketascreen.rules.loader import Content
from ketascreen.screening import get_content
from tests.databases import fresh_database, postgres_server


@pytest.fixture(scope="session")
def content() -> Content:
    """The default content, loaded once."""
    return get_content()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for the whole test session (started by the tests)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ketascreen.db'}"
    server: str = request.getfixturevalue("postgres")
    return fresh_database(server)
