"""Baseline: the application tables before deferral, channel fallback and push tokens.

schema.sql of commit bc136a7 as it was, idempotent: a warehouse that schema.sql built converges by running it.

Revision ID: 0001
Revises: None
Create Date: 2026-12-07 00:55:41+00:00
"""

from loyalty.migrations.sql import forward_only, run_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_file("0001_baseline.sql")


def downgrade() -> None:
    forward_only(revision)
