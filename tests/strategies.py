"""Hypothesis strategies for answers drawn from the real questionnaire."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ketascreen.domain.types import FactKind
from ketascreen.intake.form import FormItem
from ketascreen.screening import get_content


def value_for(item: FormItem) -> st.SearchStrategy[Any]:
    """Valid values for one item."""
    kind = item.kind
    if kind == FactKind.yes_no:
        return st.sampled_from(["yes", "no"])
    if kind == FactKind.yes_no_unsure:
        return st.sampled_from(["yes", "no", "unsure"])
    if kind == FactKind.multi:
        normal = [c for c in item.choices if not c.exclusive]
        exclusive = [c.value for c in item.choices if c.exclusive]
        some = st.lists(
            st.sampled_from([c.value for c in normal]), min_size=1, unique=True
        )
        return some | st.just(exclusive) if exclusive else some
    if item.choices:
        return st.sampled_from(item.codes)
    if kind in (FactKind.number, FactKind.duration):
        assert item.minimum is not None
        assert item.maximum is not None
        if item.integer:
            return st.integers(int(item.minimum), int(item.maximum))
        return st.floats(item.minimum, item.maximum, allow_nan=False)
    if kind == FactKind.date:
        return st.dates(
            min_value=__import__("datetime").date(1950, 1, 1),
            max_value=__import__("datetime").date(2026, 11, 27),
        ).map(str)
    return st.text(max_size=40)


ITEMS = list(get_content().form.items.values())


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    """A random, partial, valid set of answers."""
    chosen = draw(
        st.lists(st.sampled_from(ITEMS), unique_by=lambda i: i.id, max_size=len(ITEMS))
    )
    return {item.id: draw(value_for(item)) for item in chosen}
