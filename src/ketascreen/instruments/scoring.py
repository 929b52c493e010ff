"""Score instruments: sums, means and counts, bands, and flags (e.g. positive screens).

A score is unknown (absent from the facts) when any item it needs is unanswered,
unless its gate is false (e.g. PC-PTSD-5 with no trauma exposure scores 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ketascreen.domain.outcome import InstrumentScore, ScoreBand
from ketascreen.instruments.model import InstrumentFile, Score
from ketascreen.logic.compiler import Evaluator, compile_condition


@dataclass(frozen=True)
class CompiledScore:
    """A score with its item point tables and compiled gate."""

    score: Score
    fact: str
    points: tuple[tuple[str, Mapping[Any, float]], ...]
    gate: Evaluator | None
    bands: tuple[ScoreBand, ...]
    band_fact: str


@dataclass(frozen=True)
class CompiledInstrument:
    """An instrument ready to score."""

    file: InstrumentFile
    scores: tuple[CompiledScore, ...]
    flags: tuple[tuple[str, Evaluator], ...]


def compile_instrument(
    inst: InstrumentFile, params: Mapping[str, float]
) -> CompiledInstrument:
    """Compile an instrument's gates and flags.

    Args:
        inst: the instrument file.
        params: parameter values (the instrument's own, possibly overridden by a ruleset).

    Returns:
        The compiled instrument.
    """
    items = {i.id: i for i in inst.items}
    scores = []
    for score in inst.scores:
        table = []
        for item_id in score.items:
            responses = inst.responses_for(items[item_id])
            if score.method == "count":
                wanted = set(score.count_values)
                pts = {r.value: (1.0 if r.value in wanted else 0.0) for r in responses}
            else:
                pts = {r.value: p for r in responses if (p := r.points) is not None}
            table.append((item_id, pts))
        gate = compile_condition(score.gate, params) if score.gate else None
        bands = tuple(
            ScoreBand(label=b.label, minimum=b.min, maximum=b.max) for b in score.bands
        )
        fact = f"{inst.id}.{score.id}"
        scores.append(
            CompiledScore(score, fact, tuple(table), gate, bands, fact + "_band")
        )
    flags = tuple(
        (f"{inst.id}.{flag.id}", compile_condition(flag.when, params))
        for flag in inst.flags
    )
    return CompiledInstrument(inst, tuple(scores), flags)


def score_into(inst: CompiledInstrument, facts: dict[str, Any]) -> None:
    """Add an instrument's scores, bands and flags to the facts (in place).

    Args:
        inst: the compiled instrument.
        facts: fact values; item answers are read and scores written.
    """
    for cs in inst.scores:
        value = _compute(cs, facts)
        if value is None:
            continue
        facts[cs.fact] = value
        band = band_of(cs.score, value)
        if band is not None:
            facts[cs.band_fact] = band
    for fact_id, evaluator in inst.flags:
        outcome = evaluator.fn(facts)
        if outcome is not None:
            facts[fact_id] = outcome


def _compute(cs: CompiledScore, facts: Mapping[str, Any]) -> float | None:
    if cs.gate is not None:
        gate = cs.gate(facts)
        if gate is False:
            return cs.score.gate_value
        if gate is None:
            return None
    total = 0.0
    for item_id, table in cs.points:
        points = table.get(facts.get(item_id))
        if points is None:
            return None
        total += points
    if cs.score.method == "mean":
        return round(total / len(cs.points), 2)
    return total


def band_of(score: Score, value: float) -> str | None:
    """The label of the band holding ``value`` (None when no band covers it)."""
    for band in score.bands:
        if band.min <= value <= band.max:
            return band.label
    return None


def describe(
    inst: CompiledInstrument, facts: Mapping[str, Any]
) -> list[InstrumentScore]:
    """Describe an instrument's scores for the result, including missing items.

    Args:
        inst: the compiled instrument.
        facts: facts after scoring.

    Returns:
        One entry per score.
    """
    out = []
    flags = {fid.split(".", 1)[1]: facts.get(fid) for fid, _ in inst.flags}
    for cs in inst.scores:
        value = facts.get(cs.fact)
        missing = (
            ()
            if value is not None
            else tuple(
                item_id for item_id, _ in cs.points if facts.get(item_id) is None
            )
        )
        out.append(
            InstrumentScore.model_construct(
                instrument=inst.file.id,
                name=inst.file.short_name,
                score=cs.score.name,
                value=value,
                maximum=cs.score.maximum,
                band=facts.get(cs.band_fact),
                bands=cs.bands,
                flags=flags if cs is inst.scores[0] else {},
                loinc=cs.score.loinc,
                missing_items=missing,
            )
        )
    return out
