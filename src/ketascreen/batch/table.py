"""Reading and writing facts tables (Parquet or CSV), checked before any work starts."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from difflib import get_close_matches
from pathlib import Path

import polars as pl
from polars._typing import PolarsDataType
from polars.io.plugins import register_io_source

from ketascreen.batch.polars_backend import DTYPES
from ketascreen.batch.schema import PERSON, Column
from ketascreen.errors import InputError, Problem
from ketascreen.files import replaceable

#: CSV has no lists: multi-select facts are written as codes joined by this.
LIST_SEPARATOR = "|"
_NUMERIC = {"int", "float"}


class BatchInputError(InputError):
    """A facts table that cannot be screened (file, column and reason named)."""


def read_facts(path: Path, columns: dict[str, Column]) -> pl.LazyFrame:
    """Open a facts table lazily and check its columns against the schema.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        columns: the expected fact columns.

    Returns:
        A lazy frame with ``person_id`` and the fact columns in their types.

    Raises:
        BatchInputError: unreadable, empty, a missing, unknown or mistyped column.
    """
    frame = _scan(path)
    try:
        schema = frame.collect_schema()
        empty = frame.select(pl.len()).collect().item() == 0
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BatchInputError([Problem(str(path), f"cannot be read: {exc}")]) from exc
    if empty:
        raise BatchInputError([Problem(str(path), "has no rows")])
    _check_names(path, list(schema.names()), columns)
    if path.suffix.lower() == ".csv":
        return _typed_csv(frame, columns)
    _check_types(path, schema, columns)
    return frame.with_columns(
        [_typed(n, dtype, columns[n]) for n, dtype in schema.items() if n in columns]
    )


def _typed(name: str, dtype: pl.DataType, column: Column) -> pl.Expr:
    """A column in its engine type.

    Coded answers stored as categorical (dictionary) columns stay categorical:
    comparing and looking up their codes is then several times faster than on
    plain strings (``ketascreen synth`` writes them so). Computed instrument facts
    are always plain, as the engine's own scores are.
    """
    if column.required and _categorical(dtype):
        wanted: pl.DataType = pl.Categorical()
        return pl.col(name).cast(
            pl.List(wanted) if column.dtype == "list[str]" else wanted
        )
    return pl.col(name).cast(DTYPES[column.dtype])


def _categorical(dtype: PolarsDataType) -> bool:
    """Categorical or Enum, or a list of either."""
    inner = dtype.inner if isinstance(dtype, pl.List) else dtype
    return isinstance(inner, pl.Categorical | pl.Enum)


def _scan(path: Path) -> pl.LazyFrame:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise BatchInputError([Problem(str(path), "no such file")])
    if suffix == ".parquet":
        return pl.scan_parquet(path)
    if suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False)
    raise BatchInputError([Problem(str(path), "expected a .parquet or .csv file")])


def _check_names(path: Path, names: list[str], columns: dict[str, Column]) -> None:
    problems = []
    if PERSON not in names:
        problems.append(
            Problem(f"{path}: {PERSON}", "missing column (one id per person)")
        )
    for name in names:
        if name != PERSON and name not in columns:
            close = get_close_matches(name, list(columns), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(f"{path}: {name}", f"unknown column{hint}"))
    for name, column in columns.items():
        if column.required and name not in names:
            problems.append(Problem(f"{path}: {name}", "missing column"))
    if problems:
        expected = ", ".join([PERSON, *columns])
        problems.append(Problem(str(path), f"expected columns: {expected}"))
        raise BatchInputError(problems)


def _check_types(path: Path, schema: pl.Schema, columns: dict[str, Column]) -> None:
    problems = []
    for name, dtype in schema.items():
        column = columns.get(name)
        if column is not None and not _compatible(dtype, column.dtype):
            problems.append(
                Problem(f"{path}: {name}", f"is {dtype}, expected {column.dtype}")
            )
    if problems:
        raise BatchInputError(problems)


def _compatible(dtype: pl.DataType, wanted: str) -> bool:
    if dtype == pl.Null:
        return True
    if wanted in _NUMERIC:
        return dtype.is_numeric()
    if wanted == "list[str]":
        return isinstance(dtype, pl.List) and (
            dtype.inner in (pl.String, pl.Null) or _categorical(dtype.inner)
        )
    if wanted == "str" and _categorical(dtype):
        return True
    return dtype == DTYPES[wanted]


def _typed_csv(frame: pl.LazyFrame, columns: dict[str, Column]) -> pl.LazyFrame:
    """CSV cells are text: cast each, and keep a failed cast visible as a problem."""
    names = frame.collect_schema().names()
    casts = [pl.col(PERSON)]
    unreadable = []
    for name in names:
        if name == PERSON:
            continue
        raw, column = pl.col(name), columns[name]
        typed = _cast_text(raw, column.dtype).alias(name)
        casts.append(typed)
        failed = raw.is_not_null() & (raw != "") & typed.is_null()
        unreadable.append(pl.when(failed).then(pl.lit(f"{name}: not a {column.dtype}")))
    frame = frame.with_columns(
        pl.concat_list(unreadable).list.drop_nulls().alias("_unreadable")
        if unreadable
        else pl.lit([], dtype=pl.List(pl.String)).alias("_unreadable")
    )
    return frame.select([*casts, pl.col("_unreadable")])


def _cast_text(raw: pl.Expr, dtype: str) -> pl.Expr:
    text = pl.when(raw == "").then(None).otherwise(raw)
    if dtype == "list[str]":
        return text.str.split(LIST_SEPARATOR)
    if dtype == "bool":
        lowered = text.str.to_lowercase()
        return (
            pl.when(lowered == "true").then(True).when(lowered == "false").then(False)
        )
    return text.cast(DTYPES[dtype], strict=False)


@contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success.

    Raises:
        InputError: ``path`` is a pipe, a device, or a folder that is not an earlier
            result (checked before anything is replaced).
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        replaceable(path)
        if path.is_dir():  # a folder of parts from an earlier run
            shutil.rmtree(path)
        tmp.replace(path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def frames_source(
    frames: Iterator[pl.DataFrame], schema: Mapping[str, pl.DataType]
) -> pl.LazyFrame:
    """A lazy frame over frames made one at a time, for a single streaming sink.

    Args:
        frames: the frames, each with ``schema``; consumed once.
        schema: their columns and types.
    """

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        _n_rows: int | None,
        _batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        for frame in frames:
            frame = frame if predicate is None else frame.filter(predicate)
            yield frame if with_columns is None else frame.select(with_columns)

    return register_io_source(source, schema=dict(schema))


def write_table(frame: pl.LazyFrame, path: Path, *, csv: bool) -> None:
    """Write a table, streaming: Parquet, or CSV with lists joined by ``|``.

    Parquet is zstd level 1: about as small as the default level, written faster.
    """
    if csv:
        lists = [n for n, t in frame.collect_schema().items() if isinstance(t, pl.List)]
        frame = frame.with_columns(
            [
                pl.col(n).cast(pl.List(pl.String)).list.join(LIST_SEPARATOR)
                for n in lists
            ]
        )
        frame.sink_csv(path)
    else:
        frame.sink_parquet(path, compression_level=1)
