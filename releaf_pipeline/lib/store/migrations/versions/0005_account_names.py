"""Account display names: printed on certificates instead of the account's slug.

- `accounts`: one row per account given a display name (`releaf feed add --account-name`,
  the `account_name` column of `releaf feed import`).
- `certificates.account_name`: the name a certificate was issued with, so a later rename
  never changes a certificate already issued.

Existing data: no account has a name yet, and every certificate issued so far printed the
account's slug, which is what NULL means.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.add_column(sa.Column("account_name", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.drop_column("account_name")
    op.drop_table("accounts")
