"""The intake as one FHIR R4 Questionnaire (SDC): structure, codes and display logic.

The display-logic tests read the emitted ``enableWhen`` with a tiny evaluator (the
operators as LHC-Forms implements them: ``!=`` needs an answer) and with
``disabled_link_ids`` (the R4 definitions: ``!=`` holds without one), and check both
against ``FormItem.visible`` on many answer sets.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from ketascreen.content.questionnaire import QuestionnaireFile
from ketascreen.domain.types import FactKind
from ketascreen.intake.answers import facts_from_answers
from ketascreen.intake.form import Form, FormItem, build_form
from ketascreen.interop.questionnaire import (
    ENABLE_WHEN_EXPRESSION,
    QUESTIONNAIRE_URL,
    questionnaire_resource,
)
from ketascreen.interop.response import ANSWERS_SYSTEM, LOINC, disabled_link_ids
from ketascreen.logic.schema import facts_in
from ketascreen.rules.engine import score_facts
from ketascreen.rules.loader import Content

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
YES_NO = {
    FactKind.yes_no: ["yes", "no"],
    FactKind.yes_no_unsure: ["yes", "no", "unsure"],
}
WHEN = date(2025, 1, 15)
#: A form whose display logic one flat enableWhen list cannot say.
SYNTHETIC: dict[str, Any] = {
    "schema_version": 1,
    "id": "synthetic",
    "version": "1",
    "title": "Display logic that needs FHIRPath",
    "intro": "Test form.",
    "sections": [
        {
            "id": "only",
            "title": "Only",
            "items": [
                {"id": "a", "kind": "yes_no_unsure", "text": "A?"},
                {"id": "b", "kind": "yes_no_unsure", "text": "B?"},
                {
                    "id": "c",
                    "kind": "multi",
                    "text": "C?",
                    "options": [
                        {"code": "p", "label": "P"},
                        {"code": "q", "label": "Q"},
                        {"code": "none", "label": "None", "exclusive": True},
                    ],
                },
                {
                    "id": "n",
                    "kind": "number",
                    "text": "N?",
                    "unit": "years",
                    "minimum": 0,
                    "maximum": 120,
                    "integer": True,
                },
                {
                    "id": "x",
                    "kind": "yes_no",
                    "text": "X?",
                    "show_if": {
                        "all": [
                            {
                                "any": [
                                    {"fact": "a", "eq": "yes"},
                                    {"fact": "b", "eq": "yes"},
                                ]
                            },
                            {
                                "any": [
                                    {"fact": "c", "contains": "p"},
                                    {"fact": "n", "gte": 18},
                                ]
                            },
                        ]
                    },
                },
                {
                    "id": "y",
                    "kind": "yes_no",
                    "text": "Y?",
                    "show_if": {
                        "count": [
                            {"fact": "a", "eq": "yes"},
                            {"fact": "b", "eq": "yes"},
                            {"fact": "c", "contains": "q"},
                        ],
                        "gte": 2,
                    },
                },
            ],
        }
    ],
}


def synthetic_form(*extra: dict[str, Any]) -> Form:
    """The synthetic form, with extra items at the end if given."""
    section = SYNTHETIC["sections"][0]
    items = [*section["items"], *extra]
    data = dict(SYNTHETIC, sections=[dict(section, items=items)])
    return build_form(QuestionnaireFile.model_validate(data), {}, {})


@pytest.fixture(scope="module")
def resource(content: Content) -> dict[str, Any]:
    """The default content's Questionnaire."""
    return questionnaire_resource(content.form)


def walk(
    items: list[dict[str, Any]], parents: tuple[dict[str, Any], ...] = ()
) -> Iterator[tuple[dict[str, Any], tuple[dict[str, Any], ...]]]:
    """Every item with its ancestors, depth first."""
    for item in items:
        yield item, parents
        yield from walk(item.get("item", []), (*parents, item))


