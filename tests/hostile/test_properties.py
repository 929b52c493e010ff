"""Properties over hostile input. Arbitrary answers JSON through the API (SQLite and
PostgreSQL) and ``ketascreen screen``; arbitrary note text through the scanner and
``ketascreen screen --note``; arbitrary FHIR (QuestionnaireResponses, record
resources, Bundles) through the readers. Each gives a result or an error naming the
field, never a crash.

tests/test_properties.py covers the engine on answers of the right shape and flat
junk dictionaries; these add nested JSON, real item ids with wrong values, the HTTP
and storage layers, the command line, notes and FHIR.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ketascreen.cli import app as cli_app
from ketascreen.errors import InputError
from ketascreen.interop.intake import read_input
from ketascreen.interop.questionnaire import QUESTIONNAIRE_URL
from ketascreen.nlp.merge import screen_with_note
from ketascreen.nlp.scanner import NoteError
from ketascreen.screening import get_content, screen
from tests.strategies import answers

TODAY = date(2026, 11, 27)
CONTENT = get_content()
ITEM_IDS = sorted(CONTENT.form.items)
CODES = Path(__file__).parents[2] / "src" / "ketascreen" / "data" / "codes"
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(ITEM_IDS) | st.text(max_size=12)
SENTENCES = [
    "Hx bipolar I disorder, stable on lithium.",
    "Pt denies SI.",
    "BP 182/110 today.",
    "Mother had schizophrenia.",
    "Used ketamine weekly until 2023.",
    "No history of psychosis.",
    "Currently 12 weeks pregnant.",
]
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@st.composite
def hostile_answers(draw: st.DrawFn) -> dict[str, Any]:
    """Answers of the right shape, with any item ids or junk keys set to any JSON."""
    given_answers: dict[str, Any] = draw(answers())
    junk = draw(st.dictionaries(KEYS, JSON_VALUES, max_size=4))
    return {**given_answers, **junk}


def item_keys(given_answers: dict[str, Any]) -> set[str]:
    """The names problems give the answers' keys."""
    return {key if key.strip() else "(empty item id)" for key in given_answers}


def named(problems: list[str], keys: Any) -> bool:
    """Every problem line names one of the answers' keys (control characters
    shown as escapes)."""
    shown = ["".join(c if c.isprintable() else ascii(c)[1:-1] for c in k) for k in keys]
    return all(any(f"{key}: " in line for key in shown) for line in problems)


class TestAnswers:
    """Arbitrary answers: a result, or the bad items named."""

    @PROPERTY
    @given(hostile_answers())
    def test_api(self, client: TestClient, given_answers: dict[str, Any]) -> None:
        """201 with a result, or 422 naming each bad item; nothing else."""
        before = client.app.state.ketascreen.repository.count()  # type: ignore[attr-defined]
        response = client.post("/api/v1/screenings", json={"answers": given_answers})
        after = client.app.state.ketascreen.repository.count()  # type: ignore[attr-defined]
        if response.status_code == 201:
            assert response.json()["result"]["disposition"]
            assert after == before + 1
            return
        assert response.status_code == 422, response.text
        fields = {entry["field"] for entry in response.json()["detail"]}
        assert fields
        assert fields <= item_keys(given_answers), fields
        assert after == before

    @settings(PROPERTY, max_examples=40)
    @given(
        hostile_answers()
        | JSON_VALUES
        | st.dictionaries(KEYS, st.floats() | st.integers(), max_size=3)
    )
    def test_cli(self, tmp_path: Path, data: Any) -> None:
        """Exit 0 with a result, or exit 2 naming the items (NaN and Infinity too)."""
        path = tmp_path / "answers.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        done = CliRunner().invoke(
            cli_app, ["screen", "--answers", str(path), "--format", "json"]
        )
        assert done.exception is None or isinstance(done.exception, SystemExit), (
            done.exception
        )
        if done.exit_code == 0:
            assert json.loads(done.stdout)["disposition"]
            return
        assert done.exit_code == 2, done.output
        problems = done.stderr.split("\n")[1:-1]
        assert all(line.isprintable() for line in problems), done.stderr
        assert problems, done.stderr
        keys = [*(data if isinstance(data, dict) else ()), "(empty item id)"]
        keys += ["answers", str(path)]
        assert named(problems, keys), done.stderr


class TestNotes:
    """Arbitrary note text: a result or NoteError, never another exception."""

    @settings(PROPERTY, max_examples=30)
    @given(
        st.lists(
            st.sampled_from(SENTENCES)
            | st.text(st.characters(codec=None), max_size=80)
            | st.text(st.characters(categories=["Cc", "Cs", "Zl", "Zp", "Mn"])),
            max_size=6,
        ).map(" ".join),
        hostile_answers() | st.none(),
    )
    def test_scanner(self, note: str, given_answers: dict[str, Any] | None) -> None:
        """Control characters, surrogates, combining marks, junk and clinical
        sentences, with or without answers."""
        try:
            noted = screen_with_note(note, given_answers, screening_date=TODAY)
        except NoteError as exc:
            assert {p.where for p in exc.problems} == {"note"}
            return
        except InputError as exc:  # the answers, named item by item
            assert given_answers is not None
            assert {p.where for p in exc.problems} <= item_keys(given_answers)
            return
        assert noted.result.disposition

    @settings(PROPERTY, max_examples=25)
    @given(
        st.binary(max_size=300)
        | st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=4)
        .map(" ".join)
        .map(str.encode)
    )
    def test_cli(self, tmp_path: Path, data: bytes) -> None:
        """Any bytes in a note file: exit 0, or exit 2 naming the note."""
        path = tmp_path / "note.txt"
        path.write_bytes(data)
        done = CliRunner().invoke(
            cli_app, ["screen", "--note", str(path), "--format", "json"]
        )
        assert done.exception is None or isinstance(done.exception, SystemExit), (
            done.exception
        )
        if done.exit_code == 0:
            assert json.loads(done.stdout)["disposition"]
            return
        assert done.exit_code == 2, done.output
        assert "note: " in done.stderr, done.stderr


