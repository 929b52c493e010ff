"""The screening engine: facts in, a :class:`ScreeningResult` out.

1. Score the instruments (totals, bands, flags become facts).
2. Evaluate every compiled rule with three-valued logic.
3. Fired rules become findings with their evidence; rules that could not be judged
   because answers are missing are listed as unknowns, and where they could have
   raised a domain's level they add an "incomplete" finding, so a screening with
   important unknowns is never ``no_concerns_found``.
4. The most severe finding sets the disposition; suicide-risk findings come first,
   with crisis resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import partial
from typing import Any

from ketascreen.domain.outcome import (
    Crisis,
    CrisisResource,
    Evidence,
    Finding,
    InstrumentScore,
    Reference,
    RouteConsideration,
    RouteSummary,
    ScreeningResult,
    Unknown,
)
from ketascreen.domain.types import SEVERITY, Disposition, Level, disposition_for
from ketascreen.instruments.scoring import describe, score_into
from ketascreen.intake.answers import FactSet, source_of
from ketascreen.logic.compiler import Leaf
from ketascreen.rules.loader import CompiledRule, Content

SUICIDE = "suicide_risk"
_MEMO_LIMIT = 200_000
_PLACEHOLDER = re.compile(r"\{([a-z0-9_.]+)\}")


def score_facts(content: Content, facts: FactSet) -> FactSet:
    """Return the facts with instrument scores, bands and flags added."""
    values = dict(facts.values)
    for inst in content.instruments.values():
        score_into(inst, values)
    return FactSet(values, facts.sources)


def suicide_signal(content: Content, scored: FactSet) -> bool:
    """Whether a suicide-risk rule fires on these facts, already scored
    (:func:`score_facts`): exactly when :func:`evaluate` gives a crisis panel, found
    without building the rest of the result."""
    true, _ = content.partition(scored.values)
    return any(content.rules[i].rule.domain == SUICIDE for i in true)


def evaluate(content: Content, facts: FactSet, screening_date: date) -> ScreeningResult:
    """Screen one person from their facts.

    Args:
        content: the loaded content bundle.
        facts: the person's facts (answers already validated).
        screening_date: the date of the screening.

    Returns:
        The frozen screening result.
    """
    scored = score_facts(content, facts)
    values = scored.values
    true, unknown = content.partition(values)
    rules = content.rules
    fired = [rules[i] for i in true]
    unresolved = [rules[i] for i in unknown]

    findings = [
        _memo(
            content,
            (
                "finding",
                cr.rule.id,
                *[values.get(f) for f in cr.when.facts],
                *[scored.sources.get(f) for f in cr.when.facts],
            ),
            partial(_finding, content, cr, scored),
        )
        for cr in fired
    ]
    unknowns, incomplete = _memo(
        content,
        (
            "unresolved",
            tuple(true),
            tuple(unknown),
            *[values.get(f) for cr in unresolved for f in cr.when.facts],
        ),
        partial(_unresolved, content, fired, unresolved, values),
    )
    findings.extend(incomplete)
    if len(findings) > 1:
        ranks = [_order(content, f) for f in findings]
        order = sorted(range(len(findings)), key=ranks.__getitem__)
        findings = [findings[k] for k in order]

    disposition, crisis, domains, next_steps, unanswered = _memo(
        content,
        ("tail", *[(f.rule_id, f.level, f.unresolved) for f in findings]),
        partial(_tail, content, findings),
    )
    text = content.dispositions[disposition]
    return ScreeningResult.model_construct(
        disposition=disposition,
        disposition_label=text.label,
        summary=text.summary,
        crisis=crisis,
        domains=domains,
        findings=tuple(findings),
        routes=_memo(
            content,
            (
                "routes",
                *sorted(f.rule_id for f in findings if not f.unresolved),
                "|",
                values.get(content.routes.preference_item or ""),
            ),
            partial(_routes, content, findings, values),
        ),
        next_steps=next_steps,
        instrument_scores=_memo(
            content,
            ("scores", *[values.get(i) for i in _instrument_items(content)]),
            partial(_scores, content, values),
        ),
        unknowns=unknowns,
        unanswered_summary=unanswered,
        safety_reminder=content.crisis.reminder,
        ruleset_version=content.ruleset_version,
        ruleset_hash=content.content_hash,
        questionnaire_version=f"{content.form.id}@{content.form.version}",
        screening_date=screening_date.isoformat(),
    )


def _tail(
    content: Content, findings: list[Finding]
) -> tuple[Disposition, Crisis | None, tuple[str, ...], tuple[str, ...], str | None]:
    """Everything that depends only on which findings there are and their levels."""
    disposition = Disposition.no_concerns_found
    for f in findings:
        if SEVERITY[f.level] > SEVERITY[disposition]:
            disposition = disposition_for(f.level)
    return (
        disposition,
        _crisis(content, findings, disposition),
        tuple(dict.fromkeys(f.domain for f in findings if f.level != Level.info)),
        _next_steps(content, disposition, findings),
        _unanswered_summary(content, findings),
    )


def _memo(content: Content, key: Any, build: Callable[[], Any]) -> Any:
    """Reuse an immutable piece built for the same inputs (findings, routes, ...).

    Results are frozen and depend only on the content and the key, so a screening
    that sees the same fact values as an earlier one gets the same objects. The
    cache is bounded; when full it starts again.
    """
    cache = content.cache
    hit = cache.get(key)
    if hit is None:
        if len(cache) >= _MEMO_LIMIT:
            cache.clear()
        hit = cache[key] = build()
    return hit


def _order(content: Content, f: Finding) -> tuple[int, int, int, int]:
    ranks: dict[str, int] = _memo(
        content, "domain_rank", lambda: {d: i for i, d in enumerate(content.domains)}
    )
    signal = f.domain == SUICIDE and not f.unresolved  # a real signal, not a blank area
    return (
        0 if signal else 1,
        -SEVERITY[f.level],
        int(f.unresolved),
        ranks.get(f.domain, 99),
    )


def _refs(content: Content, keys: Iterable[str]) -> tuple[Reference, ...]:
    key = ("refs", *keys)
    cached = content.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    refs = content.cache[key] = tuple(
        Reference.model_construct(
            key=k,
            citation=content.references[k].citation,
            tag=content.references[k].tag,
        )
        for k in keys
    )
    return refs


def fill_params(text: str, content: Content) -> str:
    """Replace ``{param}`` placeholders with parameter values (others are left)."""

    def sub(match: re.Match[str]) -> str:
        param = content.parameters.get(match.group(1))
        return f"{param.value:g}" if param is not None else match.group(0)

    return _PLACEHOLDER.sub(sub, text)


def _evidence(
    content: Content, leaves: list[Leaf], facts: FactSet
) -> tuple[Evidence, ...]:
    seen: dict[str, Evidence] = {}
    for leaf in leaves:
        if leaf.fact in seen:
            continue
        value = leaf.value
        if isinstance(value, frozenset):
            value = sorted(value)
        seen[leaf.fact] = Evidence.model_construct(
            fact=leaf.fact,
            label=content.form.vocabulary.label(leaf.fact),
            value=value,
            test=leaf.text,
            source=source_of(content.form, facts, leaf.fact),
        )
    return tuple(seen.values())


def _finding(content: Content, cr: CompiledRule, facts: FactSet) -> Finding:
    rule = cr.rule
    _, leaves = cr.when.explain(facts.values)
    return Finding.model_construct(
        rule_id=rule.id,
        domain=rule.domain,
        level=rule.level,
        title=rule.title,
        patient_message=rule.patient_message.strip(),
        clinician_rationale=fill_params(rule.clinician_rationale.strip(), content),
        next_steps=tuple(rule.next_steps),
        evidence=_evidence(content, leaves, facts),
        references=_refs(content, rule.references),
    )


def _unresolved(
    content: Content,
    fired: list[CompiledRule],
    unresolved: list[CompiledRule],
    values: Mapping[str, Any],
) -> tuple[tuple[Unknown, ...], list[Finding]]:
    """What could not be judged: the unknowns list and the incomplete findings."""
    unknowns, missing_by_rule = _unknowns(content, unresolved, values)
    return unknowns, _incomplete_findings(content, fired, unresolved, missing_by_rule)


def _unknowns(
    content: Content, unresolved: list[CompiledRule], values: Mapping[str, Any]
) -> tuple[tuple[Unknown, ...], dict[str, tuple[str, ...]]]:
    missing_by_rule: dict[str, tuple[str, ...]] = {}
    for cr in unresolved:
        if cr.rule.level != Level.info:
            missing_by_rule[cr.rule.id] = _missing(cr, values)
    key = ("unknowns", *missing_by_rule.items())
    unknowns: tuple[Unknown, ...] = _memo(
        content, key, partial(_build_unknowns, content, unresolved, missing_by_rule)
    )
    return unknowns, missing_by_rule


def _build_unknowns(
    content: Content,
    unresolved: list[CompiledRule],
    missing_by_rule: Mapping[str, tuple[str, ...]],
) -> tuple[Unknown, ...]:
    by_fact: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for cr in unresolved:
        for fact in missing_by_rule.get(cr.rule.id, ()):
            domains, rules = by_fact.setdefault(fact, ({}, {}))
            domains[cr.rule.domain] = None
            rules[cr.rule.id] = None
    order = {fid: i for i, fid in enumerate(content.form.vocabulary.facts)}
    return tuple(
        Unknown.model_construct(
            fact=fact,
            label=content.form.vocabulary.label(fact),
            domains=tuple(domains),
            rule_ids=tuple(rules),
            measured_at_clinic=_clinic_only(content, fact),
        )
        for fact, (domains, rules) in sorted(
            by_fact.items(), key=lambda kv: order.get(kv[0], 1 << 30)
        )
    )


def _clinic_only(content: Content, fact: str) -> bool:
    item = content.form.items.get(fact)
    return item is not None and item.audience == "clinic"


def _missing(cr: CompiledRule, values: Mapping[str, Any]) -> tuple[str, ...]:
    _, leaves = cr.when.explain(values)
    return tuple(dict.fromkeys(leaf.fact for leaf in leaves if leaf.value is None))


def _incomplete_findings(
    content: Content,
    fired: list[CompiledRule],
    unresolved: list[CompiledRule],
    missing_by_rule: Mapping[str, tuple[str, ...]],
) -> list[Finding]:
    top: dict[str, int] = {}
    for cr in fired:
        top[cr.rule.domain] = max(top.get(cr.rule.domain, 0), cr.severity)
    per_domain: dict[str, list[CompiledRule]] = {}
    for cr in unresolved:
        if cr.severity > 0 and cr.severity > top.get(cr.rule.domain, 0):
            per_domain.setdefault(cr.rule.domain, []).append(cr)
    out = []
    for domain, candidates in per_domain.items():
        key = (
            "incomplete",
            domain,
            *[cr.rule.id for cr in candidates],
            "|",
            *[f for cr in candidates for f in missing_by_rule[cr.rule.id]],
        )
        finding = _memo(
            content,
            key,
            partial(_incomplete, content, domain, candidates, missing_by_rule),
        )
        if finding is not False:
            out.append(finding)
    return out


def _incomplete(
    content: Content,
    domain: str,
    candidates: list[CompiledRule],
    missing_by_rule: Mapping[str, tuple[str, ...]],
) -> Finding | bool:
    """The incomplete finding for one domain, or False when only clinic data is missing."""
    spec = content.incomplete
    facts = [
        f
        for f in dict.fromkeys(
            f for cr in candidates for f in missing_by_rule[cr.rule.id]
        )
        if not _clinic_only(content, f)
    ]
    if not facts:
        return False
    rules = [cr for cr in candidates if set(missing_by_rule[cr.rule.id]) & set(facts)]
    labels = ", ".join(f"{content.form.vocabulary.label(f)} ({f})" for f in facts)
    info = content.domains.get(domain)
    topic = info.patient_topic if info else domain
    severity = min(SEVERITY[spec.level], max(cr.severity for cr in rules))
    level = next(lv for lv in Level if SEVERITY[lv] == severity)
    return Finding.model_construct(
        rule_id=f"{domain}.incomplete",
        domain=domain,
        level=level,
        title=spec.title,
        patient_message=spec.patient_message.strip().replace("{topic}", topic),
        clinician_rationale=spec.clinician_rationale.strip()
        .replace("{facts}", labels)
        .replace("{rules}", ", ".join(cr.rule.id for cr in rules)),
        next_steps=tuple(spec.next_steps),
        evidence=tuple(
            Evidence.model_construct(
                fact=f,
                label=content.form.vocabulary.label(f),
                value=None,
                test="unanswered",
                source="unknown",
            )
            for f in facts
        ),
        references=_refs(content, spec.references),
        unresolved=True,
    )


def _unanswered_summary(content: Content, findings: list[Finding]) -> str | None:
    topics = [
        content.domains[f.domain].patient_topic
        if f.domain in content.domains
        else f.domain
        for f in findings
        if f.unresolved
    ]
    if not topics:
        return None
    joined = (
        topics[0]
        if len(topics) == 1
        else "; ".join(topics[:-1]) + "; and " + topics[-1]
    )
    return " ".join(content.incomplete.patient_summary.split()).replace(
        "{topics}", joined
    )


def _crisis(
    content: Content, findings: list[Finding], disposition: Disposition
) -> Crisis | None:
    if not any(f.domain == SUICIDE and not f.unresolved for f in findings):
        return None
    spec = content.crisis
    urgent = disposition == Disposition.urgent_safety
    return Crisis.model_construct(
        urgent=urgent,
        title=spec.title,
        message=(spec.urgent_message if urgent else spec.message).strip(),
        clinician_note=spec.clinician_note.strip(),
        resources=tuple(
            CrisisResource.model_construct(
                name=r.name, contact=r.contact, detail=r.detail, link=r.link
            )
            for r in spec.resources
        ),
    )


def _routes(
    content: Content, findings: list[Finding], values: Mapping[str, Any]
) -> tuple[RouteSummary, ...]:
    real = [f for f in findings if not f.unresolved]
    fired_ids = {f.rule_id for f in real}
    fired_domains = {f.domain for f in real}
    pref_item = content.routes.preference_item
    prefs = values.get(pref_item) if pref_item else None
    out = []
    for route in content.routes.routes:
        considerations = []
        for weight in route.weights:
            hits = [
                f.rule_id
                for f in real
                if f.rule_id in weight.rules or f.domain in weight.domains
            ]
            if (
                hits
                or fired_ids & set(weight.rules)
                or fired_domains & set(weight.domains)
            ):
                considerations.append(
                    RouteConsideration.model_construct(
                        effect=weight.effect,
                        effect_words=content.routes.effect_words[weight.effect],
                        rule_ids=tuple(dict.fromkeys(hits)),
                        patient_note=weight.patient_note.strip(),
                        clinician_note=weight.clinician_note.strip(),
                        references=_refs(content, weight.references),
                    )
                )
        out.append(
            RouteSummary.model_construct(
                id=route.id,
                name=route.name,
                patient_summary=route.patient_summary.strip(),
                onset=route.onset,
                intensity=route.intensity,
                supervision=route.supervision,
                monitoring=route.monitoring,
                considerations=tuple(considerations),
                preferred=None if prefs is None else route.id in prefs,
            )
        )
    return tuple(out)


def _next_steps(
    content: Content, disposition: Disposition, findings: list[Finding]
) -> tuple[str, ...]:
    steps: dict[str, None] = {}
    if disposition == Disposition.urgent_safety:
        for step in content.dispositions[disposition].next_steps:
            steps[step] = None
        for f in findings:
            if f.domain == SUICIDE:
                steps.update(dict.fromkeys(f.next_steps))
        return tuple(steps)
    for f in findings:
        if f.level != Level.info:
            steps.update(dict.fromkeys(f.next_steps))
    steps.update(dict.fromkeys(content.dispositions[disposition].next_steps))
    return tuple(steps)


def _instrument_items(content: Content) -> list[str]:
    items: list[str] = _memo(
        content,
        "instrument_items",
        lambda: (
            [i.id for i in content.form.items.values() if i.instrument]
            + [f for f in content.form.vocabulary.facts if f == "sex_at_birth"]
        ),
    )
    return items


def _scores(content: Content, values: Mapping[str, Any]) -> tuple[InstrumentScore, ...]:
    out: list[InstrumentScore] = []
    for inst in content.instruments.values():
        out.extend(describe(inst, values))
    return tuple(out)
