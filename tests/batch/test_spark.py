"""The Spark engine screens every row exactly as Polars and the single-person engine."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyspark.sql import DataFrame, SparkSession
from tests.batch.population import outcome, random_value, reference

from ketascreen.batch import polars_backend, spark_backend
from ketascreen.batch.expressions import OUTPUT, problem_expr
from ketascreen.batch.schema import PERSON, Column, fact_columns
from ketascreen.instruments.model import scoped_values
from ketascreen.instruments.scoring import CompiledScore
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)
from ketascreen.rules.loader import Content
from ketascreen.screening import get_content

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("java") is None,
        reason="Spark needs a Java runtime (java not on PATH); install OpenJDK 17",
    ),
]

#: Every bundled optional instrument. With them the content holds all the default
#: rules plus mean, count and gated scores; Spark spends ~15 s planning a content,
#: so this one content (a superset of the default) keeps the module under a minute.
OPTIONAL = ("pcl5", "des2", "dast10", "mdq", "msibpd", "cssrs")
RANDOM_ROWS = 2800
Outcome = tuple[Any, ...]


@pytest.fixture(scope="module")
def content() -> Content:
    """The default ruleset with every bundled instrument (shadows the default)."""
    return get_content(None, OPTIONAL)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the test session, stopped at the end."""
    session = spark_backend.local_session()
    yield session
    session.stop()


# ---- rows -----------------------------------------------------------------------


def _typed(column: Column, value: float) -> Any:
    """A number as the column stores it (None: not an int column's value)."""
    if column.dtype != "int":
        return float(value)
    return int(value) if value == int(value) else None


def _in_range(column: Column, value: float) -> bool:
    """The questionnaire allows this number (rows stay valid input)."""
    low, high = column.spec.minimum, column.spec.maximum
    return (low is None or value >= low) and (high is None or value <= high)


def _random_row(rng: random.Random, columns: dict[str, Column]) -> dict[str, Any]:
    """Answers 30 % unknown; supplied instrument results 80 % unknown."""
    return {
        name: random_value(c, rng, 0.3 if c.required else 0.8)
        for name, c in columns.items()
    }


def _children(cond: Condition) -> list[Condition]:
    if isinstance(cond, All):
        return list(cond.all)
    if isinstance(cond, AnyOf):
        return list(cond.any)
    if isinstance(cond, Not):
        return [cond.not_]
    if isinstance(cond, Count):
        return list(cond.count)
    return []


def _thresholds(
    cond: Condition, values: dict[str, float]
) -> Iterator[tuple[str, float]]:
    """(fact, parameter value) for every fact compared with a parameter."""
    if isinstance(cond, FactTest):
        for op in ("eq", "ne", "gte", "gt", "lte", "lt"):
            operand = cond.operand(op)
            if isinstance(operand, ParamRef):
                yield cond.fact, values[operand.param]
    for child in _children(cond):
        yield from _thresholds(child, values)


def content_thresholds(content: Content) -> set[tuple[str, float]]:
    """Every (fact, threshold) the rules, flags and gates compare with."""
    values = {k: p.value for k, p in content.parameters.items()}
    found = {t for cr in content.rules for t in _thresholds(cr.rule.when, values)}
    for inst_id, inst in content.instruments.items():
        scoped = scoped_values(values, inst_id)
        for flag in inst.file.flags:
            found.update(_thresholds(flag.when, scoped))
        for cs in inst.scores:
            if cs.score.gate is not None:
                found.update(_thresholds(cs.score.gate, scoped))
    return found


def _items_reaching(cs: CompiledScore, target: float) -> dict[str, Any]:
    """Item answers whose points add up to ``target`` where they can (greedy)."""
    remaining = target * len(cs.points) if cs.score.method == "mean" else target
    answers: dict[str, Any] = {}
    for item, table in cs.points:
        fitting = [(p, v) for v, p in table.items() if p <= remaining]
        if fitting:
            points, answers[item] = max(fitting, key=lambda pv: pv[0])
            remaining -= points
    return answers


def threshold_rows(
    rng: random.Random, content: Content, columns: dict[str, Column]
) -> list[dict[str, Any]]:
    """Rows with a fact at and beside each threshold; scores supplied and computed."""
    scores = {cs.fact: cs for i in content.instruments.values() for cs in i.scores}
    rows = []
    for fact, threshold in sorted(content_thresholds(content)):
        cs = scores.get(fact)
        if cs is not None:  # computed from the items
            computed = {**_random_row(rng, columns), **_items_reaching(cs, threshold)}
            rows.append({**computed, fact: None})
        for delta in (-1, -0.5, 0, 0.5, 1):
            value = _typed(columns[fact], threshold + delta)
            if value is None or not _in_range(columns[fact], value):
                continue
            row = {**_random_row(rng, columns), fact: value}
            if cs is not None:  # supplied: the items cannot compute it
                row.update(dict.fromkeys((item for item, _ in cs.points), None))
            rows.append(row)
    return rows


