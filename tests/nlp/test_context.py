"""ConText rules (ketascreen.nlp.context): the NegEx/ConText test kit, and our own cases.

The kit (tests/fixtures/context-kit, University of Pittsburgh) is scored once per run;
its figures are printed so CI logs show them, and each label's F1 has a floor.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from ketascreen.errors import ContentError

# spaCy and medspaCy are imported inside the tests, after this module has imported
# them with their import-time warnings silenced.
from ketascreen.nlp.context import (
    SPAN_ATTRIBUTES,
    ContextFile,
    add_context,
    context_file,
    context_rules,
    expand_pattern,
    rule_specs,
)
from ketascreen.nlp.context_kit import (
    KitResult,
    collapse_spaces,
    format_result,
    main,
    score_context_kit,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

KIT = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "context-kit"
    / "rsAnnotations-1-120-random.txt"
)
# Floors on the kit's F1 (measured: negated 0.984, historical 0.762, hypothetical 0.954,
# experiencer 0.800 on 6 positives; stock medspaCy 0.929 / 0.632 / 0.809 / 0.571).
# Historical stays below the 0.80 aimed for: 39 of its 257 positives are bare list
# items ("HYPERTENSION.") and others owe it to a section heading outside the sentence,
# which no sentence-level rule can see.
FLOORS = {"negated": 0.95, "historical": 0.75, "hypothetical": 0.90, "experiencer": 0.6}


@pytest.fixture(scope="module")
def kit() -> KitResult:
    """Our rules scored on the kit, once."""
    return score_context_kit(KIT)


@pytest.fixture(scope="module")
def stock_kit() -> KitResult:
    """Plain medspaCy scored on the kit, once."""
    return score_context_kit(KIT, stock=True, collapse=False)


@pytest.fixture(scope="module")
def nlp() -> Language:
    """Blank English with a sentencizer and our ConText."""
    import spacy

    pipeline = spacy.blank("en")
    pipeline.add_pipe("sentencizer")
    add_context(pipeline)
    return pipeline


def analyse(nlp: Language, marked: str) -> set[str]:
    """The span attributes set on the [bracketed] target of ``marked``."""
    match = re.search(r"\[(.+?)\]", marked)
    assert match, marked
    text = marked[: match.start()] + match.group(1) + marked[match.end() :]
    doc = nlp.make_doc(text)
    doc = nlp.get_pipe("sentencizer")(doc)
    span = doc.char_span(match.start(), match.start() + len(match.group(1)), "TARGET")
    assert span is not None, marked
    doc.ents = [span]
    doc = nlp.get_pipe("medspacy_context")(doc)
    return {attr for attr in SPAN_ATTRIBUTES.values() if getattr(doc.ents[0]._, attr)}


class TestKit:
    """Scores on the University of Pittsburgh NegEx/ConText test kit."""

    def test_figures(
        self, kit: KitResult, stock_kit: KitResult, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Print both tables, so CI output shows the figures."""
        with capsys.disabled():
            print()  # noqa: T201 - CI shows these figures
            print(format_result(stock_kit, "stock medspaCy, raw whitespace"))  # noqa: T201
            print(format_result(kit))  # noqa: T201
        assert kit.rows == stock_kit.rows == 2376

    @pytest.mark.parametrize("label", sorted(FLOORS))
    def test_floor(self, kit: KitResult, label: str) -> None:
        """Each label's F1 stays at or above its floor."""
        assert kit.scores[label].f1 >= FLOORS[label]

    @pytest.mark.parametrize("label", sorted(FLOORS))
    def test_beats_stock(
        self, kit: KitResult, stock_kit: KitResult, label: str
    ) -> None:
        """Our rules do at least as well as medspaCy's own on every label."""
        assert kit.scores[label].f1 >= stock_kit.scores[label].f1


