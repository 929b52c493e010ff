"""ConText: is a condition in a note negated, historical, hypothetical or someone else's?

medspaCy's ``medspacy_context`` component does the work. Its stock English rules are
kept, less the few that ``data/nlp/context.yaml`` drops, and that file adds our own:
more history, family and other-person triggers, pseudo-triggers that stop false
negations, clinical separators that end a modifier's scope, and ``NONMEDICAL_USE``
(a drug taken other than as prescribed). The YAML header says what each category
means for a screening.

Each category sets one span attribute on the targets it modifies (see
:data:`SPAN_ATTRIBUTES`); all are ``False`` unless a modifier says otherwise, and
``span._.modifiers`` lists the modifiers themselves.

Speed: a token pattern made only of lower-case words and alternatives (``LOWER`` with
``IN`` and ``OP: "?"``) is expanded into the phrases it can match, which spaCy's
PhraseMatcher finds by lookup (a pattern that cannot be expanded would stay in the much
slower token Matcher; none does). The component, :class:`SentenceContext`, is
medspaCy's ConText building its graph one sentence at a time.

:mod:`.context_kit` scores the rules on the University of Pittsburgh NegEx/ConText
test kit.
"""

from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketascreen.content.files import DATA, load_model
from ketascreen.errors import ContentError, Problem

with warnings.catch_warnings():
    # spaCy 3.7 imports a click helper that click 8.2 deprecates.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import medspacy
    import spacy
    from medspacy.context import ConText, ConTextGraph, ConTextModifier, ConTextRule
    from spacy.language import Language
    from spacy.tokens import Doc, Span

__all__ = [
    "SPAN_ATTRIBUTES",
    "ContextFile",
    "add_context",
    "context_rules",
]

Category = Literal[
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HISTORICAL",
    "HYPOTHETICAL",
    "FAMILY",
    "OTHER_EXPERIENCER",
    "NONMEDICAL_USE",
    "TERMINATE",
]
Direction = Literal["FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"]

#: Modifier category -> the span attribute it sets to ``True``.
SPAN_ATTRIBUTES: dict[str, str] = {
    "NEGATED_EXISTENCE": "is_negated",
    "POSSIBLE_EXISTENCE": "is_uncertain",
    "HISTORICAL": "is_historical",
    "HYPOTHETICAL": "is_hypothetical",
    "FAMILY": "is_family",
    "OTHER_EXPERIENCER": "is_other_experiencer",
    "NONMEDICAL_USE": "is_nonmedical_use",
}

CONTEXT_FILE = DATA / "nlp" / "context.yaml"
STOCK_RULES = (
    Path(medspacy.__file__).resolve().parents[1] / "resources/en/context_rules.json"
)
#: A pattern that would expand into more phrases than this stays a token pattern.
MAX_PHRASES = 5000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StockDrop(_Strict):
    """A stock medspaCy rule we remove, and why."""

    literal: str = Field(description="The stock rule's literal, exactly.")
    reason: str = Field(
        min_length=1, description="Why the rule does more harm than good."
    )


class RuleSpec(_Strict):
    """One ConText rule: a trigger phrase, what it means and which way it reaches."""

    literal: str = Field(
        min_length=1,
        description="The phrase matched (lower-cased), or the rule's name if it has a pattern.",
    )
    category: Category
    direction: Direction = "BIDIRECTIONAL"
    pattern: list[dict[str, Any]] | None = Field(
        default=None,
        description="A spaCy token pattern matched instead of the literal.",
    )
    allowed_types: list[str] | None = None
    excluded_types: list[str] | None = None
    max_scope: int | None = Field(default=None, gt=0)
    max_targets: int | None = Field(default=None, gt=0)
    terminated_by: list[Category] | None = Field(
        default=None, description="Categories that also end this rule's scope."
    )


class ContextFile(_Strict):
    """``data/nlp/context.yaml``: our changes to medspaCy's stock ConText rules."""

    schema_version: Literal[1]
    id: str
    version: str
    source: str
    license: str
    drop_stock: list[StockDrop] = Field(default_factory=list)
    terminating_types: dict[Category, list[Category]] = Field(
        default_factory=dict,
        description="Component-wide: a category's scope also ends at these categories.",
    )
    rules: list[RuleSpec]

    @model_validator(mode="after")
    def _no_duplicates(self) -> ContextFile:
        seen: set[tuple[str, str, str]] = set()
        for rule in self.rules:
            key = (rule.literal.lower(), rule.category, rule.direction)
            if key in seen:
                raise ValueError(f"rule {rule.literal!r} ({rule.category}) is repeated")
            seen.add(key)
        return self


@cache
def context_file() -> ContextFile:
    """The validated rule file, read once."""
    return load_model(ContextFile, CONTEXT_FILE)[0]


