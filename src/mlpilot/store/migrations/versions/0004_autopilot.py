"""releases, trigger events, the autopilot's state and the audit chain's head

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlpilot_releases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=36), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("rollout_at", sa.DateTime(), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trigger_id"),
    )
    op.create_index("ix_mlpilot_releases_project", "mlpilot_releases", ["project"])
    op.create_index("ix_mlpilot_releases_state", "mlpilot_releases", ["state"])
    op.create_table(
        "mlpilot_trigger_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("release_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mlpilot_trigger_events_project", "mlpilot_trigger_events", ["project"])
    op.create_index("ix_mlpilot_trigger_events_ts", "mlpilot_trigger_events", ["ts"])
    op.create_table(
        "mlpilot_autopilot_state",
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("project", "key"),
    )
    op.create_table(
        "mlpilot_audit_head",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("mlpilot_audit_head")
    op.drop_table("mlpilot_autopilot_state")
    op.drop_index("ix_mlpilot_trigger_events_ts", table_name="mlpilot_trigger_events")
    op.drop_index("ix_mlpilot_trigger_events_project", table_name="mlpilot_trigger_events")
    op.drop_table("mlpilot_trigger_events")
    op.drop_index("ix_mlpilot_releases_state", table_name="mlpilot_releases")
    op.drop_index("ix_mlpilot_releases_project", table_name="mlpilot_releases")
    op.drop_table("mlpilot_releases")
