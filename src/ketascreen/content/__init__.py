"""Reading clinical content files: YAML parsing and pydantic validation with clear errors."""
