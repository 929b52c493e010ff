"""Rulesets: their schema, loading and layering, and the screening engine."""
