"""Input adapters: turn answers (and later notes, FHIR, tables) into facts."""
