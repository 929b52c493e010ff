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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.errors import ContentError, InputError, Problem
from ketascreen.explain.render import render_clinician, render_json, render_patient
from ketascreen.files import input_file, output_file
from ketascreen.interop.intake import Intake, read_input
from ketascreen.interview import run_interview
from ketascreen.jsonio import load_untrusted
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
T = TypeVar("T")


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


def _checked(check: Callable[[], T], headline: str) -> T:
    """Run a check on a file name; a problem ends the command with exit status 2."""
    try:
        return check()
    except InputError as exc:
        _fail(exc.problems, headline)


def _fail(problems: list[Problem], headline: str) -> NoReturn:
    err.print(f"[bold red]{headline}[/]", highlight=False)
    for p in problems:
        err.print(f"  {_printable(str(p))}", highlight=False, markup=False)
    raise typer.Exit(2)


def _printable(text: str) -> str:
    """Control characters from the input as escapes (``\\x1b``), so a file cannot
    move the cursor, clear the terminal or split a problem over lines."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


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
        path = _checked(lambda: input_file(source), "Cannot read answers")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail([Problem(source, f"cannot be read: {exc}")], "Cannot read answers")
        name = source
    try:
        return load_untrusted(text)
    except ValueError as exc:
        _fail([Problem(name, str(exc))], "Cannot read answers")


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
        err.print(
            f"not used: {_printable(str(problem))}", highlight=False, markup=False
        )
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
            path = _checked(lambda: input_file(source), "Cannot read the note")
            with path.open("rb") as handle:
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
    if save is not None:  # before the questions, not after
        _checked(lambda: output_file(save), "Answers cannot be saved there")
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


class LogLevel(StrEnum):
    """Log levels of ``serve``; uvicorn's "trace" is left out: it logs headers,
    session cookies and bearer tokens included."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


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
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            help="The server's and every library's log level, on standard error.",
        ),
    ] = LogLevel.warning,
) -> None:
    """Serve the web app and JSON API (SQLite in your data folder by default)."""
    import logging.config

    import uvicorn
    from pydantic import ValidationError

    from ketascreen.config import Settings
    from ketascreen.web.app import create_app
    from ketascreen.web.logs import log_config

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
    logging.config.dictConfig(log_config(log_level.value))  # migrations log too
    _open_storage(settings)  # so does a database that cannot be used
    out.print(
        f"ketascreen serving on http://{host}:{port} (database: {_redact(settings)})"
    )
    if workers > 1:
        # Prepared once above (key file, migrations); each process builds its own app
        # from the same settings, passed on through the environment.
        os.environ.update(settings.as_environment())
        uvicorn.run(
            "ketascreen.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level.value,
            log_config=log_config(log_level.value),
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
        )
        return
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level.value,
        log_config=log_config(log_level.value),
        # X-Forwarded-Proto from a trusted proxy makes the request HTTPS: HSTS and
        # Secure cookies follow; X-Forwarded-For gives the login rate limit's address.
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
    )


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

    suffixes = (".parquet", ".csv") if engine == Engine.polars else ()
    _checked(lambda: input_file(str(source), folder_ok=True), "Cannot read the table")
    _checked(
        lambda: output_file(target, suffixes, result_folder_ok=True),
        "Cannot write the result",
    )
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

    _checked(lambda: output_file(target, (".parquet", ".csv")), "Cannot write there")
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


def _settings(db: str | None) -> Any:
    from pydantic import ValidationError

    from ketascreen.config import Settings

    try:
        return Settings(database_url=db) if db else Settings()
    except ValidationError as exc:
        _fail(
            [Problem("settings", str(e["msg"])) for e in exc.errors()],
            "Refusing to start:",
        )


def _staff_store(db: str | None) -> Any:
    from ketascreen.web.state import build_state

    return build_state(_settings(db)).staff


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


audit_app = typer.Typer(help="The audit log: append-only and hash-chained.")
app.add_typer(audit_app, name="audit")
AnchorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor",
        help="ID:HASH of a head printed by an earlier verify; it must still be in "
        "the chain (repeatable).",
    ),
]


@audit_app.command("verify")
def audit_verify(anchor: AnchorOpt = None, db: DbOpt = None) -> None:
    """Walk the audit chain: exit 0 if intact, 1 naming the first bad entry.

    The run itself is appended to the log (actor "cli", action "audit.verify").
    """
    from sqlalchemy.exc import SQLAlchemyError

    from ketascreen.storage import audit
    from ketascreen.storage.database import make_engine, migrate

    anchors = dict(_anchor(value) for value in anchor or [])
    engine = make_engine(_settings(db).resolved_database_url)
    try:
        migrate(engine)
        verdict = audit.verify(engine, anchors)
        _record_verify(engine, verdict)
    except SQLAlchemyError as exc:
        _fail([Problem("database", str(exc).splitlines()[0])], "Cannot verify:")
    finally:
        engine.dispose()
    if not verdict.intact:
        err.print(f"Audit chain broken: {verdict.problem}.", highlight=False)
        err.print(
            f"{verdict.entries} entries checked out, up to entry {verdict.head_id}.",
            highlight=False,
        )
        raise typer.Exit(1)
    head = f"{verdict.head_id}:{verdict.head_hash}"
    out.print(
        f"{verdict.entries} entries, chain intact, head {verdict.head_hash} "
        f"(entry {verdict.head_id})",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"Record it with your backups; later: ketascreen audit verify --anchor {head}",
        highlight=False,
        soft_wrap=True,
    )


