"""A free-text note read with a screening's answers (a referral letter, an intake note).

The note, what the scanner read from it and which screening it re-screened are sealed
together in one column, bound to the row id like the answers.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add note (sealed) to screenings."""
    with op.batch_alter_table("screenings") as batch:
        batch.add_column(sa.Column("note", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    """Remove the note column."""
    with op.batch_alter_table("screenings") as batch:
        batch.drop_column("note")