CASES = [
    # Negation, and where it stops.
    ("Pt denies [SI].", {"is_negated"}),
    ("Denies SI, HI, [AVH].", {"is_negated"}),
    ("no SI; endorses [AH]", set()),
    ("no [SI]; endorses AH", {"is_negated"}),
    ("Denies SI but endorses [passive death wishes].", set()),
    ("Denies SI and reports [insomnia].", set()),
    ("She has not endorsed [SI].", {"is_negated"}),
    ("He never attempted [suicide].", {"is_negated"}),
    ("Negative for [mania], positive for anxiety.", {"is_negated"}),
    ("Negative for mania, positive for [anxiety].", set()),
    ("Suicidal ideation: no.\nHomicidal ideation: [yes].", set()),
    ("[Suicidal ideation]: no.", {"is_negated"}),
    ("Extremities: No [clubbing], cyanosis or edema.", {"is_negated"}),
    ("The rectal exam was negative for [blood].", {"is_negated"}),
    ("Her [SI] resolved after admission.", {"is_negated"}),
    # Pseudo-negations: the condition is still there.
    ("No improvement in [depression] on sertraline.", set()),
    ("No change in [anxiety].", set()),
    ("[Depression] has not improved.", set()),
    ("Never been treated for [depression].", set()),
    ("Sigmoid diverticulosis without [diverticulitis] on CT.", {"is_negated"}),
    # History.
    ("hx of [MI] in 2019.", {"is_historical"}),
    ("He attempted [suicide] 3 years ago.", {"is_historical"}),
    ("In the past she had [manic episodes].", {"is_historical"}),
    ("Quit drinking [alcohol] in 2018.", {"is_historical"}),
    ("[Alcohol use disorder], in sustained remission.", {"is_historical"}),
    ("h/o depression, currently [euthymic].", set()),
    ("Reports [SI] in the past two weeks.", set()),
    ("She is a 45-year-old woman with [depression].", set()),
    ("No history of [seizures].", {"is_negated", "is_historical"}),
    # Hypothetical and possible.
    # A worry is a possibility to check, never ignored as hypothetical.
    ("She is worried she might be [pregnant].", {"is_uncertain"}),
    ("Mother is concerned that he is [suicidal].", {"is_uncertain"}),
    ("Asked whether ketamine can cause [mania].", {"is_hypothetical"}),
    ("[SI]: denies current.", {"is_negated"}),
    ("Call 911 if [suicidal thoughts] return.", {"is_hypothetical"}),
    ("Discussed risks of ketamine including [dissociation].", {"is_hypothetical"}),
    ("Rule out [bipolar disorder].", {"is_uncertain"}),
    # A plan or intent to harm is a finding, never hypothetical.
    ("He plans to [kill himself].", set()),
    ("Pt has a plan to [overdose] on pills.", set()),
    # Family and other people.
    ("Mother has [bipolar disorder].", {"is_family"}),
    ("[Bipolar disorder] in her maternal aunt.", {"is_family"}),
    ("Mother has depression; the patient has [bipolar disorder].", set()),
    ("Mother reports that the patient has been [hearing voices].", set()),
    ("Brought in by his wife for [suicidal ideation].", set()),
    ("Roommate uses [cocaine]; patient denies use.", {"is_other_experiencer"}),
    ("Her friend died by suicide and she now has [SI].", set()),
    # Non-medical use.
    ("Uses [Xanax] off the street.", {"is_nonmedical_use"}),
    ("She snorts crushed [Adderall] to stay awake.", {"is_nonmedical_use"}),
    ("Uses [ketamine] recreationally at parties.", {"is_nonmedical_use"}),
    ("Takes her mother's [oxycodone].", {"is_nonmedical_use"}),
    ("Uses someone else's [Xanax].", {"is_nonmedical_use"}),
    ("Buys [Xanax] off a friend.", {"is_nonmedical_use"}),
    ("Takes [Adderall] as prescribed, denies misuse.", set()),
    ("History of sexual abuse; takes [sertraline].", set()),
]


class TestRules:
    """Our rules on short clinical sentences."""

    @pytest.mark.parametrize(("marked", "expected"), CASES)
    def test_case(self, nlp: Language, marked: str, expected: set[str]) -> None:
        """The bracketed target gets exactly the expected attributes."""
        assert analyse(nlp, marked) == expected


class TestRuleFile:
    """data/nlp/context.yaml and how it is compiled."""

    def test_categories_are_medspacy_names(self) -> None:
        """Every category is a stock medspaCy name, or one of ours with an attribute."""
        categories = {rule.category for rule in context_rules()}
        assert categories <= {*SPAN_ATTRIBUTES, "TERMINATE"}
        assert {"NEGATED_EXISTENCE", "HISTORICAL", "FAMILY"} <= categories

    def test_terminating_types_reach_every_rule(self) -> None:
        """Each rule of a category carries the categories that end its scope."""
        ending = context_file().terminating_types
        for rule in context_rules():
            assert set(ending.get(rule.category, [])) <= rule.terminated_by, rule

    def test_all_patterns_become_phrases(self) -> None:
        """Every rule is a phrase for the PhraseMatcher: no slow token patterns."""
        assert [r.literal for r in context_rules() if r.pattern is not None] == []

    def test_patterns_expand(self) -> None:
        """Each YAML pattern expands, so none has a word the tokenizer would split."""
        unexpanded = [
            rule.literal
            for rule in context_file().rules
            if rule.pattern is not None and expand_pattern(rule.pattern) is None
        ]
        assert unexpanded == []

    def test_no_phrase_has_two_meanings(self) -> None:
        """No phrase comes from two rules that disagree on what it does."""
        meanings: dict[str, set[tuple[object, ...]]] = defaultdict(set)
        for spec in rule_specs():
            phrases = expand_pattern(spec.pattern) if spec.pattern else [spec.literal]
            for phrase in phrases or []:
                meanings[phrase.lower()].add(
                    (spec.category, spec.direction, spec.max_scope, spec.max_targets)
                )
        assert {p: m for p, m in meanings.items() if len(m) > 1} == {}

    def test_unknown_key_is_refused(self) -> None:
        """A misspelt key fails validation."""
        data = context_file().model_dump()
        data["rules"][0]["max_scop"] = 3
        with pytest.raises(ValidationError, match="max_scop"):
            ContextFile.model_validate(data)

    def test_dropping_an_unknown_stock_rule_fails(self) -> None:
        """A drop that names no stock rule is reported, not ignored."""
        data = context_file().model_dump()
        data["drop_stock"].append({"literal": "no such trigger", "reason": "test"})
        with pytest.raises(ContentError, match="no such trigger"):
            rule_specs(ContextFile.model_validate(data))

    def test_drops_are_gone(self) -> None:
        """Dropped stock literals are not among the rules' sources."""
        sources = {rule.metadata["rule"] for rule in context_rules()}
        dropped = {drop.literal for drop in context_file().drop_stock}
        yaml_literals = {rule.literal for rule in context_file().rules}
        assert not (dropped - yaml_literals) & sources


