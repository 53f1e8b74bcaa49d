"""report links and the held report: per-recipient read-only links, hidden comments

Revision ID: 0006_report_links
Revises: 0005_drop_scheduler_leases
Create Date: 2026-11-24 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import survey.timeutil

revision: str = "0006_report_links"
down_revision: str | None = "0005_drop_scheduler_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_report_held", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("report_released_at", survey.timeutil.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("comment_review_version", sa.Integer(), nullable=False, server_default="0")
        )
    # The defaults only filled the rows already there; new rows get theirs from the models.
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.alter_column("is_report_held", server_default=None)
        batch_op.alter_column("comment_review_version", server_default=None)

    op.create_table(
        "hidden_comments",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("element_code", sa.String(length=16), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_hidden_comments_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id", "element_code"],
            ["ratings.response_id", "ratings.element_code"],
            name=op.f("fk_hidden_comments_response_id_ratings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "element_code", name=op.f("pk_hidden_comments")),
    )
    with op.batch_alter_table("hidden_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hidden_comments_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "report_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("expires_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", survey.timeutil.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", survey.timeutil.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_report_links_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_links")),
        sa.UniqueConstraint("nonce_hash", name=op.f("uq_report_links_nonce_hash")),
    )
    with op.batch_alter_table("report_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_links_cycle_id"), ["cycle_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_links_cycle_id"))
    op.drop_table("report_links")
    with op.batch_alter_table("hidden_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hidden_comments_cycle_id"))
    op.drop_table("hidden_comments")
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.drop_column("comment_review_version")
        batch_op.drop_column("report_released_at")
        batch_op.drop_column("is_report_held")
