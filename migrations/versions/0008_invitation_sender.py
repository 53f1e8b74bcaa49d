"""invitation sender: the person invitations come from, their Reply-To and a personal note

Revision ID: 0008_invitation_sender
Revises: 0007_admin_roles
Create Date: 2026-11-24 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_invitation_sender"
down_revision: str | None = "0007_admin_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("sender_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("sender_role", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reply_to", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("invitation_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("invitation_note")
        batch.drop_column("reply_to")
        batch.drop_column("sender_role")
        batch.drop_column("sender_name")