NOTE = (
    "Pt denies SI, HI. Mother has bipolar disorder; father drinks. "
    "H/o MDD with no psychosis, currently euthymic. Takes Xanax off the street. "
    "Call if SI returns. Extremities: no edema."
)
NOTE_TERMS = ["SI", "HI", "bipolar disorder", "drinks", "MDD", "psychosis", "euthymic"]


def _note_doc(nlp: Language) -> Doc:
    doc = nlp.get_pipe("sentencizer")(nlp.make_doc(NOTE))
    spans = []
    for term in [*NOTE_TERMS, "Xanax", "edema"]:
        for found in re.finditer(rf"\b{re.escape(term)}\b", NOTE):
            span = doc.char_span(found.start(), found.end(), "TARGET")
            assert span is not None
            spans.append(span)
    doc.ents = sorted(spans, key=lambda s: s.start)
    return doc


class TestComponent:
    """The sentence-at-a-time component and the whitespace helper."""

    @pytest.mark.filterwarnings("ignore:.*W036:UserWarning")
    def test_same_edges_as_medspacy(self, nlp: Language) -> None:
        """Sentence by sentence gives medspaCy's own edges, in the same order."""
        from medspacy.context import ConText

        component = nlp.get_pipe("medspacy_context")
        ours, theirs = _note_doc(nlp), _note_doc(nlp)
        component(ours)
        ConText.__call__(component, theirs)

        def edges(doc: Doc) -> list[tuple[int, tuple[tuple[int, int, str], ...]]]:
            return [
                (e.start, tuple((*m.modifier_span, m.category) for m in e._.modifiers))
                for e in doc.ents
            ]

        assert edges(ours) == edges(theirs)
        assert any(e._.is_negated for e in ours.ents)

    def test_add_context_keeps_the_medspacy_name(self) -> None:
        """The component is a ConText registered as ``medspacy_context``."""
        import spacy
        from medspacy.context import ConText

        pipeline = spacy.blank("en")
        component = add_context(pipeline)
        assert isinstance(component, ConText)
        assert pipeline.pipe_names == ["medspacy_context"]

    def test_collapse_spaces(self) -> None:
        """Runs of blanks shrink; line breaks stay, at most two in a row."""
        assert collapse_spaces("a  b\t\tc \n  d\r\n\n\n\ne") == "a b c\nd\n\ne"


def _kit_rows(rows: list[str]) -> Iterator[str]:
    for number, row in enumerate(rows, 1):
        yield f"{number}\t \t{row}\n"


class TestCommandLine:
    """``python -m ketascreen.nlp.context``."""

    def test_prints_a_table(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A small kit file gives a table and the mistakes asked for."""
        kit = tmp_path / "kit.txt"
        kit.write_text(
            "".join(
                _kit_rows(
                    [
                        "cough\tShe denies any COUGH.\tNegated\tRecent\tPatient",
                        "fever\tFEVER today.\tAffirmed\tRecent\tPatient",
                        "mi\tHistory of MI.\tAffirmed\tRecent\tPatient",
                    ]
                )
            ),
            encoding="utf-8",
        )
        assert main([str(kit), "--errors"]) == 0
        out = capsys.readouterr().out
        assert "3 sentences" in out
        assert re.search(r"negated\s+1\.000\s+1\.000\s+1\.000", out)
        assert "historical\tfalse\t3\tmi" in out

    def test_usage(self, capsys: pytest.CaptureFixture[str]) -> None:
        """No kit file named: usage, exit status 2."""
        assert main([]) == 2
        assert "usage" in capsys.readouterr().err
