"""``users``: staff accounts."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from ketascreen.cli.common import DbOpt, fail, out, settings_for
from ketascreen.errors import Problem

users_app = typer.Typer(help="Staff accounts (there is no default password).")
PasswordStdinOpt = Annotated[bool, typer.Option(help="Read the password from stdin.")]


def _staff_store(db: str | None) -> Any:
    from ketascreen.web.state import build_state

    return build_state(settings_for(db)).staff


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
        fail([Problem("account", str(exc))], "Not done:")


@users_app.command("add")
def users_add(
    email: str,
    role: Annotated[str, typer.Option(help="admin, clinician or coordinator")],
    name: Annotated[str, typer.Option(help="Full name")] = "",
    password_stdin: PasswordStdinOpt = False,
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
    password_stdin: PasswordStdinOpt = False,
    db: DbOpt = None,
) -> None:
    """Set a new password, clear any lockout, end the account's sessions."""
    store = _staff_store(db)
    password = _password(password_stdin)
    _staff_call(lambda: store.reset_password(email, password))
    out.print(f"Password reset for {email}.")
