"""Everything a person reads scores Flesch-Kincaid grade 8 or below, and avoids banned words."""

from __future__ import annotations

import re

import pytest
import textstat

from ketascreen.rules.loader import Content
from ketascreen.screening import get_content

BANNED = re.compile(
    r"\b(eligible|ineligible|rejected|reject|fail|failed"
    r"|(?<!told us )(?<!told )(?<!told you that )you have (?:an? )?(?:\w+ )?(?:disorder|disease|schizophrenia|psychosis|bipolar"
    r"|ptsd|epilepsy|addiction))\b",
    re.IGNORECASE,
)
MAX_GRADE = 8.0


def patient_texts(content: Content) -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    for cr in content.rules:
        texts.append((f"rule {cr.rule.id} message", cr.rule.patient_message))
        texts += [(f"rule {cr.rule.id} step", s) for s in cr.rule.next_steps]
    for name, d in content.dispositions.items():
        texts.append((f"disposition {name}", d.summary))
        texts += [(f"disposition {name} step", s) for s in d.next_steps]
    texts.append(("crisis", content.crisis.message))
    texts.append(("crisis urgent", content.crisis.urgent_message))
    texts.append(("crisis reminder", content.crisis.reminder))
    texts += [
        (f"effect {k}", "For you, this form " + v)
        for k, v in content.routes.effect_words.items()
    ]
    texts.append(("incomplete", content.incomplete.patient_message))
    texts.append(("incomplete summary", content.incomplete.patient_summary))
    for route in content.routes.routes:
        texts.append((f"route {route.id}", route.patient_summary))
        texts += [(f"route {route.id} note", w.patient_note) for w in route.weights]
    for section in content.form.sections:
        if section.intro and section.audience == "person":
            texts.append((f"section {section.id}", section.intro))
        for item in section.items:
            if item.instrument is None and item.audience == "person":
                texts.append((f"item {item.id}", item.text))
    return texts


TEXTS = patient_texts(get_content())


@pytest.mark.parametrize(("where", "text"), TEXTS, ids=[w for w, _ in TEXTS])
def test_grade_8_or_below(where: str, text: str) -> None:
    """Flesch-Kincaid grade is 8 or below."""
    grade = textstat.flesch_kincaid_grade(text)
    assert grade <= MAX_GRADE, f"{where}: grade {grade}: {text}"


@pytest.mark.parametrize(("where", "text"), TEXTS, ids=[w for w, _ in TEXTS])
def test_no_banned_words(where: str, text: str) -> None:
    """No 'eligible', 'rejected', 'fail' or 'you have a ...' in patient text."""
    assert not BANNED.search(text), f"{where}: {text}"
