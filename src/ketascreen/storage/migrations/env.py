"""Alembic environment: runs against the URL and connection ketascreen passes in."""

from __future__ import annotations

from alembic import context

from ketascreen.storage.orm import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - ketascreen always passes a connection
    raise RuntimeError("run migrations through ketascreen.storage.database.migrate()")
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
