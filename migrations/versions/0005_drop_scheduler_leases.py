"""drop scheduler leases: on SQLite the scheduler now holds a file lock (jobs/lock.py)

Revision ID: 0005_drop_scheduler_leases
Revises: 0004_clock_refusals
Create Date: 2026-11-24 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import survey.timeutil

revision: str = "0005_drop_scheduler_leases"
down_revision: str | None = "0004_clock_refusals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A scheduler still running the old code loses nothing: the table holds no survey data.
    op.drop_table("scheduler_leases")


def downgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
