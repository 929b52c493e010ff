"""The ``ketascreen`` command line (Typer + Rich). A thin layer: no clinical logic here.

Exit status: 0 for a completed screening whatever its disposition; 2 for bad input
(answers, JSON, a clinic's ruleset or instrument file), with one line per problem on
standard error; 130 when an interview is interrupted.

One module per kind of work: ``screening`` (one person), ``serve`` (the web app),
``population`` (batch and synth), ``staff`` (accounts), ``records`` (audit log, data
keys, a person's export and erasure); ``common`` holds what they share.
"""

from __future__ import annotations

import typer

from ketascreen.cli import population, records, screening, serve, staff

__all__ = ["app", "main"]

app = typer.Typer(
    help="Screen people for ketamine therapy: what may make it risky or less helpful "
    "right now, why, what to do first, and which form fits. Never a diagnosis.",
    no_args_is_help=True,
    add_completion=False,
)
for command in (
    screening.screen,
    screening.questionnaire,
    screening.interview,
    screening.rules,
    serve.serve,
    population.batch,
    population.synth,
):
    app.command()(command)
app.add_typer(staff.users_app, name="users")
app.add_typer(records.audit_app, name="audit")
app.add_typer(records.keys_app, name="keys")
app.command("export-person")(records.person_export)
app.command("erase-person")(records.person_erase)


def main() -> None:
    """Console-script entry point."""
    app()
