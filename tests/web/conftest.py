"""Fixtures for storage and web tests on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ketascreen.config import Settings
from ketascreen.web.app import create_app


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Development settings on the test database with a random data key."""
    key = base64.b64encode(os.urandom(32)).decode()
    return Settings(database_url=database_url, data_dir=tmp_path, data_key=key)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client for the real app (startup runs the migrations)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client