def _anchor(value: str) -> tuple[int, str]:
    entry, _, digest = value.partition(":")
    digest = digest.strip().lower()
    if not (entry.isdigit() and int(entry) > 0 and _is_sha256(digest)):
        _fail(
            [
                Problem(
                    "--anchor",
                    f"{value!r} is not ID:HASH (an entry number, a colon and the "
                    "64-character hex hash that verify printed)",
                )
            ],
            "Bad input:",
        )
    return int(entry), digest


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _record_verify(engine: Any, verdict: Any) -> None:
    """Append the verify run to the log; a log that cannot grow is only reported."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError

    from ketascreen.storage import audit

    outcome = (
        f"intact, {verdict.entries} entries"
        if verdict.intact
        else f"broken at entry {verdict.bad_id}"
    )
    entry = {"at": datetime.now(UTC), "actor": "cli", "action": "audit.verify"}
    try:
        with engine.begin() as conn:
            audit.append(conn, [{**entry, "target": "-", "detail": outcome}])
    except (SQLAlchemyError, audit.AuditChainError) as exc:
        err.print(f"Note: this run was not recorded in the log ({exc}).")


keys_app = typer.Typer(
    help="The data keys that seal answers, results and notes at rest (rotation)."
)
app.add_typer(keys_app, name="keys")


@contextmanager
def _storage(db: str | None) -> Iterator[tuple[Any, Any]]:
    """The keyring and a migrated engine (disposed of afterwards), or exit 2 naming
    what is wrong."""
    from sqlalchemy.exc import SQLAlchemyError

    from ketascreen.storage.crypto import DataKeyError
    from ketascreen.storage.database import make_engine, migrate
    from ketascreen.web.state import keyring

    settings = _settings(db)
    try:
        ring = keyring(settings)
    except DataKeyError as exc:
        _fail([Problem("data key", str(exc))], "Cannot read the data keys:")
    engine = make_engine(settings.resolved_database_url)
    try:
        try:
            migrate(engine)
        except SQLAlchemyError as exc:
            _fail([Problem("database", str(exc).splitlines()[0])], "Cannot open:")
        yield ring, engine
    finally:
        engine.dispose()


def _actor() -> str:
    """Who runs the command, for the audit log: ``cli:`` and the OS user."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry
        user = str(os.getuid())
    return f"cli:{user}"


@keys_app.command("status")
def keys_status(db: DbOpt = None) -> None:
    """How many stored values each key seals: a retired key at 0 can be dropped."""
    from ketascreen.storage.crypto import key_id
    from ketascreen.storage.rotation import key_usage, unknown_keys

    with _storage(db) as (ring, engine):
        usage = key_usage(engine)
    table = Table("key id", "role", "values sealed")
    table.add_row(
        key_id(ring.current).hex(), "current", str(usage[key_id(ring.current)])
    )
    for key in ring.retired:
        table.add_row(key_id(key).hex(), "retired", str(usage[key_id(key)]))
    for kid, count in unknown_keys(ring, usage).items():
        table.add_row(kid.hex(), "unknown: cannot be opened", str(count))
    out.print(table)
    source = ring.key_file or "KETASCREEN_DATA_KEY / KETASCREEN_RETIRED_DATA_KEYS"
    out.print(f"Keys from {source}.", highlight=False, soft_wrap=True)


