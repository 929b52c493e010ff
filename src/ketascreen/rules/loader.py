"""Load a complete content bundle: questionnaire, instruments, ruleset layers, routes.

The result, :class:`Content`, holds everything compiled once: the form with its fact
vocabulary, the compiled instruments and rules, and a content hash that is stored with
every result. Cross-file checks (every reference resolves, every fact and parameter
exists, every code a rule tests is a real option) fail here, naming the file and place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ketascreen.content.base import Parameter, ParameterOverride
from ketascreen.content.domains import DomainInfo, DomainsFile
from ketascreen.content.files import DATA, load_model
from ketascreen.content.questionnaire import InstrumentRef, QuestionnaireFile
from ketascreen.content.references import ReferencesFile, Source
from ketascreen.content.routes import RoutesFile
from ketascreen.domain.types import SEVERITY
from ketascreen.errors import ContentError, Problem
from ketascreen.instruments.model import InstrumentFile, scoped_values
from ketascreen.instruments.scoring import CompiledInstrument, compile_instrument
from ketascreen.intake.form import Form, build_form
from ketascreen.logic.codegen import compile_all, compile_partition
from ketascreen.logic.compiler import Evaluator, compile_condition
from ketascreen.rules.checks import check_rule_facts
from ketascreen.rules.schema import (
    CrisisContent,
    DispositionContent,
    IncompleteContent,
    Rule,
    RulesetFile,
    RulesFile,
)


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its compiled condition."""

    rule: Rule
    when: Evaluator
    severity: int
    order: int


