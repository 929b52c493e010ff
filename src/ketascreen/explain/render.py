"""Render a screening result for the person, for the clinician, or as JSON.

The patient summary is plain Markdown in warm, simple words; crisis help always comes
first when there is a suicide-risk signal. The clinician summary is precise: rule ids,
levels, evidence, citations, scores against bands, unknowns, and the ruleset version.
"""

from __future__ import annotations

import json
from typing import Any

from ketascreen.domain.outcome import Crisis, ScreeningResult
from ketascreen.domain.types import Disposition, Level

#: Most severe first; decides which effect a route's summary line names.
_EFFECT_ORDER = ("contraindicated", "weighs_against", "extra_care")
_FOOTER = (
    "This screening is not a diagnosis. A clinician makes the decision with you, "
    "and the choice to start, wait or say no is always yours."
)


def render_json(result: ScreeningResult) -> str:
    """The result as one JSON object (the contract in PRODUCT.md)."""
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False)


def crisis_markdown(crisis: Crisis) -> list[str]:
    """The crisis panel as Markdown lines."""
    lines = [f"## {crisis.title}", "", crisis.message, ""]
    lines += [f"- **{r.contact}** — {r.name}. {r.detail}" for r in crisis.resources]
    return [*lines, ""]


def render_patient(result: ScreeningResult) -> str:
    """The person's summary in plain, kind words (Markdown).

    Args:
        result: the screening result.

    Returns:
        Markdown text.
    """
    lines: list[str] = []
    if result.crisis is not None:
        lines += crisis_markdown(result.crisis)
    lines += [f"# {result.disposition_label}", "", result.summary, ""]
    urgent = result.disposition == Disposition.urgent_safety
    shown = [
        f
        for f in result.findings
        if f.level != Level.info
        and not f.unresolved
        and (not urgent or f.domain == "suicide_risk")
    ]
    if shown or result.unanswered_summary:
        lines += ["## What we found", ""]
        seen: set[str] = set()
        for f in shown:
            if f.patient_message not in seen:
                seen.add(f.patient_message)
                lines += [f"- {f.patient_message}", ""]
        if result.unanswered_summary and not urgent:
            lines += [f"- {result.unanswered_summary}", ""]
    if result.next_steps:
        lines += ["## What you can do next", ""]
        lines += [f"{i}. {step}" for i, step in enumerate(result.next_steps, 1)]
        lines.append("")
    if urgent:
        lines += [
            "The rest of your screening can wait until you are safe. "
            "A clinician will go over it with you.",
            "",
        ]
    else:
        lines += _patient_routes(result)
    if any(u.measured_at_clinic for u in result.unknowns) and not urgent:
        lines += ["Your clinic will also check things like your blood pressure.", ""]
    if result.crisis is None:
        lines += [result.safety_reminder, ""]
    lines.append(_FOOTER)
    return "\n".join(lines).strip() + "\n"


def _patient_routes(result: ScreeningResult) -> list[str]:
    lines = ["## The forms of ketamine", ""]
    for route in result.routes:
        lines += [f"### {route.name}", "", route.patient_summary, ""]
        notes = dict.fromkeys(c.patient_note for c in route.considerations)
        if notes:
            worst = min(
                route.considerations, key=lambda c: _EFFECT_ORDER.index(c.effect)
            )
            lines.append(f"For you, this form {worst.effect_words}:")
            lines += [f"- {note}" for note in notes]
            lines.append("")
    return lines


def render_clinician(result: ScreeningResult) -> str:
    """The clinician summary: precise, cited, with evidence (Markdown).

    Args:
        result: the screening result.

    Returns:
        Markdown text.
    """
    lines = [
        f"# Screening result: `{result.disposition.value}`",
        "",
        f"Screened {result.screening_date} with ruleset {result.ruleset_version} "
        f"(content sha256 {result.ruleset_hash[:12]}), questionnaire "
        f"{result.questionnaire_version}.",
        "",
    ]
    if result.crisis is not None:
        kind = "URGENT" if result.crisis.urgent else "present"
        lines += [
            f"**Suicide-risk signal: {kind}.** Crisis resources were shown first.",
            "",
        ]
    lines += ["## Findings", ""]
    if not result.findings:
        lines += ["No rule fired. This is not a determination of suitability.", ""]
    for f in result.findings:
        lines += [
            f"### {f.title} — `{f.level.value}`",
            "",
            f"Rule `{f.rule_id}` ({f.domain}).",
            "",
        ]
        lines += [f.clinician_rationale, ""]
        for ev in f.evidence:
            lines.append(
                f"- evidence: {ev.label} = {_show(ev.value)} [{ev.test}; {ev.source}]"
            )
        if f.references:
            refs = "; ".join(f"[{r.key}] {r.citation}" for r in f.references)
            lines.append(f"- references: {refs}")
        lines.append("")
    lines += _clinician_scores(result)
    lines += _clinician_routes(result)
    if result.unknowns:
        lines += ["## Unanswered items that rules needed", ""]
        for u in result.unknowns:
            where = " (clinic measurement)" if u.measured_at_clinic else ""
            lines.append(
                f"- `{u.fact}` {u.label}{where} — needed by {', '.join(u.rule_ids)}"
            )
        lines.append("")
    return "\n".join(lines).strip() + "\n"


def _clinician_scores(result: ScreeningResult) -> list[str]:
    if not result.instrument_scores:
        return []
    lines = ["## Instrument scores", ""]
    for s in result.instrument_scores:
        value = "unknown" if s.value is None else f"{s.value:g}/{s.maximum:g}"
        band = f", {s.band}" if s.band else ""
        flags = "".join(f", {k}={_show(v)}" for k, v in s.flags.items())
        missing = f" (missing: {', '.join(s.missing_items)})" if s.missing_items else ""
        loinc = f" LOINC {s.loinc}" if s.loinc else ""
        lines.append(f"- {s.name} {s.score}: {value}{band}{flags}{missing}{loinc}")
    return [*lines, ""]


def _clinician_routes(result: ScreeningResult) -> list[str]:
    lines = ["## Route considerations", ""]
    for r in result.routes:
        pref = " (preferred)" if r.preferred else ""
        lines.append(f"- **{r.name}**{pref}: {r.supervision}")
        for c in r.considerations:
            lines.append(
                f"  - {c.effect}: {c.clinician_note} ({', '.join(c.rule_ids)})"
            )
    return [*lines, ""]


def _show(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)
