"""Ask the questionnaire in the terminal, with the same display logic as everywhere.

Blank answers are skipped and stay unknown. Crisis help is shown at once after any
answer that raises a suicide-risk signal, not at the end.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.prompt import Prompt

from ketascreen.domain.types import FactKind
from ketascreen.explain.render import crisis_markdown
from ketascreen.intake.answers import FactSet, normalise
from ketascreen.intake.form import FormItem
from ketascreen.rules.engine import evaluate, score_facts
from ketascreen.rules.loader import Content

_HINTS = {
    FactKind.yes_no: "yes / no",
    FactKind.yes_no_unsure: "yes / no / unsure",
    FactKind.date: "a date like 2024-05 or 2024-05-17",
    FactKind.text: "type your answer",
}


def run_interview(content: Content, console: Console) -> dict[str, Any]:
    """Ask every visible item and return the answers given.

    Args:
        content: the content bundle (form and rules).
        console: where to talk to the person.

    Returns:
        Item id to raw answer (only answered items).

    Raises:
        KeyboardInterrupt: the person pressed Ctrl-C.
        EOFError: input ended.
    """
    form = content.form
    today = date.today()  # noqa: DTZ011 - local date is meant
    answers: dict[str, Any] = {}
    values: dict[str, Any] = {}
    crisis_shown = False
    console.print(Panel(form.intro, title=form.title, expand=False))
    console.print("Press Enter to skip a question. Press Ctrl-C to stop at any time.\n")
    for section in form.sections:
        if section.audience == "clinic":
            continue
        visible = [i for i in section.items if i.visible(_scored(content, values))]
        if not visible:
            continue
        console.rule(section.title)
        if section.intro:
            console.print(section.intro + "\n")
        for text in section.instruction.values():
            console.print(f"[italic]{text}[/]\n")
        for item in section.items:
            if not item.visible(_scored(content, values)):
                continue
            raw, value = _ask(console, item, today)
            if value is None:
                continue
            answers[item.id] = raw
            values[item.id] = value
            if not crisis_shown and item.section == "safety":
                result = evaluate(content, FactSet(dict(values), {}), today)
                if result.crisis is not None:
                    crisis_shown = True
                    console.print(
                        Panel(
                            Markdown("\n".join(crisis_markdown(result.crisis))),
                            border_style="red",
                        )
                    )
    return answers


def _scored(content: Content, values: dict[str, Any]) -> dict[str, Any]:
    return score_facts(content, FactSet(dict(values), {})).values


def _ask(console: Console, item: FormItem, today: date) -> tuple[Any, Any]:
    if item.help:
        console.print(f"[dim]{item.help}[/]")
    for n, choice in enumerate(item.choices, 1):
        console.print(f"  {n}. {choice.label}")
    while True:
        reply = Prompt.ask(
            f"[bold]{item.text}[/] ({_hint(item)})",
            default="",
            show_default=False,
            console=console,
        ).strip()
        if not reply:
            return None, None
        raw = _raw(item, reply)
        try:
            return raw, normalise(item, raw, today)
        except ValueError as exc:
            console.print(
                f"[yellow]Sorry, that did not work: {exc}. Please try again.[/]"
            )


def _hint(item: FormItem) -> str:
    if item.kind == FactKind.multi:
        return "numbers separated by commas"
    if item.choices:
        return "a number from the list"
    if item.unit:
        extra = " (e.g. 3 weeks, 2 years)" if item.kind == FactKind.duration else ""
        return f"{item.unit}{extra}"
    return _HINTS.get(item.kind, "")


def _raw(item: FormItem, reply: str) -> Any:
    if item.kind == FactKind.multi:
        picked = [p.strip() for p in reply.split(",") if p.strip()]
        return [_pick(item, p) for p in picked]
    if item.choices:
        return _pick(item, reply)
    return reply


def _pick(item: FormItem, reply: str) -> Any:
    if reply.isdigit() and 1 <= int(reply) <= len(item.choices):
        return item.choices[int(reply) - 1].value
    return reply
