"""The first evidence store schema: runs, identities, exchanges, MQTT messages, cells, findings, journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _fk(table: str) -> sa.Column[str]:
    return sa.Column("run_id", sa.String(64),
                     sa.ForeignKey("runs.id", ondelete="CASCADE", name=f"fk_{table}_run_id_runs"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("finished", sa.Float),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("plan_digest", sa.String(128), nullable=False),
        sa.Column("plan_file", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("tool_version", sa.String(64), nullable=False),
        sa.Column("budgets", sa.Text, nullable=False),
        sa.Column("untested", sa.Text, nullable=False),
        sa.Column("sessions", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "identities",
        _fk("identities"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("group_name", sa.Text),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("devices", sa.Text, nullable=False),
        sa.Column("sacrificial", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_identities"),
    )
    op.create_table(
        "exchanges",
        _fk("exchanges"),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("parent", sa.String(64)),
        sa.Column("identity", sa.String(128)),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("request_headers", sa.Text, nullable=False),
        sa.Column("request_body", sa.Text),
        sa.Column("request_body_encoding", sa.String(8), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("response_headers", sa.Text, nullable=False),
        sa.Column("response_body", sa.Text),
        sa.Column("response_body_encoding", sa.String(8), nullable=False),
        sa.Column("response_size", sa.Integer),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("sent", sa.Boolean, nullable=False),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("error_detail", sa.Text),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("elapsed", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "id", name="pk_exchanges"),
    )
    op.create_table(
        "mqtt_messages",
        _fk("mqtt_messages"),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("identity", sa.String(128)),
        sa.Column("broker", sa.Text, nullable=False),
        sa.Column("client", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("topic", sa.Text),
        sa.Column("payload", sa.Text),
        sa.Column("payload_encoding", sa.String(8), nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("qos", sa.Integer),
        sa.Column("retained", sa.Boolean),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_mqtt_messages"),
    )
    op.create_table(
        "cells",
        _fk("cells"),
        sa.Column("check_id", sa.String(64), nullable=False),
        sa.Column("plane", sa.String(8), nullable=False),
        sa.Column("place", sa.Text, nullable=False),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16)),
        sa.Column("path", sa.Text),
        sa.Column("topic", sa.Text),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attacker", sa.String(128)),
        sa.Column("victim", sa.String(128)),
        sa.Column("decided", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "check_id", "plane", "place", "relation", name="pk_cells"),
    )
    op.create_table(
        "findings",
        _fk("findings"),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("check_id", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("finding", sa.Text, nullable=False),
        sa.Column("recorded", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "fingerprint", name="pk_findings"),
    )
    op.create_table(
        "journal",
        _fk("journal"),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("identity", sa.String(128)),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("original", sa.Text, nullable=False),
        sa.Column("write", sa.Text, nullable=False),
        sa.Column("lossy", sa.Boolean, nullable=False),
        sa.Column("restored", sa.Boolean, nullable=False),
        sa.Column("restore_error", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_journal"),
    )


def downgrade() -> None:
    for table in ("journal", "findings", "cells", "mqtt_messages", "exchanges", "identities", "runs"):
        op.drop_table(table)