def stock_specs() -> list[RuleSpec]:
    """medspaCy's default English ConText rules, as shipped."""
    data = json.loads(STOCK_RULES.read_text(encoding="utf-8"))
    return [RuleSpec.model_validate(rule) for rule in data["context_rules"]]


def rule_specs(data: ContextFile | None = None) -> list[RuleSpec]:
    """Stock rules less the file's drops, then the file's rules.

    Args:
        data: the rule file; ``None`` for ``data/nlp/context.yaml``.

    Raises:
        ContentError: the file drops a literal that medspaCy does not have.
    """
    data = data or context_file()
    stock = stock_specs()
    drops = {drop.literal for drop in data.drop_stock}
    missing = drops - {spec.literal for spec in stock}
    if missing:
        raise ContentError(
            str(CONTEXT_FILE),
            [
                Problem("drop_stock", f"no stock rule {lit!r}")
                for lit in sorted(missing)
            ],
        )
    return [s for s in stock if s.literal not in drops] + data.rules


@cache
def _tokenize() -> Language:
    return spacy.blank("en")


def expand_pattern(pattern: list[dict[str, Any]]) -> list[str] | None:
    """The phrases a lower-case word pattern matches, or ``None`` if it is not one.

    Expandable: every token is ``{"LOWER": word}`` or ``{"LOWER": {"IN": words}}``,
    optionally with ``"OP": "?"``, each word is one token, and there are at most
    :data:`MAX_PHRASES` phrases.
    """
    choices: list[list[str | None]] = []
    for token in pattern:
        op = token.get("OP")
        value = token.get("LOWER")
        if set(token) - {"LOWER", "OP"} or op not in (None, "?"):
            return None
        if isinstance(value, str):
            words = [value]
        elif isinstance(value, dict) and set(value) == {"IN"}:
            words = list(value["IN"])
        else:
            return None
        if any(len(_tokenize().tokenizer(w)) != 1 for w in words):
            return None
        choices.append([*words, None] if op == "?" else list(words))
    size = 1
    for options in choices:
        size *= len(options)
    if size > MAX_PHRASES:
        return None
    phrases: dict[str, int] = {}
    for combo in itertools.product(*choices):
        words_used = [w for w in combo if w is not None]
        phrases[" ".join(words_used)] = len(words_used)
    tokenizer = _tokenize().tokenizer
    if any(len(tokenizer(p)) != n for p, n in phrases.items()):
        return None  # words run together when joined; keep the token pattern
    return sorted(p for p in phrases if p)


@dataclass(frozen=True)
class _Compiled:
    """Keyword arguments for one ConTextRule, and the spec it came from."""

    kwargs: tuple[tuple[str, Any], ...]
    source: str


@cache
def _compiled() -> tuple[_Compiled, ...]:
    """All rules, word patterns expanded to phrases; a later rule's phrase wins."""
    by_phrase: dict[str, _Compiled] = {}
    patterns: list[_Compiled] = []
    ending = context_file().terminating_types
    for spec in rule_specs():
        common = {
            "category": spec.category,
            "direction": spec.direction,
            "allowed_types": spec.allowed_types,
            "excluded_types": spec.excluded_types,
            "max_scope": spec.max_scope,
            "max_targets": spec.max_targets,
            "terminated_by": sorted(
                {*(spec.terminated_by or []), *ending.get(spec.category, [])}
            ),
        }
        phrases = (
            [spec.literal] if spec.pattern is None else expand_pattern(spec.pattern)
        )
        if phrases is None:
            kwargs = {"literal": spec.literal, "pattern": spec.pattern, **common}
            patterns.append(_Compiled(tuple(kwargs.items()), spec.literal))
            continue
        for phrase in phrases:
            kwargs = {"literal": phrase, **common}
            by_phrase[phrase.lower()] = _Compiled(tuple(kwargs.items()), spec.literal)
    return (*by_phrase.values(), *patterns)


def context_rules() -> list[ConTextRule]:
    """Stock medspaCy rules (less those the YAML drops) and the YAML's rules.

    Word patterns come back expanded into phrase rules (each with the source rule's
    literal in ``metadata["rule"]``). Where two rules give the same phrase, the later
    one wins, so a YAML rule overrides a stock phrase. The YAML's
    ``terminating_types`` are set on each rule's ``terminated_by`` (not passed to the
    component: spaCy's config check turns those lists into one-use iterators, so
    medspaCy applied them to the first rule of each category only). The files are read
    once; each call builds fresh rule objects, because medspaCy mutates a rule it
    adopts.

    Raises:
        ContentError: the YAML is malformed, or drops a literal medspaCy lacks.
    """
    rules = []
    for compiled in _compiled():
        kwargs = dict(compiled.kwargs)
        for key in ("allowed_types", "excluded_types", "terminated_by"):
            kwargs[key] = set(kwargs[key]) if kwargs[key] else None
        rules.append(
            ConTextRule(
                **kwargs,
                on_modifies=_outside_target,
                metadata={"rule": compiled.source},
            )
        )
    return rules


