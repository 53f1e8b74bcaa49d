"""plans: leadership's agreed ratings, priorities and actions with progress notes, the
"you said, we did" message, and its follow-up email kind

Revision ID: 0009_plans
Revises: 0008_invitation_sender
Create Date: 2026-11-24 19:40:37.089222
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import survey.timeutil

revision: str = "0009_plans"
down_revision: str | None = "0008_invitation_sender"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("invitation", "reminder", "report", "admin-login", "admin-invite", "password-reset")
NEW_KINDS = (*OLD_KINDS, "follow-up")


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="message_kind", native_enum=False, create_constraint=True, length=20
    )


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("opening", sa.Text(), nullable=False),
        sa.Column("closing", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("queued_at", survey.timeutil.UTCDateTime(), nullable=True),
        sa.Column("queued_by", sa.String(length=320), nullable=True),
        sa.Column("queued_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_follow_ups_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_follow_ups")),
    )
    op.create_table(
        "plan_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("element_code", sa.String(length=16), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("success_measure", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "not-started",
                "under-way",
                "done",
                "dropped",
                name="action_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_plan_actions_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_actions")),
    )
    with op.batch_alter_table("plan_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_actions_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "plan_elements",
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("element_code", sa.String(length=16), nullable=False),
        sa.Column("agreed_key", sa.String(length=40), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("is_priority", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_plan_elements_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cycle_id", "element_code", name=op.f("pk_plan_elements")),
    )
    op.create_table(
        "plan_action_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("written_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["plan_actions.id"],
            name=op.f("fk_plan_action_notes_action_id_plan_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_action_notes")),
    )
    with op.batch_alter_table("plan_action_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_action_notes_action_id"), ["action_id"], unique=False
        )

    # The outbox's kind CHECK constraint gains follow-up (SQLite rebuilds the table).
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=_kind(OLD_KINDS), type_=_kind(NEW_KINDS), existing_nullable=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'follow-up'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=_kind(NEW_KINDS), type_=_kind(OLD_KINDS), existing_nullable=False
        )
    with op.batch_alter_table("plan_action_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_action_notes_action_id"))

    op.drop_table("plan_action_notes")
    op.drop_table("plan_elements")
    with op.batch_alter_table("plan_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_actions_cycle_id"))

    op.drop_table("plan_actions")
    op.drop_table("follow_ups")
