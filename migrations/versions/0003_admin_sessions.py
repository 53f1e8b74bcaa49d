"""admin sessions held on the server

A signed-in admin's session is now a row here (the SHA-256 of the random token in the cookie),
so signing out, a password reset or a deactivated account ends it for every copy of the cookie.
Sessions signed in before this revision carry no token and simply ask their admin to sign in
again.

Revision ID: 0003_admin_sessions
Revises: 0002_sealed_ballots
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import survey.timeutil

revision: str = "0003_admin_sessions"
down_revision: str | None = "0002_sealed_ballots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("created_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("expires_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_users.id"],
            name=op.f("fk_admin_sessions_admin_id_admin_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_admin_sessions")),
    )
    with op.batch_alter_table("admin_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_sessions_admin_id"), ["admin_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("admin_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_sessions_admin_id"))
    op.drop_table("admin_sessions")
