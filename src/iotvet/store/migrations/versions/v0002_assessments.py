"""Assessments: an evaluated vendor assessment (its JSON) with the runs it cites.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("runs", sa.Text, nullable=False),
        sa.Column("assessment", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
    )


def downgrade() -> None:
    op.drop_table("assessments")
