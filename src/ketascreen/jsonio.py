"""Reading JSON that anyone may have written: a JSON body, an answers file.

Python's parser recurses, and so do the readers behind it (FHIR items nest), so
input nested far deeper than any real resource is refused here with a message,
rather than failing later with a RecursionError. So is a string with half a UTF-16
surrogate pair, which JSON's escapes allow but no encoder, database or tokenizer
accepts.
"""

from __future__ import annotations

import json
from typing import Any

#: Deepest nesting of arrays and objects read. A QuestionnaireResponse nests a few
#: levels per group; far deeper input only serves to exhaust the stack.
MAX_JSON_DEPTH = 64


def load_untrusted(data: str | bytes) -> Any:
    """Parse JSON text, refusing nesting deeper than ``MAX_JSON_DEPTH``.

    Args:
        data: the text, or bytes in UTF-8 (or UTF-16/32 with a byte order mark).

    Returns:
        The parsed value.

    Raises:
        ValueError: not JSON, not UTF-8 text, nested too deeply, or a string with
            an unpaired surrogate; the message says which, in words for the
            person who sent it.
    """
    too_deep = f"nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        raise ValueError("not valid JSON: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValueError(
            f"not valid JSON: {exc.msg.removesuffix(' at')} at {where}"
        ) from None
    except RecursionError:
        raise ValueError(too_deep) from None
    problem = _problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _problem(value: Any) -> str | None:
    """What is wrong with parsed JSON, walked without recursion: nesting deeper than
    ``MAX_JSON_DEPTH``, or a string holding half a surrogate pair (JSON's
    ``\\ud800`` escape parses, but it is no character and cannot be stored)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str) and not _is_text(item):
            return (
                "not valid JSON: a string holds an unpaired surrogate (\\ud800-\\udfff)"
            )
        if isinstance(item, dict):
            item = [*item.keys(), *item.values()]
        if isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            stack.extend((child, depth + 1) for child in item)
    return None


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