def _outside_target(target: Span, modifier: Span, _between: Span) -> bool:
    """A trigger inside the target is part of its name, not a modifier of it.

    medspaCy skips a modifier that overlaps a target's edge but, through a one-sided
    overlap test, not one wholly inside it: without this, "sigmoid diverticulosis
    without diverticulitis" would be negated by its own "without".
    """
    return not (target.start <= modifier.start and modifier.end <= target.end)


def register_attributes() -> None:
    for attr in SPAN_ATTRIBUTES.values():
        if not Span.has_extension(attr):
            Span.set_extension(attr, default=False)


def add_context(nlp: Language) -> ConText:
    """Add ConText with our rules to ``nlp``, under medspaCy's name ``medspacy_context``.

    The component is a :class:`SentenceContext` (a medspaCy ConText). Targets are read
    from ``doc.ents``. A modifier's scope is its sentence, so the pipeline needs
    sentence boundaries; rules narrow it with ``max_scope`` and terminations.

    Args:
        nlp: the pipeline to extend.

    Returns:
        The component.
    """
    register_attributes()
    component: ConText = nlp.add_pipe(
        "ketascreen_context",
        name="medspacy_context",
        config={
            "rules": None,
            "span_attrs": {cat: {attr: True} for cat, attr in SPAN_ATTRIBUTES.items()},
        },
    )
    component.add(context_rules())
    return component


@Language.factory("ketascreen_context")
class SentenceContext(ConText):  # type: ignore[misc]  # medspaCy has no type hints
    """medspaCy's ConText, with the modifier graph built one sentence at a time.

    medspaCy compares every modifier with every other modifier and every target in
    the Doc, which grows with the square of a note's length (about 2 ms for a 1 KB
    note). A modifier's scope never leaves its sentence (no component-wide
    ``max_scope`` is set), so the same comparisons made within each sentence give the
    same edges, in the same order, several times faster. Modifiers in sentences
    without a target are not built (they could modify nothing), so
    ``doc._.context_graph.modifiers`` lists only those in sentences with a target.
    Docs without sentence boundaries go to medspaCy unchanged (it raises its own
    error).
    """

    def __call__(self, doc: Doc, targets: str | None = None) -> Doc:
        """Apply ConText to ``doc``; see :meth:`medspacy.context.ConText.__call__`."""
        if not doc.has_annotation("SENT_START"):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"\[W036\]")
                return super().__call__(doc, targets)  # type: ignore[no-any-return]
        if targets:
            spans = list(getattr(doc._, targets))
        elif self.input_span_type == "group":
            spans = list(doc.spans[self.span_group_name])
        else:
            spans = list(doc.ents)
        sent_of = [0] * len(doc)
        for number, sent in enumerate(doc.sents):
            sent_of[sent.start : sent.end] = [number] * (sent.end - sent.start)
        by_sent: dict[int, tuple[list[Span], list[ConTextModifier]]] = {}
        for span in spans:
            by_sent.setdefault(sent_of[span.start], ([], []))[0].append(span)
        # medspaCy keeps its matcher private (name-mangled); ConText.__call__ uses it so.
        matcher = self._ConText__matcher
        with warnings.catch_warnings():
            # All our rules are phrases, so spaCy warns that the token Matcher is empty.
            warnings.filterwarnings("ignore", message=r"\[W036\]")
            matches = matcher(doc)
        for match_id, start, end in matches:
            if sent_of[start] not in by_sent:
                continue  # nothing to modify in this sentence
            rule = matcher.rule_map[self.nlp.vocab[match_id].text]
            modifier = ConTextModifier(rule, start, end, doc, max_scope=self.max_scope)
            by_sent[sent_of[start]][1].append(modifier)
        edges: list[tuple[Span, ConTextModifier]] = []
        modifiers: list[ConTextModifier] = []
        for number in sorted(by_sent):
            sent_targets, sent_modifiers = by_sent[number]
            graph = ConTextGraph(
                targets=sent_targets,
                modifiers=sent_modifiers,
                prune_on_modifier_overlap=self.prune_on_target_overlap,  # as medspaCy
            )
            graph.update_scopes()
            graph.apply_modifiers()
            edges += graph.edges
            modifiers += sent_modifiers
        for target, modifier in edges:
            target._.modifiers += (modifier,)
        if self.context_attributes_mapping:
            self.set_context_attributes(edges)
        doc._.context_graph = ConTextGraph(
            targets=spans, modifiers=modifiers, edges=edges
        )
        return doc
