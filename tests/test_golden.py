"""Golden cases: answers -> expected disposition, domains and rules, written as data.

Each file in tests/golden/ is readable by a clinician::

    name: Measured BP 172/104 defers
    answers: {...}
    expect:
      disposition: not_recommended_now
      domains: [cardiovascular]          # exactly the flagged domains
      fires: [cardiovascular.bp_high_measured]
      not_fires: [cardiovascular.bp_raised_measured]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ketascreen.screening import get_content
from tests.helpers import fired, run

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


CASES = [load(p) for p in GOLDEN]


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in GOLDEN])
def test_golden_case(case: dict[str, Any]) -> None:
    """The case's answers give exactly the expected disposition and domains."""
    result = run(case["answers"])
    expect = case["expect"]
    got = fired(result)
    assert result.disposition.value == expect["disposition"], sorted(got)
    if "domains" in expect:
        assert sorted(result.domains) == sorted(expect["domains"]), sorted(got)
    for rule_id in expect.get("fires", []):
        assert rule_id in got, f"{rule_id} did not fire; fired: {sorted(got)}"
    for rule_id in expect.get("not_fires", []):
        assert rule_id not in got, f"{rule_id} fired"


def test_enough_cases_cover_every_domain() -> None:
    """At least 40 cases, and every domain is flagged in at least one."""
    assert len(CASES) >= 40
    flagged = {d for c in CASES for d in c["expect"].get("domains", [])}
    assert set(get_content().domains) <= flagged


def test_every_rule_fires_and_does_not_fire() -> None:
    """Every active rule fires in some golden case and stays silent in another."""
    content = get_content()
    seen_fired: set[str] = set()
    seen_silent: set[str] = set()
    for case in CASES:
        got = fired(run(case["answers"]))
        seen_fired |= got
        seen_silent |= {cr.rule.id for cr in content.rules} - got
    all_ids = {cr.rule.id for cr in content.rules}
    assert all_ids - seen_fired == set(), "rules never fired by a golden case"
    assert all_ids - seen_silent == set(), "rules that fire in every case"


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in GOLDEN])
def test_golden_renderings(case: dict[str, Any]) -> None:
    """Both summaries render; the person's never says eligible and leads with crisis help."""
    from ketascreen.explain.render import render_clinician, render_json, render_patient
    from tests.test_readability import BANNED

    result = run(case["answers"])
    patient = render_patient(result)
    assert not BANNED.search(patient.replace("told us you have", "")), BANNED.search(
        patient
    )
    assert render_clinician(result).startswith("# Screening result")
    assert '"disposition"' in render_json(result)
    if result.crisis is not None:
        assert patient.index("988") < patient.index("# " + result.disposition_label)