def _codings() -> st.SearchStrategy[dict[str, Any]]:
    """Codings from the code maps (so mapped paths run), or anything."""
    known = []
    for name in ("snomed", "loinc", "icd10cm", "rxnorm"):
        data = yaml.safe_load((CODES / f"{name}.yaml").read_text(encoding="utf-8"))
        known += [
            {"system": data["system"], "code": code["code"]}
            for group in data["groups"]
            for code in group["codes"]
        ]
    junk = st.fixed_dictionaries(
        {}, optional={"system": JSON_VALUES, "code": JSON_VALUES, "display": SCALARS}
    )
    return st.sampled_from(known) | junk


ANSWER_VALUES = st.one_of(
    st.builds(lambda v: {"valueString": v}, st.text(max_size=20)),
    st.builds(lambda v: {"valueInteger": v}, st.integers()),
    st.builds(lambda v: {"valueDecimal": v}, st.floats(allow_nan=False)),
    st.builds(lambda v: {"valueBoolean": v}, st.booleans()),
    st.builds(lambda v: {"valueCoding": v}, _codings()),
    st.builds(lambda v: {"valueDate": v}, st.dates().map(str) | st.text(max_size=10)),
    st.builds(lambda k, v: {k: v}, st.text(max_size=12), JSON_VALUES),
)
ITEMS = st.recursive(
    st.fixed_dictionaries(
        {"linkId": KEYS}, optional={"answer": st.lists(ANSWER_VALUES, max_size=2)}
    ),
    lambda inner: st.fixed_dictionaries(
        {"linkId": KEYS, "item": st.lists(inner, max_size=3)}
    ),
    max_leaves=10,
)
RESPONSES = st.fixed_dictionaries(
    {
        "resourceType": st.just("QuestionnaireResponse"),
        "status": st.sampled_from(["completed", "in-progress", "amended", "nonsense"]),
        "item": st.lists(ITEMS, max_size=5) | JSON_VALUES,
    },
    optional={
        "questionnaire": st.sampled_from([QUESTIONNAIRE_URL, "urn:x"]) | JSON_VALUES,
        "authored": st.datetimes().map(str) | st.text(max_size=12),
    },
)
RECORDS = st.fixed_dictionaries(
    {
        "resourceType": st.sampled_from(
            ["Condition", "Observation", "MedicationStatement", "AllergyIntolerance"]
        ),
        "code": st.fixed_dictionaries({"coding": st.lists(_codings(), max_size=2)})
        | JSON_VALUES,
    },
    optional={
        "id": st.text(max_size=8),
        "status": st.text(max_size=10),
        "clinicalStatus": JSON_VALUES,
        "valueQuantity": st.fixed_dictionaries(
            {"value": st.floats(allow_nan=False) | JSON_VALUES}
        ),
        "effectiveDateTime": st.datetimes().map(str) | st.text(max_size=10),
    },
)
FHIR = st.one_of(
    RESPONSES,
    RECORDS,
    st.lists(RECORDS, max_size=3),
    st.builds(
        lambda entries: {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in entries],
        },
        st.lists(RESPONSES | RECORDS | JSON_VALUES, max_size=3),
    ),
)


class TestFhir:
    """Arbitrary FHIR: answers and a result, or InputError (FhirError) naming where."""

    @settings(PROPERTY, max_examples=150)
    @given(FHIR)
    def test_readers(self, data: Any) -> None:
        """QuestionnaireResponses, record resources and Bundles of any shape."""
        try:
            intake = read_input(data, CONTENT, screening_date=TODAY)
            result = screen(intake.answers, content=CONTENT, screening_date=TODAY)
        except InputError as exc:
            assert exc.problems
            assert all(p.where and p.message for p in exc.problems)
            return
        assert result.disposition

    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
    @settings(PROPERTY, max_examples=60)
    @given(RESPONSES)
    def test_http(self, client: TestClient, data: dict[str, Any]) -> None:
        """Over HTTP: 201 with a Bundle, or an OperationOutcome naming where."""
        response = client.post("/fhir/QuestionnaireResponse", json=data)
        body = response.json()
        if response.status_code == 201:
            assert body["resourceType"] == "Bundle"
            return
        assert response.status_code in (400, 422), response.text
        assert body["resourceType"] == "OperationOutcome"
        assert all(issue["expression"] for issue in body["issue"])
