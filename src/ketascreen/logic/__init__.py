"""The condition language shared by questionnaire display logic, instrument flags and rules.

Conditions are plain data (``all`` / ``any`` / ``not`` / ``count`` / fact comparisons),
validated by :mod:`ketascreen.logic.schema` and compiled once by
:mod:`ketascreen.logic.compiler` into evaluators with three-valued logic.
"""
