"""The terminal interview, with a scripted person answering Rich's prompts."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from rich.prompt import Prompt

from ketascreen import interview
from ketascreen.rules.loader import Content


def scripted(replies: dict[str, list[str]], asked: list[str]) -> Any:
    """A Prompt.ask stand-in that answers by question text (blank when not scripted)."""

    def ask(prompt: str, **_: Any) -> str:
        asked.append(prompt)
        for key, queue in replies.items():
            if key in prompt and queue:
                return queue.pop(0)
        return ""

    return ask


def run(
    content: Content, replies: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], str, list[str]]:
    asked: list[str] = []
    monkeypatch.setattr(Prompt, "ask", scripted(replies, asked))
    buffer = io.StringIO()
    answers = interview.run_interview(content, Console(file=buffer, width=120))
    return answers, buffer.getvalue(), asked


class TestInterview:
    """Conditional logic, validation and crisis help, as a person meets them."""

    def test_skips_and_retries(
        self, content: Content, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Blank skips (unknown); a bad reply is explained and asked again."""
        answers, out, _ = run(content, {"How old are you": ["old", "34"]}, monkeypatch)
        assert answers == {"age": "34"}
        assert "Sorry, that did not work" in out

    def test_men_are_not_asked_about_pregnancy(
        self, content: Content, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Display logic: sex at birth male hides the pregnancy page."""
        _, _, asked = run(content, {"What sex were you assigned": ["2"]}, monkeypatch)
        assert not any("pregnant" in q for q in asked)
        _, _, asked = run(content, {"What sex were you assigned": ["1"]}, monkeypatch)
        assert any("pregnant" in q for q in asked)

    def test_crisis_help_shows_at_once(
        self, content: Content, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After a suicide-risk answer, 988 appears before the next section starts."""
        replies = {
            "Thoughts that you would be better off dead": ["4"],
            "wished you were dead": ["1"],
        }
        answers, out, asked = run(content, replies, monkeypatch)
        assert answers.get("asq_1") == "yes"
        assert "988" in out
        assert out.index("988") < out.index("Mood ups and downs")
        assert any("right now" in q for q in asked), "the ASQ acuity question follows"

    def test_no_safety_page_when_item9_is_zero(
        self, content: Content, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PHQ-9 item 9 = 'Not at all' skips the suicide-risk follow-up."""
        _, _, asked = run(content, {"better off dead": ["1"]}, monkeypatch)
        assert not any("wished you were dead" in q for q in asked)


class TestInterviewCommand:
    """The `ketascreen interview` command around the interview."""

    def test_ctrl_c_leaves_cleanly(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Ctrl-C stops with a kind message, exit 130, and nothing saved."""
        from typer.testing import CliRunner

        from ketascreen.cli import app

        def interrupt(*_: Any, **__: Any) -> str:
            raise KeyboardInterrupt

        monkeypatch.setattr(Prompt, "ask", interrupt)
        done = CliRunner().invoke(app, ["interview", "--save", "never.json"])
        assert done.exit_code == 130
        assert "Nothing was saved" in done.output

    def test_save_and_result(
        self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--save keeps the answers and the result is shown in kind words."""
        import json

        from typer.testing import CliRunner

        from ketascreen.cli import app

        asked: list[str] = []
        monkeypatch.setattr(Prompt, "ask", scripted({"How old are you": ["16"]}, asked))
        target = tmp_path / "answers.json"
        done = CliRunner().invoke(app, ["interview", "--save", str(target)])
        assert done.exit_code == 0, done.output
        assert json.loads(target.read_text(encoding="utf-8")) == {"age": "16"}
        assert "A clinician will want to look more closely first" in done.output
