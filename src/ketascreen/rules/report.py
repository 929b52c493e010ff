"""Whole-content checks behind ``ketascreen rules``.

Loading already checks references, facts, parameters and codes. These checks add:
every domain has at least one rule, and every rule can fire (a witness exists).
"""

from __future__ import annotations

from ketascreen.errors import Problem
from ketascreen.logic.schema import params_in
from ketascreen.rules.checks import find_witness
from ketascreen.rules.loader import Content


def check_content(content: Content) -> list[Problem]:
    """Return problems that make the content unfit (empty when all is well).

    Args:
        content: the loaded content.

    Returns:
        Problems: uncovered domains and rules that can never fire.
    """
    problems: list[Problem] = []
    covered = {cr.rule.domain for cr in content.rules}
    for domain in content.domains:
        if domain not in covered:
            problems.append(Problem(f"domain {domain}", "no rule covers this domain"))
    for cr in content.rules:
        thresholds = [content.parameters[p].value for p in params_in(cr.rule.when)]
        thresholds += _literal_numbers(repr(cr.when))
        if find_witness(cr.when, content.form.vocabulary, thresholds) is None:
            problems.append(
                Problem(
                    f"rule {cr.rule.id}", "can never fire (no answers make it true)"
                )
            )
    return problems


def _literal_numbers(text: str) -> list[float]:
    found = []
    for token in text.replace("(", " ").replace(")", " ").replace(",", " ").split():
        try:
            found.append(float(token))
        except ValueError:
            continue
    return found
