"""The person's flow as data for templates: visible pages, items, crisis, progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ketascreen.domain.outcome import Crisis
from ketascreen.intake.answers import FactSet, facts_from_answers
from ketascreen.intake.form import FormItem, FormSection
from ketascreen.rules.engine import evaluate, score_facts, suicide_signal
from ketascreen.rules.loader import Content


@dataclass(frozen=True)
class PageView:
    """One questionnaire page as the person sees it now."""

    section: FormSection
    items: tuple[FormItem, ...]
    number: int
    total: int
    previous: str | None
    next: str | None


def person_sections(content: Content) -> tuple[FormSection, ...]:
    """The pages a person fills in (clinic measurements are left to staff)."""
    return tuple(s for s in content.form.sections if s.audience == "person")


def facts_of(content: Content, answers: Mapping[str, Any], today: date) -> FactSet:
    """Scored facts for draft answers (answers are already valid): their ``values``
    decide what shows; :func:`crisis_for` takes the set as it is."""
    return score_facts(content, facts_from_answers(content.form, answers, today))


def shown_items(section: FormSection, facts: Mapping[str, Any]) -> tuple[FormItem, ...]:
    """Items to show now: a follow-up waits until the question it depends on is answered.

    An item whose condition is false is hidden. One whose condition is unknown is shown,
    unless it is unknown only because of a question on this same page, in which case it
    appears after that question is answered (no script needed).
    """
    on_page = {item.id for item in section.items}
    return tuple(item for item in section.items if _shows(item, on_page, facts))


def _shows(item: FormItem, on_page: set[str], facts: Mapping[str, Any]) -> bool:
    if item.show_if is None:
        return True
    outcome = item.show_if(facts)
    if outcome is not None:
        return outcome
    # Unknown: which facts it waits for (explaining costs more than evaluating).
    _, leaves = item.show_if.explain(facts)
    return not {leaf.fact for leaf in leaves if leaf.value is None} & on_page


def visible_sections(content: Content, facts: Mapping[str, Any]) -> list[FormSection]:
    """Person pages that have at least one item to show."""
    visible = []
    for section in person_sections(content):
        on_page = {item.id for item in section.items}
        if any(_shows(item, on_page, facts) for item in section.items):
            visible.append(section)
    return visible


def page_view(
    content: Content, section_id: str, facts: Mapping[str, Any]
) -> PageView | None:
    """The page for a section id, with its neighbours; None if it is not shown now."""
    sections = visible_sections(content, facts)
    ids = [s.id for s in sections]
    if section_id not in ids:
        return None
    index = ids.index(section_id)
    return PageView(
        section=sections[index],
        items=shown_items(sections[index], facts),
        number=index + 1,
        total=len(sections),
        previous=ids[index - 1] if index > 0 else None,
        next=ids[index + 1] if index + 1 < len(ids) else None,
    )


def crisis_for(content: Content, facts: FactSet, today: date) -> Crisis | None:
    """Crisis help to show now, if any answer so far signals suicide risk.

    Args:
        content: the content bundle.
        facts: the draft's scored facts (:func:`facts_of`).
        today: the screening date.
    """
    if not suicide_signal(content, facts):  # most pages: no need for the whole result
        return None
    return evaluate(content, facts, today).crisis