def fact_rows(content: Content, columns: dict[str, Column]) -> list[dict[str, Any]]:
    """All-null rows, threshold rows and random rows, each with a person id."""
    rng = random.Random(20261128)
    rows = [dict.fromkeys(columns) for _ in range(3)]
    rows += threshold_rows(rng, content, columns)
    rows += [_random_row(rng, columns) for _ in range(RANDOM_ROWS)]
    return [{PERSON: f"p{i}", **row} for i, row in enumerate(rows)]


# ---- engines --------------------------------------------------------------------


def single_person(content: Content, rows: list[dict[str, Any]]) -> dict[str, Outcome]:
    """The reference: ``rules.engine.evaluate`` row by row."""
    return {row[PERSON]: reference(content, row) for row in rows}


def polars_frame(
    columns: dict[str, Column], rows: list[dict[str, Any]]
) -> pl.LazyFrame:
    """The rows as a Polars facts table."""
    schema = {
        PERSON: pl.String(),
        **{n: polars_backend.DTYPES[c.dtype] for n, c in columns.items()},
    }
    return pl.DataFrame(rows, schema=schema).lazy()


def spark_frame(
    spark: SparkSession, columns: dict[str, Column], rows: list[dict[str, Any]]
) -> DataFrame:
    """The rows as a Spark facts table (quoted names: fact ids contain dots)."""
    types = {PERSON: "string"} | {
        n: spark_backend.DTYPES[c.dtype] for n, c in columns.items()
    }
    ddl = ", ".join(f"{spark_backend.quoted(n)} {t}" for n, t in types.items())
    return spark.createDataFrame([tuple(r[n] for n in types) for r in rows], ddl)


def with_polars(
    content: Content, columns: dict[str, Column], rows: list[dict[str, Any]]
) -> dict[str, Outcome]:
    """Outcomes from the Polars engine."""
    frame = polars_frame(columns, rows)
    out = polars_backend.screen_frame(frame, content, columns).collect()
    return {row[PERSON]: outcome(row) for row in out.iter_rows(named=True)}


def with_spark(
    spark: SparkSession,
    content: Content,
    columns: dict[str, Column],
    rows: list[dict[str, Any]],
) -> dict[str, Outcome]:
    """Outcomes from the Spark engine (carrying one input column through)."""
    df = spark_frame(spark, columns, rows)
    screened = spark_backend.screen_frame(df, content, columns, keep=["age"])
    assert screened.columns == [PERSON, *OUTPUT, "age"]
    return {row[PERSON]: outcome(row.asDict()) for row in screened.collect()}


def _differences(
    expected: dict[str, Outcome], got: dict[str, Outcome]
) -> list[tuple[str, Outcome, Outcome | None]]:
    return [(p, e, got.get(p)) for p, e in expected.items() if got.get(p) != e][:3]


# ---- tests ----------------------------------------------------------------------


class TestSparkEngine:
    """Spark, Polars and the single-person engine agree row by row."""

    def test_matches_polars_and_single_person(
        self, spark: SparkSession, content: Content
    ) -> None:
        """Disposition, domains, fired rules and unknown facts are identical."""
        columns = fact_columns(content)
        rows = fact_rows(content, columns)
        expected = single_person(content, rows)
        assert len(expected) == len(rows) > RANDOM_ROWS
        assert not _differences(expected, with_polars(content, columns, rows))
        assert not _differences(expected, with_spark(spark, content, columns, rows))

    def test_rows_sit_on_every_threshold(self, content: Content) -> None:
        """Each fact compared with a parameter has a row exactly at its value."""
        columns = fact_columns(content)
        rows = fact_rows(content, columns)
        for fact, threshold in content_thresholds(content):
            value = _typed(columns[fact], threshold)
            if value is not None and _in_range(columns[fact], value):
                assert any(row[fact] == value for row in rows), fact


