"""The generated all-rules function agrees with the closures on every rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ketascreen.logic.codegen import DECODE
from ketascreen.logic.schema import params_in
from ketascreen.rules.checks import candidate_values
from ketascreen.screening import get_content

CONTENT = get_content()
FACTS = sorted({f for cr in CONTENT.rules for f in cr.when.facts})
THRESHOLDS = sorted(
    {
        CONTENT.parameters[p].value
        for cr in CONTENT.rules
        for p in params_in(cr.rule.when)
    }
)
CHOICES = {
    f: [None, *candidate_values(CONTENT.form.vocabulary.facts[f], THRESHOLDS)]
    for f in FACTS
}


@st.composite
def fact_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Random values (or unknown) for every fact the rules read."""
    values = {f: draw(st.sampled_from(CHOICES[f])) for f in FACTS}
    return {f: v for f, v in values.items() if v is not None}


@settings(max_examples=400, deadline=None)
@given(fact_sets())
def test_codegen_matches_closures(facts: dict[str, Any]) -> None:
    """For every rule, true / false / unknown are the same on both paths."""
    codes = CONTENT.evaluate_all(facts)
    for cr, code in zip(CONTENT.rules, codes, strict=True):
        assert DECODE[code] is cr.when(facts), cr.rule.id


def test_all_unknown() -> None:
    """With no facts at all, both paths agree too."""
    codes = CONTENT.evaluate_all({})
    assert [DECODE[c] for c in codes] == [cr.when({}) for cr in CONTENT.rules]
