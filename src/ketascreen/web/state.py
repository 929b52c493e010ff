"""What the app holds for its lifetime: settings, content, storage."""

from __future__ import annotations

from dataclasses import dataclass

from ketascreen.config import Settings
from ketascreen.rules.loader import Content
from ketascreen.screening import get_content
from ketascreen.storage.crypto import Vault, load_key
from ketascreen.storage.database import make_engine, migrate
from ketascreen.storage.repository import Repository


@dataclass(frozen=True)
class AppState:
    """Long-lived objects shared by every request."""

    settings: Settings
    content: Content
    repository: Repository


def build_state(settings: Settings) -> AppState:
    """Open (and migrate) the database, load the key and the content.

    Args:
        settings: validated settings.

    Returns:
        The app state.
    """
    key_value = settings.data_key.get_secret_value() if settings.data_key else None
    vault = Vault(load_key(key_value, settings.data_dir / "data.key"))
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return AppState(settings, get_content(), Repository(engine, vault))
