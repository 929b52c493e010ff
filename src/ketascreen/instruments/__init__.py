"""Validated instruments: their published items, scoring, bands and flags."""