def bad_rows(columns: dict[str, Column]) -> list[dict[str, Any]]:
    """One row per checked column with a value the questionnaire does not allow."""
    rows = []
    for name, c in columns.items():
        spec = c.spec
        if c.dtype == "list[str]":
            bad: Any = ["not_a_code", *spec.codes[:1]]
        elif c.dtype == "bool":
            continue
        elif spec.codes:
            bad = 99 if c.dtype == "int" else "not_a_code"
        elif spec.maximum is not None:
            bad = _typed(c, spec.maximum + 1)
        else:
            continue
        rows.append({PERSON: f"bad_{name}", **dict.fromkeys(columns), name: bad})
    # Empty lists and null elements are fine (Polars' list.any skips nulls).
    lists = [n for n, c in columns.items() if c.dtype == "list[str]"]
    edges: list[list[str | None]] = [[], [None]]
    rows += [
        {PERSON: f"fine_{n}_{len(v)}", **dict.fromkeys(columns), n: v}
        for n in lists
        for v in edges
    ]
    return rows


class TestInputProblems:
    """Values outside the questionnaire are reported alike by both engines."""

    def test_problems_match_polars(self, spark: SparkSession, content: Content) -> None:
        """The same messages per row, in Spark and in Polars."""
        columns = fact_columns(content)
        rows = bad_rows(columns) + fact_rows(content, columns)[:300]
        polars = polars_frame(columns, rows).select(
            PERSON, problem_expr(polars_backend.PolarsBackend(), columns).alias("p")
        )
        spark_backend_ = spark_backend.SparkBackend()
        df = spark_frame(spark, columns, rows).select(
            spark_backend.column(spark_backend_.col(PERSON)),
            spark_backend.column(problem_expr(spark_backend_, columns)).alias("p"),
        )
        expected = {r[PERSON]: r["p"] for r in polars.collect().iter_rows(named=True)}
        assert {r[PERSON]: r["p"] for r in df.collect()} == expected
        flagged = {p for p, problems in expected.items() if problems}
        assert flagged == {r[PERSON] for r in rows if r[PERSON].startswith("bad_")}


class TestLiterals:
    """Values reach Spark SQL exactly (the backend writes expressions as text)."""

    def test_values_round_trip(self, spark: SparkSession) -> None:
        """Quotes, backslashes, unicode, exact doubles, big ints and booleans."""
        values = ["it's", "back\\slash", "a\\'b", "épreuve", 0.1, 1e-05, 2.675]
        values += [2**40, -3, True, False]
        row = (
            spark.range(1)
            .select(*[spark_backend.column(spark_backend.literal(v)) for v in values])
            .first()
        )
        assert row is not None
        assert list(row) == values
        assert [type(v) for v in row] == [type(v) for v in values]


class TestRound:
    """Spark's round (half up, decimal form) against Python's and Polars'."""

    def test_every_des2_mean_rounds_alike(self, spark: SparkSession) -> None:
        """Each DES-II mean (total of tens / 28) rounds the same in all three."""
        means = [total / 28 for total in range(0, 2801, 10)]
        backend = spark_backend.SparkBackend()
        df = spark.createDataFrame([(m,) for m in means], "x double")
        rounded = [
            r[0]
            for r in df.select(
                spark_backend.column(backend.round2(backend.col("x")))
            ).collect()
        ]
        polars = pl.Series(means).round(2).to_list()
        assert rounded == polars == [round(m, 2) for m in means]

    def test_decimal_ties_round_half_up(self, spark: SparkSession) -> None:
        """The documented difference: 2.675 (binary 2.67499…) is 2.68 in Spark."""
        backend = spark_backend.SparkBackend()
        df = spark.createDataFrame([(2.675,)], "x double")
        value = df.select(
            spark_backend.column(backend.round2(backend.col("x")))
        ).first()
        assert value is not None
        assert (value[0], round(2.675, 2)) == (2.68, 2.67)


class TestRunSpark:
    """The whole --engine spark path: checked input, Parquet out, same rows as Polars."""

    def test_same_output_as_polars(
        self, spark: SparkSession, content: Content, tmp_path: Path
    ) -> None:
        """run_spark and run_batch write the same rows; the summaries agree."""
        from ketascreen.batch.run import run_batch, run_spark
        from ketascreen.batch.synth import synthesize

        source = tmp_path / "pop.parquet"
        next(synthesize(content, 400, seed=5, chunk=400)).write_parquet(source)
        polars_summary = run_batch(source, tmp_path / "polars.parquet", content)
        spark_summary = run_spark(source, tmp_path / "spark", content)
        key = "person_id"
        left = pl.read_parquet(tmp_path / "polars.parquet").sort(key)
        right = pl.read_parquet(tmp_path / "spark" / "*.parquet").sort(key)
        assert left.to_dicts() == right.select(left.columns).to_dicts()
        assert polars_summary.dispositions == spark_summary.dispositions
        assert spark is not None
