"""The audit log becomes hash-chained and append-only.

Adds ``prev_hash`` and ``hash`` to ``audit_events`` and chains the existing entries in
id order; adds the one-row ``audit_head`` (newest id and hash) that appends lock; adds
triggers that refuse UPDATE and DELETE on ``audit_events`` (and TRUNCATE on
PostgreSQL), and DELETE of the head.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ketascreen.storage.audit import GENESIS, HEAD_ID, entry_hash

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("detail", sa.Text),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)

_PAGE = 5000  # existing entries chained at a time


def _sqlite(name: str, table: str, operation: str) -> tuple[str, str, str]:
    message = f"{table}: {operation} refused (the audit log is append-only)"
    body = f"BEFORE {operation} ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"
    return name, table, body


# (name, table, what follows "CREATE TRIGGER name"). The head is updated by every
# append, so it is only kept from being deleted (a trigger on its UPDATE would cost
# every append a call, and stops no one who can drop triggers).
_SQLITE_TRIGGERS = [
    _sqlite("audit_events_no_update", "audit_events", "UPDATE"),
    _sqlite("audit_events_no_delete", "audit_events", "DELETE"),
    _sqlite("audit_head_no_delete", "audit_head", "DELETE"),
]

_POSTGRES_FUNCTION = """
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % refused (the audit log is append-only)', TG_TABLE_NAME, TG_OP;
END $$
"""

_POSTGRES_TRIGGERS = [
    (
        "audit_events_no_change",
        "audit_events",
        "BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW "
        "EXECUTE FUNCTION audit_refuse()",
    ),
    (
        "audit_events_no_truncate",
        "audit_events",
        "BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT "
        "EXECUTE FUNCTION audit_refuse()",
    ),
    (
        "audit_head_no_delete",
        "audit_head",
        "BEFORE DELETE ON audit_head FOR EACH ROW EXECUTE FUNCTION audit_refuse()",
    ),
    (
        "audit_head_no_truncate",
        "audit_head",
        "BEFORE TRUNCATE ON audit_head FOR EACH STATEMENT "
        "EXECUTE FUNCTION audit_refuse()",
    ),
]


def upgrade() -> None:
    """Add the hash columns, chain existing entries, add the head and the triggers."""
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    last_id, last_hash = _chain_existing()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": HEAD_ID, "last_id": last_id, "last_hash": last_hash}])
    if _postgres():
        op.execute(_POSTGRES_FUNCTION)
    for name, _table, body in _triggers():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    """Remove the triggers, the head and the hash columns (the entries stay)."""
    for name, table, _body in _triggers():
        op.execute(
            f"DROP TRIGGER {name} ON {table}" if _postgres() else f"DROP TRIGGER {name}"
        )
    if _postgres():
        op.execute("DROP FUNCTION audit_refuse()")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _triggers() -> list[tuple[str, str, str]]:
    return _POSTGRES_TRIGGERS if _postgres() else _SQLITE_TRIGGERS


def _chain_existing() -> tuple[int, str]:
    """Chain the entries already stored, in id order; return the newest id and hash."""
    bind = op.get_bind()
    last_id, prev = 0, GENESIS
    while True:
        page = (
            bind.execute(
                sa.select(_EVENTS)
                .where(_EVENTS.c.id > last_id)
                .order_by(_EVENTS.c.id)
                .limit(_PAGE)
            )
        ).all()
        if not page:
            return last_id, prev
        links = []
        for row in page:
            digest = entry_hash(prev, row._asdict())
            links.append({"key": row.id, "prev_hash": prev, "hash": digest})
            last_id, prev = row.id, digest
        bind.execute(
            _EVENTS.update()
            .where(_EVENTS.c.id == sa.bindparam("key"))
            .values(prev_hash=sa.bindparam("prev_hash"), hash=sa.bindparam("hash")),
            links,
        )
