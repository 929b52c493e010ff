"""Skip a regular expression cheaply when the text cannot match it.

Python's ``re`` tries a pattern that starts with an alternation of words
(``\\b(?:husband|wife|...)``) at every position of the text. When every alternative
starts with some literal letters, the text must contain one of those literals for the
pattern to match, and a substring test for them is many times faster than the search.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_META = set("\\()[]?*+{}.|^$")


@dataclass(frozen=True)
class Guarded:
    """A compiled pattern and the needle sets that any match must hit.

    Each set is a necessary condition: the pattern can match only if the text
    contains at least one needle of every set. Needles are matched in the note's
    *plain* form (:func:`plain`), so a leading space means "at the start of a word".
    """

    pattern: re.Pattern[str]
    needle_sets: tuple[tuple[str, ...], ...]

    def may_match(self, plain_text: str) -> bool:
        """False only when the text (as :func:`plain` gives it) cannot match."""
        return all(
            any(n in plain_text for n in needles) for needles in self.needle_sets
        )


_NOT_WORD = re.compile(r"[^a-z0-9]+")


def plain(text: str) -> str:
    """Lower case, every run of other characters one space, a space at each end."""
    return f" {_NOT_WORD.sub(' ', text.lower()).strip()} "


def guard(regex: str, given: Sequence[str] | None = None) -> Guarded:
    """Compile ``regex`` case-insensitively with its needle sets.

    Args:
        regex: the pattern.
        given: words any match contains (from the data), in addition to the literal
            starts found in the pattern itself.
    """
    sets: list[tuple[str, ...]] = []
    found = needles(regex)
    if found is not None:
        start = " " if regex.startswith("\\b") else ""
        sets.append(tuple(start + n for n in found))
    if given:
        sets.append(tuple(_plain_needle(n) for n in given))
    return Guarded(re.compile(regex, re.IGNORECASE), tuple(sets))


def _plain_needle(needle: str) -> str:
    """A needle in plain form, keeping its meaningful leading or trailing space."""
    lead = " " if needle[:1] in " " else ""
    tail = " " if needle[-1:] in " " else ""
    core = _NOT_WORD.sub(" ", needle.lower()).strip()
    return f"{lead}{core}{tail}"


def needles(regex: str) -> tuple[str, ...] | None:
    """Literal starts of a pattern's leading alternatives, or None if unknown."""
    body = regex
    if body.startswith("\\b"):
        body = body[2:]
    if body.startswith("(?:"):
        group, rest = _group(body, 3)
    elif body.startswith("(") and not body.startswith("(?"):
        group, rest = _group(body, 1)
    else:
        group, rest = body, ""
    if group is None or rest is None or len(_split(rest)) > 1:
        return None  # no group, or another alternative after it
    alternatives = _split(group)
    found: list[str] = []
    for alternative in alternatives:
        prefix = _literal_prefix(alternative)
        if len(prefix) < 2:
            return None
        found.append(prefix.lower())
    return tuple(dict.fromkeys(found))


def _group(text: str, start: int) -> tuple[str | None, str | None]:
    depth = 1
    index = start
    while index < len(text):
        ch = text[index]
        if ch == "\\":
            index += 2
            continue
        if ch == "[":
            close = text.find("]", index + 1)
            if close < 0:
                return None, None
            index = close + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                after = text[index + 1 : index + 2]
                if after in ("?", "*", "{"):
                    return None, None  # an optional group says nothing
                return text[start:index], text[index + 1 :]
        index += 1
    return None, None


def _split(group: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    index = 0
    while index < len(group):
        ch = group[index]
        if ch == "\\":
            current += group[index : index + 2]
            index += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(current)
            current = ""
            index += 1
            continue
        current += ch
        index += 1
    parts.append(current)
    return parts


def _literal_prefix(alternative: str) -> str:
    prefix = ""
    for index, ch in enumerate(alternative):
        if ch in _META:
            if ch in "?*{" and prefix:
                prefix = prefix[:-1]  # the letter before is optional
            elif ch == "\\" and alternative[index + 1 : index + 2] == "s":
                break
            break
        prefix += ch
    return prefix
