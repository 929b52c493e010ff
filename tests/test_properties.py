"""Properties over random and partial answers."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ketascreen import Disposition
from ketascreen.domain.outcome import result_json
from ketascreen.domain.types import SEVERITY
from ketascreen.errors import AnswersError
from ketascreen.screening import get_content
from ketascreen.web.pages import crisis_for, facts_of
from tests.helpers import SCREENING_DATE, fired, run
from tests.strategies import answers

CLINIC_ITEMS = {
    i.id for i in get_content().form.items.values() if i.audience == "clinic"
}
# Rules that test presence (known/unknown) are decided even when answers are missing.
PRESENCE_RULES = {
    cr.rule.id
    for cr in get_content().rules
    if " is known" in repr(cr.when) or " is unknown" in repr(cr.when)
}
SUICIDE_ITEMS = {"asq_1": "yes", "asq_5": "yes", "suicide_plan": "yes", "phq9_9": 2}


def caution(result: Any) -> int:
    """The most severe level among fired and could-not-be-judged rules."""
    levels = [f.level for f in result.findings]
    return max([SEVERITY[x] for x in levels], default=0)


@settings(max_examples=150, deadline=None)
@given(answers())
def test_never_crashes_and_is_deterministic(given_answers: dict[str, Any]) -> None:
    """Random partial answers always screen, and twice gives the same result."""
    first = run(given_answers)
    assert first == run(given_answers)
    assert first.disposition in Disposition


@settings(max_examples=150, deadline=None)
@given(answers(), st.sampled_from(sorted(SUICIDE_ITEMS)))
def test_suicide_signal_is_never_lost(given_answers: dict[str, Any], item: str) -> None:
    """Whatever else is answered, a suicide-risk answer surfaces first with crisis help."""
    result = run({**given_answers, item: SUICIDE_ITEMS[item]})
    assert result.findings[0].domain == "suicide_risk"
    assert result.crisis is not None
    assert "suicide_risk" in result.domains


@settings(max_examples=150, deadline=None)
@given(answers(), st.data())
def test_removing_an_answer_is_never_less_cautious(
    given_answers: dict[str, Any], data: st.DataObject
) -> None:
    """Dropping an answer keeps every fired rule fired or unresolved, and never lowers caution.

    A rule that fired may become "could not be judged"; it then appears in the unknowns,
    and the disposition can only fall back to needs_specialist_review, never below what
    the remaining evidence and the unknowns require.
    """
    if not given_answers:
        return
    key = data.draw(st.sampled_from(sorted(given_answers)))
    before = run(given_answers)
    reduced = {k: v for k, v in given_answers.items() if k != key}
    after = run(reduced)
    unresolved = {rid for u in after.unknowns for rid in u.rule_ids}
    info = {f.rule_id for f in before.findings if f.level == "info"}
    for rule_id in fired(before) - info - PRESENCE_RULES:
        assert rule_id in fired(after) or rule_id in unresolved, rule_id
    if key in CLINIC_ITEMS:
        return  # a clinic measurement not yet taken is listed, not counted against the person
    floor = min(caution(before), SEVERITY["needs_specialist_review"])
    assert caution(after) >= floor
    if before.disposition != Disposition.no_concerns_found:
        assert after.disposition != Disposition.no_concerns_found


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=12), st.none() | st.integers() | st.text(max_size=8)
    )
)
def test_garbage_is_rejected_cleanly(garbage: dict[str, Any]) -> None:
    """Arbitrary junk either screens or raises AnswersError naming items; nothing else."""
    try:
        run(garbage)
    except AnswersError as exc:
        assert exc.problems
        assert all(p.where for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(answers(), st.sampled_from([None, *sorted(SUICIDE_ITEMS)]))
def test_crisis_panel_matches_the_full_result(
    given_answers: dict[str, Any], item: str | None
) -> None:
    """The questionnaire pages' quick check for the crisis panel (no whole result
    unless a suicide-risk rule fires) shows it exactly when the result has it."""
    if item is not None:
        given_answers = {**given_answers, item: SUICIDE_ITEMS[item]}
    content = get_content()
    shown = crisis_for(
        content, facts_of(content, given_answers, SCREENING_DATE), SCREENING_DATE
    )
    assert shown == run(given_answers).crisis


@settings(max_examples=150, deadline=None)
@given(answers())
def test_stored_json_is_the_models_json(given_answers: dict[str, Any]) -> None:
    """The JSON stored for a result (written from parts serialised before) is exactly
    pydantic's, the first time and when every part comes from the cache."""
    result = run(given_answers)
    expected = result.model_dump_json().encode()
    assert result_json(result) == expected
    assert result_json(run(given_answers)) == expected
