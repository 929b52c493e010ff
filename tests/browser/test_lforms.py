"""LHC-Forms renders ketascreen's FHIR Questionnaire in a real browser.

LHC-Forms (the npm package ``lforms``, NLM) is installed from
``tests/browser/lforms/package-lock.json`` by ``scripts/test`` (``npm ci``) and its
``dist`` files are served from a local ``http.server`` on 127.0.0.1: nothing comes from
a CDN. Debian's Chromium runs the page (see conftest.py).

Each test answers questions by clicking, as a person would, and compares what LHC-Forms
shows with ``FormItem.visible``. The PHQ-9 test fills the LHC-Forms PHQ-9 from
tests/fixtures/fhir (copied from ../shared/data/fhir) and checks its QuestionnaireResponse export against
tests/fixtures/fhir/lforms-phq9-response.json (set ``KETASCREEN_UPDATE_FIXTURES=1`` to
write that file again).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.interop.test_questionnaire import synthetic_form
from tests.interop.test_response import FREQUENCY, PHQ9_LINKS

from ketascreen.intake.answers import facts_from_answers
from ketascreen.intake.form import Form
from ketascreen.interop.questionnaire import QUESTIONNAIRE_URL, questionnaire_resource
from ketascreen.interop.response import answers_from_response
from ketascreen.rules.engine import score_facts
from ketascreen.rules.loader import Content

pytestmark = pytest.mark.slow

PACKAGE = Path(__file__).parent / "lforms"
DIST = PACKAGE / "node_modules" / "lforms" / "dist" / "lforms"
SHARED_PHQ9 = Path(__file__).parents[1] / "fixtures" / "fhir" / "lforms-phq9.R4.json"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "fhir" / "lforms-phq9-response.json"
#: The load order the lforms README gives; the FHIR support file needs LForms first.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LHC-Forms</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="lforms/webcomponent/styles.css"></head>
<body><div id="form"></div>
<script src="lforms/webcomponent/assets/lib/zone.min.js"></script>
<script src="lforms/webcomponent/runtime.js" type="module"></script>
<script src="lforms/webcomponent/polyfills.js" type="module"></script>
<script src="lforms/webcomponent/main.js" type="module"></script>
<script src="lforms/fhir/R4/lformsFHIR.min.js" defer></script>
</body></html>
"""
RENDERED = """() => Array.from(document.querySelectorAll('lhc-item'))
    .map(e => e.id.replace(/^item-/, '').split('/')[0])"""
TODAY = date(2025, 1, 15)
#: The points chosen for PHQ-9 items 1-9 (PHQ9_LINKS) of the LHC-Forms Questionnaire.
PHQ9_POINTS = [1, 2, 2, 1, 0, 1, 1, 2, 1]


class _Quiet(SimpleHTTPRequestHandler):
    """Serves files without logging every request."""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture(scope="module")
def lforms() -> Path:
    """LHC-Forms' dist folder, installed with npm ci when it is missing."""
    if not DIST.is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "LHC-Forms is not installed (tests/browser/lforms/node_modules is "
                "missing) and npm is not available: run ./scripts/test, which installs it"
            )
        args = ["ci", "--prefix", str(PACKAGE), "--no-audit", "--no-fund"]
        subprocess.run([npm, *args, "--ignore-scripts"], check=True, timeout=900)
    return DIST


