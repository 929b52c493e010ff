"""Sign-in attempts per address and minute, shared by every server process.

The per-address limit on sign-in attempts was kept in each process's memory, so with
``--workers 2`` an address could try twice as often as documented, and a restart
forgot it. One row per (hashed) address and minute, counted up in one statement.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the table."""
    op.create_table(
        "login_attempts",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("minute", sa.Integer(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_login_attempts_minute", "login_attempts", ["minute"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_login_attempts_minute", table_name="login_attempts")
    op.drop_table("login_attempts")
