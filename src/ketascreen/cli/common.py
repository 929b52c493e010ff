"""What every command shares: consoles, common options, exit 2 on bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from ketascreen.errors import ContentError, InputError, Problem
from ketascreen.screening import get_content

out = Console()
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

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


def checked(check: Callable[[], T], headline: str) -> T:
    """Run a check on a file name; a problem ends the command with exit status 2."""
    try:
        return check()
    except InputError as exc:
        fail(exc.problems, headline)


def fail(problems: list[Problem], headline: str) -> NoReturn:
    err.print(f"[bold red]{headline}[/]", highlight=False)
    for p in problems:
        err.print(f"  {printable(str(p))}", highlight=False, markup=False)
    raise typer.Exit(2)


def printable(text: str) -> str:
    """Control characters from the input as escapes (``\\x1b``), so a file cannot
    move the cursor, clear the terminal or split a problem over lines."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def load_content(ruleset: Path | None, instrument: list[str] | None) -> Any:
    try:
        return get_content(ruleset, instrument or ())
    except ContentError as exc:
        fail(exc.problems, f"{exc.source}: invalid content")


DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (also KETASCREEN_DATABASE_URL)."),
]


def settings_for(db: str | None) -> Any:
    from pydantic import ValidationError

    from ketascreen.config import Settings

    try:
        return Settings(database_url=db) if db else Settings()
    except ValidationError as exc:
        fail(
            [Problem("settings", str(e["msg"])) for e in exc.errors()],
            "Refusing to start:",
        )


@contextmanager
def storage(db: str | None) -> Iterator[tuple[Any, Any]]:
    """The keyring and a migrated engine (disposed of afterwards), or exit 2 naming
    what is wrong."""
    from sqlalchemy.exc import SQLAlchemyError

    from ketascreen.storage.crypto import DataKeyError
    from ketascreen.storage.database import make_engine, migrate
    from ketascreen.web.state import keyring

    settings = settings_for(db)
    try:
        ring = keyring(settings)
    except DataKeyError as exc:
        fail([Problem("data key", str(exc))], "Cannot read the data keys:")
    engine = make_engine(settings.resolved_database_url)
    try:
        try:
            migrate(engine)
        except SQLAlchemyError as exc:
            fail([Problem("database", str(exc).splitlines()[0])], "Cannot open:")
        yield ring, engine
    finally:
        engine.dispose()


def redact(settings: Any) -> str:
    from sqlalchemy.engine import make_url

    url: str = make_url(settings.resolved_database_url).render_as_string(
        hide_password=True
    )
    return url