def by_link(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Items by linkId."""
    return {item["linkId"]: item for item, _ in walk(resource["item"])}


def has_expression(item: dict[str, Any]) -> bool:
    """Whether the item carries the SDC enableWhenExpression extension."""
    return any(e["url"] == ENABLE_WHEN_EXPRESSION for e in item.get("extension", []))


class TestResource:
    """The Questionnaire as a whole."""

    def test_validates(self, resource: dict[str, Any]) -> None:
        """fhir.resources accepts it as an R4(B) Questionnaire."""
        Questionnaire.model_validate(resource)

    def test_header(self, resource: dict[str, Any], content: Content) -> None:
        """Id, canonical, version, name, title, status and subject type."""
        assert resource["id"] == "ketascreen-intake"
        assert resource["url"] == QUESTIONNAIRE_URL
        assert resource["version"] == content.form.version
        assert resource["name"] == "KetascreenIntake"
        assert resource["title"] == content.form.title
        assert resource["status"] == "active"
        assert resource["subjectType"] == ["Patient"]

    def test_url_can_be_given(self, content: Content) -> None:
        """A clinic can publish it under its own canonical."""
        url = "https://clinic.example/fhir/Questionnaire/intake"
        assert questionnaire_resource(content.form, url=url)["url"] == url

    def test_link_ids_unique(self, resource: dict[str, Any]) -> None:
        """No two items share a linkId."""
        ids = [item["linkId"] for item, _ in walk(resource["item"])]
        assert len(ids) == len(set(ids))

    def test_extra_instruments(self) -> None:
        """A clinic's extra instruments become valid sections too."""
        from ketascreen.screening import get_content

        extra = ["cssrs", "dast10", "des2", "mdq", "msibpd", "pcl5"]
        form = get_content(instruments=extra).form
        data = questionnaire_resource(form)
        Questionnaire.model_validate(data)
        assert {f"extra_{i}" for i in extra} <= {i["linkId"] for i in data["item"]}


class TestItems:
    """Sections, questions, types, units and help."""

    def test_one_group_per_section(
        self, resource: dict[str, Any], content: Content
    ) -> None:
        """Top-level items are the sections, in order, with their titles."""
        groups = [(i["linkId"], i["type"], i["text"]) for i in resource["item"]]
        expected = [(s.id, "group", s.title) for s in content.form.sections]
        assert groups == expected

    def test_every_item_once(self, resource: dict[str, Any], content: Content) -> None:
        """Every form item appears exactly once, in order, with linkId = item id."""
        questions = [
            item["linkId"]
            for item, _ in walk(resource["item"])
            if item["type"] not in ("group", "display")
        ]
        assert questions == list(content.form.items)

    def test_types(self, resource: dict[str, Any], content: Content) -> None:
        """Choices (multi repeats), integers and decimals, dates and text."""
        items = by_link(resource)
        for item in content.form.items.values():
            fhir = items[item.id]
            if item.choices or item.kind in YES_NO or item.kind == FactKind.multi:
                assert fhir["type"] == "choice", item.id
                assert fhir.get("repeats", False) == (item.kind == FactKind.multi)
            elif item.kind == FactKind.number:
                assert fhir["type"] == ("integer" if item.integer else "decimal")
            else:
                expected = {"duration": "decimal", "date": "date", "text": "text"}
                assert fhir["type"] == expected[item.kind.value], item.id

    def test_units_and_bounds(self, resource: dict[str, Any]) -> None:
        """Numbers carry a UCUM unit and their range."""
        age = {e["url"]: e for e in by_link(resource)["age"]["extension"]}
        assert age[UNIT]["valueCoding"]["code"] == "a"
        assert age[UNIT]["valueCoding"]["system"] == "http://unitsofmeasure.org"
        min_value = "http://hl7.org/fhir/StructureDefinition/minValue"
        max_value = "http://hl7.org/fhir/StructureDefinition/maxValue"
        assert age[min_value] == {"url": min_value, "valueInteger": 0}
        assert age[max_value] == {"url": max_value, "valueInteger": 120}
        bp = {e["url"]: e for e in by_link(resource)["bp_systolic"]["extension"]}
        assert bp[UNIT]["valueCoding"]["code"] == "mm[Hg]"
        months = {
            e["url"]: e for e in by_link(resource)["attempt_months_ago"]["extension"]
        }
        assert months[UNIT]["valueCoding"]["code"] == "mo"
        assert months[max_value]["valueDecimal"] == 1200

    def test_help_is_a_display_child(self, resource: dict[str, Any]) -> None:
        """Help text is a display item with item control "help"."""
        sex = by_link(resource)["sex_at_birth"]
        help_item = sex["item"][0]
        assert help_item["type"] == "display"
        assert help_item["text"].startswith("Some questions and scores depend")
        control = help_item["extension"][0]
        assert control["url"] == ITEM_CONTROL
        assert control["valueCodeableConcept"]["coding"][0]["code"] == "help"

    def test_no_required(self, resource: dict[str, Any]) -> None:
        """The form has no required items: any question may be skipped."""
        assert not any(item.get("required") for item, _ in walk(resource["item"]))

    def test_yes_no_options(self, resource: dict[str, Any]) -> None:
        """Yes/no/unsure items offer our codes."""
        options = by_link(resource)["pregnant"]["answerOption"]
        codings = [
            (o["valueCoding"]["system"], o["valueCoding"]["code"]) for o in options
        ]
        assert codings == [(ANSWERS_SYSTEM, c) for c in ("yes", "no", "unsure")]

    def test_exclusive_option(self, resource: dict[str, Any]) -> None:
        """ "None of these" is marked exclusive."""
        options = by_link(resource)["heart_conditions"]["answerOption"]
        none = next(o for o in options if o["valueCoding"]["code"] == "none")
        assert none["extension"][0]["valueBoolean"] is True

    def test_instructions_open_instrument_groups(
        self, resource: dict[str, Any], content: Content
    ) -> None:
        """Each instrument group starts with its instructions."""
        phq9 = by_link(resource)["phq9"]
        assert phq9["type"] == "group"
        assert phq9["item"][0]["type"] == "display"
        assert phq9["item"][0]["text"] == content.form.instruments["phq9"].instructions


class TestCodes:
    """LOINC panels, items and answers; ordinal values."""

    def test_phq9_codes(self, resource: dict[str, Any]) -> None:
        """PHQ-9 panel 44249-1, item 9 44260-8, LOINC answers with their points."""
        items = by_link(resource)
        assert items["phq9"]["code"][0] == {
            "system": LOINC,
            "code": "44249-1",
            "display": "Patient Health Questionnaire-9",
        }
        assert items["phq9_9"]["code"][0]["code"] == "44260-8"
        assert items["phq9_9"]["code"][0]["system"] == LOINC
        options = items["phq9_9"]["answerOption"]
        assert [o["valueCoding"]["code"] for o in options] == [
            "LA6568-5",
            "LA6569-3",
            "LA6570-1",
            "LA6571-9",
        ]
        assert {o["valueCoding"]["system"] for o in options} == {LOINC}
        ordinals = [o["extension"][0] for o in options]
        assert ordinals == [{"url": ORDINAL, "valueDecimal": v} for v in (0, 1, 2, 3)]

    def test_other_panels(self, resource: dict[str, Any]) -> None:
        """GAD-7 and AUDIT-C panels carry their LOINC codes."""
        items = by_link(resource)
        assert items["gad7"]["code"][0]["code"] == "69737-5"
        assert items["auditc"]["code"][0]["code"] == "72109-2"
        assert items["auditc_1"]["code"][0]["code"] == "68518-0"
        assert "code" not in items["asq"]

    def test_answer_systems_follow_the_instrument(
        self, resource: dict[str, Any], content: Content
    ) -> None:
        """An instrument option is LOINC-coded exactly when its response has a code."""
        items = by_link(resource)
        for inst in content.form.instruments.values():
            for it in inst.items:
                if it.id not in items:
                    continue
                options = items[it.id].get("answerOption", [])
                for option, response in zip(
                    options, inst.responses_for(it), strict=True
                ):
                    coding = option["valueCoding"]
                    expected = response.loinc or str(response.value)
                    assert coding["code"] == expected
                    assert (coding["system"] == LOINC) == bool(response.loinc)


# ---- display logic -------------------------------------------------------------------


def fhir_answers(fhir: dict[str, Any], item: FormItem, value: Any) -> list[Any]:
    """Our answer as FHIR answer values (codings by option position)."""
    if value is None:
        return []
    options = fhir.get("answerOption")
    if not options:
        return [value]
    codes = [str(c) for c in (YES_NO.get(item.kind) or item.codes)]
    chosen = value if isinstance(value, list) else [value]
    return [options[codes.index(str(v))]["valueCoding"] for v in chosen]


def same(a: Any, b: Any) -> bool:
    """Answer equality: codings by system and code."""
    if isinstance(a, dict) and isinstance(b, dict):
        return (a.get("system"), a.get("code")) == (b.get("system"), b.get("code"))
    return bool(a == b)


ORDER = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def holds(when: dict[str, Any], values: list[Any]) -> bool:
    """One enableWhen, as LHC-Forms evaluates it ("!=" needs an answer)."""
    expected = next(v for k, v in when.items() if k.startswith("answer"))
    if when["operator"] == "exists":
        return bool(values) is expected
    if not values:
        return False
    if when["operator"] == "=":
        return any(same(v, expected) for v in values)
    if when["operator"] == "!=":
        return not any(same(v, expected) for v in values)
    return any(ORDER[when["operator"]](v, expected) for v in values)


def enabled(resource: dict[str, Any], answers: dict[str, list[Any]]) -> set[str]:
    """LinkIds enabled for these answers (a disabled item's answers do not count)."""
    live, on = dict(answers), set()

    def visit(items: list[dict[str, Any]], parent_on: bool) -> None:
        for item in items:
            assert not has_expression(item), "the tiny evaluator reads enableWhen only"
            results = [
                holds(w, live.get(w["question"], []))
                for w in item.get("enableWhen", [])
            ]
            mine = all(results) if item.get("enableBehavior") == "all" else any(results)
            ok = parent_on and (mine or not results)
            if ok:
                on.add(item["linkId"])
            else:
                live.pop(item["linkId"], None)
            visit(item.get("item", []), ok)

    visit(resource["item"], True)
    return on


def domain(item: FormItem) -> list[Any]:
    """Values to try for a question (None: unanswered)."""
    if item.kind in YES_NO:
        return [None, *YES_NO[item.kind]]
    if item.kind == FactKind.multi:
        plain = [c for c in item.codes if str(c) not in item.exclusive_codes]
        return [None, *([c] for c in item.codes), plain[:2]]
    if item.choices:
        return [None, *item.codes]
    if item.kind in (FactKind.number, FactKind.duration):
        low, high = item.minimum or 0, item.maximum or 0
        return [None, low, high, (low + high) / 2]
    return [None, "2020-01-01" if item.kind == FactKind.date else "some text"]


def asked(item: FormItem, fhir: dict[str, Any], content: Content) -> list[str]:
    """The questions an item's display logic reads (ours and the emitted ones)."""
    assert item.condition is not None
    ids = [f for f in facts_in(item.condition) if f in content.form.items]
    for node in (*fhir["parents"], fhir["item"]):
        ids += [w["question"] for w in node.get("enableWhen", [])]
    return list(dict.fromkeys(ids))


def answer_sets(questions: list[str], form: Form, seed: int) -> list[dict[str, Any]]:
    """Every combination of the questions' values, or a fixed random sample of them."""
    domains = [domain(form.items[q]) for q in questions]
    size = 1
    for d in domains:
        size *= len(d)
    if size <= 300:
        combos = list(itertools.product(*domains))
    else:
        rng = random.Random(seed)
        combos = [tuple(rng.choice(d) for d in domains) for _ in range(300)]
    return [
        {q: v for q, v in zip(questions, combo, strict=True) if v is not None}
        for combo in combos
    ]


def conditional(resource: dict[str, Any], content: Content) -> list[tuple[str, Any]]:
    """The conditional items, with their FHIR item and ancestors."""
    found = {
        item["linkId"]: (item, parents) for item, parents in walk(resource["item"])
    }
    return [
        (i.id, {"item": found[i.id][0], "parents": found[i.id][1]})
        for i in content.form.items.values()
        if i.show_if is not None
    ]


class TestDisplayLogic:
    """enableWhen shows and hides what ``FormItem.visible`` shows and hides."""

    def test_every_conditional_item_has_logic(
        self, resource: dict[str, Any], content: Content
    ) -> None:
        """Each item with show_if has enableWhen or an expression, on it or a group."""
        for item_id, fhir in conditional(resource, content):
            nodes = (*fhir["parents"], fhir["item"])
            assert any("enableWhen" in n or has_expression(n) for n in nodes), item_id
            for node in nodes:
                if "enableWhen" in node:
                    assert node["enableBehavior"] in ("all", "any")

    def test_bundled_content_needs_no_expression(
        self, resource: dict[str, Any]
    ) -> None:
        """Every condition of the bundled content fits one flat enableWhen list."""
        assert not any(has_expression(item) for item, _ in walk(resource["item"]))

    def test_not_equal_keeps_unanswered_shown(self, resource: dict[str, Any]) -> None:
        """``not {X eq v}``: X not answered, or X != v."""
        when = by_link(resource)["mania_now"]["enableWhen"]
        assert by_link(resource)["mania_now"]["enableBehavior"] == "any"
        assert [(w["question"], w["operator"]) for w in when] == [
            ("mania_ever", "exists"),
            ("mania_ever", "!="),
        ]
        assert when[0]["answerBoolean"] is False
        assert when[1]["answerCoding"]["code"] == "no"

    def test_section_condition_on_group(self, resource: dict[str, Any]) -> None:
        """A section's condition goes on its group (pregnancy: not male)."""
        group = by_link(resource)["pregnancy"]
        assert [w["question"] for w in group["enableWhen"]] == ["sex_at_birth"] * 2
        assert "enableWhen" not in by_link(resource)["pregnant"]

    def test_flags_expand_to_items(self, resource: dict[str, Any]) -> None:
        """``asq.positive`` becomes tests on ASQ items 1-4."""
        when = by_link(resource)["suicide_intent"]["enableWhen"]
        assert {w["question"] for w in when} == {"asq_1", "asq_2", "asq_3", "asq_4"}

    def test_matches_visible(self, resource: dict[str, Any], content: Content) -> None:
        """Both evaluators agree with FormItem.visible on many answer sets per item."""
        form = content.form
        checked = 0
        for n, (item_id, fhir) in enumerate(conditional(resource, content)):
            item = form.items[item_id]
            for answers in answer_sets(asked(item, fhir, content), form, seed=n):
                facts = score_facts(content, facts_from_answers(form, answers, WHEN))
                expected = item.visible(facts.values)
                given = {
                    q: fhir_answers(by_link(resource)[q], form.items[q], v)
                    for q, v in answers.items()
                }
                assert (item_id in enabled(resource, given)) == expected, (
                    item_id,
                    answers,
                )
                checked += 1
        assert checked > 1000

    def test_matches_r4_reading(
        self, resource: dict[str, Any], content: Content
    ) -> None:
        """The R4 reading of "!=" (no answer needed) gives the same answers."""
        form = content.form
        for n, (item_id, fhir) in enumerate(conditional(resource, content)):
            item = form.items[item_id]
            sets = answer_sets(asked(item, fhir, content), form, seed=n)
            for answers in random.Random(n).sample(sets, min(len(sets), 6)):
                facts = score_facts(content, facts_from_answers(form, answers, WHEN))
                response = {
                    "item": [
                        {"linkId": q, "answer": [answer_value(v) for v in vs]}
                        for q, v in answers.items()
                        if (vs := fhir_answers(by_link(resource)[q], form.items[q], v))
                    ]
                }
                off = disabled_link_ids(resource, response)
                assert (item_id not in off) == item.visible(facts.values), answers


def answer_value(value: Any) -> dict[str, Any]:
    """A FHIR answer value in a QuestionnaireResponse."""
    if isinstance(value, dict):
        return {"valueCoding": value}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    return {"valueString": value}


class TestExpression:
    """Conditions one flat list cannot say use enableWhenExpression (FHIRPath)."""

    def test_nested_and_count(self) -> None:
        """An all-of-any-of and a count become FHIRPath over %resource answers."""
        data = questionnaire_resource(synthetic_form())
        Questionnaire.model_validate(data)
        items = by_link(data)
        for link in ("x", "y"):
            assert "enableWhen" not in items[link]
            assert has_expression(items[link])
            ext = next(
                e
                for e in items[link]["extension"]
                if e["url"] == ENABLE_WHEN_EXPRESSION
            )
            assert ext["valueExpression"]["language"] == "text/fhirpath"
            assert (
                "%resource.repeat(item).where(linkId = 'a')"
                in (ext["valueExpression"]["expression"])
            )
        count = next(
            e for e in items["y"]["extension"] if e["url"] == ENABLE_WHEN_EXPRESSION
        )
        assert "iif(" in count["valueExpression"]["expression"]

    def test_computed_fact_refused(self) -> None:
        """A condition on a derived fact cannot be said in a form."""
        derived = {
            "id": "d",
            "kind": "date",
            "text": "When?",
            "derive_months_ago": True,
        }
        gated = {
            "id": "z",
            "kind": "yes_no",
            "text": "Z?",
            "show_if": {"fact": "d_months_ago", "lt": 3},
        }
        with pytest.raises(ValueError, match="d_months_ago"):
            questionnaire_resource(synthetic_form(derived, gated))