@dataclass(frozen=True)
class Content:
    """Everything needed to screen, loaded and compiled once."""

    form: Form
    instruments: Mapping[str, CompiledInstrument]
    rules: tuple[CompiledRule, ...]
    evaluate_all: Callable[[Mapping[str, Any]], tuple[int, ...]]
    """All active rules in one generated function (codes 0/1/3, see logic.codegen)."""
    partition: Callable[[Mapping[str, Any]], tuple[list[int], list[int]]]
    """Indices of the active rules that are true, and of those that are unknown."""
    inactive_rules: tuple[Rule, ...]
    parameters: Mapping[str, Parameter]
    crisis: CrisisContent
    incomplete: IncompleteContent
    dispositions: Mapping[str, DispositionContent]
    references: Mapping[str, Source]
    domains: Mapping[str, DomainInfo]
    routes: RoutesFile
    ruleset_id: str
    ruleset_version: str
    content_hash: str
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Derived, immutable pieces reused across screenings (filled on first use)."""


@dataclass
class _Layered:
    ids: list[str]
    parameters: dict[str, Parameter]
    rules: dict[str, Rule]
    instrument_overrides: dict[str, ParameterOverride] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    crisis: CrisisContent | None = None
    incomplete: IncompleteContent | None = None
    dispositions: dict[str, DispositionContent] | None = None


def bundled_instrument_path(inst_id: str) -> Traversable:
    """The bundled file for an instrument id (optional ones included)."""
    for folder in (DATA / "instruments", DATA / "instruments" / "optional"):
        candidate = folder / f"{inst_id}.yaml"
        if candidate.is_file():
            return candidate
    raise ContentError(
        inst_id, [Problem("instrument", "no bundled instrument with this id")]
    )


def load_content(
    ruleset: str | Path | None = None,
    instruments: Sequence[str | Path] = (),
) -> Content:
    """Load and compile the content bundle.

    Args:
        ruleset: ``None`` or ``"default"`` for the bundled ruleset, or a path to a
            clinic's ruleset file (which may ``extends: default``).
        instruments: extra instruments to add to the questionnaire: bundled ids
            (e.g. ``pcl5``) or paths to a clinic's licensed instrument files.

    Returns:
        The compiled content.

    Raises:
        ContentError: any file is malformed or the files do not fit together.
    """
    raw: dict[str, Any] = {}
    questionnaire, raw["questionnaire"] = load_model(
        QuestionnaireFile, DATA / "questionnaire.yaml"
    )
    refs_file, raw["references"] = load_model(ReferencesFile, DATA / "references.yaml")
    domains_file, raw["domains"] = load_model(DomainsFile, DATA / "domains.yaml")
    routes, raw["routes"] = load_model(RoutesFile, DATA / "routes.yaml")
    layered = _load_ruleset(ruleset, raw)

    inst_files: dict[str, InstrumentFile] = {}
    for section in questionnaire.sections:
        for entry in section.items:
            if isinstance(entry, InstrumentRef) and entry.instrument not in inst_files:
                f, raw[f"instrument:{entry.instrument}"] = load_model(
                    InstrumentFile, bundled_instrument_path(entry.instrument)
                )
                inst_files[f.id] = f
    extra: list[str] = []
    for ref in instruments:
        path = Path(ref) if Path(str(ref)).suffix in (".yaml", ".yml") else None
        source = path if path is not None else bundled_instrument_path(str(ref))
        f, raw[f"instrument:{ref}"] = load_model(InstrumentFile, source)
        if f.id in inst_files:
            raise ContentError(
                str(ref), [Problem("id", f"instrument {f.id!r} is already included")]
            )
        inst_files[f.id] = f
        extra.append(f.id)

    params = _parameters(inst_files, layered)
    values = {name: p.value for name, p in params.items()}
    references = {s.key: s for s in refs_file.references}
    domains = {d.id: d for d in domains_file.domains}
    form = build_form(questionnaire, inst_files, values, tuple(extra))
    compiled_instruments = {
        inst_id: compile_instrument(f, scoped_values(values, inst_id))
        for inst_id, f in inst_files.items()
    }
    active, inactive = [], []
    for order, rule in enumerate(layered.rules.values()):
        if rule.requires_instrument and rule.requires_instrument not in inst_files:
            inactive.append(rule)
            continue
        when = compile_condition(rule.when, values)
        active.append(CompiledRule(rule, when, SEVERITY[rule.level], order))

    crisis, incomplete, dispositions = (
        layered.crisis,
        layered.incomplete,
        layered.dispositions,
    )
    assert crisis
    assert incomplete
    assert dispositions
    problems = _cross_check(
        form, layered, active, inactive, params, references, domains, routes
    )
    problems += _inst_reference_problems(inst_files, references)
    if problems:
        raise ContentError(" + ".join(layered.ids), problems)

    digest = hashlib.sha256(
        json.dumps(raw, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    return Content(
        form=form,
        instruments=compiled_instruments,
        rules=tuple(active),
        evaluate_all=compile_all([cr.rule.when for cr in active], values),
        partition=compile_partition([cr.rule.when for cr in active], values),
        inactive_rules=tuple(inactive),
        parameters=params,
        crisis=crisis,
        incomplete=incomplete,
        dispositions=dispositions,
        references=references,
        domains=domains,
        routes=routes,
        ruleset_id=layered.ids[-1].split("@")[0],
        ruleset_version=" > ".join(layered.ids),
        content_hash=digest,
    )


def _load_ruleset(ref: str | Path | None, raw: dict[str, Any]) -> _Layered:
    path: Traversable | Path
    folder: Traversable | Path
    if ref is None or ref == "default":
        folder = DATA / "rulesets" / "default"
        path = folder / "ruleset.yaml"
    else:
        path = Path(ref)
        folder = path.parent
    main, raw[f"ruleset:{path}"] = load_model(RulesetFile, path)
    if main.extends is not None:
        base_ref: str | Path = main.extends
        if main.extends != "default" and isinstance(path, Path):
            base_ref = path.parent / main.extends
        layered = _load_ruleset(base_ref, raw)
    else:
        layered = _Layered([], {}, {})
    layered.ids.append(f"{main.id}@{main.version}")
    problems: list[Problem] = []
    for name, param in main.parameters.items():
        if "." in name and isinstance(param, ParameterOverride):
            layered.instrument_overrides[name] = param  # applied once instruments load
            continue
        _merge_parameter(layered.parameters, name, param, problems)
    defined_here = set(main.parameters)
    for include in main.include:
        rules_file, raw[f"rules:{include}"] = load_model(RulesFile, folder / include)
        for name, param in rules_file.parameters.items():
            if name in defined_here:
                problems.append(
                    Problem(f"{include}: parameters.{name}", "defined twice")
                )
            defined_here.add(name)
            layered.parameters[name] = param
        _add_rules(layered.rules, rules_file.rules, include, problems, replace=False)
    own_ids = [rule.id for rule in main.rules]
    for rule_id in sorted({i for i in own_ids if own_ids.count(i) > 1}):
        problems.append(Problem(f"rules: {rule_id}", "rule id is used twice"))
    _add_rules(
        layered.rules, main.rules, "rules", problems, replace=main.extends is not None
    )
    for rule_id in main.disable:
        if layered.rules.pop(rule_id, None) is None:
            problems.append(Problem(f"disable: {rule_id}", "no such rule to disable"))
        layered.disabled.add(rule_id)
    layered.crisis = main.crisis or layered.crisis
    layered.incomplete = main.incomplete or layered.incomplete
    if main.dispositions:
        layered.dispositions = {str(k): v for k, v in main.dispositions.items()}
    if problems:
        raise ContentError(str(path), problems)
    return layered


def _merge_parameter(
    into: dict[str, Parameter],
    name: str,
    param: Parameter | ParameterOverride,
    problems: list[Problem],
) -> None:
    if isinstance(param, Parameter):
        into[name] = param
        return
    base = into.get(name)
    if base is None:
        problems.append(
            Problem(
                f"parameters.{name}",
                "is new here, so it needs description and references",
            )
        )
        return
    changes = dict(param.model_dump(exclude_none=True).items())
    into[name] = base.model_copy(update=changes)


def _add_rules(
    into: dict[str, Rule],
    rules: list[Rule],
    where: str,
    problems: list[Problem],
    *,
    replace: bool,
) -> None:
    for rule in rules:
        if rule.id in into and not replace:
            problems.append(Problem(f"{where}: {rule.id}", "rule id is used twice"))
        into[rule.id] = rule


def _parameters(
    instruments: Mapping[str, InstrumentFile], layered: _Layered
) -> dict[str, Parameter]:
    """All parameters: the ruleset's, and each instrument's as ``<instrument>.<name>``."""
    params: dict[str, Parameter] = dict(layered.parameters)
    for inst in instruments.values():
        for name, param in inst.parameters.items():
            params[f"{inst.id}.{name}"] = param
    problems: list[Problem] = []
    for name, override in layered.instrument_overrides.items():
        _merge_parameter(params, name, override, problems)
    if problems:
        raise ContentError(" + ".join(layered.ids), problems)
    return params


def _cross_check(
    form: Form,
    layered: _Layered,
    active: list[CompiledRule],
    inactive: list[Rule],
    params: Mapping[str, Parameter],
    references: Mapping[str, Source],
    domains: Mapping[str, DomainInfo],
    routes: RoutesFile,
) -> list[Problem]:
    problems: list[Problem] = []
    for name, param in params.items():
        for key in param.references:
            if key not in references:
                problems.append(
                    Problem(f"parameters.{name}", f"unknown reference {key!r}")
                )
    for cr in active:
        rule = cr.rule
        where = f"rule {rule.id}"
        if rule.domain not in domains:
            problems.append(Problem(where, f"unknown domain {rule.domain!r}"))
        for key in rule.references:
            if key not in references:
                problems.append(Problem(where, f"unknown reference {key!r}"))
        problems.extend(check_rule_facts(rule.id, rule.when, form.vocabulary))
    for rule in inactive:
        for key in rule.references:
            if key not in references:
                problems.append(
                    Problem(f"rule {rule.id}", f"unknown reference {key!r}")
                )
    assert layered.incomplete is not None
    assert layered.crisis is not None
    for key in layered.incomplete.references:
        if key not in references:
            problems.append(Problem("incomplete", f"unknown reference {key!r}"))
    rule_ids = (
        set(layered.rules) | layered.disabled
    )  # a disabled rule just never weighs
    for route in routes.routes:
        for key in route.references:
            if key not in references:
                problems.append(
                    Problem(f"route {route.id}", f"unknown reference {key!r}")
                )
        for weight in route.weights:
            for rid in weight.rules:
                if rid not in rule_ids:
                    problems.append(
                        Problem(f"route {route.id}", f"unknown rule {rid!r}")
                    )
            for dom in weight.domains:
                if dom not in domains:
                    problems.append(
                        Problem(f"route {route.id}", f"unknown domain {dom!r}")
                    )
            for key in weight.references:
                if key not in references:
                    problems.append(
                        Problem(f"route {route.id}", f"unknown reference {key!r}")
                    )
    return problems


def _inst_reference_problems(
    instruments: Mapping[str, InstrumentFile], references: Mapping[str, Source]
) -> list[Problem]:
    return [
        Problem(f"instrument {inst.id}", f"unknown reference {key!r}")
        for inst in instruments.values()
        for key in inst.references
        if key not in references
    ]
