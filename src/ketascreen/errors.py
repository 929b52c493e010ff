"""Every error ketascreen raises on purpose.

```
KetascreenError
├── ContentError      a content file (questionnaire, instrument, ruleset, routes,
│                     references) is malformed; names the file, the place and the reason
└── InputError        what a person or a caller supplied is not usable
    └── AnswersError  answers that fail validation; one Problem per item
```

Callers at the edges (CLI, web) turn ``InputError`` into exit status 2 or HTTP 4xx.
"""

from __future__ import annotations

from dataclasses import dataclass


class KetascreenError(Exception):
    """Base class for the errors ketascreen raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in the input.

    Args:
        where: the item id, field or file location at fault.
        message: what is wrong and what was expected.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ContentError(KetascreenError):
    """A clinical content file failed to load or validate."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: invalid content\n{lines}")


class InputError(KetascreenError):
    """Input from a person or caller cannot be used."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class AnswersError(InputError):
    """Answers failed validation against the questionnaire."""
