"""The core imports no CLI, web, storage or dataframe library."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = [
    "typer",
    "rich",
    "click",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "polars",
    "pyspark",
    "pandas",
    "jinja2",
]

CODE = """
import sys
import ketascreen
from ketascreen import screen
from ketascreen.explain import render
screen({"age": 30})
render.render_patient(screen({}))
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
"""


def test_core_imports_no_adapter_libraries() -> None:
    """Screening and rendering load none of the adapter libraries."""
    out = subprocess.run(
        [sys.executable, "-c", CODE % (FORBIDDEN,)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""
