"""Turn pydantic validation errors into ketascreen problems that name the place."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ketascreen.errors import ContentError, Problem

M = TypeVar("M", bound=BaseModel)


def location(loc: tuple[int | str, ...], data: Any = None) -> str:
    """Render a pydantic error location as a readable path.

    Where the path passes through a list of mappings that have an ``id``, the id is
    shown next to the index so the author can find the entry.

    Args:
        loc: the pydantic location tuple.
        data: the raw document, used to look up ids along the path.

    Returns:
        A path such as ``rules[3] (mood.mania_now).when.any[0].fact``.
    """
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int):
            label = f"[{step}]"
            if isinstance(node, list) and step < len(node):
                node = node[step]
                if isinstance(node, dict) and "id" in node:
                    label += f" ({node['id']})"
            else:
                node = None
            if parts:
                parts[-1] += label
            else:
                parts.append(label)
            continue
        parts.append(str(step))
        node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts) or "document"


def validate_model(model: type[M], data: Any, source: str) -> M:
    """Validate raw data against a content model.

    Args:
        model: the pydantic model class.
        data: parsed YAML or JSON.
        source: file name for the error message.

    Returns:
        The validated model.

    Raises:
        ContentError: listing every problem with its place and reason.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(location(tuple(err["loc"]), data), _reason(err))
            for err in exc.errors(include_url=False)
        ]
        raise ContentError(source, problems) from exc


def _reason(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling)"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])
