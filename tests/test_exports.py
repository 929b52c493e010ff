"""The public API is what __all__ says."""

from __future__ import annotations

import ketascreen


def test_all_names_exist() -> None:
    """Every name in __all__ is importable, and the key API is there."""
    for name in ketascreen.__all__:
        assert hasattr(ketascreen, name), name
    assert {"screen", "ScreeningResult", "Disposition", "AnswersError"} <= set(
        ketascreen.__all__
    )
