"""`step_outputs` (run_id, step_key, output, mapping_key, value): what one step of a run
hands to the next, as JSON, where every worker of the run can read it.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "step_outputs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("step_key", sa.String(255), primary_key=True),
        sa.Column("output", sa.String(64), primary_key=True),
        sa.Column("mapping_key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_step_outputs_written_at", "step_outputs", ["written_at"])


def downgrade() -> None:
    op.drop_index("ix_step_outputs_written_at", "step_outputs")
    op.drop_table("step_outputs")
