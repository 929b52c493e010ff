"""Locate and read content files, bundled (package data) or the clinic's own."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from ketascreen.content.validate import validate_model
from ketascreen.content.yamlio import parse_yaml
from ketascreen.errors import ContentError, Problem

M = TypeVar("M", bound=BaseModel)

DATA: Traversable = files("ketascreen") / "data"


def read_text(path: Traversable | Path) -> str:
    """Read a content file as UTF-8, naming the file if it cannot be read."""
    special = isinstance(path, Path) and path.exists() and not path.is_file()
    if special and not path.is_dir():
        # A pipe would block the read and a device might never end; a folder
        # fails below with the system's own words.
        message = "is not a regular file (a pipe or a device)"
        raise ContentError(str(path), [Problem("file", message)])
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(
            str(path), [Problem("file", f"cannot be read: {exc}")]
        ) from exc


def load_model(model: type[M], path: Traversable | Path) -> tuple[M, Any]:
    """Read, parse and validate one content file.

    Args:
        model: the schema.
        path: the file.

    Returns:
        The validated model and the raw parsed data (for hashing).
    """
    raw = parse_yaml(read_text(path), str(path))
    return validate_model(model, raw, str(path)), raw
