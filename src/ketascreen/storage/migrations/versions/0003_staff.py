"""Staff accounts, sessions, notes and disposition overrides.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create users, staff_sessions and screening_notes; add the override column."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])
    op.create_table(
        "screening_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("screening_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("disposition", sa.String(32), nullable=True),
        sa.Column("text", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ix_screening_notes_screening_id", "screening_notes", ["screening_id"]
    )
    with op.batch_alter_table("screenings") as batch:
        batch.add_column(
            sa.Column("override_disposition", sa.String(32), nullable=True)
        )


def downgrade() -> None:
    """Remove what upgrade added."""
    with op.batch_alter_table("screenings") as batch:
        batch.drop_column("override_disposition")
    op.drop_table("screening_notes")
    op.drop_table("staff_sessions")
    op.drop_table("users")
