"""The ``ketascreen`` command line (Typer + Rich). A thin layer: no clinical logic here.

Exit status: 0 for a completed screening whatever its disposition; 2 for bad input
(answers, JSON, a clinic's ruleset or instrument file), with one line per problem on
standard error; 130 when an interview is interrupted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.errors import ContentError, InputError, Problem
from ketascreen.explain.render import render_clinician, render_json, render_patient
from ketascreen.interop.intake import Intake, read_input
from ketascreen.interview import run_interview
from ketascreen.rules.report import check_content, ruleset_markdown
from ketascreen.screening import get_content
from ketascreen.screening import screen as run_screen

app = typer.Typer(
    help="Screen people for ketamine therapy: what may make it risky or less helpful "
    "right now, why, what to do first, and which form fits. Never a diagnosis.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)


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


RulesetOpt = Annotated[
    Path | None,
    typer.Option("--ruleset", help="A clinic ruleset file layered over the default."),
]
InstrumentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--instrument",
        help="Add an instrument: a bundled id (pcl5, mdq, ...) or a licensed file.",
    ),
]


def _fail(problems: list[Problem], headline: str) -> NoReturn:
    err.print(f"[bold red]{headline}[/]", highlight=False)
    for p in problems:
        err.print(f"  {p}", highlight=False, markup=False)
    raise typer.Exit(2)


def _content(ruleset: Path | None, instrument: list[str] | None) -> Any:
    try:
        return get_content(ruleset, instrument or ())
    except ContentError as exc:
        _fail(exc.problems, f"{exc.source}: invalid content")


def _read_answers(source: str) -> Any:
    if source == "-":
        text = sys.stdin.read()
        name = "standard input"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail([Problem(source, f"cannot be read: {exc}")], "Cannot read answers")
        name = source
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(
            [
                Problem(
                    name,
                    f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                )
            ],
            "Cannot read answers",
        )


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


@app.command()
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
        _fail([Problem("--answers/--note", "give at least one")], "Nothing to screen")
    if answers == "-" and note == "-":
        _fail(
            [Problem("--answers/--note", "only one of them can be - (standard input)")],
            "Bad option",
        )
    content = _content(ruleset, instrument)
    try:
        when = date.fromisoformat(on) if on else date.today()  # noqa: DTZ011 - local date
    except ValueError:
        _fail([Problem("--date", f"expected YYYY-MM-DD, got {on!r}")], "Bad option")
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
        _fail(exc.problems, "The input has problems; nothing was screened:")
    for problem in intake.not_used:
        err.print(f"not used: {problem}", highlight=False, markup=False)
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
            with Path(source).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        _fail([Problem(source, f"cannot be read: {exc}")], "Cannot read the note")
    try:
        return read_note(data, limit)
    except InputError as exc:
        _fail(exc.problems, "Cannot read the note")


@app.command()
def questionnaire(
    fmt: Annotated[ListFormat, typer.Option("--format")] = ListFormat.text,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """List the questionnaire items (ids, types, options and when each is asked)."""
    content = _content(ruleset, instrument)
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


@app.command()
def interview(
    save: Annotated[
        Path | None, typer.Option("--save", help="Keep the answers in this JSON file.")
    ] = None,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
    audience: Annotated[Audience, typer.Option()] = Audience.patient,
) -> None:
    """Ask the questionnaire in the terminal, then show the result."""
    content = _content(ruleset, instrument)
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
            _fail(
                [Problem(str(save), f"cannot be written: {exc}")], "Answers not saved"
            )
        out.print(f"Your answers were saved to {save}.")


@app.command()
def rules(
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the ruleset as Markdown for review."),
    ] = False,
) -> None:
    """Validate the content (references, domains, facts, dead rules) and list the rules."""
    content = _content(ruleset, instrument)
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
        _fail(problems, "Content checks failed:")
    out.print(
        f"[green]OK[/]: {len(content.rules)} active rules "
        f"({len(content.inactive_rules)} waiting for optional instruments), "
        f"ruleset {content.ruleset_version}."
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (also KETASCREEN_DATABASE_URL)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes (one per core).")] = 1,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """Serve the web app and JSON API (SQLite in your data folder by default)."""
    import uvicorn
    from pydantic import ValidationError

    from ketascreen.config import Settings
    from ketascreen.web.app import create_app

    try:
        overrides: dict[str, Any] = {}
        if db:
            overrides["database_url"] = db
        if ruleset:
            overrides["ruleset"] = ruleset
        if instrument:
            overrides["instruments"] = instrument
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [
            Problem("settings", str(e["msg"])) for e in exc.errors(include_url=False)
        ]
        _fail(problems, "Refusing to start:")
    _content(settings.ruleset, settings.instruments)  # a bad clinic file fails here
    out.print(
        f"ketascreen serving on http://{host}:{port} (database: {_redact(settings)})"
    )
    if workers > 1:
        # Prepare once (key file, migrations), then each process builds its own app
        # from the same settings, passed on through the environment.
        from ketascreen.web.state import build_state

        build_state(settings).repository.engine.dispose()
        os.environ.update(settings.as_environment())
        uvicorn.run(
            "ketascreen.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


class Engine(StrEnum):
    """Batch engines."""

    polars = "polars"
    spark = "spark"


@app.command()
def batch(
    source: Annotated[Path, typer.Argument(help="Facts table: .parquet or .csv.")],
    target: Annotated[Path, typer.Argument(help="Result table: .parquet or .csv.")],
    engine: Annotated[
        Engine, typer.Option(help="polars (one machine) or spark.")
    ] = Engine.polars,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL (default local[2]).")
    ] = None,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """Screen a whole population: one row per person in, one row per person out."""
    from rich.progress import Progress

    from ketascreen.batch.report import save_chart, summary_tables
    from ketascreen.batch.run import run_batch, run_spark

    content = _content(ruleset, instrument)
    if engine == Engine.spark and importlib.util.find_spec("pyspark") is None:
        hint = "needs the spark extra: pip install 'ketascreen[spark]' (and Java 17+)"
        _fail([Problem("--engine spark", hint)], "Spark is not installed")
    try:
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("Screening", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if engine == Engine.spark:
                summary = run_spark(source, target, content, master=spark_master)
            else:
                summary = run_batch(source, target, content, progress=advance)
    except InputError as exc:
        _fail(exc.problems, "The facts table cannot be screened; nothing was written:")
    for table in summary_tables(summary):
        out.print(table)
    chart = target.with_name(target.stem + ".summary.png")
    save_chart(summary, chart)
    out.print(f"{summary.people:,} people screened; result {target}; chart {chart}")


@app.command()
def synth(
    target: Annotated[Path, typer.Argument(help="Where to write: .parquet or .csv.")],
    people: Annotated[int, typer.Option(min=1, help="How many people.")] = 100_000,
    seed: Annotated[
        int, typer.Option(help="Random seed (same seed, same people).")
    ] = 0,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """Write a synthetic population (facts table) for demos, tests and benchmarks."""
    from rich.progress import Progress

    from ketascreen.batch.synth import write_population

    content = _content(ruleset, instrument)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("Generating", total=people)
        written = write_population(
            content,
            people,
            target,
            seed=seed,
            progress=lambda n: bar.update(task, completed=n),
        )
    out.print(f"{written:,} synthetic people written to {target}")


users_app = typer.Typer(help="Staff accounts (there is no default password).")
app.add_typer(users_app, name="users")
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (also KETASCREEN_DATABASE_URL)."),
]


def _staff_store(db: str | None) -> Any:
    from pydantic import ValidationError

    from ketascreen.config import Settings
    from ketascreen.web.state import build_state

    try:
        settings = Settings(database_url=db) if db else Settings()
    except ValidationError as exc:
        _fail(
            [Problem("settings", str(e["msg"])) for e in exc.errors()],
            "Refusing to start:",
        )
    return build_state(settings).staff


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt(
        "Password (12 characters or more)", hide_input=True, confirmation_prompt=True
    )
    return value


def _staff_call(action: Any) -> None:
    from ketascreen.storage.staff import StaffError

    try:
        action()
    except StaffError as exc:
        _fail([Problem("account", str(exc))], "Not done:")


@users_app.command("add")
def users_add(
    email: str,
    role: Annotated[str, typer.Option(help="admin, clinician or coordinator")],
    name: Annotated[str, typer.Option(help="Full name")] = "",
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from stdin.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Create a staff account."""
    store = _staff_store(db)
    password = _password(password_stdin)
    _staff_call(lambda: store.add_user(email, name or email, role, password))
    out.print(f"Created {role} account for {email}.")