@keys_app.command("rotate")
def keys_rotate(
    db: DbOpt = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows re-sealed per transaction.")
    ] = 500,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after this many rows; run again to go on."),
    ] = None,
) -> None:
    """Re-seal every stored value with a new key (key file) or the current one.

    With a key file, a new key is made when every value already has the current one;
    the old key stays as a retired one. Otherwise it finishes an unfinished rotation.
    Restartable: run it again after a crash or a --limit.
    """
    from ketascreen.storage.crypto import key_id
    from ketascreen.storage.rotation import RotationError, rotate

    try:
        with _storage(db) as (ring, engine):
            done = rotate(
                ring, engine, actor=_actor(), batch_size=batch_size, limit=limit
            )
    except RotationError as exc:
        err.print(f"Not rotated: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    current = key_id(done.ring.current).hex()
    if done.new_key:
        out.print(
            f"New data key {current} written to {done.ring.key_file}; the old key "
            "stays there as a retired key.",
            highlight=False,
            soft_wrap=True,
        )
    rows = done.report.rows
    out.print(
        f"Re-sealed {sum(rows.values())} rows ({done.report.values} values): "
        + ", ".join(
            f"{table} {rows[table]}"
            for table in ("screenings", "drafts", "screening_notes")
        ),
        highlight=False,
    )
    if done.report.skipped:
        out.print(f"{done.report.skipped} rows changed meanwhile and were left.")
    if done.remaining:
        out.print(
            f"{done.remaining} values are still sealed with older keys: run "
            "`ketascreen keys rotate` again to finish.",
            highlight=False,
        )
    elif ring.key_file is None and not sum(rows.values()):
        out.print(
            "Every value is sealed with the current key. To rotate a key set in the "
            "environment: put the new key in KETASCREEN_DATA_KEY and the old one in "
            "KETASCREEN_RETIRED_DATA_KEYS, restart the server, then run this again.",
            highlight=False,
        )
    else:
        out.print(
            f"Every stored value is sealed with key {current}. Restart the server if "
            "it runs; `ketascreen keys drop-retired` removes the retired keys.",
            highlight=False,
        )


@keys_app.command("drop-retired")
def keys_drop_retired(db: DbOpt = None) -> None:
    """Remove retired keys from the key file; refused while any value needs one."""
    from ketascreen.storage.rotation import RotationError, drop_retired

    try:
        with _storage(db) as (ring, engine):
            if not ring.retired:
                out.print("There are no retired keys.")
                return
            drop_retired(ring, engine, actor=_actor())
    except RotationError as exc:
        err.print(f"Not dropped: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    out.print(
        f"Dropped {len(ring.retired)} retired keys from {ring.key_file}.",
        highlight=False,
    )


@app.command("export-person")
def person_export(
    ref: Annotated[str, typer.Argument(help="The clinic's reference for the person.")],
    target: Annotated[Path, typer.Argument(help="The JSON file to write (mode 0600).")],
    db: DbOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the file if it exists.")
    ] = False,
) -> None:
    """Write everything stored about a person (an access request) to one JSON file.

    Exit 1 when no screening has that reference, 2 for a path that cannot be
    written. The export is audited.
    """
    from ketascreen.storage.person import (
        ExportPathError,
        check_export_path,
        export_person,
        write_export,
    )
    from ketascreen.storage.repository import Repository

    try:
        check_export_path(target, force=force)
    except ExportPathError as exc:
        _fail([Problem(str(target), str(exc))], "Cannot export:")
    with _storage(db) as (ring, engine):
        repository = Repository(engine, ring.vault())
        document = export_person(repository, ref, actor=_actor())
    if document is None:
        _nobody(ref, "nothing was exported")
    try:
        write_export(document, target, force=force)
    except ExportPathError as exc:
        _fail([Problem(str(target), str(exc))], "Cannot export:")
    out.print(
        f"Exported {len(document['screenings'])} screenings to {target}.",
        highlight=False,
    )


@app.command("erase-person")
def person_erase(
    ref: Annotated[str, typer.Argument(help="The clinic's reference for the person.")],
    db: DbOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: this cannot be undone.")
    ] = False,
) -> None:
    """Delete a person's screenings, drafts and staff notes (an erasure request).

    Audit entries stay (they hold no health data) and one erasure entry is added.
    Exit 2 without --yes; 1 when no screening has that reference.
    """
    from ketascreen.storage.person import erase_person
    from ketascreen.storage.repository import Repository

    if not yes:
        _fail(
            [Problem("--yes", "erasing cannot be undone; give --yes to confirm")],
            "Nothing erased:",
        )
    with _storage(db) as (ring, engine):
        repository = Repository(engine, ring.vault())
        counts = erase_person(repository, ref, actor=_actor())
    if counts is None:
        _nobody(ref, "nothing was erased")
    out.print(
        "Erased " + ", ".join(f"{n} {what}" for what, n in counts.items()) + ".",
        highlight=False,
    )


def _nobody(ref: str, outcome: str) -> NoReturn:
    err.print(
        f"No screening is stored for the reference {ref!r}; {outcome}.",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(1)


def _open_storage(settings: Any) -> None:
    """Open, migrate and test-write the database once before serving: one that cannot
    be used (unreachable, read-only, no space) stops the start, named, instead of
    failing every request."""
    from sqlalchemy.exc import DBAPIError

    from ketascreen.web.state import build_state

    try:
        build_state(settings).repository.engine.dispose()
    except (DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        problem = Problem(_redact(settings), f"cannot be used: {reason}")
        _fail([problem], "Refusing to start:")


def _redact(settings: Any) -> str:
    from sqlalchemy.engine import make_url

    url: str = make_url(settings.resolved_database_url).render_as_string(
        hide_password=True
    )
    return url


def main() -> None:
    """Console-script entry point."""
    app()
