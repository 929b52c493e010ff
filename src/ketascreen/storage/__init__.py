"""Storage adapter: SQLAlchemy models, encrypted columns, migrations, repository."""
