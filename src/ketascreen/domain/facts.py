"""The fact vocabulary: what facts exist, their type, and where they come from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ketascreen.domain.types import FactKind


class AtLeast(frozenset[str]):
    """A multi-choice value known to include these codes, and nothing more.

    A person ticking boxes says what applies and, by not ticking, what does not. A note
    or a record only says what it mentions: "HTN" tells us about high blood pressure,
    not that there is no aneurysm. So ``contains`` on an ``AtLeast`` value is true for
    a listed code and unknown (never false) for any other.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"AtLeast({sorted(self)!r})"


class FactSpec(BaseModel):
    """One fact that rules may read."""

    model_config = ConfigDict(frozen=True)
    id: str = Field(description="Stable fact id; equal to the item id for answers.")
    kind: FactKind
    label: str = Field(description="Short human label for reports.")
    origin: str = Field(
        description="item, instrument_item, score, band, flag, derived or external."
    )
    codes: tuple[bool | int | str, ...] = Field(
        default=(), description="Allowed option values."
    )
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    section: str | None = Field(
        default=None, description="Questionnaire section, if any."
    )


class Vocabulary(BaseModel):
    """Every fact known to a loaded content bundle, by id."""

    model_config = ConfigDict(frozen=True)
    facts: dict[str, FactSpec]

    def __contains__(self, fact_id: object) -> bool:
        return fact_id in self.facts

    def label(self, fact_id: str) -> str:
        """Human label for a fact id (the id itself if unknown)."""
        spec = self.facts.get(fact_id)
        return spec.label if spec else fact_id
