"""clock refusals: the scheduler says why it refuses to act on a wrong clock

Revision ID: 0004_clock_refusals
Revises: 0003_admin_sessions
Create Date: 2026-11-24 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_clock_refusals"
down_revision: str | None = "0003_admin_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clock_refusals",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("database_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_clock_refusals")),
    )


def downgrade() -> None:
    op.drop_table("clock_refusals")
