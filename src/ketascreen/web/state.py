"""What the app holds for its lifetime: settings, content, storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from ketascreen.config import Settings
from ketascreen.rules.loader import Content
from ketascreen.screening import get_content
from ketascreen.storage.crypto import KeyRing, load_keyring
from ketascreen.storage.database import check_writable, make_engine, migrate
from ketascreen.storage.group_commit import GroupWriter
from ketascreen.storage.repository import Repository
from ketascreen.storage.staff import StaffStore


@dataclass(frozen=True)
class AppState:
    """Long-lived objects shared by every request."""

    settings: Settings
    content: Content
    repository: Repository
    staff: StaffStore
    writer: GroupWriter


def build_state(settings: Settings) -> AppState:
    """Open (and migrate) the database, load the key and the content.

    Args:
        settings: validated settings.

    Returns:
        The app state.
    """
    vault = keyring(settings).vault()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    check_writable(engine)
    repository = Repository(engine, vault)
    repository.link_lifetime = timedelta(days=settings.link_lifetime_days)
    staff = StaffStore(repository)
    _first_admin(settings, staff)
    content = get_content(settings.ruleset, settings.instruments)
    return AppState(settings, content, repository, staff, GroupWriter(repository))


def keyring(settings: Settings) -> KeyRing:
    """The data keys: from the environment, or the key file in the data folder."""

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    return load_keyring(
        secret(settings.data_key),
        secret(settings.retired_data_keys),
        settings.data_dir / "data.key",
    )


def _first_admin(settings: Settings, staff: StaffStore) -> None:
    """Create the first admin from KETASCREEN_ADMIN_EMAIL/PASSWORD if there is no account."""
    if settings.admin_email and settings.admin_password and not staff.has_users():
        staff.add_user(
            settings.admin_email,
            "Administrator",
            "admin",
            settings.admin_password.get_secret_value(),
        )
