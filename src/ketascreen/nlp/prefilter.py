"""Skip a regular expression cheaply when the text cannot match it.

Python's ``re`` tries a pattern that starts with an alternation of words
(``\\b(?:husband|wife|...)``) at every position of the text. When every alternative
starts with some literal letters, the text must contain one of those literals for the
pattern to match, and a substring test for them is many times faster than the search.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_META = set("\\()[]?*+{}.|^$")
#: Letters that case-insensitive matching takes for an ASCII letter, folded to it one
#: for one (``str.lower`` would make "İ" two characters and leave "ı" and "ſ").
_FOLD = str.maketrans(
    {
        **{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)},
        "\u0130": "i",
        "\u0131": "i",
        "\u017f": "s",
        "\u212a": "k",
    }
)
_WORD_KEY = re.compile(r"\b\w.?", re.DOTALL)
_ANCHOR = re.compile(r"[a-z0-9][\x20-\x7e]*")


class NoteText:
    """A note's text, read once for every guarded pattern run over it.

    Holds the plain form for the needle tests, the text case folded, and where its
    words start, by their first two characters: an anchored pattern is tried only
    there.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.plain = plain(text)
        self.folded = text.lower() if text.isascii() else text.translate(_FOLD)
        starts: dict[str, list[int]] = {}
        for match in _WORD_KEY.finditer(self.folded):
            starts.setdefault(match.group(), []).append(match.start())
        self.word_starts = starts

    @functools.cached_property
    def first_starts(self) -> dict[str, list[int]]:
        """Where words start, by their first character (folded)."""
        first: dict[str, list[int]] = {}
        for key, places in self.word_starts.items():
            first.setdefault(key[0], []).extend(places)
        return first


@dataclass(frozen=True)
class Guarded:
    """A compiled pattern and the needle sets that any match must hit.

    Each set is a necessary condition: the pattern can match only if the text
    contains at least one needle of every set. Needles are matched in the note's
    *plain* form (:func:`plain`), so a leading space means "at the start of a word".

    ``anchors``: when every match starts a word with one of the pattern's literal
    starts (a pattern whose alternatives open with ``\\b`` and a literal, or an
    alternation of literals), those starts of two letters or more by their first
    two; :meth:`finditer` then tries the pattern only where a word starts so,
    instead of at every offset. ``first``: the starts of one letter (any word
    beginning with it), and ``"\\d"`` for a start with a digit. ``given`` are the
    needle sets that do not come from the pattern's own starts.
    """

    pattern: re.Pattern[str]
    needle_sets: tuple[tuple[str, ...], ...]
    anchors: dict[str, tuple[str, ...]] | None = None
    given: tuple[tuple[str, ...], ...] = ()
    first: frozenset[str] = frozenset()

    def finditer(self, note: NoteText) -> Iterator[re.Match[str]]:
        """The matches ``pattern.finditer(note.text)`` gives, found with less work."""
        if self.anchors is None:
            if _holds(self.needle_sets, note.plain):
                yield from self.pattern.finditer(note.text)
            return
        starts, folded = note.word_starts, note.folded
        found = {
            at
            for key in starts.keys() & self.anchors.keys()
            for needle in self.anchors[key]
            for at in starts[key]
            if folded.startswith(needle, at)
        }
        if self.first:
            for letter, places in note.first_starts.items():
                if letter in self.first or (DIGIT in self.first and letter.isdecimal()):
                    found.update(places)
        if not found or not _holds(self.given, note.plain):
            return
        end = 0
        for at in sorted(found):
            if at < end:
                continue  # inside the last match, as finditer goes on after it
            match = self.pattern.match(note.text, at)
            if match is not None:
                yield match
                end = match.end()


def _holds(needle_sets: tuple[tuple[str, ...], ...], plain_text: str) -> bool:
    """Whether the text (as :func:`plain` gives it) has a needle of every set; when
    not, the pattern cannot match."""
    return all(any(n in plain_text for n in needles) for needles in needle_sets)


_NOT_WORD = re.compile(r"[^a-z0-9]+")


def plain(text: str) -> str:
    """Lower case, every run of other characters one space, a space at each end.

    Letters that case-insensitive matching takes for ASCII ones are folded first
    ("TRİED" is "tried", as ``re`` reads it; ``str.lower`` would give "tri̇ed").
    """
    lowered = text.lower() if text.isascii() else text.translate(_FOLD).lower()
    return f" {_NOT_WORD.sub(' ', lowered).strip()} "


