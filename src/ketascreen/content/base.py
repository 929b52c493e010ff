"""Shared pieces of every content file's schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ContentModel(BaseModel):
    """Strict, frozen base for content models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FileHeader(ContentModel):
    """The keys every content file starts with."""

    schema_version: int = Field(description="Version of the file format (currently 1).")
    id: str = Field(description="Stable id of this file's content.")
    version: str = Field(description="Version of the content, bumped on every change.")


class Parameter(ContentModel):
    """A named, cited threshold or window that conditions refer to as ``{param: NAME}``."""

    value: float
    unit: str | None = None
    description: str
    references: list[str] = Field(min_length=1)
    evidence: str | None = Field(
        default=None,
        description="V, S or U: how well the value is verified (CLINICAL.md).",
    )


class ParameterOverride(ContentModel):
    """A clinic's change to a parameter; the rest is inherited."""

    value: float
    unit: str | None = None
    description: str | None = None
    references: list[str] | None = None
    evidence: str | None = None
