"""The Polars engine gives exactly what the single-person engine gives, row by row."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.batch.population import frame, outcome, random_value, reference, rows

from ketascreen.batch.polars_backend import PolarsBackend
from ketascreen.batch.run import screen_chunk, screen_polars
from ketascreen.batch.schema import PERSON, fact_columns
from ketascreen.rules.loader import Content
from ketascreen.screening import get_content


def screened(content: Content, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run rows through the Polars engine, both ways: lazily, and as run_batch does."""
    table = frame(content, data)
    lazy = screen_polars(table.lazy(), content).collect()
    chunk = screen_chunk(table, content)
    assert chunk.equals(lazy)
    return chunk.to_dicts()


class TestDifferential:
    """Same dispositions, domains, fired rules and unknowns as screen()."""

    def test_generated_population(self, content: Content) -> None:
        """Random, all-unknown and threshold rows (5,000) agree exactly."""
        data = rows(content, 5000, seed=7)
        for row, got in zip(data, screened(content, data), strict=True):
            assert outcome(got) == reference(content, row), row[PERSON]
            assert got["input_problems"] == []

    def test_all_unknown_is_never_no_concerns(self, content: Content) -> None:
        """A row with nothing known is not 'no concerns found'."""
        [got] = screened(content, [{PERSON: "x"}])
        assert got["disposition"] != "no_concerns_found"
        assert got["unknown_facts"]

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(st.integers(min_value=0, max_value=2**31), st.floats(0.0, 1.0))
    def test_hypothesis(self, seed: int, unknown: float) -> None:
        """Any seed and share of unknowns: the engines agree."""
        import random

        content = get_content()
        rng = random.Random(seed)
        columns = {n: c for n, c in fact_columns(content).items() if c.required}
        data = [
            {
                PERSON: f"h{i}",
                **{n: random_value(c, rng, unknown) for n, c in columns.items()},
            }
            for i in range(20)
        ]
        for row, got in zip(data, screened(content, data), strict=True):
            assert outcome(got) == reference(content, row)


class TestInputProblems:
    """Bad values are flagged per row, never coerced, and that row is not screened."""

    def test_out_of_range_and_bad_code(self, content: Content) -> None:
        """An impossible blood pressure and an unknown code are named."""
        data = rows(content, 3, seed=1)
        data[1]["bp_systolic"] = 9999.0
        data[2]["heart_conditions"] = ["high_bp", "made_up"]
        got = screened(content, data)
        assert got[0]["input_problems"] == []
        assert got[1]["input_problems"][0].startswith("bp_systolic: expected a number")
        assert got[1]["disposition"] is None
        assert got[2]["input_problems"][0].startswith(
            "heart_conditions: expected at most 11 codes from high_bp"
        )
        assert got[2]["rule_ids"] is None

    def test_repeated_codes(self, content: Content) -> None:
        """A code given twice still counts once; more items than codes is a problem.

        The Polars engine counts each list's codes in a few bits per code, enough for
        a list as long as the number of codes: this checks both sides of that edge.
        """
        codes = [str(c) for c in fact_columns(content)["heart_conditions"].spec.codes]
        data = rows(content, 4, seed=2)
        data[0]["heart_conditions"] = ["high_bp", "high_bp"]
        data[1]["heart_conditions"] = ["high_bp"]
        data[2]["heart_conditions"] = ["coronary"] * len(codes)
        data[3]["heart_conditions"] = ["coronary"] * (len(codes) + 1)
        got = screened(content, data)
        for row, result in zip(data[:3], got, strict=False):
            assert result["input_problems"] == []
            assert outcome(result) == reference(content, row)
        assert "cardiovascular" in got[2]["domains"]
        assert got[3]["input_problems"][0].startswith("heart_conditions: expected")
        assert got[3]["disposition"] is None


def test_frame_types(content: Content) -> None:
    """The generated frame has the schema's types."""
    df = frame(content, rows(content, 2))
    assert df.schema["heart_conditions"] == pl.List(pl.String)


def test_synthetic_population_agrees(content: Content) -> None:
    """Rows from `ketascreen synth` (correlated, gated, near thresholds) agree too."""
    from ketascreen.batch.synth import synthesize

    population = next(synthesize(content, 3000, seed=11, chunk=3000))
    data = population.to_dicts()
    got = screen_polars(population.lazy(), content).collect().to_dicts()
    for row, result in zip(data, got, strict=True):
        assert outcome(result) == reference(content, row), row[PERSON]


@pytest.mark.parametrize("size", [1, 16, 17, 93, 94, 300])
def test_labels_in_order_for_any_number(size: int) -> None:
    """Labels of true conditions, in order, null as false, from 1 to 300 labels.

    Sixteen is the most one table of lists takes; past 93 labels the stand-in
    characters leave printable ASCII.
    """
    import random

    rng = random.Random(size)
    names = [f"c{i}" for i in range(size)]
    values = {n: [rng.choice([True, False, None]) for _ in range(500)] for n in names}
    table = pl.DataFrame(values, schema=dict.fromkeys(names, pl.Boolean))
    labels = [f"label {i}.x" for i in range(size)]
    expr = PolarsBackend().labels(list(zip(labels, map(pl.col, names), strict=True)))
    got = table.select(expr.alias("labels"))["labels"]
    assert got.dtype == pl.List(pl.Enum(labels))
    expected = [
        [label for label, n in zip(labels, names, strict=True) if values[n][row]]
        for row in range(500)
    ]
    assert got.to_list() == expected
