"""Write (or check) the ``expect`` block of every corpus case from the engine.

Usage, from the repository root::

    .venv/bin/python -m tests.nlp.fill_corpus_expect          # rewrite expect blocks
    .venv/bin/python -m tests.nlp.fill_corpus_expect --check  # list differences only

The answers are coded by reading each text; the expectation is whatever the screening
engine gives on them, so it is recomputed here rather than written by hand. Each case
must end with its ``expect`` block (or have none yet); everything else in the file is
left exactly as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.nlp.corpus_tools import FILES, expected, load, screening_date

CASE_START = re.compile(r"^  - id: (\S+)\s*$")
EXPECT_START = "    expect:"


def render(expect: dict[str, Any]) -> list[str]:
    """The expect block, in the corpus's own layout."""
    domains = ", ".join(expect["domains"])
    return [
        EXPECT_START,
        f"      disposition: {expect['disposition']}",
        f"      domains: [{domains}]",
    ]


def rewrite(path: Path) -> tuple[str, list[str]]:
    """The file text with every expect block recomputed, and the ids that changed."""
    corpus = load(path)
    when = screening_date(corpus)
    cases = {case["id"]: case for case in corpus["cases"]}
    lines = path.read_text(encoding="utf-8").splitlines()

    # Split into a header and one chunk per case.
    starts = [i for i, line in enumerate(lines) if CASE_START.match(line)]
    out = lines[: starts[0]] if starts else list(lines)
    changed: list[str] = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        chunk = lines[start:end]
        match = CASE_START.match(chunk[0])
        assert match is not None
        case = cases[match.group(1)]
        body = list(chunk)
        while body and not body[-1].strip():
            body.pop()
        trailing = chunk[len(body) :]
        if EXPECT_START in body:
            body = body[: body.index(EXPECT_START)]
        new = expected(case.get("answers") or {}, when)
        if case.get("expect") != new:
            changed.append(case["id"])
        out.extend([*body, *render(new), *trailing])
    return "\n".join(out) + "\n", changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, do not write")
    parser.add_argument("files", nargs="*", type=Path, default=list(FILES))
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        text, changed = rewrite(path)
        for case_id in changed:
            sys.stdout.write(f"{path.name}: {case_id} expect differs from the engine\n")
        if changed and args.check:
            status = 1
        elif changed:
            path.write_text(text, encoding="utf-8")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
