"""Renderers: the patient summary, the clinician summary and JSON."""
