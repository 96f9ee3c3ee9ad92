"""monitor evaluations, their time series, and alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlpilot_monitor_evaluations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_end", sa.DateTime(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_mlpilot_monitor_evaluations_deployment", "mlpilot_monitor_evaluations", ["deployment"]
    )
    op.create_index("ix_mlpilot_monitor_evaluations_ts", "mlpilot_monitor_evaluations", ["ts"])
    op.create_table(
        "mlpilot_monitor_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("monitor", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("variant", sa.String(length=50), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"], ["mlpilot_monitor_evaluations.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_mlpilot_monitor_results_evaluation_id", "mlpilot_monitor_results", ["evaluation_id"]
    )
    op.create_index(
        "ix_mlpilot_monitor_results_series",
        "mlpilot_monitor_results",
        ["deployment", "monitor", "model_version", "ts"],
    )
    op.create_table(
        "mlpilot_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=True),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("monitor", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("variant", sa.String(length=50), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mlpilot_alerts_evaluation_id", "mlpilot_alerts", ["evaluation_id"])
    op.create_index("ix_mlpilot_alerts_deployment", "mlpilot_alerts", ["deployment"])
    op.create_index("ix_mlpilot_alerts_ts", "mlpilot_alerts", ["ts"])


def downgrade() -> None:
    op.drop_table("mlpilot_alerts")
    op.drop_table("mlpilot_monitor_results")
    op.drop_table("mlpilot_monitor_evaluations")
