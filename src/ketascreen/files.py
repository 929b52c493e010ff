"""Checks on the file names a person gives the command line, before anything is
read or written.

A pipe or a device where a file is expected makes a read block forever or never
end, and renaming a finished table onto one would replace it; a folder given as an
output would be deleted to make room; a missing folder would fail half-way through.
Each check raises ``InputError`` naming the file and the problem, which the CLI
turns into one line and exit status 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ketascreen.errors import InputError, Problem

NOT_REGULAR = "is not a regular file (a pipe or a device)"
#: What a Spark result folder holds: its Parquet parts, their checksums, _SUCCESS.
_RESULT_PARTS = ("part-", ".part-", "_SUCCESS", "._SUCCESS")


def input_file(name: str, *, folder_ok: bool = False) -> Path:
    """The path of an input that exists and can be read to its end.

    Args:
        name: the file name as given.
        folder_ok: whether a folder is a valid input (e.g. a FHIR bulk export).

    Raises:
        InputError: missing, a folder where a file is expected, a pipe or a device.
    """
    path = Path(name)
    if not path.exists():
        raise InputError([Problem(name, "cannot be read: no such file")])
    if path.is_dir() and not folder_ok:
        raise InputError([Problem(name, "cannot be read: a folder, not a file")])
    if not (path.is_file() or path.is_dir()):
        hint = "; use - to read standard input" if not folder_ok else ""
        message = "cannot be read: a pipe or a device, not a regular file" + hint
        raise InputError([Problem(name, message)])
    return path


def output_file(
    path: Path, suffixes: Sequence[str] = (), *, result_folder_ok: bool = False
) -> None:
    """Check an output before any work: its folder exists and it can be replaced.

    Args:
        path: where the output will be renamed into place.
        suffixes: the endings allowed (any when empty), e.g. ``.parquet``, ``.csv``.
        result_folder_ok: whether an earlier result folder may be replaced (Spark).

    Raises:
        InputError: a wrong ending, a missing folder, or something that must not be
            replaced (see ``replaceable``).
    """
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError([Problem(str(path), "write " + " or ".join(suffixes))])
    if not path.parent.is_dir():
        message = f"the folder {path.parent} does not exist"
        raise InputError([Problem(str(path), message)])
    replaceable(path, result_folder_ok=result_folder_ok)


def replaceable(path: Path, *, result_folder_ok: bool = True) -> None:
    """Refuse to replace anything but a regular file or an earlier result folder.

    Raises:
        InputError: ``path`` is a pipe, a device, or a folder holding anything
            other than an earlier result's parts.
    """
    if path.is_dir():
        if not (result_folder_ok and _is_result_folder(path)):
            message = "is a folder; give the name of a file to write"
            raise InputError([Problem(str(path), message)])
    elif path.exists() and not path.is_file():
        raise InputError([Problem(str(path), NOT_REGULAR)])


def _is_result_folder(path: Path) -> bool:
    """Whether a folder holds only the parts of an earlier (Spark) result."""
    names = [child.name for child in path.iterdir()]
    return bool(names) and all(name.startswith(_RESULT_PARTS) for name in names)
