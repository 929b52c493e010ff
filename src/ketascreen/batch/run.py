"""Run a population screening: facts table in, one row per person out, a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from ketascreen.batch.expressions import has_problem_expr, problem_expr
from ketascreen.batch.polars_backend import PolarsBackend, backend_for, screen_frame
from ketascreen.batch.schema import PERSON, fact_columns
from ketascreen.batch.table import (
    BatchInputError,
    frames_source,
    read_facts,
    write_table,
    written_atomically,
)
from ketascreen.errors import Problem
from ketascreen.rules.loader import Content

OUTCOME = ("disposition", "domains", "rule_ids", "unknown_facts")
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Summary:
    """What a batch run found."""

    people: int
    dispositions: dict[str, int]
    domains: dict[str, int]
    unknown_facts: dict[str, int]
    input_problems: int
    not_used: dict[str, int] = field(default_factory=dict)
    """Record codes a bulk export carried that gave no answer (code: reason)."""


def screen_polars(frame: pl.LazyFrame, content: Content) -> pl.LazyFrame:
    """Screen a checked facts table; rows with input problems are not screened.

    Returns:
        ``person_id``, the outcome columns and ``input_problems``.
    """
    columns = fact_columns(content)
    backend, frame = backend_for(frame, columns)
    return _screened(frame, content, backend, some_problem=True)


def screen_chunk(chunk: pl.DataFrame, content: Content) -> pl.DataFrame:
    """:func:`screen_polars` on a table in memory, the way :func:`run_batch` runs.

    Input problems are rare, and listing them per row (some ninety checks) is a
    large share of the work; so the lists are only built when some row of the chunk
    has one (every list is empty otherwise, as it would have been).
    """
    columns = fact_columns(content)
    backend, frame = backend_for(chunk.lazy(), columns)
    names = chunk.columns
    found = has_problem_expr(backend, {n: c for n, c in columns.items() if n in names})
    if "_unreadable" in names:
        found = found | (pl.col("_unreadable").list.len() > 0)
    # The helper columns and the problem test in one pass; the helpers are kept.
    prepared = frame.with_columns(found.alias("_problem")).collect()
    some = bool(prepared.get_column("_problem").any())
    prepared = prepared.drop("_problem")
    return _screened(prepared.lazy(), content, backend, some_problem=some).collect()


def _screened(
    frame: pl.LazyFrame, content: Content, backend: PolarsBackend, *, some_problem: bool
) -> pl.LazyFrame:
    """The screening of a frame that has its helper columns (:func:`backend_for`).

    Args:
        some_problem: False when no row has an input problem (then none is looked for).
    """
    columns = fact_columns(content)
    names = frame.collect_schema().names()
    if not some_problem:
        problems = pl.lit([], dtype=pl.List(pl.String))
    else:
        problems = problem_expr(
            backend, {n: c for n, c in columns.items() if n in names}
        ).cast(pl.List(pl.String))
        if "_unreadable" in names:
            problems = pl.concat_list(pl.col("_unreadable"), problems)
    frame = frame.with_columns(problems.alias("input_problems"))
    screened = screen_frame(
        frame.drop("_unreadable", strict=False),
        content,
        columns,
        keep=["input_problems"],
        backend=backend,
    )
    if not some_problem:
        return screened
    clean = pl.col("input_problems").list.len() == 0
    return screened.with_columns(
        [pl.when(clean).then(pl.col(n)).alias(n) for n in OUTCOME]
    )


def run_batch(
    source: Path,
    target: Path,
    content: Content,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Screen a facts table with Polars, chunk by chunk, and write the result.

    Args:
        source: the facts table (Parquet or CSV), or a folder of FHIR bulk-export
            NDJSON files (Patient, Condition, Observation, medications, allergies).
        target: where to write the result (Parquet or CSV); written to a temporary
            name and renamed, so a partial output never looks complete.
        content: the loaded content.
        chunk_rows: rows per chunk (bounds memory).
        progress: called with (rows done, rows in all) after each chunk.

    Returns:
        The summary.
    """
    columns = fact_columns(content)
    not_used: dict[str, int] = {}
    if source.is_dir():  # a FHIR bulk export: record resources through the code maps
        from ketascreen.batch.bulk import read_bulk

        bulk = read_bulk(source, content, columns)
        frame, not_used = bulk.frame.lazy(), dict(bulk.unmapped.most_common())
    else:
        frame = read_facts(source, columns)
    total = frame.select(pl.len()).collect().item()
    if total == 0:  # a bulk export with no Patient (tables are checked on reading)
        raise BatchInputError([Problem(str(source), "no people to screen")])
    tally = _Tally()

    def screened() -> Iterator[pl.DataFrame]:
        for offset in range(0, total, chunk_rows):
            chunk = screen_chunk(frame.slice(offset, chunk_rows).collect(), content)
            tally.add(chunk)
            yield chunk
            if progress:
                progress(min(offset + chunk_rows, total), total)

    schema = screen_polars(frame.slice(0, 0), content).collect_schema()
    with written_atomically(target) as tmp:
        write_table(
            frames_source(screened(), schema), tmp, csv=target.suffix.lower() == ".csv"
        )
    return replace(tally.summary(), not_used=not_used)