@users_app.command("list")
def users_list(db: DbOpt = None) -> None:
    """List staff accounts."""
    table = Table("email", "name", "role", "disabled")
    for user in _staff_store(db).users():
        table.add_row(
            user.email, user.name, user.role, "yes" if user.disabled else "no"
        )
    out.print(table)


@users_app.command("disable")
def users_disable(email: str, db: DbOpt = None) -> None:
    """Disable an account and end its sessions."""
    store = _staff_store(db)
    _staff_call(lambda: store.set_disabled(email, True))
    out.print(f"Disabled {email}.")


@users_app.command("enable")
def users_enable(email: str, db: DbOpt = None) -> None:
    """Enable a disabled account."""
    store = _staff_store(db)
    _staff_call(lambda: store.set_disabled(email, False))
    out.print(f"Enabled {email}.")


@users_app.command("reset-password")
def users_reset_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from stdin.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Set a new password, clear any lockout, end the account's sessions."""
    store = _staff_store(db)
    password = _password(password_stdin)
    _staff_call(lambda: store.reset_password(email, password))
    out.print(f"Password reset for {email}.")


def _redact(settings: Any) -> str:
    from sqlalchemy.engine import make_url

    url: str = make_url(settings.resolved_database_url).render_as_string(
        hide_password=True
    )
    return url


def main() -> None:
    """Console-script entry point."""
    app()
