"""admin roles: co-admins with a role per trust, single-use emailed admin links, and the
admin-invite and password-reset email kinds

Revision ID: 0007_admin_roles
Revises: 0006_report_links
Create Date: 2026-11-24 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import survey.timeutil

revision: str = "0007_admin_roles"
down_revision: str | None = "0006_report_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("invitation", "reminder", "report", "admin-login")
NEW_KINDS = (*OLD_KINDS, "admin-invite", "password-reset")


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="message_kind", native_enum=False, create_constraint=True, length=20
    )


def upgrade() -> None:
    with op.batch_alter_table("trust_admins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "role",
                sa.Enum(
                    "admin",
                    "viewer",
                    name="admin_role",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                server_default="admin",
                nullable=False,
            )
        )
    op.create_table(
        "admin_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "sign-in",
                "password-reset",
                "invite",
                name="admin_link_purpose",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("expires_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_users.id"],
            name=op.f("fk_admin_links_admin_id_admin_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_admin_links")),
    )
    with op.batch_alter_table("admin_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_links_admin_id"), ["admin_id"], unique=False)
    # The outbox's kind CHECK constraint gains the two new kinds (SQLite rebuilds the table).
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=_kind(OLD_KINDS), type_=_kind(NEW_KINDS), existing_nullable=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind IN ('admin-invite', 'password-reset')")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=_kind(NEW_KINDS), type_=_kind(OLD_KINDS), existing_nullable=False
        )
    with op.batch_alter_table("admin_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_links_admin_id"))
    op.drop_table("admin_links")
    with op.batch_alter_table("trust_admins", schema=None) as batch_op:
        batch_op.drop_column("role")