class _Tally:
    """The summary's counts, added up chunk by chunk as the result is written."""

    def __init__(self) -> None:
        self.people = 0
        self.problems = 0
        self.counts: dict[str, Counter[str]] = {
            name: Counter() for name in ("disposition", "domains", "unknown_facts")
        }

    def add(self, chunk: pl.DataFrame) -> None:
        """Count one chunk of results."""
        part = summarise(chunk.lazy())
        self.people += part.people
        self.problems += part.input_problems
        self.counts["disposition"].update(part.dispositions)
        self.counts["domains"].update(part.domains)
        self.counts["unknown_facts"].update(part.unknown_facts)

    def summary(self) -> Summary:
        """The summary so far, most frequent first."""
        ordered = {name: dict(c.most_common()) for name, c in self.counts.items()}
        return Summary(
            people=self.people,
            dispositions=ordered["disposition"],
            domains=ordered["domains"],
            unknown_facts=ordered["unknown_facts"],
            input_problems=self.problems,
        )


def summarise(result: pl.LazyFrame) -> Summary:
    """Counts per disposition and per domain, and the facts unknown most often."""

    def counts(column: str, explode: bool = False) -> dict[str, int]:
        frame = result.select(pl.col(column))
        if explode:
            frame = frame.explode(column)
        table = frame.drop_nulls().group_by(column).len().sort("len", descending=True)
        return {str(k): int(v) for k, v in table.collect().iter_rows()}

    people = result.select(pl.len()).collect().item()
    problems = result.filter(pl.col("input_problems").list.len() > 0).select(pl.len())
    return Summary(
        people=people,
        dispositions=counts("disposition"),
        domains=counts("domains", explode=True),
        unknown_facts=counts("unknown_facts", explode=True),
        input_problems=problems.collect().item(),
    )


__all__ = [
    "PERSON",
    "Summary",
    "run_batch",
    "screen_chunk",
    "screen_polars",
    "summarise",
]


def run_spark(
    source: Path, target: Path, content: Content, *, master: str | None = None
) -> Summary:
    """Screen a Parquet facts table with Spark (no Python UDFs) and write the result.

    Args:
        source: a Parquet facts table (a file or a folder of parts; on a cluster, on
            storage every executor can read).
        target: where the result goes: a folder of Parquet parts, written under a
            temporary name and renamed when complete.
        content: the loaded content.
        master: the Spark master URL (default ``local[2]``).

    Returns:
        The summary.
    """
    from pyspark.sql import functions as F

    from ketascreen.batch.spark_backend import DTYPES as SPARK_TYPES
    from ketascreen.batch.spark_backend import (
        SparkBackend,
        column,
        local_session,
        quoted,
    )
    from ketascreen.batch.spark_backend import screen_frame as spark_screen

    if source.suffix.lower() == ".csv" or target.suffix.lower() == ".csv":
        raise BatchInputError(
            [
                Problem(
                    str(source),
                    "the Spark engine reads and writes Parquet; convert the CSV first",
                )
            ]
        )
    columns = fact_columns(content)
    checked = read_facts(source, columns)  # names and types, before any work starts
    present = checked.collect_schema().names()
    spark = local_session(master or "local[2]")
    frame = spark.read.parquet(str(source))
    frame = frame.select(
        [
            F.col(quoted(n)).cast(SPARK_TYPES[columns[n].dtype]).alias(n)
            if n in columns
            else F.col(quoted(n))
            for n in present
        ]
    )
    problems = problem_expr(
        SparkBackend(), {n: c for n, c in columns.items() if n in present}
    )
    frame = frame.withColumn("input_problems", column(problems))
    screened = spark_screen(frame, content, columns, keep=["input_problems"])
    clean = F.size(F.col("input_problems")) == 0
    screened = screened.select(
        F.col(PERSON),
        *[F.when(clean, F.col(n)).alias(n) for n in OUTCOME],
        F.col("input_problems"),
    )
    with written_atomically(target) as tmp:
        screened.write.parquet(str(tmp))
    return summarise(pl.scan_parquet(target / "*.parquet"))
