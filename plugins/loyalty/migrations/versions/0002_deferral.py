"""Deferral: send_ledger.valid_until, the deferred status, workflow_runs.deferred.

A capped or outranked message waits, deferred, until its valid_until (commit 36f970a).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 06:16:07+00:00
"""

from loyalty.migrations.sql import forward_only, run_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_file("0002_deferral.sql")


def downgrade() -> None:
    forward_only(revision)
