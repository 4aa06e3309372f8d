"""Customer codes compare without regard to case: one customer, one active feed a server.

- `feeds.customer_key`: the code as compared (`store.codes.customer_key`), filled here
  from each feed's code, in Python so that SQLite and Postgres key every code alike.
- `ix_feeds_customer_key`: lookups by code, which `feed import` does for every row.
- `uq_feeds_server_customer_key`: at most one active (not removed) feed per server and
  customer.

Existing data: a store that feeds one customer twice on a server under codes differing
only in case is not migrated. The migration refuses, in one line naming the feeds and
`releaf feed remove SERVER/CODE`, which works on the store as it is (the removed feed
keeps its history); once one feed of each customer is left, the next command migrates.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from releaf_pipeline.lib.store.codes import CaseTwinsError, customer_key, find_case_twins

    conn = op.get_bind()
    twins = find_case_twins(conn)
    if twins:
        raise CaseTwinsError(twins)
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.add_column(sa.Column("customer_key", sa.String(100), nullable=True))
    feeds = sa.table(
        "feeds", sa.column("id", sa.Integer), sa.column("customer_code"), sa.column("customer_key")
    )
    rows = conn.execute(sa.select(feeds.c.id, feeds.c.customer_code)).all()
    if rows:
        conn.execute(
            feeds.update().where(feeds.c.id == sa.bindparam("feed_id")),
            [{"feed_id": i, "customer_key": customer_key(code)} for i, code in rows],
        )
    # Indexes only: a NOT NULL would make SQLite copy the table, which its foreign keys
    # refuse while devices, readings and deposits point at it. The registry fills the key.
    op.create_index("ix_feeds_customer_key", "feeds", ["customer_key"])
    op.create_index(
        "uq_feeds_server_customer_key",
        "feeds",
        ["server_id", "customer_key"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_feeds_server_customer_key", "feeds")
    op.drop_index("ix_feeds_customer_key", "feeds")
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.drop_column("customer_key")
