"""Shared fixtures: the default content bundle."""

from __future__ import annotations

import pytest

from ketascreen.rules.loader import Content
from ketascreen.screening import get_content


@pytest.fixture(scope="session")
def content() -> Content:
    """The default content, loaded once."""
    return get_content()