@pytest.fixture(scope="module")
def site(lforms: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A page that loads LHC-Forms, served with its files from 127.0.0.1."""
    root = tmp_path_factory.mktemp("lforms-site")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "lforms").symlink_to(lforms, target_is_directory=True)
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """A page with LHC-Forms loaded; fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(site)
    tab.wait_for_function(
        "() => window.LForms && LForms.Util && LForms.Util.getFormFHIRData"
    )
    yield tab
    context.close()
    assert errors == []


def render(page: Any, questionnaire: dict[str, Any]) -> None:
    """Show a Questionnaire with LForms.Util.addFormToPage."""
    page.evaluate(
        "async (q) => { await LForms.Util.addFormToPage(q, 'form', {}); }",
        questionnaire,
    )
    page.wait_for_selector("lhc-item")


def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until a check holds (LHC-Forms updates the page asynchronously)."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def export(page: Any) -> dict[str, Any]:
    """The form's answers as an R4 QuestionnaireResponse, exported by LHC-Forms."""
    response: dict[str, Any] = page.evaluate(
        "() => LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', "
        "document.getElementById('form'))"
    )
    return response


class Person:
    """Answers an LHC-Forms form by clicking, and keeps the same answers for ketascreen."""

    def __init__(self, page: Any, form: Form, resource: dict[str, Any]) -> None:
        self.page, self.form = page, form
        self.codes = {i["linkId"]: i for i in _items(resource["item"])}
        self.answers: dict[str, Any] = {}

    def choose(self, link_id: str, value: Any) -> None:
        """Click an option (toggle it, for a multi-choice question)."""
        self.page.locator(self._label(link_id, value)).click()
        if self.codes[link_id].get("repeats"):
            chosen = set(self.answers.get(link_id, [])) ^ {value}
            self.answers[link_id] = sorted(chosen)
        else:
            self.answers[link_id] = value

    def type(self, link_id: str, value: int) -> None:
        """Type a number and leave the field."""
        field = self.page.locator(f'input[id^="{link_id}/"]').first
        field.fill(str(value))
        field.press("Tab")
        self.answers[link_id] = value

    def expected(self, content: Content | None = None) -> set[str]:
        """The questions ketascreen would show for the answers so far."""
        facts = facts_from_answers(self.form, self.answers, TODAY)
        values = score_facts(content, facts).values if content else facts.values
        return {i.id for i in self.form.items.values() if i.visible(values)}

    def shown(self) -> set[str]:
        """The questions LHC-Forms shows now."""
        return set(self.page.evaluate(RENDERED)) & set(self.form.items)

    def agree(self, content: Content | None = None) -> set[str]:
        """Wait until LHC-Forms shows what ketascreen would; return that set."""
        expected = self.expected(content)
        until(lambda: self.shown() == expected)
        assert self.shown() == expected, self.answers
        return expected

    def _label(self, link_id: str, value: Any) -> str:
        item = self.form.items[link_id]
        codes = [str(c) for c in item.codes] or ["yes", "no", "unsure"]
        option = self.codes[link_id]["answerOption"][codes.index(str(value))]
        code = option["valueCoding"]["code"]
        return f'label[id^="{link_id}/"][id$="|{code}"]'


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item", []))


class TestOurQuestionnaire:
    """ketascreen's intake in LHC-Forms."""

    def test_every_item_rendered(self, page: Any, content: Content) -> None:
        """Every section and every question (none is hidden before any answer)."""
        resource = questionnaire_resource(content.form)
        render(page, resource)
        rendered = set(page.evaluate(RENDERED))
        sections = {s.id for s in content.form.sections}
        assert sections <= rendered
        person = Person(page, content.form, resource)
        assert person.agree(content) == set(content.form.items)
        labels = page.locator('[id^="label-phq9_9/"]').inner_text()
        assert "better off dead" in labels

    def test_enable_when_follows_answers(self, page: Any, content: Content) -> None:
        """Answers show and hide the same questions as FormItem.visible."""
        resource = questionnaire_resource(content.form)
        render(page, resource)
        person = Person(page, content.form, resource)
        steps = [
            ("bipolar_dx", "yes", "bipolar_status", True),
            ("bipolar_dx", "no", "bipolar_status", False),
            ("heart_conditions", "coronary", "htn_controlled", False),
            ("heart_conditions", "high_bp", "htn_controlled", True),
            ("sex_at_birth", "male", "pregnant", False),
            ("sex_at_birth", "female", "pregnant", True),
            ("mania_ever", "no", "mania_now", False),
            ("mania_ever", "unsure", "mania_now", True),
            ("phq9_9", 0, "asq_1", False),
            ("phq9_9", 1, "asq_1", True),
            ("asq_1", "no", "suicide_intent", True),
            ("asq_2", "no", "suicide_intent", True),
            ("asq_3", "no", "suicide_intent", True),
            ("asq_4", "no", "suicide_intent", False),
            ("asq_1", "declined", "suicide_intent", True),
        ]
        for link_id, value, watched, shown in steps:
            person.choose(link_id, value)
            assert (watched in person.agree(content)) is shown, (link_id, value)
        self.check_export(page, content, person)

    def check_export(self, page: Any, content: Content, person: Person) -> None:
        """LHC-Forms' QuestionnaireResponse reads back as the answers given."""
        response = export(page)
        canonical = f"{QUESTIONNAIRE_URL}|{content.form.version}"
        response.setdefault("questionnaire", canonical)
        got = answers_from_response(
            response, content.form, instruments=content.instruments
        )
        assert _normal(got.answers) == _normal(person.answers)


def _total(response: dict[str, Any]) -> Any:
    """The exported PHQ-9 total's answer, if any."""
    items = {i["linkId"]: i.get("answer") for i in response.get("item", [])}
    return items.get("/44261-6")


def _normal(answers: dict[str, Any]) -> dict[str, Any]:
    return {k: sorted(v) if isinstance(v, list) else v for k, v in answers.items()}


class TestExpressionInLhcForms:
    """enableWhenExpression (FHIRPath) runs in LHC-Forms as ketascreen decides."""

    def test_nested_and_count(self, page: Any) -> None:
        """An all-of-any-of and a count show and hide their items correctly."""
        form = synthetic_form()
        resource = questionnaire_resource(form)
        render(page, resource)
        person = Person(page, form, resource)
        assert person.agree() == set(form.items)
        for link_id, value in [("a", "no"), ("b", "no"), ("b", "yes"), ("c", "q")]:
            person.choose(link_id, value)
            person.agree()
        for number in (10, 20):
            person.type("n", number)
            person.agree()
        person.choose("a", "yes")
        assert {"x", "y"} <= person.agree()


class TestPhq9Export:
    """The LHC-Forms PHQ-9, filled in and exported as a QuestionnaireResponse."""

    def test_export(self, page: Any) -> None:
        """Nine LOINC-linked answers with their points; the fixture matches."""
        render(page, json.loads(SHARED_PHQ9.read_text(encoding="utf-8")))
        for link_id, points in zip(PHQ9_LINKS, PHQ9_POINTS, strict=True):
            page.locator(f'[id="{link_id}/1"]').click()
            option = f'#lhc-tools-searchResults li[autocomprawlistindex="{points}"]'
            page.locator(option).click()
        page.keyboard.press("Tab")  # the last choice is kept when its field is left
        # LHC-Forms recalculates the total after the last answer; wait until it has.
        until(lambda: _total(export(page)) == [{"valueDecimal": sum(PHQ9_POINTS)}])
        response = export(page)
        answers = {i["linkId"]: i["answer"] for i in response["item"]}
        for link_id, points in zip(PHQ9_LINKS, PHQ9_POINTS, strict=True):
            coding = answers[link_id][0]["valueCoding"]
            assert (coding["system"], coding["code"]) == (
                "http://loinc.org",
                FREQUENCY[points],
            )
            assert coding["extension"][0]["valueDecimal"] == points
        assert answers["/44261-6"] == [{"valueDecimal": sum(PHQ9_POINTS)}]
        self.check_fixture(response)

    def check_fixture(self, response: dict[str, Any]) -> None:
        """The committed fixture is this export (``authored`` aside)."""
        if os.environ.get("KETASCREEN_UPDATE_FIXTURES"):
            FIXTURE.parent.mkdir(parents=True, exist_ok=True)
            FIXTURE.write_text(json.dumps(response, indent=2) + "\n", encoding="utf-8")
        saved = json.loads(FIXTURE.read_text(encoding="utf-8"))
        assert {**saved, "authored": None} == {**response, "authored": None}
