"""Screening one person: ``screen``, ``questionnaire``, ``interview``, ``rules``."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from ketascreen.cli.common import (
    InstrumentOpt,
    RulesetOpt,
    checked,
    err,
    fail,
    load_content,
    out,
    printable,
)
from ketascreen.domain.outcome import ScreeningResult
from ketascreen.errors import InputError, Problem
from ketascreen.explain.render import render_clinician, render_json, render_patient
from ketascreen.files import input_file, output_file
from ketascreen.interop.intake import Intake, read_input
from ketascreen.interview import run_interview
from ketascreen.jsonio import load_untrusted
from ketascreen.rules.report import check_content, ruleset_markdown
from ketascreen.screening import screen as run_screen


class Format(StrEnum):
    """Output formats of ``screen``."""

    text = "text"
    json = "json"
    markdown = "markdown"
    fhir = "fhir"


class Audience(StrEnum):
    """Who a text or Markdown summary is for."""

    patient = "patient"
    clinician = "clinician"


class ListFormat(StrEnum):
    """Output formats of ``questionnaire``."""

    text = "text"
    json = "json"
    fhir = "fhir"


def _read_answers(source: str) -> Any:
    if source == "-":
        text = sys.stdin.read()
        name = "standard input"
    else:
        path = checked(lambda: input_file(source), "Cannot read answers")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail([Problem(source, f"cannot be read: {exc}")], "Cannot read answers")
        name = source
    try:
        return load_untrusted(text)
    except ValueError as exc:
        fail([Problem(name, str(exc))], "Cannot read answers")


def _machine_output(
    result: ScreeningResult,
    answers: dict[str, Any],
    intake: Intake,
    content: Any,
    fmt: Format,
    noted: Any = None,
) -> str:
    if fmt == Format.json:
        if noted is None:
            return render_json(result)
        from ketascreen.nlp.report import note_json

        payload = result.model_dump(mode="json")
        payload["note"] = note_json(noted)
        return json.dumps(payload, indent=2, ensure_ascii=False)
    from ketascreen.interop.outcome import with_not_used  # FHIR models: load on use
    from ketascreen.interop.results import result_bundle

    instruments = {key: c.file for key, c in content.instruments.items()}
    bundle = result_bundle(
        result,
        answers=answers,
        form=content.form,
        instruments=instruments,
        domain_titles={d: info.title for d, info in content.domains.items()},
    )
    with_not_used(bundle, list(intake.not_used))
    return json.dumps(bundle, indent=2, ensure_ascii=False)


def screen(
    answers: Annotated[
        str | None,
        typer.Option("--answers", help="Answers JSON file, or - for standard input."),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option(
            "--note",
            help="A free-text note (referral letter, intake note, the person's own "
            "words), UTF-8 text file or - for standard input.",
        ),
    ] = None,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
    fmt: Annotated[
        Format, typer.Option("--format", help="text, json, markdown or fhir.")
    ] = Format.text,
    audience: Annotated[
        Audience, typer.Option(help="Who the text or Markdown is for.")
    ] = Audience.patient,
    on: Annotated[
        str | None,
        typer.Option("--date", help="Screening date, YYYY-MM-DD (default today)."),
    ] = None,
) -> None:
    """Screen one person from answers, a note, or both, and print the result."""
    if answers is None and note is None:
        fail([Problem("--answers/--note", "give at least one")], "Nothing to screen")
    if answers == "-" and note == "-":
        fail(
            [Problem("--answers/--note", "only one of them can be - (standard input)")],
            "Bad option",
        )
    content = load_content(ruleset, instrument)
    try:
        when = date.fromisoformat(on) if on else date.today()  # noqa: DTZ011 - local date
    except ValueError:
        fail([Problem("--date", f"expected YYYY-MM-DD, got {on!r}")], "Bad option")
    text = _read_note(note) if note is not None else None
    data = _read_answers(answers) if answers is not None else {}
    try:
        intake = read_input(data, content, screening_date=when)
        if text is None:
            result = run_screen(intake.answers, content=content, screening_date=when)
            noted = None
        else:
            from ketascreen.nlp.merge import screen_with_note  # spaCy: load on use

            noted = screen_with_note(
                text,
                intake.answers,
                screening_date=when,
                content=content,
                max_bytes=_note_limit(),
            )
            result = noted.result
    except InputError as exc:
        fail(exc.problems, "The input has problems; nothing was screened:")
    for problem in intake.not_used:
        err.print(f"not used: {printable(str(problem))}", highlight=False, markup=False)
    used = noted.answers if noted is not None else intake.answers
    if fmt in (Format.json, Format.fhir):
        sys.stdout.write(
            _machine_output(result, used, intake, content, fmt, noted) + "\n"
        )
        return
    if audience == Audience.patient:
        rendered = render_patient(result)
    else:
        rendered = render_clinician(result)
        if noted is not None:
            from ketascreen.nlp.report import note_markdown

            rendered += "\n" + note_markdown(noted)
    if fmt == Format.markdown:
        sys.stdout.write(rendered)
    else:
        out.print(Markdown(rendered))


def _note_limit() -> int:
    from ketascreen.config import Settings

    return Settings().note_max_bytes


def _read_note(source: str) -> str:
    from ketascreen.nlp.scanner import read_note

    limit = _note_limit()
    try:
        if source == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            path = checked(lambda: input_file(source), "Cannot read the note")
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        fail([Problem(source, f"cannot be read: {exc}")], "Cannot read the note")
    try:
        return read_note(data, limit)
    except InputError as exc:
        fail(exc.problems, "Cannot read the note")


def questionnaire(
    fmt: Annotated[ListFormat, typer.Option("--format")] = ListFormat.text,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """List the questionnaire items (ids, types, options and when each is asked)."""
    content = load_content(ruleset, instrument)
    form = content.form
    if fmt == ListFormat.fhir:
        from ketascreen.interop.questionnaire import questionnaire_resource

        resource = questionnaire_resource(form)
        sys.stdout.write(json.dumps(resource, indent=2, ensure_ascii=False) + "\n")
        return
    if fmt == ListFormat.json:
        payload = {
            "id": form.id,
            "version": form.version,
            "sections": [
                {
                    "id": s.id,
                    "title": s.title,
                    "audience": s.audience,
                    "items": [
                        {
                            "id": i.id,
                            "kind": i.kind.value,
                            "text": i.text,
                            "options": [c.value for c in i.choices],
                            "unit": i.unit,
                            "minimum": i.minimum,
                            "maximum": i.maximum,
                            "instrument": i.instrument,
                            "shown_when": repr(i.show_if) if i.show_if else None,
                        }
                        for i in s.items
                    ],
                }
                for s in form.sections
            ],
        }
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    for section in form.sections:
        table = Table(
            title=f"{section.title} ({section.id})", show_lines=False, expand=True
        )
        table.add_column("item id", style="bold", no_wrap=True)
        table.add_column("type")
        table.add_column("question")
        table.add_column("answers")
        for item in section.items:
            answers = ", ".join(str(c.value) for c in item.choices)
            if item.unit:
                answers = f"{item.minimum:g}–{item.maximum:g} {item.unit}"
            if item.kind.value in ("yes_no", "yes_no_unsure"):
                answers = item.kind.value.replace("_", " / ")
            table.add_row(item.id, item.kind.value, item.text, answers)
        out.print(table)


def interview(
    save: Annotated[
        Path | None, typer.Option("--save", help="Keep the answers in this JSON file.")
    ] = None,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
    audience: Annotated[Audience, typer.Option()] = Audience.patient,
) -> None:
    """Ask the questionnaire in the terminal, then show the result."""
    if save is not None:  # before the questions, not after
        checked(lambda: output_file(save), "Answers cannot be saved there")
    content = load_content(ruleset, instrument)
    try:
        answers = run_interview(content, out)
    except (KeyboardInterrupt, EOFError):
        out.print(
            "\n[yellow]Stopped. Nothing was saved.[/] You can start again any time."
        )
        raise typer.Exit(130) from None
    result = run_screen(answers, content=content)
    text = (
        render_patient(result)
        if audience == Audience.patient
        else render_clinician(result)
    )
    out.print(Markdown(text))
    if save is not None:
        try:
            save.write_text(
                json.dumps(answers, indent=2, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
        except OSError as exc:
            fail([Problem(str(save), f"cannot be written: {exc}")], "Answers not saved")
        out.print(f"Your answers were saved to {save}.")


def rules(
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the ruleset as Markdown for review."),
    ] = False,
) -> None:
    """Validate the content (references, domains, facts, dead rules) and list the rules."""
    content = load_content(ruleset, instrument)
    if markdown:
        sys.stdout.write(ruleset_markdown(content))
        return
    table = Table(title=f"Rules of {content.ruleset_version}", expand=True)
    for column in ("rule id", "level", "condition", "references"):
        table.add_column(column)
    for cr in content.rules:
        table.add_row(
            cr.rule.id,
            cr.rule.level.value,
            repr(cr.when),
            ", ".join(cr.rule.references),
        )
    out.print(table)
    problems = check_content(content)
    if problems:
        fail(problems, "Content checks failed:")
    out.print(
        f"[green]OK[/]: {len(content.rules)} active rules "
        f"({len(content.inactive_rules)} waiting for optional instruments), "
        f"ruleset {content.ruleset_version}."
    )
