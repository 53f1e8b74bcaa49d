"""learning sets: sets of trusts with coordinators, memberships, shares per cycle and set, the
benchmark's opt-ins, the set-invite email kind, and each stored report's published figures
(backfilled from the reports' summary.csv)

Revision ID: 0010_learning_sets
Revises: 0009_plans
Create Date: 2026-11-24 19:50:00
"""

import csv
import io
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import survey.timeutil

revision: str = "0010_learning_sets"
down_revision: str | None = "0009_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = (
    "invitation",
    "reminder",
    "report",
    "admin-login",
    "admin-invite",
    "password-reset",
    "follow-up",
)
NEW_KINDS = (*OLD_KINDS, "set-invite")


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="message_kind", native_enum=False, create_constraint=True, length=20
    )


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def upgrade() -> None:
    op.create_table(
        "learning_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", _enum("set_kind", "learning", "peer-review"), nullable=False),
        sa.Column("framework_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_sets")),
    )
    op.create_table(
        "learning_set_coordinators",
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_users.id"],
            name=op.f("fk_learning_set_coordinators_admin_id_admin_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["learning_sets.id"],
            name=op.f("fk_learning_set_coordinators_set_id_learning_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("set_id", "admin_id", name=op.f("pk_learning_set_coordinators")),
    )
    op.create_table(
        "set_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            _enum("membership_state", "invited", "accepted", "declined", "left"),
            nullable=False,
        ),
        sa.Column("letter", sa.String(length=4), nullable=False),
        sa.Column("invited_email", sa.String(length=320), nullable=False),
        sa.Column("invited_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.Column("answered_at", survey.timeutil.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["learning_sets.id"],
            name=op.f("fk_set_memberships_set_id_learning_sets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trust_id"],
            ["trusts.id"],
            name=op.f("fk_set_memberships_trust_id_trusts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_set_memberships")),
        sa.UniqueConstraint("set_id", "letter", name="uq_set_memberships_set_letter"),
        sa.UniqueConstraint("set_id", "trust_id", name="uq_set_memberships_set_trust"),
    )
    with op.batch_alter_table("set_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_set_memberships_trust_id"), ["trust_id"], unique=False)
    op.create_table(
        "set_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("as_name", sa.Boolean(), nullable=False),
        sa.Column("shared_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycles.id"],
            name=op.f("fk_set_shares_cycle_id_cycles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["learning_sets.id"],
            name=op.f("fk_set_shares_set_id_learning_sets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trust_id"],
            ["trusts.id"],
            name=op.f("fk_set_shares_trust_id_trusts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_set_shares")),
        sa.UniqueConstraint("set_id", "cycle_id", name=op.f("uq_set_shares_set_id")),
    )
    with op.batch_alter_table("set_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_set_shares_set_id"), ["set_id"], unique=False)
    op.create_table(
        "benchmark_opt_ins",
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("framework_key", sa.String(length=80), nullable=False),
        sa.Column("opted_in_at", survey.timeutil.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trust_id"],
            ["trusts.id"],
            name=op.f("fk_benchmark_opt_ins_trust_id_trusts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trust_id", "framework_key", name=op.f("pk_benchmark_opt_ins")),
    )
    op.create_table(
        "report_figures",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("element_code", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=40), nullable=False),
        sa.Column("group_label", sa.String(length=120), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("score_total", sa.Integer(), nullable=False),
        sa.Column("dont_know", sa.Integer(), nullable=False),
        sa.Column("counts", sa.String(length=400), nullable=False),
        sa.Column("mean", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_figures_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "report_id", "element_code", "group_key", name=op.f("pk_report_figures")
        ),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=_kind(OLD_KINDS), type_=_kind(NEW_KINDS), existing_nullable=False
        )
    _backfill_figures()


def _backfill_figures() -> None:
    """Each stored report's published figures, read back from its summary.csv (the shown
    groups' rows and the 'all' row; a suppressed row has no figures and is not kept)."""
    bind = op.get_bind()
    reports = bind.execute(
        sa.text(
            "SELECT r.id, r.cycle_id, f.content FROM reports r "
            "JOIN report_files f ON f.report_id = r.id AND f.name = 'summary.csv'"
        )
    ).all()
    figures = sa.table(
        "report_figures",
        *(
            sa.column(name)
            for name in (
                "report_id",
                "element_code",
                "group_key",
                "group_label",
                "responses",
                "rated",
                "score_total",
                "dont_know",
                "counts",
                "mean",
            )
        ),
    )
    for report_id, cycle_id, content in reports:
        labels = dict(
            bind.execute(
                sa.text("SELECT key, label FROM groups WHERE cycle_id = :c"), {"c": cycle_id}
            ).all()
        )
        reader = csv.reader(io.StringIO(bytes(content).decode("utf-8")))
        header = next(reader)
        scale = [h.replace("_", "-") for h in header[4 : header.index("dont_know")]]
        rows = []
        for line in reader:
            record = dict(zip(header, line, strict=True))
            if record["suppressed"] == "true":
                continue
            counts = {key: int(record[key.replace("-", "_")]) for key in scale}
            group = record["group"].lstrip("'")
            rows.append(
                {
                    "report_id": report_id,
                    "element_code": record["element"].lstrip("'"),
                    "group_key": group,
                    "group_label": labels.get(group, "All shown groups"),
                    "responses": int(record["responses"]),
                    "rated": sum(counts.values()),
                    "score_total": sum(i * counts[k] for i, k in enumerate(scale, start=1)),
                    "dont_know": int(record["dont_know"]),
                    "counts": ",".join(f"{k}={v}" for k, v in counts.items()),
                    "mean": record["mean"],
                }
            )
        if rows:
            op.bulk_insert(figures, rows)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'set-invite'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", existing_type=_kind(NEW_KINDS), type_=_kind(OLD_KINDS), existing_nullable=False
        )
    op.drop_table("report_figures")
    op.drop_table("benchmark_opt_ins")
    with op.batch_alter_table("set_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_set_shares_set_id"))
    op.drop_table("set_shares")
    with op.batch_alter_table("set_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_set_memberships_trust_id"))
    op.drop_table("set_memberships")
    op.drop_table("learning_set_coordinators")
    op.drop_table("learning_sets")
