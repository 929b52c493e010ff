"""The declarative condition language.

A condition is one of::

    {all: [cond, ...]}          true when every part is true
    {any: [cond, ...]}          true when at least one part is true
    {not: cond}                 true when the part is false
    {count: [cond, ...], gte: N}  true when at least N parts are true
    {fact: ID, <op>: VALUE}     a comparison on one fact

Fact operators: ``eq``, ``ne``, ``in``, ``gte``, ``gt``, ``lte``, ``lt``,
``contains`` (a multi-choice answer includes a code), ``contains_any``,
``known`` and ``unknown``. Numeric operands may be a number or ``{param: NAME}``,
a named, cited value from the ruleset or instrument file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Scalar = str | int | float | bool


class ParamRef(BaseModel):
    """A reference to a named, cited parameter (threshold or window)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    param: str = Field(
        description="Name of a parameter defined in the ruleset or instrument."
    )


Number = int | float | ParamRef

COMPARISON_OPS = (
    "eq",
    "ne",
    "in",
    "gte",
    "gt",
    "lte",
    "lt",
    "contains",
    "contains_any",
)
PRESENCE_OPS = ("known", "unknown")


class FactTest(BaseModel):
    """A comparison on one fact; exactly one operator must be given."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fact: str = Field(description="The fact id, e.g. an item id or 'phq9.total'.")
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    gte: Number | None = None
    gt: Number | None = None
    lte: Number | None = None
    lt: Number | None = None
    contains: str | None = None
    contains_any: list[str] | None = None
    known: Literal[True] | None = None
    unknown: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> FactTest:
        given = [
            op
            for op in (*COMPARISON_OPS, *PRESENCE_OPS)
            if self.operand(op) is not None
        ]
        if len(given) != 1:
            ops = ", ".join((*COMPARISON_OPS, *PRESENCE_OPS))
            raise ValueError(
                f"a fact test needs exactly one operator ({ops}); got {given or 'none'}"
            )
        return self

    def operand(self, op: str) -> Any:
        """Return the operand given for ``op`` (``None`` when absent)."""
        return getattr(self, "in_" if op == "in" else op)

    @property
    def op(self) -> str:
        """The one operator this test uses."""
        for op in (*COMPARISON_OPS, *PRESENCE_OPS):
            if self.operand(op) is not None:
                return op
        raise AssertionError("validated FactTest without operator")  # pragma: no cover


class All(BaseModel):
    """True when every part is true; false when any is false; otherwise unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    all: list[Condition] = Field(min_length=1)


class AnyOf(BaseModel):
    """True when any part is true; false when all are false; otherwise unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    any: list[Condition] = Field(min_length=1)


class Not(BaseModel):
    """The negation of one part (unknown stays unknown)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: Condition = Field(alias="not")


class Count(BaseModel):
    """True when at least ``gte`` parts are true."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    count: list[Condition] = Field(min_length=1)
    gte: int | ParamRef


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return type(value).__name__
    if not isinstance(value, dict):
        return None
    for key, tag in (
        ("all", "All"),
        ("any", "AnyOf"),
        ("not", "Not"),
        ("count", "Count"),
    ):
        if key in value:
            return tag
    return "FactTest"


Condition = Annotated[
    Annotated[All, Tag("All")]
    | Annotated[AnyOf, Tag("AnyOf")]
    | Annotated[Not, Tag("Not")]
    | Annotated[Count, Tag("Count")]
    | Annotated[FactTest, Tag("FactTest")],
    Discriminator(
        _kind,
        custom_error_type="condition",
        custom_error_message="a condition must be a mapping with all, any, not, count or fact",
    ),
]

All.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()
Count.model_rebuild()


def facts_in(cond: Condition) -> list[str]:
    """List every fact id a condition reads, in order of appearance (no repeats)."""
    out: dict[str, None] = {}
    _collect(cond, out)
    return list(out)


def _collect(cond: Condition, out: dict[str, None]) -> None:
    if isinstance(cond, FactTest):
        out[cond.fact] = None
    elif isinstance(cond, All):
        for c in cond.all:
            _collect(c, out)
    elif isinstance(cond, AnyOf):
        for c in cond.any:
            _collect(c, out)
    elif isinstance(cond, Not):
        _collect(cond.not_, out)
    else:
        for c in cond.count:
            _collect(c, out)


def params_in(cond: Condition) -> list[str]:
    """List every parameter name a condition refers to."""
    found: list[str] = []
    if isinstance(cond, FactTest):
        for op in ("gte", "gt", "lte", "lt"):
            operand = cond.operand(op)
            if isinstance(operand, ParamRef):
                found.append(operand.param)
    elif isinstance(cond, Count):
        if isinstance(cond.gte, ParamRef):
            found.append(cond.gte.param)
        for c in cond.count:
            found.extend(params_in(c))
    elif isinstance(cond, Not):
        found.extend(params_in(cond.not_))
    else:
        for c in cond.all if isinstance(cond, All) else cond.any:
            found.extend(params_in(c))
    return found
