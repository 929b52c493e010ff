"""The domains file: the screening domains with their words for people and clinicians."""

from __future__ import annotations

from pydantic import Field

from ketascreen.content.base import ContentModel, FileHeader


class DomainInfo(ContentModel):
    """One screening domain."""

    id: str = Field(description="Stable machine name, e.g. cardiovascular.")
    title: str = Field(description="Clinician-facing title.")
    patient_topic: str = Field(
        description="Plain words for the topic, e.g. 'your heart'."
    )
    covers: str = Field(description="What the domain covers.")


class DomainsFile(FileHeader):
    """All screening domains, in display order."""

    domains: list[DomainInfo]
