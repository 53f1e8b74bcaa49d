"""sealed ballots and drafts

A submit now writes a sealed ballot; drafts are sealed too. Drafts saved before this revision are
sealed here with the application's secret key (`mat-review init` runs migrations inside the app),
so nothing anyone typed is lost or left readable. Responses already written by an earlier version
stay where they are: sealing at close shuffles them in with the ballots.

Revision ID: 0002_sealed_ballots
Revises: 0001
Create Date: 2026-11-24 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sealed_ballots"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballots",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_ballots_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
    )
    with op.batch_alter_table("ballots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballots_cycle_id"), ["cycle_id"], unique=False)

    # Drafts move to a new table, so the plaintext ones leave the database's files with the old
    # table (PostgreSQL unlinks a dropped table's files; SQLite runs with secure_delete).
    sealed = _seal_existing_drafts()
    op.drop_table("drafts")
    drafts = op.create_table(
        "drafts",
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_drafts_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invitation_id", name=op.f("pk_drafts")),
    )
    if sealed:
        op.bulk_insert(drafts, sealed)


def _seal_existing_drafts() -> list[dict[str, object]]:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT invitation_id, answers FROM drafts")).all()
    if not rows:
        return []
    from flask import has_app_context

    if not has_app_context():
        raise RuntimeError(
            "drafts saved before this upgrade must be sealed with the secret key: "
            "run the upgrade with `mat-review init`"
        )
    from sqlalchemy.orm import Session

    from survey.services.responses import seal_legacy_draft

    session = Session(bind=bind)
    sealed = []
    for invitation_id, answers in rows:
        box = seal_legacy_draft(session, int(invitation_id), str(answers))
        if box is not None:
            sealed.append({"invitation_id": int(invitation_id), "sealed": box})
    return sealed


def downgrade() -> None:
    op.execute("DELETE FROM drafts")  # sealed drafts are not written back in clear
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answers", sa.Text(), nullable=False, server_default=""))
        batch_op.drop_column("sealed")
    with op.batch_alter_table("ballots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballots_cycle_id"))
    op.drop_table("ballots")
