"""The references file: cited sources, keyed as in CLINICAL.md section 6."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ketascreen.content.base import ContentModel, FileHeader


class Source(ContentModel):
    """One cited source."""

    key: str = Field(description="Short key, e.g. SPR or PHQ.")
    citation: str = Field(description="Full citation a clinician can look up.")
    where: str | None = Field(default=None, description="Where the stored copy lives.")
    tag: Literal["V", "S", "U"] | None = Field(
        default=None,
        description="Verified in the primary source, secondary only, unverified.",
    )


class ReferencesFile(FileHeader):
    """All sources the content may cite."""

    references: list[Source]
