"""The docs match the code: generated ruleset reference, CLI commands, the two commands."""

from __future__ import annotations

from pathlib import Path

from ketascreen.cli import app
from ketascreen.rules.loader import Content
from ketascreen.rules.report import ruleset_markdown

ROOT = Path(__file__).parents[1]


def test_ruleset_reference_is_current(content: Content) -> None:
    """docs/ruleset.md is what `ketascreen rules --markdown` prints now."""
    current = (ROOT / "docs" / "ruleset.md").read_text(encoding="utf-8")
    assert current == ruleset_markdown(content), (
        "run: ketascreen rules --markdown > docs/ruleset.md"
    )


def test_every_command_is_in_the_readme() -> None:
    """Each CLI command is shown in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        assert f"ketascreen {name}" in readme, name


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls the test command the README shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in readme
    assert "exec ./scripts/test" in ci


def test_every_setting_is_documented() -> None:
    """Each KETASCREEN_* setting appears in docs/deployment.md."""
    from ketascreen.config import Settings

    docs = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"KETASCREEN_{name.upper()}" in docs, name
