"""YAML reading for content files.

PyYAML follows YAML 1.1, where bare ``yes``, ``no``, ``on`` and ``off`` become
booleans. Clinical content uses ``yes`` / ``no`` as answer codes, so this loader
only treats ``true`` and ``false`` as booleans.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ketascreen.errors import ContentError, Problem


class _ContentLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans."""


_ContentLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_ContentLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text with content-safe booleans.

    Args:
        text: the YAML document.
        source: the file name, used in error messages.

    Returns:
        The parsed document.

    Raises:
        ContentError: the text is not valid YAML.
    """
    try:
        return yaml.load(text, Loader=_ContentLoader)  # noqa: S506 - SafeLoader subclass  # nosec B506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        )
        reason = getattr(exc, "problem", None) or str(exc)
        raise ContentError(
            source, [Problem(where, f"not valid YAML: {reason}")]
        ) from exc
