"""Settings for the server and storage (pydantic-settings, ``KETASCREEN_`` variables).

It refuses to start with an unsafe configuration and says how to fix it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: How long a person's private result link works after it is issued, by default:
#: long enough to come back to the result before and after a consultation.
LINK_LIFETIME_DAYS = 90


def default_data_dir() -> Path:
    """The per-user data folder (e.g. ~/.local/share/ketascreen)."""
    return Path(user_data_dir("ketascreen", appauthor=False))


class Settings(BaseSettings):
    """Server settings. Every field can be set as ``KETASCREEN_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KETASCREEN_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development", description="production refuses unsafe defaults."
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir."
    )
    data_key: SecretStr | None = Field(
        default=None,
        description="Base64 of a 32-byte key for encryption at rest; default: key file.",
    )
    retired_data_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated base64 keys that open values sealed before a key "
        "rotation (never used to seal); only with KETASCREEN_DATA_KEY.",
    )
    link_lifetime_days: int = Field(
        default=LINK_LIFETIME_DAYS,
        gt=0,
        description="Days a person's private result link works after it was issued; "
        "staff can send a new one.",
    )
    trusted_proxies: str = Field(
        default="127.0.0.1",
        description="Addresses of reverse proxies (comma-separated; '*' for any) whose "
        "X-Forwarded-Proto and X-Forwarded-For are believed.",
    )
    max_body_bytes: int = Field(
        default=256_000, description="Largest request body accepted."
    )
    note_max_bytes: int = Field(
        default=200_000,
        gt=0,
        description="Largest free-text note the scanner reads (UTF-8 bytes).",
    )
    ruleset: Path | None = Field(
        default=None, description="A clinic ruleset file layered over the default."
    )
    instruments: list[str] = Field(
        default_factory=list,
        description="Extra instruments: bundled ids or licensed files (comma-separated).",
    )
    admin_email: str | None = Field(
        default=None,
        description="First admin account, created at start if none exists.",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password for the first admin (at least 12 characters).",
    )
    cds_jwt_issuers: dict[str, Path] = Field(
        default_factory=dict,
        description="CDS Hooks callers allowed in, as JSON: issuer to the PEM file of "
        "its public key. Empty (the default, for local use): no JWT is checked.",
    )

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.retired_data_keys is not None and self.data_key is None:
            raise ValueError(
                "KETASCREEN_RETIRED_DATA_KEYS needs KETASCREEN_DATA_KEY (with a key "
                "file, the retired keys are its later lines; see docs/deployment.md)"
            )
        if self.environment == "production":
            missing = [
                f"KETASCREEN_{name.upper()}"
                for name in ("data_key", "database_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    "production mode needs " + ", ".join(missing) + ". Set them in the "
                    "environment (see docs/deployment.md), or run with "
                    "KETASCREEN_ENVIRONMENT=development on a single machine."
                )
        return self

    def as_environment(self) -> dict[str, str]:
        """These settings as KETASCREEN_* variables (for worker processes)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, dict):
                value = {k: str(v) for k, v in value.items()}
            text = json.dumps(value) if isinstance(value, list | dict) else str(value)
            env[f"KETASCREEN_{name.upper()}"] = text
        return env

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'ketascreen.db'}"


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
