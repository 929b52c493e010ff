"""A clinic's reference for the person, so re-screenings keep their history.

The reference itself is sealed; a keyed hash (HMAC) of it is indexed for lookups.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add person_key (indexed HMAC) and person_ref (sealed) to screenings."""
    with op.batch_alter_table("screenings") as batch:
        batch.add_column(sa.Column("person_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("person_ref", sa.LargeBinary, nullable=True))
        batch.create_index("ix_screenings_person_key", ["person_key"])


def downgrade() -> None:
    """Remove the person columns."""
    with op.batch_alter_table("screenings") as batch:
        batch.drop_index("ix_screenings_person_key")
        batch.drop_column("person_ref")
        batch.drop_column("person_key")