def guard(regex: str, given: Sequence[str] | None = None) -> Guarded:
    """Compile ``regex`` case-insensitively with its needle sets and anchors.

    Args:
        regex: the pattern.
        given: words any match contains (from the data), in addition to the literal
            starts found in the pattern itself.
    """
    sets: list[tuple[str, ...]] = []
    given_sets = (tuple(_plain_needle(n) for n in given),) if given else ()
    anchors: dict[str, tuple[str, ...]] | None = None
    first: set[str] = set()
    read = _starts(regex)
    if read is not None:
        found, at_word = dict.fromkeys(read[0]), read[1]
        if all(len(n) > 1 and n != DIGIT for n in found):
            lead = " " if at_word else ""
            sets.append(tuple(dict.fromkeys(lead + _plain(n) for n in found)))
        if at_word and all(n == DIGIT or _ANCHOR.fullmatch(n) for n in found):
            anchors = {}
            for needle in found:
                if needle == DIGIT or len(needle) == 1:
                    first.add(needle)
                else:
                    anchors[needle[:2]] = (*anchors.get(needle[:2], ()), needle)
    sets.extend(given_sets)
    compiled = re.compile(regex, re.IGNORECASE)
    return Guarded(compiled, tuple(sets), anchors, given_sets, frozenset(first))


def _plain_needle(needle: str) -> str:
    """A needle in plain form, keeping its meaningful leading or trailing space."""
    lead = " " if needle[:1] in " " else ""
    tail = " " if needle[-1:] in " " else ""
    return f"{lead}{_plain(needle)}{tail}"


def _plain(needle: str) -> str:
    """A literal as :func:`plain` writes it, without the spaces at its ends.

    "h/o" is "h o" in plain text, and a needle must be found there as it is written.
    """
    return _NOT_WORD.sub(" ", needle.lower()).strip()


#: The start that stands for "any digit" (a leading ``\\d``).
DIGIT = "\\d"


def starts(regex: str) -> tuple[str, ...] | None:
    """The literal starts of a pattern: every match begins with one of them.

    One per leading alternative, of one character or more (lower case), and
    :data:`DIGIT` for one that opens with ``\\d``; None when some alternative starts
    otherwise. Alternatives are read at every level (a top-level alternation, a
    leading group, a group in a group); zero-width assertions before them (``\\b``,
    look-behinds) are passed over.
    """
    found = _starts(regex)
    return None if found is None else tuple(dict.fromkeys(found[0]))


def _starts(regex: str) -> tuple[list[str], bool] | None:
    """:func:`starts`, and whether every alternative begins at a word start."""
    found: list[str] = []
    at_word = True
    for part in _split(regex):
        body, word = _after_assertions(part)
        group: str | None = None
        if body.startswith("(?:"):
            group, rest = _group(body, 3)
        elif body.startswith("(?P<"):
            close = body.find(">")
            group, rest = _group(body, close + 1) if close > 0 else (None, None)
        elif body.startswith("(") and not body.startswith("(?"):
            group, rest = _group(body, 1)
        elif body.startswith("\\d"):
            found.append(DIGIT)
            at_word = at_word and word
            continue
        else:
            prefix = _literal_prefix(body)
            if not prefix:
                return None
            found.append(prefix.lower())
            at_word = at_word and word
            continue
        if group is None or rest is None:
            return None  # not a group we can read, or an optional one
        inner = _starts(group)
        if inner is None:
            return None
        found += inner[0]
        at_word = at_word and (word or inner[1])
    return found, at_word


#: Zero-width assertions a pattern may open with: a word boundary, look-behinds.
_ASSERTION = re.compile(r"\\b|\(\?<[!=]")
#: The look-behind that, before a word character, is a word start.
_WORD_START = "(?<!\\w)"


def _after_assertions(part: str) -> tuple[str, bool]:
    """A pattern without its leading assertions, and whether one was a word start."""
    word = False
    while match := _ASSERTION.match(part):
        if match.group() == "\\b":
            word, part = True, part[2:]
            continue
        _, rest = _group(part, 4)
        if rest is None:
            break
        word = word or part.startswith(_WORD_START)
        part = rest
    return part, word


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
